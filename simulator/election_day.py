"""Election day at one polling station: who comes when, which sheets reach the scanner.

The model (all of it in :class:`DayParams`, deterministic from a seed):

* **Turnout.** The number of voters is a binomial draw from the station's list
  (default 35 %, the 2021 national figure was 34.94 %).
* **Arrivals.** Between opening (08:00) and closing (20:00), following a
  piecewise-constant time-of-day curve given as one weight per hour. The
  default is bimodal: a morning peak around 10:00 and a larger late-afternoon
  one around 18:00, a lull at lunch.
* **Ballots.** Every voter gets a party-list ballot, a district ballot where the
  station has a district (stations abroad have none) and a local ballot where it
  has a council. After registration and the booth (a few minutes) the voter
  feeds them in a random order, a few seconds apart, sometimes with a longer
  pause (fumbling, a question to the commission).
* **The scanner** takes one sheet at a time; a voter arriving at it while it is
  busy waits. Voters who arrived before closing still vote, so the last sheets
  and the ``polls-close`` event may come after 20:00.
* **Faults**, as data for the firmware to replay: paper jams (per sheet; the
  scanner is blocked while the commission clears it and the same sheet is fed
  again), power cuts and modem outages (Poisson counts per day, log-uniform
  durations, never overlapping one of their own kind). A power cut does not stop
  the feed here: the device runs on its battery, and what it does is the
  firmware's business. Every rate can be set to 0.

Output: :class:`ElectionDay`, with the sheets in the order they reach the scanner
(each with its time, voter, ballot kind and contest, and the ``sheet_index`` to
render it with :func:`sheet_factories`) and a time-ordered event list. Times are
seconds since local midnight of election day (``t_s``) and ``HH:MM:SS.s`` text.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

import numpy as np

from election.errors import PcosError
from election.model import BallotKind, Election, Station
from simulator.scanner import ScannerParams
from simulator.sheets import SheetFactory, SimSheet

HOUR_S = 3600.0
DAY_FORMAT = 1

# Share of the day's voters per hour, 08:00-09:00 ... 19:00-20:00 (percent).
DEFAULT_HOURLY_WEIGHTS: tuple[float, ...] = (5.0, 8.0, 10.0, 9.5, 8.0, 6.5, 6.5, 7.5, 9.0,
                                             10.5, 11.0, 8.5)


class EventKind(StrEnum):
    POLLS_OPEN = "polls-open"
    VOTER_ARRIVES = "voter-arrives"
    BALLOT_FED = "ballot-fed"
    PAPER_JAM = "paper-jam"
    JAM_CLEARED = "jam-cleared"
    POWER_CUT = "power-cut"
    POWER_RESTORED = "power-restored"
    MODEM_DOWN = "modem-down"
    MODEM_UP = "modem-up"
    POLLS_CLOSE = "polls-close"


# Order of events at the same instant: the state changes that frame others first.
_PRIORITY: dict[EventKind, int] = {
    EventKind.POLLS_OPEN: 0,
    EventKind.POWER_RESTORED: 1,
    EventKind.MODEM_UP: 1,
    EventKind.POWER_CUT: 2,
    EventKind.MODEM_DOWN: 2,
    EventKind.JAM_CLEARED: 3,
    EventKind.VOTER_ARRIVES: 4,
    EventKind.PAPER_JAM: 5,
    EventKind.BALLOT_FED: 5,
    EventKind.POLLS_CLOSE: 9,
}


def clock(t_s: float) -> str:
    """``HH:MM:SS.s`` for seconds since midnight (hours may pass 24 for the small hours)."""
    tenths = round(t_s * 10)
    h, rem = divmod(tenths, 36000)
    m, rem = divmod(rem, 600)
    return f"{h:02d}:{m:02d}:{rem // 10:02d}.{rem % 10}"


def parse_clock(text: str) -> float:
    """Seconds since midnight from ``HH:MM`` or ``HH:MM:SS[.s]``; PcosError if malformed."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        h, m = int(parts[0]), int(parts[1])
        s = float(parts[2]) if len(parts) == 3 else 0.0
        if not (0 <= m < 60 and 0 <= s < 60 and 0 <= h <= 24):
            raise ValueError
    except ValueError:
        raise PcosError(f"bad time of day {text!r}; use HH:MM") from None
    return h * HOUR_S + m * 60.0 + s


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class FaultRates:
    """How often things go wrong. Durations are (low, high), drawn log-uniformly."""

    paper_jam_per_sheet: float = 0.002
    jam_clear_s: tuple[float, float] = (30.0, 180.0)
    power_cuts_per_day: float = 0.3
    power_cut_s: tuple[float, float] = (30.0, 2700.0)
    modem_outages_per_day: float = 0.5
    modem_outage_s: tuple[float, float] = (120.0, 5400.0)
    # Faults happen from before opening (set-up, zero report) until after closing
    # (results printed and transmitted): offsets from opening and closing time.
    window_before_open_s: float = 1800.0
    window_after_close_s: float = 7200.0

    @classmethod
    def none(cls) -> FaultRates:
        return cls(paper_jam_per_sheet=0.0, power_cuts_per_day=0.0, modem_outages_per_day=0.0)

    def check(self) -> None:
        if not 0.0 <= self.paper_jam_per_sheet < 1.0:
            raise PcosError("paper jam rate must be in [0, 1) per sheet")
        for name in ("power_cuts_per_day", "modem_outages_per_day", "window_before_open_s",
                     "window_after_close_s"):
            v = getattr(self, name)
            if not (v >= 0.0 and math.isfinite(v)):
                raise PcosError(f"{name.replace('_', ' ')} must be 0 or more, not {v}")
        for name in ("jam_clear_s", "power_cut_s", "modem_outage_s"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi:
                raise PcosError(f"{name.replace('_', ' ')} must be a range 0 < low <= high")


@dataclass(frozen=True)
class DayParams:
    """Every knob of the election-day model (times in seconds since midnight)."""

    turnout: float = 0.35
    hourly_weights: tuple[float, ...] = DEFAULT_HOURLY_WEIGHTS  # equal slots, open..close
    open_s: float = 8 * HOUR_S
    close_s: float = 20 * HOUR_S
    booth_s: tuple[float, float] = (90.0, 480.0)  # arrival -> at the scanner (log-uniform)
    scan_s: tuple[float, float] = (2.0, 3.5)  # the scanner is busy with one sheet
    gap_s: tuple[float, float] = (2.0, 7.0)  # between one voter's sheets
    pause_probability: float = 0.08  # a longer pause before a sheet
    pause_s: tuple[float, float] = (10.0, 60.0)
    faults: FaultRates = field(default_factory=FaultRates)

    def check(self) -> None:
        if not 0.0 <= self.turnout <= 1.0:
            raise PcosError(f"turnout must be between 0 and 1, not {self.turnout:g}")
        if not 0.0 <= self.open_s < self.close_s <= 24 * HOUR_S:
            raise PcosError("polls must open before they close, within the day")
        w = self.hourly_weights
        if not w or any(not (x >= 0.0 and math.isfinite(x)) for x in w) or sum(w) <= 0:
            raise PcosError("time-of-day weights must be non-negative with a positive sum")
        if not 0.0 <= self.pause_probability <= 1.0:
            raise PcosError("pause probability must be between 0 and 1")
        for name in ("booth_s", "scan_s", "gap_s", "pause_s"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi:
                raise PcosError(f"{name.replace('_', ' ')} must be a range 0 < low <= high")
        self.faults.check()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Voter:
    voter: int  # 1-based, in order of arrival
    arrival_s: float
    ballots: tuple[BallotKind, ...]  # in the order the voter feeds them


@dataclass(frozen=True)
class FedSheet:
    """One ballot reaching the scanner and going through (after any jams)."""

    sheet_index: int  # order of arrival at the scanner; the index for SheetFactory.sheet
    t_s: float
    voter: int
    kind: BallotKind
    contest: str  # contest id: party-list, district-NN, council-<id>
    jams: int = 0  # times this sheet jammed before it went through

    def to_json(self) -> dict[str, Any]:
        return {"sheet_index": self.sheet_index, "t": clock(self.t_s), "t_s": self.t_s,
                "voter": self.voter, "kind": self.kind.value, "contest": self.contest,
                "jams": self.jams}


@dataclass(frozen=True)
class Event:
    t_s: float
    kind: EventKind
    voter: int | None = None
    sheet: int | None = None  # sheet_index
    duration_s: float | None = None  # power cuts, modem outages, jam clearing
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"t": clock(self.t_s), "t_s": self.t_s, "kind": self.kind.value}
        for name in ("voter", "sheet", "duration_s", "note"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        return doc


@dataclass(frozen=True)
class ElectionDay:
    election_id: str
    date: str  # ISO date of election day
    station: str
    voters_on_list: int
    seed: int
    sheet_seed: int  # seed for the SheetFactory that renders this day's sheets
    params: DayParams
    voters: tuple[Voter, ...]
    sheets: tuple[FedSheet, ...]
    events: tuple[Event, ...]

    def count(self, kind: EventKind) -> int:
        return sum(1 for e in self.events if e.kind is kind)

    def summary(self) -> str:
        n = len(self.voters)
        share = n / self.voters_on_list if self.voters_on_list else 0.0
        span = (f", sheets {clock(self.sheets[0].t_s)}-{clock(self.sheets[-1].t_s)}"
                if self.sheets else "")
        return (f"station {self.station}: {n} voters ({share:.1%} of {self.voters_on_list}), "
                f"{len(self.sheets)} sheets{span}; {self.count(EventKind.PAPER_JAM)} paper jams, "
                f"{self.count(EventKind.POWER_CUT)} power cuts, "
                f"{self.count(EventKind.MODEM_DOWN)} modem outages")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DAY_FORMAT,
            "election_id": self.election_id,
            "date": self.date,
            "station": self.station,
            "voters_on_list": self.voters_on_list,
            "turnout": len(self.voters) / self.voters_on_list if self.voters_on_list else 0.0,
            "seed": self.seed,
            "sheet_seed": self.sheet_seed,
            "params": _params_json(self.params),
            "voters": [{"voter": v.voter, "arrival": clock(v.arrival_s),
                        "arrival_s": v.arrival_s, "ballots": [k.value for k in v.ballots]}
                       for v in self.voters],
            "sheets": [s.to_json() for s in self.sheets],
            "events": [e.to_json() for e in self.events],
        }

    def dumps(self) -> str:
        """Pretty JSON text (deterministic: same day, same bytes)."""
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ElectionDay:
        """Read back :meth:`to_json` (for the firmware's replay). PcosError if malformed."""
        try:
            if doc.get("format") != DAY_FORMAT:
                raise PcosError(f"unknown election-day format {doc.get('format')!r}")
            return cls(
                election_id=str(doc["election_id"]),
                date=str(doc["date"]),
                station=str(doc["station"]),
                voters_on_list=int(doc["voters_on_list"]),
                seed=int(doc["seed"]),
                sheet_seed=int(doc["sheet_seed"]),
                params=_params_from_json(doc["params"]),
                voters=tuple(Voter(int(v["voter"]), float(v["arrival_s"]),
                                   tuple(BallotKind(k) for k in v["ballots"]))
                             for v in doc["voters"]),
                sheets=tuple(FedSheet(int(s["sheet_index"]), float(s["t_s"]), int(s["voter"]),
                                      BallotKind(s["kind"]), str(s["contest"]), int(s["jams"]))
                             for s in doc["sheets"]),
                events=tuple(Event(float(e["t_s"]), EventKind(e["kind"]), e.get("voter"),
                                   e.get("sheet"), e.get("duration_s"), e.get("note"))
                             for e in doc["events"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PcosError(f"malformed election-day file: {exc!r}") from None


def _params_json(p: DayParams) -> dict[str, Any]:
    doc = asdict(p)
    doc["open"], doc["close"] = clock(p.open_s), clock(p.close_s)
    return doc


def _params_from_json(doc: Mapping[str, Any]) -> DayParams:
    def pick(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in d and f.name != "faults":
                v = d[f.name]
                out[f.name] = tuple(v) if isinstance(v, list) else v
        return out

    return DayParams(**pick(DayParams, doc), faults=FaultRates(**pick(FaultRates, doc["faults"])))


# --------------------------------------------------------------------------- the model


def find_station(election: Election, number: str) -> Station:
    try:
        return election.station(str(number))
    except KeyError:
        raise PcosError(f"no station {number!r} in election {election.election_id}") from None


def ballot_kinds(station: Station) -> tuple[tuple[BallotKind, str], ...]:
    """The ballots each voter at ``station`` gets: (kind, contest id)."""
    ids = station.contest_ids()  # party-list, then district, then council where present
    kinds = [BallotKind.PARTY_LIST]
    if station.district is not None:
        kinds.append(BallotKind.DISTRICT)
    if station.council is not None:
        kinds.append(BallotKind.LOCAL)
    return tuple(zip(kinds, ids, strict=True))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _arrivals(rng: np.random.Generator, n: int, p: DayParams) -> np.ndarray:
    """``n`` sorted arrival times in [open, close), following the time-of-day weights."""
    w = np.asarray(p.hourly_weights, np.float64)
    slot = (p.close_s - p.open_s) / w.size
    slots = rng.choice(w.size, size=n, p=w / w.sum())
    t = p.open_s + (slots + rng.random(n)) * slot
    return np.sort(np.minimum(t, np.nextafter(p.close_s, 0.0)))


def _outages(rng: np.random.Generator, per_day: float, dur: tuple[float, float],
             window: tuple[float, float]) -> list[tuple[float, float]]:
    """Non-overlapping (start, duration) intervals starting within ``window``."""
    n = int(rng.poisson(per_day)) if per_day > 0 else 0
    starts = np.sort(rng.uniform(window[0], window[1], n))
    out: list[tuple[float, float]] = []
    end = -math.inf
    for s in starts:
        d = _log_uniform(rng, dur)
        if s >= end:  # one cut at a time: a cut starting during another is dropped
            out.append((round(float(s), 1), round(d, 1)))
            end = s + d
    return out


def _sheet_seed(seed: int, station: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(station.encode()), 1])
               .generate_state(1)[0])


def plan_day(election: Election, station_number: str, params: DayParams | None = None,
             seed: int = 0) -> ElectionDay:
    """Simulate election day at one station (a pure function of its arguments)."""
    p = params or DayParams()
    p.check()
    station = find_station(election, station_number)
    rng = np.random.default_rng([seed, zlib.crc32(station.number.encode())])
    ballots = ballot_kinds(station)
    contest_of = dict(ballots)

    n = int(rng.binomial(station.voters, p.turnout)) if station.voters > 0 else 0
    arrivals = _arrivals(rng, n, p)
    voters: list[Voter] = []
    ready: list[tuple[float, int]] = []  # (time at the scanner, voter)
    for i, a in enumerate(arrivals, start=1):
        feed = tuple(ballots[int(k)][0] for k in rng.permutation(len(ballots)))
        voters.append(Voter(i, math.floor(float(a) * 10) / 10, feed))  # stays < close
        ready.append((float(a) + _log_uniform(rng, p.booth_s), i))
    ready.sort()

    events: list[Event] = [Event(p.open_s, EventKind.POLLS_OPEN)]
    events += [Event(v.arrival_s, EventKind.VOTER_ARRIVES, voter=v.voter) for v in voters]
    sheets: list[FedSheet] = []
    free = p.open_s  # when the scanner can take the next sheet
    jam_p = p.faults.paper_jam_per_sheet
    for t_ready, vid in ready:
        t = max(t_ready, free)
        for k, kind in enumerate(voters[vid - 1].ballots):
            if k > 0:
                t += float(rng.uniform(*p.gap_s))
                if rng.random() < p.pause_probability:
                    t += float(rng.uniform(*p.pause_s))
            t = max(t, free)
            index = len(sheets)
            jams = 0
            while jam_p > 0 and rng.random() < jam_p:
                clear = round(_log_uniform(rng, p.faults.jam_clear_s), 1)
                events.append(Event(round(t, 1), EventKind.PAPER_JAM, voter=vid, sheet=index))
                events.append(Event(round(t + clear, 1), EventKind.JAM_CLEARED, voter=vid,
                                    sheet=index, duration_s=clear))
                t += clear + float(rng.uniform(*p.gap_s))
                jams += 1
            fed = FedSheet(index, round(t, 1), vid, kind, contest_of[kind], jams)
            sheets.append(fed)
            events.append(Event(fed.t_s, EventKind.BALLOT_FED, voter=vid, sheet=index))
            t += float(rng.uniform(*p.scan_s))
            free = t

    close = p.close_s
    note = None
    if free > close:
        note = f"scheduled {clock(p.close_s)}; voters who came before it were still voting"
        close = round(free, 1)
    events.append(Event(close, EventKind.POLLS_CLOSE, note=note))

    window = (p.open_s - p.faults.window_before_open_s, close + p.faults.window_after_close_s)
    for s, d in _outages(rng, p.faults.power_cuts_per_day, p.faults.power_cut_s, window):
        events.append(Event(s, EventKind.POWER_CUT, duration_s=d))
        events.append(Event(round(s + d, 1), EventKind.POWER_RESTORED, duration_s=d))
    for s, d in _outages(rng, p.faults.modem_outages_per_day, p.faults.modem_outage_s, window):
        events.append(Event(s, EventKind.MODEM_DOWN, duration_s=d))
        events.append(Event(round(s + d, 1), EventKind.MODEM_UP, duration_s=d))

    order = sorted(range(len(events)), key=lambda j: (events[j].t_s, _PRIORITY[events[j].kind], j))
    return ElectionDay(
        election_id=election.election_id,
        date=election.date.isoformat(),
        station=station.number,
        voters_on_list=station.voters,
        seed=seed,
        sheet_seed=_sheet_seed(seed, station.number),
        params=p,
        voters=tuple(voters),
        sheets=tuple(sheets),
        events=tuple(events[j] for j in order),
    )


# --------------------------------------------------------------------------- rendering


def sheet_factories(election: Election, day: ElectionDay,
                    scanner: ScannerParams) -> dict[BallotKind, SheetFactory]:
    """One genuine-ballot factory per ballot kind at the day's station.

    ``factories[fed.kind].sheet(fed.sheet_index)`` renders a fed sheet: each
    index is used by one kind only, so no two sheets of a day share a random
    stream, and ``sheet_seed`` differs between stations.
    """
    station = find_station(election, day.station)
    return {kind: SheetFactory(election, station, scanner, seed=day.sheet_seed, kind=kind.value)
            for kind, _ in ballot_kinds(station)}


def render(factories: Mapping[BallotKind, SheetFactory], fed: FedSheet) -> SimSheet:
    """The scanned images and ground truth of one fed sheet."""
    return factories[fed.kind].sheet(fed.sheet_index)


def sheets_of(day: ElectionDay, voter: int) -> Sequence[FedSheet]:
    """The sheets one voter fed, in order."""
    return [s for s in day.sheets if s.voter == voter]
