"""The election-day model: turnout, opening hours, every ballot fed once, faults as data."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from election.default import default_election
from election.errors import PcosError
from election.model import BallotKind
from simulator.election_day import (
    DayParams,
    ElectionDay,
    EventKind,
    FaultRates,
    ballot_kinds,
    clock,
    parse_clock,
    plan_day,
    render,
    sheet_factories,
    sheets_of,
)
from simulator.scanner import preset
from simulator.sheets import default_station

ELECTION = default_election()
HOME = default_station(ELECTION).number  # votes on all three kinds
DISTRICT_ONLY = next(s.number for s in ELECTION.stations
                     if s.district is not None and s.council is None)
ABROAD = next(s.number for s in ELECTION.stations if s.abroad)
FAULT_KINDS = {EventKind.PAPER_JAM, EventKind.JAM_CLEARED, EventKind.POWER_CUT,
               EventKind.POWER_RESTORED, EventKind.MODEM_DOWN, EventKind.MODEM_UP}


@pytest.fixture(scope="module")
def day() -> ElectionDay:
    return plan_day(ELECTION, HOME, seed=3)


def test_turnout_is_within_tolerance() -> None:
    station = ELECTION.station(HOME)
    for turnout in (0.35, 0.6):
        for seed in range(3):
            d = plan_day(ELECTION, HOME, DayParams(turnout=turnout), seed=seed)
            share = len(d.voters) / station.voters
            assert abs(share - turnout) < 0.05, (turnout, seed, share)
    assert plan_day(ELECTION, HOME, DayParams(turnout=0.0)).sheets == ()


def test_arrivals_are_within_opening_hours(day: ElectionDay) -> None:
    p = day.params
    assert day.voters
    assert all(p.open_s <= v.arrival_s < p.close_s for v in day.voters)
    arrivals = [e.t_s for e in day.events if e.kind is EventKind.VOTER_ARRIVES]
    assert len(arrivals) == len(day.voters)
    assert min(arrivals) >= parse_clock("08:00") and max(arrivals) < parse_clock("20:00")
    assert [v.arrival_s for v in day.voters] == sorted(v.arrival_s for v in day.voters)


def test_time_of_day_curve_is_followed() -> None:
    """A curve with all weight in one hour puts every arrival in that hour."""
    weights = tuple(1.0 if h == 3 else 0.0 for h in range(12))  # 11:00-12:00
    d = plan_day(ELECTION, HOME, DayParams(hourly_weights=weights), seed=1)
    assert all(parse_clock("11:00") <= v.arrival_s < parse_clock("12:00") for v in d.voters)
    # The default curve is bimodal: more arrivals at 10-11 and 17-19 than at lunch time.
    hours = Counter(int(v.arrival_s // 3600) for s in range(3)
                    for v in plan_day(ELECTION, HOME, seed=s).voters)
    assert hours[10] > hours[13] and hours[18] > hours[13]


@pytest.mark.parametrize("number", [HOME, DISTRICT_ONLY, ABROAD])
def test_each_voter_feeds_each_ballot_once(number: str) -> None:
    d = plan_day(ELECTION, number, seed=4)
    station = ELECTION.station(number)
    expected = {k for k, _ in ballot_kinds(station)}
    if station.abroad:
        assert expected == {BallotKind.PARTY_LIST}
    assert len(d.sheets) == len(d.voters) * len(expected)
    for v in d.voters:
        fed = sheets_of(d, v.voter)
        assert tuple(s.kind for s in fed) == v.ballots
        assert set(v.ballots) == expected and len(v.ballots) == len(expected)
        assert all(s.t_s > v.arrival_s for s in fed)
    contests = dict(ballot_kinds(station))
    assert all(s.contest == contests[s.kind] for s in d.sheets)


def test_sheets_reach_the_scanner_one_at_a_time(day: ElectionDay) -> None:
    assert [s.sheet_index for s in day.sheets] == list(range(len(day.sheets)))
    gaps = np.diff([s.t_s for s in day.sheets])
    assert (gaps >= day.params.scan_s[0] - 0.1).all()
    fed = Counter(e.sheet for e in day.events if e.kind is EventKind.BALLOT_FED)
    assert fed == Counter(range(len(day.sheets)))
    jams = Counter(e.sheet for e in day.events if e.kind is EventKind.PAPER_JAM)
    assert all(jams.get(s.sheet_index, 0) == s.jams for s in day.sheets)


def test_events_are_ordered_and_framed(day: ElectionDay) -> None:
    times = [e.t_s for e in day.events]
    assert times == sorted(times)
    kinds = [e.kind for e in day.events]
    assert kinds.count(EventKind.POLLS_OPEN) == 1 and kinds.count(EventKind.POLLS_CLOSE) == 1
    open_at = next(e.t_s for e in day.events if e.kind is EventKind.POLLS_OPEN)
    close_at = next(e.t_s for e in day.events if e.kind is EventKind.POLLS_CLOSE)
    assert open_at == parse_clock("08:00") and close_at >= parse_clock("20:00")
    assert all(open_at < s.t_s <= close_at for s in day.sheets)


def test_same_seed_same_day_other_seed_other_day(day: ElectionDay) -> None:
    again = plan_day(ELECTION, HOME, seed=3)
    assert again == day
    assert again.dumps() == day.dumps()
    other = plan_day(ELECTION, HOME, seed=4)
    assert other.dumps() != day.dumps()
    assert other.sheet_seed != day.sheet_seed
    assert plan_day(ELECTION, DISTRICT_ONLY, seed=3).sheet_seed != day.sheet_seed


def test_zero_fault_rates_give_no_faults() -> None:
    d = plan_day(ELECTION, HOME, DayParams(faults=FaultRates.none()), seed=3)
    assert not [e for e in d.events if e.kind in FAULT_KINDS]
    assert all(s.jams == 0 for s in d.sheets)


def test_faults_are_replayable_data() -> None:
    faults = FaultRates(paper_jam_per_sheet=0.05, power_cuts_per_day=4.0,
                        modem_outages_per_day=4.0)
    d = plan_day(ELECTION, HOME, DayParams(faults=faults), seed=8)
    counts = Counter(e.kind for e in d.events)
    assert counts[EventKind.PAPER_JAM] == counts[EventKind.JAM_CLEARED] > 0
    assert counts[EventKind.POWER_CUT] == counts[EventKind.POWER_RESTORED] > 0
    assert counts[EventKind.MODEM_DOWN] == counts[EventKind.MODEM_UP] > 0
    for start_kind, end_kind in ((EventKind.POWER_CUT, EventKind.POWER_RESTORED),
                                 (EventKind.MODEM_DOWN, EventKind.MODEM_UP)):
        starts = [e for e in d.events if e.kind is start_kind]
        ends = [e for e in d.events if e.kind is end_kind]
        for s, e in zip(starts, ends, strict=True):
            assert s.duration_s is not None and s.duration_s > 0
            assert e.t_s == pytest.approx(s.t_s + s.duration_s, abs=0.11)
        for a, b in zip(starts[1:], ends[:-1], strict=True):
            assert a.t_s >= b.t_s - 0.11  # never two of a kind at once


def test_json_round_trip(day: ElectionDay) -> None:
    text = day.dumps()
    doc = json.loads(text)
    assert doc["station"] == HOME and doc["events"][0]["kind"] == "polls-open"
    assert doc["sheets"][0]["t"] == clock(day.sheets[0].t_s)
    assert ElectionDay.from_json(doc) == day
    with pytest.raises(PcosError):
        ElectionDay.from_json({"format": 1})


def test_bad_settings_are_errors() -> None:
    with pytest.raises(PcosError):
        plan_day(ELECTION, "no-such-station")
    for params in (DayParams(turnout=1.5), DayParams(turnout=-0.1),
                   DayParams(hourly_weights=(0.0, 0.0)),
                   DayParams(faults=FaultRates(power_cuts_per_day=-1.0)),
                   DayParams(open_s=parse_clock("20:00"), close_s=parse_clock("08:00"))):
        with pytest.raises(PcosError):
            plan_day(ELECTION, HOME, params)
    with pytest.raises(PcosError):
        parse_clock("8 o'clock")


def test_fed_sheets_render_as_their_ballot(day: ElectionDay) -> None:
    factories = sheet_factories(ELECTION, day, preset("clean"))
    assert set(factories) == {BallotKind.PARTY_LIST, BallotKind.DISTRICT, BallotKind.LOCAL}
    for fed in day.sheets[:2]:
        sheet = render(factories, fed)
        assert sheet.truth["sheet"] == fed.sheet_index
        assert sheet.truth["kind"] == fed.kind.value
        assert sheet.truth["contest"] == fed.contest
        assert sheet.truth["genuine"]
