"""The DEC's spoiled-ballot exchange on the national day (simulator/national/exchange.py).

A genuine ballot the reader returns ``MAX_READER_RETURNS`` times is cancelled by the
commission (spoiled) and replaced by a fresh ballot of the same kind that the voter
marks alike. The image test uses the national plan's station 4077 sheet 1001 (found by
the sample run: the voter wrote across the timing ladder; the real reader fails to
register it) with the real renderer and the real reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from election.model import BallotKind
from election.reject import RejectReason
from election.rules import BallotOutcome
from election.tally import TallyBuilder
from firmware.hal.imaging import DuplexImages
from simulator.devices import SimWorld, sheet_of_tiny
from simulator.election_day import DayParams, plan_day
from simulator.national.exchange import (
    EXCHANGE_INDEX_BASE,
    MAX_EXCHANGES,
    DecDesk,
    exchanges_of,
    original_of,
    replacement_sheet_id,
)
from simulator.national.faults import NationalFaults
from simulator.national.intent import IntentReader, Intents, box_truth, sheet_id
from simulator.national.station import (
    MAX_READER_RETURNS,
    Unit,
    _drive,
    _image_source,
    _page_png,
    fast_tiny_images,
    worker_election,
)
from simulator.rig import build_device
from vision.result import Outcome, SheetInterpretation


def test_the_exchange_rule_and_its_bound() -> None:
    sid = sheet_id("4077", 1001, BallotKind.PARTY_LIST)
    first = replacement_sheet_id(sid, genuine=True)
    assert first == sheet_id("4077", EXCHANGE_INDEX_BASE + 1001, BallotKind.PARTY_LIST)
    assert first is not None
    second = replacement_sheet_id(first, genuine=True)
    assert second == sheet_id("4077", 2 * EXCHANGE_INDEX_BASE + 1001, BallotKind.PARTY_LIST)
    assert second is not None
    assert MAX_EXCHANGES == 2
    assert replacement_sheet_id(second, genuine=True) is None  # the bound: the voter keeps it
    assert [exchanges_of(s) for s in (sid, first, second)] == [0, 1, 2]
    assert original_of(first) == original_of(second) == original_of(sid) == sid
    assert replacement_sheet_id(sid, genuine=False) is None  # a fake is never exchanged
    test_ballot = sheet_id("4077", 1, BallotKind.PARTY_LIST, test=True)
    assert replacement_sheet_id(test_ballot, genuine=True) is None
    d = sheet_id("4077", 7, BallotKind.DISTRICT)
    assert replacement_sheet_id(d, genuine=True) == sheet_id(
        "4077", EXCHANGE_INDEX_BASE + 7, BallotKind.DISTRICT)  # the same kind of ballot


def test_the_desk_spoils_genuine_sheets_and_queues_the_replacement(tmp_path: Path) -> None:
    world = SimWorld()
    incidents: list[dict] = []
    issued: list[tuple[str, str]] = []
    fake = "9/5p"
    desk = DecDesk(lambda s: s != fake, lambda old, new: issued.append((old, new)),
                   lambda: 123.0, incidents)
    world.queue = ["9/6p"]
    world.returned = ["9/4p", fake]
    new = desk.exchange(world, ["9/4p", fake])
    assert new == [f"9/{EXCHANGE_INDEX_BASE + 4}p"]
    assert world.queue == [*new, "9/6p"]  # the voter feeds the fresh ballot next
    assert world.returned == [fake]  # the fake stays with whoever brought it
    assert desk.spoiled == ["9/4p"]
    assert issued == [("9/4p", new[0])]
    assert incidents == [{"kind": "ballot-exchanged", "t_s": 123.0, "sheet": "9/4p",
                          "replacement": new[0]}]
    # the replacement given up on again is exchanged once more, then no more
    world.returned.append(new[0])
    second = desk.exchange(world, [new[0]])
    world.returned.append(second[0])
    assert desk.exchange(world, [second[0]]) == []
    assert desk.spoiled == ["9/4p", new[0]]
    assert world.returned == [fake, second[0]]


@pytest.fixture(scope="module")
def station_4077() -> tuple:
    election = worker_election()
    plan = plan_day(election, "4077", DayParams(faults=NationalFaults().day_rates()),
                    seed=2021)  # the national day's default seed, as the sample run
    truths: dict[str, BallotOutcome] = {}
    source = _image_source(None, election, election.station("4077"),  # type: ignore[arg-type]
                           plan, truths)
    return election, plan, truths, source


def test_a_returned_genuine_sheet_is_exchanged_and_its_replacement_counted(
        station_4077: tuple) -> None:
    election, plan, truths, source = station_4077
    fed = next(s for s in plan.sheets if s.sheet_index == 1001)
    sid = sheet_id("4077", 1001, fed.kind)
    for _ in range(MAX_READER_RETURNS):  # the voter's three tries, each a fresh scan
        images = source.images_of(sid)
        got = source.reader.interpret(images.front, images.back)
        assert got.outcome is Outcome.REJECTED, got.to_json()
    assert source.genuine(sid)
    world = SimWorld()
    world.returned = [sid]
    incidents: list[dict] = []
    desk = DecDesk(source.genuine, source.issue, lambda: 0.0, incidents)
    (new,) = desk.exchange(world, [sid])
    assert desk.spoiled == [sid] and world.queue == [new] and world.returned == []
    images = source.images_of(new)
    got = source.reader.interpret(images.front, images.back)
    assert got.outcome is Outcome.ACCEPTED, got.to_json()
    # the box holds the replacement: its policy-expected outcome is what the truth counts,
    # and the reader counted the same (the voter's marks, made again on a new paper)
    read = BallotOutcome.from_json(got.contests)
    assert read == truths[new]
    station = election.station("4077")
    truth = box_truth(election, station, [new], lambda s: truths[s])
    b = TallyBuilder.empty(election, station.contest_ids())
    b.add(read)
    assert truth == b.build()
    assert truth.contest("party-list").ballots == 1


class StubbornReader:
    """Stand-in reader (a unit test's, said so): the voter's intended reading
    (:class:`IntentReader`), except that it returns every scan of the sheets in
    ``refuse`` as the real reader returned station 4077's sheet 1001."""

    def __init__(self, inner: IntentReader, refuse: set[str]) -> None:
        self.inner, self.refuse = inner, refuse

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        if sheet_of_tiny(DuplexImages(front, back)) in self.refuse:
            return SheetInterpretation(Outcome.REJECTED, RejectReason.REGISTRATION,
                                       "start mark not found at a ladder end")
        return self.inner.interpret(front, back)


@pytest.mark.parametrize("stubborn", [1, 3])
def test_the_station_day_exchanges_through_the_firmware(tmp_path: Path, stubborn: int) -> None:
    """Through the real firmware (``_drive`` on a device on simulated hardware): sheet 5
    is returned three times and exchanged. ``stubborn`` 1: its replacement reads and is
    counted, and the box's truth equals the device's tally with one spoiled ballot.
    ``stubborn`` 3: the original and both replacements are returned: two spoiled, and the
    voter keeps the last one (it never reaches a box)."""
    election = worker_election()
    station = election.station("4077")
    intents = Intents(election, station, seed=2021)
    sids = [sheet_id("4077", i, BallotKind.PARTY_LIST) for i in range(8)]
    chain = [sids[5]]
    while len(chain) < stubborn:
        nxt = replacement_sheet_id(chain[-1], genuine=True)
        assert nxt is not None
        chain.append(nxt)
    reader = StubbornReader(IntentReader(intents), set(chain))
    world = SimWorld()
    r = build_device(tmp_path / "dev", world, election, station, reader,
                     images_of=fast_tiny_images)
    r.device.boot()
    r.device.load_package()
    r.device.enter_test_mode()
    r.device.clear_test()
    r.device.open_polls()
    incidents: list[dict] = []
    desk = DecDesk(intents.issued, intents.same_as, lambda: 0.0, incidents)
    unit = Unit("A", None, tmp_path, world, tmp_path / "dev" / "removable",  # type: ignore
                device=r.device, desk=desk)
    world.queue.extend(sids)
    _drive(unit)
    assert desk.spoiled == chain[:MAX_EXCHANGES]
    assert [i["sheet"] for i in incidents] == desk.spoiled
    assert unit.returns == MAX_READER_RETURNS * (len(desk.spoiled) + (stubborn > MAX_EXCHANGES))
    box = list(world.box)
    truth = box_truth(election, station, box, intents.outcome)
    assert truth == r.device.tally()  # the device counted exactly the box
    if stubborn <= MAX_EXCHANGES:
        (repl,) = [s for s in box if s not in sids]
        assert repl == replacement_sheet_id(chain[-1], genuine=True)
        assert intents.outcome(repl) == intents.outcome(sids[5])  # marked alike
        assert sorted(box) == sorted([*sids[:5], repl, *sids[6:]])
        assert world.returned == []
    else:
        assert sorted(box) == sorted(sids[:5] + sids[6:])
        assert world.returned == [chain[-1]]  # kept by the voter: a named difference
    r.device.close()


def test_the_cec_checks_the_protocols_ballot_balance(tmp_path: Path) -> None:
    """The CEC takes ``ballots_spoiled`` from the DEC protocol and flags a protocol whose
    cast and spoiled ballots exceed the ballots the commission received."""
    from protocol_fixtures import ingestor, make_world

    from protocol.cec.consolidate import consolidate, station_view
    from protocol.messages import DecFigures, DecProtocol
    from protocol.receipts import ReceiptStatus

    world = make_world(stations=("1001", "1002"), per_station=1)
    ing, store = ingestor(world, tmp_path / "cec.db")
    for n, spare_ballots in (("1001", 3), ("1002", 1)):
        results = world.results(n, 7, ballots=100)
        st = world.election.station(n)
        cast = results.tally.contest("party-list").ballots
        figures = DecFigures.make(
            voters_on_list=st.voters, ballots_received=cast + spare_ballots, ballots_cast=cast,
            ballots_spoiled=2, votes={c.contest: dict(c.options) for c in results.tally.contests})
        for content in (world.zero(n), results, DecProtocol((_page_png(n),), figures)):
            out = ing.process(world.envelope(world.message(f"{n}-D1", content)))
            assert out.status is ReceiptStatus.ACCEPTED, out.reason
    ing.store.commit()
    c = consolidate(world.registry, store)
    assert c.dec_reports["1001"].figures.ballots_spoiled == 2
    assert station_view(c, "1001")["discrepancies"] == []  # 2 spoiled of 3 left: fine
    (d,) = station_view(c, "1002")["discrepancies"]  # 2 spoiled, but only 1 ballot left
    assert d["option"] == "ballots_cast+ballots_spoiled" and d["difference"] == -1


def test_the_run_sends_and_verifies_the_spoiled_count(tmp_path: Path) -> None:
    """A small national run: every DEC protocol carries ``ballots_spoiled`` (none were
    exchanged: the intent reader returns no genuine sheet) and the run's verify compares
    it with the stations' spoiled sheets: a record claiming one exchange the CEC's
    protocol does not show is a named difference; the report lists spoiled ballots."""
    import json

    from protocol.cec.store import open_store
    from simulator.national.faults import NationalFaults
    from simulator.national.run import (
        NationalSettings,
        draw_plans,
        pick_stations,
        provision,
        run_national,
        verify,
    )

    settings = NationalSettings(stations=2, faults=NationalFaults.none(), workers=1, seed=4,
                                out=tmp_path, website="none")
    s = run_national(settings, progress=None)
    assert s["totals_match_truth"], s["differences"]
    assert s["ballots_spoiled"] == 0
    assert "Spoiled ballots" in (tmp_path / "report.html").read_text(encoding="utf-8")
    records = [json.loads(line) for line in
               (tmp_path / "stations.jsonl").read_text().splitlines()]
    assert all(r["spoiled"] == [] and r["not_in_box"] == [] for r in records)
    election = worker_election()
    numbers = pick_stations(election, settings.stations)
    cec = provision(election, numbers, draw_plans(settings, numbers), settings.seed)
    records[0]["spoiled"] = [f"{records[0]['station']}/1p"]
    store = open_store(tmp_path / "cec.sqlite")
    try:
        summary, _ = verify(election, cec.registry, store, records)
    finally:
        store.close()
    assert not summary["totals_match_truth"]
    assert {"where": f"station {records[0]['station']}", "what": "ballots_spoiled",
            "cec": 0, "truth": 1} in summary["differences"]
    assert summary["ballots_spoiled"] == 1
