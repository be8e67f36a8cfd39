"""Export a consolidation as NIST SP 1500-100 (version 2) election results JSON.

Shape: one ``ElectionReport`` (status ``unofficial-partial`` until every
station has reported, then ``unofficial-complete``) with GpUnits for the
country, regions, TECs and stations (``ComposingGpUnitIds`` give the tree),
every party and every district and local-council candidate, the party-list
contest as a ``PartyContest`` and each district and local council as a
``CandidateContest``. "Against all"
is a ``CandidateSelection`` without a candidate. Vote counts are given per
reporting station and for the country (``Type: total``), ballot counts with
them. Valid against ``reference/nist/NIST_V2_election_results_reporting.json``
(checked by the tests with jsonschema).
"""

from __future__ import annotations

from typing import Any

from election.model import AGAINST_ALL, PARTY_LIST_CONTEST, Text
from protocol.cec.consolidate import Consolidation, _sum

VENDOR = "pcos-kg 0.1.0"


def _text(t: Text | str) -> dict[str, Any]:
    strings = ([("ky", t.ky), ("ru", t.ru)] if isinstance(t, Text) else [("en", t)])
    return {"@type": "ElectionResults.InternationalizedText",
            "Text": [{"@type": "ElectionResults.LanguageString", "Content": c or "-",
                      "Language": lang} for lang, c in strings]}


def _unit(uid: str, kind: str, name: Text | str, composing: list[str],
          **extra: Any) -> dict[str, Any]:
    doc = {"@id": uid, "@type": "ElectionResults.ReportingUnit", "Type": kind,
           "Name": _text(name), **extra}
    if kind == "other":
        doc["OtherType"] = "territorial-election-commission"
    if composing:
        doc["ComposingGpUnitIds"] = composing
    return doc


def _counts(per_unit: dict[str, int]) -> list[dict[str, Any]]:
    return [{"@type": "ElectionResults.VoteCounts", "Count": n, "GpUnitId": uid,
             "Type": "total"} for uid, n in per_unit.items()]


def election_report(c: Consolidation, generated_at: str) -> dict[str, Any]:
    """The NIST document. ``generated_at`` is an ISO-8601 instant with zone (``...Z``)."""
    e = c.election
    country = "gpu-country"
    units = [_unit(country, "country", "Kyrgyz Republic", [f"gpu-region-{r.id}"
                                                          for r in e.regions])]
    for r in e.regions:
        units.append(_unit(f"gpu-region-{r.id}", "state", r.name,
                           [f"gpu-tec-{t.id}" for t in e.tecs if t.region == r.id]))
    for t in e.tecs:
        units.append(_unit(f"gpu-tec-{t.id}", "other", t.name,
                           [f"gpu-station-{s.number}" for s in e.stations if s.tec == t.id]))
    for s in e.stations:
        extra: dict[str, Any] = {"VotersRegistered": s.voters}
        tally = c.station_tallies.get(s.number)
        if tally is not None:
            extra["VotersParticipated"] = tally.contest(PARTY_LIST_CONTEST).ballots
        units.append(_unit(f"gpu-station-{s.number}", "polling-place", f"Station {s.number}",
                           [], **extra))
    total = _sum(c.station_tallies.values(), e)
    reporting = sorted(c.station_tallies)

    def counts(contest: str, option: str) -> list[dict[str, Any]]:
        per = {f"gpu-station-{s}": c.station_tallies[s].contest(contest).count(option)
               for s in reporting if contest in c.station_tallies[s].contest_ids}
        overall = total.contest(contest).count(option) if contest in total.contest_ids else 0
        return _counts({country: overall, **per})

    parties = [{"@id": f"party-{p.id}", "@type": "ElectionResults.Party", "Name": _text(p.name),
                "Abbreviation": _text(p.id)} for p in e.party_list.parties]
    selections: list[dict[str, Any]] = [
        {"@id": f"ps-{p.id}", "@type": "ElectionResults.PartySelection",
         "PartyIds": [f"party-{p.id}"], "SequenceOrder": i + 1,
         "VoteCounts": counts(PARTY_LIST_CONTEST, p.id)}
        for i, p in enumerate(e.party_list.parties)]
    if e.party_list.against_all:
        selections.append({"@id": "cs-party-list-against-all",
                           "@type": "ElectionResults.CandidateSelection",
                           "SequenceOrder": len(selections) + 1,
                           "VoteCounts": counts(PARTY_LIST_CONTEST, AGAINST_ALL)})
    contests: list[dict[str, Any]] = [{
        "@id": f"contest-{PARTY_LIST_CONTEST}", "@type": "ElectionResults.PartyContest",
        "ElectionDistrictId": country, "Name": "Party list (Jogorku Kenesh)",
        "ContestSelection": selections, "SubUnitsReported": len(reporting),
        "TotalSubUnits": len(e.stations)}]
    candidates = []
    for d in (*e.districts, *e.councils):
        sel = []
        for i, cand in enumerate(d.candidates):
            candidates.append({"@id": f"cand-{cand.id}", "@type": "ElectionResults.Candidate",
                               "BallotName": _text(cand.name.surname)})
            sel.append({"@id": f"cs-{cand.id}", "@type": "ElectionResults.CandidateSelection",
                        "CandidateIds": [f"cand-{cand.id}"], "SequenceOrder": i + 1,
                        "VoteCounts": counts(d.id, cand.id)})
        if d.against_all:
            sel.append({"@id": f"cs-{d.id}-against-all",
                        "@type": "ElectionResults.CandidateSelection",
                        "SequenceOrder": len(sel) + 1, "VoteCounts": counts(d.id, AGAINST_ALL)})
        stations = [s.number for s in e.stations if d.id in s.contest_ids()]
        contests.append({"@id": f"contest-{d.id}", "@type": "ElectionResults.CandidateContest",
                         "ElectionDistrictId": country, "Name": d.name.ru or d.id,
                         "VotesAllowed": 1, "NumberElected": 1, "ContestSelection": sel,
                         "SubUnitsReported": sum(1 for s in stations if s in c.station_tallies),
                         "TotalSubUnits": len(stations)})
    ballot_counts = [{"@type": "ElectionResults.BallotCounts", "GpUnitId": f"gpu-station-{s}",
                      "Type": "total",
                      "BallotsCast": c.station_tallies[s].contest(PARTY_LIST_CONTEST).ballots}
                     for s in reporting]
    date = e.date.isoformat()
    return {
        "@type": "ElectionResults.ElectionReport",
        "Format": "precinct-level",
        "GeneratedDate": generated_at,
        "Issuer": "Central Commission for Elections and Referendums of the Kyrgyz Republic",
        "IssuerAbbreviation": "CEC KR",
        "SequenceStart": 1, "SequenceEnd": 1,
        "Status": "unofficial-complete" if c.complete else "unofficial-partial",
        "VendorApplicationId": VENDOR,
        "IsTest": False,
        "GpUnit": units,
        "Party": parties,
        "Election": [{
            "@type": "ElectionResults.Election", "ElectionScopeId": country,
            "StartDate": date, "EndDate": date, "Name": _text(e.name), "Type": "general",
            "Contest": contests, "Candidate": candidates, "BallotCounts": ballot_counts,
            "ExternalIdentifier": [{"@type": "ElectionResults.ExternalIdentifier",
                                    "Type": "other", "OtherType": "election-hash",
                                    "Value": c.registry.election_hash}],
        }],
    }
