"""A re-fed sheet is the same paper scanned afresh.

A voter whose ballot the reader returned feeds it again (the national day allows three
tries). A real scanner never sees a sheet twice alike, so the simulator's re-feed keeps
the paper (ballot, print, marks: the truth) and draws a new scanner pass (orientation,
feed geometry, sensor noise, compression). Found by the whole-country `--images sample`
run: station 1137's sheet 221 ran off the image's bottom edge ("sheet tail not visible")
and, re-fed as the very same image, was returned three times and never reached a box.
"""

from __future__ import annotations

import numpy as np

from firmware.reader_setup import make_reader
from simulator.election_day import DayParams, plan_day, sheet_factories
from simulator.national.faults import NationalFaults
from simulator.national.station import worker_election
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from vision.result import Outcome


def _marks(truth: dict) -> list:
    return [(t["contest"], t["option"], t["class"]) for t in truth["targets"]]


def test_rescan_keeps_the_paper_and_draws_a_new_pass() -> None:
    from election.default import default_election

    e = default_election()
    f = SheetFactory(e, default_station(e), preset("realistic"), seed=11)
    for index in range(6):
        first, again = f.sheet(index), f.sheet(index, rescan=0)
        assert np.array_equal(first.front, again.front)  # rescan 0 is the sheet as ever
        second, second_again = f.sheet(index, rescan=1), f.sheet(index, rescan=1)
        assert np.array_equal(second.front, second_again.front)  # a pure function
        assert np.array_equal(second.back, second_again.back)
        assert _marks(second.truth) == _marks(first.truth)
        assert second.truth["genuine"] == first.truth["genuine"]
        assert second.truth.get("expected") == first.truth.get("expected")
        differs = (first.front.shape != second.front.shape
                   or not np.array_equal(first.front, second.front))
        assert differs, f"sheet {index}: the re-feed gave the first scan's pixels"


def test_a_sheet_run_off_the_image_reads_on_its_refeed() -> None:
    election = worker_election()
    station = "1137"
    plan = plan_day(election, station, DayParams(faults=NationalFaults().day_rates()),
                    seed=2021)
    fed = next(s for s in plan.sheets if s.sheet_index == 221)
    factory = sheet_factories(election, plan, preset("realistic"))[fed.kind]
    reader = make_reader(election, election.station(station))
    first = factory.sheet(221)
    assert first.truth["genuine"]
    got = reader.interpret(first.front, first.back)
    assert got.outcome is Outcome.REJECTED  # the case: this scan lost the sheet's tail
    again = factory.sheet(221, rescan=1)
    got = reader.interpret(again.front, again.back).to_json()
    assert got["outcome"] != "rejected", got["detail"]
    read = {(t["contest"], t["option"]) for t in got["targets"] if t["mark"] == "marked"}
    truth = {(t["contest"], t["option"]) for t in again.truth["targets"]
             if t["class"] == "definite"}
    assert read == truth
