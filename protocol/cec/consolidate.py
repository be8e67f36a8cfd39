"""Consolidation: from accepted device messages to station, TEC, district, region and
country results, with the machine-vs-protocol comparison.

Everything here is pure: :func:`consolidate` reads the store once into a
:class:`Consolidation` (immutable values), and the ``*_view`` functions turn it
into plain JSON-ready dicts — the JSON API a website renders. The website
never computes a share or a sum itself; each view carries its own checks
(``checks``: shares add up to 100 % of valid votes, a station's devices add
up to the station), so a display bug like 2021's 150 % cannot hide.

Rules:

* a device's *final* result is its accepted ``results`` message with the
  highest sequence number; a station's machine result is the sum of its
  devices' final results (a spare certified for the station is one of them, and
  so is a TEC spare certified for no station that has reported for it: the
  ingestor binds such a spare to the station of its first accepted report and
  refuses its messages for any other, so it is counted for one station, once);
* a station *has reported* when at least one of its devices' results arrived;
* the DEC protocol of a station is its latest accepted ``dec-protocol``
  message (any device of the station may feed it);
* every option whose protocol figure differs from the machine count is a
  discrepancy, as is a ballots-cast figure that differs from the machine's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from election.model import AGAINST_ALL, PARTY_LIST_CONTEST, Election, Station
from election.tally import Tally, TallyBuilder
from protocol.cec.registry import SPARE_BINDING_KINDS, CecRegistry
from protocol.cec.store import Store, StoredMessage
from protocol.messages import DecFigures

DEFAULT_THRESHOLD_PCT = 5  # 2021; the definition has no threshold field yet


@dataclass(frozen=True)
class DeviceReport:
    device_id: str
    station: str
    sequence: int
    message_hash: str
    device_time: str
    received_at: str
    tally: Tally
    sheets: dict[str, int]


@dataclass(frozen=True)
class DecReport:
    device_id: str
    sequence: int
    message_hash: str
    received_at: str
    figures: DecFigures
    pages: int


@dataclass(frozen=True)
class Discrepancy:
    station: str
    contest: str
    option: str
    machine: int
    protocol: int

    def to_json(self) -> dict[str, Any]:
        return {"contest": self.contest, "difference": self.protocol - self.machine,
                "machine": self.machine, "option": self.option, "protocol": self.protocol,
                "station": self.station}


@dataclass(frozen=True)
class Consolidation:
    registry: CecRegistry
    device_reports: dict[str, tuple[DeviceReport, ...]]  # station -> final device reports
    dec_reports: dict[str, DecReport]                      # station -> latest DEC protocol
    zero_reports: dict[str, int]                           # station -> zero reports received
    station_tallies: dict[str, Tally]                      # reported stations only
    messages: int
    incidents: int
    refusals: int
    spares_at: dict[str, tuple[str, ...]]                 # station -> TEC spares reporting

    @property
    def election(self) -> Election:
        return self.registry.election

    @property
    def complete(self) -> bool:
        return len(self.station_tallies) == len(self.election.stations)


def _final_reports(rows: Iterable[StoredMessage]) -> dict[str, tuple[DeviceReport, ...]]:
    latest: dict[str, StoredMessage] = {}
    for row in rows:
        if row.device_id not in latest or row.sequence > latest[row.device_id].sequence:
            latest[row.device_id] = row
    by_station: dict[str, list[DeviceReport]] = {}
    for row in latest.values():
        doc = json.loads(row.content)
        by_station.setdefault(row.station, []).append(DeviceReport(
            row.device_id, row.station, row.sequence, row.message_hash, row.device_time,
            row.received_at, Tally.from_json(doc["tally"]), doc["sheets"]))
    return {s: tuple(sorted(r, key=lambda d: d.device_id)) for s, r in by_station.items()}


def consolidate(registry: CecRegistry, store: Store) -> Consolidation:
    """Read every accepted message once and sum them up."""
    reports = _final_reports(store.messages(kind="results"))
    tallies = {}
    for station, devs in reports.items():
        builder = TallyBuilder.from_tally(devs[0].tally)
        for d in devs[1:]:
            builder.merge(d.tally)
        tallies[station] = builder.build()
    decs: dict[str, DecReport] = {}
    for row in store.messages(kind="dec-protocol"):
        current = decs.get(row.station)
        if current is None or row.received_at >= current.received_at:
            doc = json.loads(row.content)
            decs[row.station] = DecReport(row.device_id, row.sequence, row.message_hash,
                                          row.received_at, DecFigures.from_json(doc["figures"]),
                                          int(doc["pages"]))
    zeros: dict[str, int] = {}
    for row in store.messages(kind="zero-report"):
        zeros[row.station] = zeros.get(row.station, 0) + 1
    spares: dict[str, list[str]] = {}
    if registry.spare_tecs:
        for device, station in store.device_stations(SPARE_BINDING_KINDS):
            if registry.tec_spare(device) is not None:
                spares.setdefault(station, []).append(device)
    return Consolidation(registry, reports, decs, zeros, tallies, store.count("messages"),
                         store.count("incidents"), store.count("refusals"),
                         {s: tuple(sorted(d)) for s, d in spares.items()})


# --- sums ------------------------------------------------------------------------------------


def _sum(tallies: Iterable[Tally], election: Election) -> Tally:
    builder = TallyBuilder.from_tally(Tally.empty(election, ()))
    for t in tallies:
        builder.merge(t)
    return builder.build()


def _stations_where(c: Consolidation, level: str, key: str) -> list[Station]:
    if level == "country":
        return list(c.election.stations)
    attr = {"region": "region", "tec": "tec", "district": "district"}[level]
    return [s for s in c.election.stations if str(getattr(s, attr)) == key]


def discrepancies(c: Consolidation, station: str) -> list[Discrepancy]:
    """Every figure where the DEC protocol and the machine count differ at ``station``."""
    dec = c.dec_reports.get(station)
    tally = c.station_tallies.get(station)
    if dec is None or tally is None:
        return []
    out = []
    machine_cast = tally.contest(PARTY_LIST_CONTEST).ballots if PARTY_LIST_CONTEST in \
        tally.contest_ids else 0
    if dec.figures.ballots_cast != machine_cast:
        out.append(Discrepancy(station, PARTY_LIST_CONTEST, "ballots_cast", machine_cast,
                               dec.figures.ballots_cast))
    accounted = machine_cast + dec.figures.ballots_spoiled
    if accounted > dec.figures.ballots_received:
        # the protocol's balance: cast and spoiled ballots come out of those received
        out.append(Discrepancy(station, PARTY_LIST_CONTEST, "ballots_cast+ballots_spoiled",
                               accounted, dec.figures.ballots_received))
    for contest, options in dec.figures.votes:
        counts = tally.contest(contest).counts if contest in tally.contest_ids else {}
        for option in sorted(set(dict(options)) | set(counts)):
            m, p = counts.get(option, 0), dict(options).get(option, 0)
            if m != p:
                out.append(Discrepancy(station, contest, option, m, p))
    return out


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def contest_view(tally: Tally, contest: str, election: Election,
                 threshold_pct: int | None = None) -> dict[str, Any]:
    """Counts and shares of valid votes for one contest, with the sums checked."""
    if contest not in tally.contest_ids:
        empty = Tally.empty(election, (contest,))
        ct = empty.contest(contest)
    else:
        ct = tally.contest(contest)
    valid = ct.valid
    ranked = sorted(ct.options, key=lambda item: (-item[1], item[0]))
    options: list[dict[str, Any]] = [{"option": o, "votes": n, "share_pct": _pct(n, valid)}
                                     for o, n in ranked]
    if threshold_pct is not None:
        for row, (o, n) in zip(options, ranked, strict=True):
            row["passes_threshold"] = (o != AGAINST_ALL and valid > 0
                                       and Fraction(n, valid) * 100 >= threshold_pct)
    exact = sum((Fraction(n, valid) for _, n in ct.options), Fraction(0)) if valid else None
    leader = ct.leader() if valid else None
    return {
        "contest": contest, "ballots": ct.ballots, "valid": valid, "invalid": ct.invalid,
        "blank": ct.blank, "overvote": ct.overvote, "withdrawn": ct.withdrawn,
        "options": options, "leader": leader[0] if leader else None,
        "against_all_beats_leader": ct.against_all_beats_leader() if valid else False,
        "threshold_pct": threshold_pct,
        "checks": {
            "shares_sum_to_100": exact is None or exact == 1,
            "ballots_add_up": ct.valid + ct.invalid == ct.ballots,
        },
    }


def area_view(c: Consolidation, level: str, key: str = "",
              threshold_pct: int = DEFAULT_THRESHOLD_PCT) -> dict[str, Any]:
    """Results of a country / region / tec / district: sums of its reported stations."""
    stations = _stations_where(c, level, key)
    if not stations:
        raise KeyError(f"{level} {key}")
    reported = [s for s in stations if s.number in c.station_tallies]
    tally = _sum((c.station_tallies[s.number] for s in reported), c.election)
    contests = sorted({cid for s in stations for cid in s.contest_ids()})
    ballots = sum(c.station_tallies[s.number].contest(PARTY_LIST_CONTEST).ballots
                  for s in reported)
    voters_reported = sum(s.voters for s in reported)
    return {
        "level": level, "id": key or c.election.election_id,
        "stations": len(stations), "stations_reported": len(reported),
        "stations_missing": sorted(s.number for s in stations
                                   if s.number not in c.station_tallies),
        "voters": sum(s.voters for s in stations), "voters_in_reported": voters_reported,
        "ballots_cast": ballots, "turnout_pct": _pct(ballots, voters_reported),
        "contests": {cid: contest_view(tally, cid, c.election,
                                       threshold_pct if cid == PARTY_LIST_CONTEST else None)
                     for cid in contests},
        "discrepant_stations": sorted(s.number for s in reported if discrepancies(c, s.number)),
        "status": "unofficial-complete" if len(reported) == len(stations)
        else "unofficial-partial",
    }


def national_view(c: Consolidation, threshold_pct: int = DEFAULT_THRESHOLD_PCT
                  ) -> dict[str, Any]:
    """Country-wide party-list results with shares, threshold, turnout and progress."""
    view = area_view(c, "country", "", threshold_pct)
    party = view["contests"][PARTY_LIST_CONTEST]
    return {"election": c.election.election_id, "status": view["status"],
            "stations": view["stations"], "stations_reported": view["stations_reported"],
            "voters": view["voters"], "ballots_cast": view["ballots_cast"],
            "turnout_pct": view["turnout_pct"], "party_list": party,
            "discrepant_stations": view["discrepant_stations"],
            "messages": c.messages, "incidents": c.incidents, "refusals": c.refusals}


def districts_view(c: Consolidation) -> list[dict[str, Any]]:
    """Each single-mandate district: counts and its leader."""
    out = []
    for d in c.election.districts:
        view = area_view(c, "district", str(d.number))
        contest = view["contests"][d.id]
        out.append({"district": d.number, "contest": d.id, "name": {"ky": d.name.ky,
                                                                    "ru": d.name.ru},
                    "stations": view["stations"], "stations_reported": view["stations_reported"],
                    "leader": contest["leader"], "results": contest})
    return out


def station_view(c: Consolidation, number: str) -> dict[str, Any]:
    """One station: each device's report, the DEC protocol and the comparison."""
    station = c.election.station(number)
    reports = c.device_reports.get(number, ())
    tally = c.station_tallies.get(number)
    dec = c.dec_reports.get(number)
    per_device = [{"device_id": r.device_id, "sequence": r.sequence,
                   "message_hash": r.message_hash, "device_time": r.device_time,
                   "received_at": r.received_at, "sheets": r.sheets,
                   "ballots": {ct.contest: ct.ballots for ct in r.tally.contests},
                   "tally": r.tally.to_json()} for r in reports]
    devices_sum_ok = True
    if tally is not None:
        devices_sum_ok = all(
            sum(r.tally.contest(cid).count(o) for r in reports) == n
            for cid in tally.contest_ids for o, n in tally.contest(cid).options)
    return {
        "station": number, "region": station.region, "tec": station.tec,
        "district": station.district, "voters": station.voters,
        "devices_registered": sorted([*c.registry.devices_of_station(number),
                                      *c.spares_at.get(number, ())]),
        "tec_spares": list(c.spares_at.get(number, ())),
        "devices_reported": [r.device_id for r in reports],
        "zero_reports": c.zero_reports.get(number, 0),
        "reported": tally is not None, "devices": per_device,
        "results": ({cid: contest_view(tally, cid, c.election) for cid in tally.contest_ids}
                    if tally is not None else None),
        "turnout_pct": (_pct(tally.contest(PARTY_LIST_CONTEST).ballots, station.voters)
                        if tally is not None else None),
        "dec_protocol": None if dec is None else {
            "device_id": dec.device_id, "sequence": dec.sequence,
            "message_hash": dec.message_hash, "pages": dec.pages,
            "figures": dec.figures.to_json()},
        "discrepancies": [d.to_json() for d in discrepancies(c, number)],
        "checks": {"devices_add_up": devices_sum_ok},
    }


def stations_view(c: Consolidation) -> list[dict[str, Any]]:
    """Every station in one line: reported?, devices, ballots, discrepancies."""
    out = []
    for s in c.election.stations:
        tally = c.station_tallies.get(s.number)
        out.append({"station": s.number, "region": s.region, "tec": s.tec,
                    "district": s.district, "voters": s.voters, "reported": tally is not None,
                    "devices_reported": len(c.device_reports.get(s.number, ())),
                    "ballots_cast": (tally.contest(PARTY_LIST_CONTEST).ballots
                                     if tally is not None else 0),
                    "dec_protocol": s.number in c.dec_reports,
                    "discrepancies": len(discrepancies(c, s.number))})
    return out


def progress_view(c: Consolidation) -> list[dict[str, Any]]:
    """Reporting progress: stations reported by the time each first result arrived."""
    first = sorted(min(r.received_at for r in reps) for reps in c.device_reports.values())
    total = len(c.election.stations)
    return [{"time": t, "stations_reported": i + 1, "share_pct": _pct(i + 1, total)}
            for i, t in enumerate(first)]
