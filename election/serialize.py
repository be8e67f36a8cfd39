"""Election -> JSON document (format ``pcos-kg/election``, version 1).

The inverse, with validation, is ``election.definition.load_election``.
"""

from __future__ import annotations

from typing import Any

from election.model import (
    BallotKind,
    Candidate,
    CandidateContest,
    Election,
    Language,
    PersonName,
    Station,
    Text,
)

FORMAT = "pcos-kg/election"
FORMAT_VERSION = 1


def text_json(t: Text) -> dict[str, str]:
    return {"ky": t.ky, "ru": t.ru}


def person_json(p: PersonName) -> dict[str, Any]:
    return {
        "surname": text_json(p.surname),
        "first_name": text_json(p.first_name),
        "patronymic": text_json(p.patronymic),
    }


def _candidate_json(c: Candidate) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, **person_json(c.name), "withdrawn": c.withdrawn}
    out["nominated_by"] = text_json(c.nominated_by) if c.nominated_by else None
    return out


def _contest_json(c: CandidateContest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": c.number,
        "name": text_json(c.name),
        "region": c.region,
        "against_all": c.against_all,
        "candidates": [_candidate_json(x) for x in c.candidates],
    }
    if c.kind is BallotKind.LOCAL:
        out["id"] = c.id.removeprefix("council-")
    return out


# an enum member's value (``.value`` is a descriptor call: a national definition has some
# 10,000 ballot supplies to serialise)
_VALUE: dict[object, str] = {**{k: k.value for k in BallotKind},
                             **{lang: lang.value for lang in Language}}


def _station_json(s: Station) -> dict[str, Any]:
    ballots: dict[str, dict[str, int]] = {}
    for b in s.ballots:
        ballots.setdefault(_VALUE[b.kind], {})[_VALUE[b.language]] = b.count
    return {
        "number": s.number,
        "region": s.region,
        "tec": s.tec,
        "district": s.district,
        "council": s.council,
        "voters": s.voters,
        "abroad": s.abroad,
        "ballots": ballots,
    }


def election_to_json(e: Election) -> dict[str, Any]:
    """The full definition as plain JSON values, in a stable key order."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "election_id": e.election_id,
        "name": text_json(e.name),
        "date": e.date.isoformat(),
        "rules": e.rules,
        "party_list": {
            "against_all": e.party_list.against_all,
            "preference_squares": e.party_list.preference_squares,
            "parties": [
                {
                    "id": p.id,
                    "name": text_json(p.name),
                    "candidates": [person_json(c) for c in p.candidates],
                    "withdrawn_positions": sorted(p.withdrawn_positions),
                }
                for p in e.party_list.parties
            ],
        },
        "districts": [_contest_json(d) for d in e.districts],
        "local_councils": [_contest_json(c) for c in e.councils],
        "geography": {
            "regions": [{"id": r.id, "name": text_json(r.name), "abroad": r.abroad}
                        for r in e.regions],
            "tecs": [{"id": t.id, "name": text_json(t.name), "region": t.region} for t in e.tecs],
            "stations": [_station_json(s) for s in e.stations],
        },
    }
