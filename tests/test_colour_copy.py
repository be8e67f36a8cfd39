"""The colour-photocopy fake as ``pcos bench accuracy`` builds it (a known limitation).

A marked genuine ballot is colour-copied (mild background lift, pale tints
kept) and scanned like any sheet. The reader does not reject it: this test
pins that, so a reader that learns to catch such copies must update the
README, docs/vision-scanners.md and this test together.
"""

from __future__ import annotations

import numpy as np

from benchmarks.accuracy import colour_copy_sheet
from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station


def test_bench_colour_copy_is_a_scanned_ballot_the_reader_accepts() -> None:
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset("realistic"), seed=2021, kind="party-list")
    front, back = colour_copy_sheet(factory, 0)
    again = colour_copy_sheet(factory, 0)
    assert np.array_equal(front, again[0]) and np.array_equal(back, again[1])  # seeded
    res = make_reader(e, station).interpret(front, back)
    assert res.reason is None, (res.reason, res.detail)  # not rejected: the limitation
    assert res.kind == "party-list"
