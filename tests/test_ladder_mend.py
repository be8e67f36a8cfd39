"""A timing mark touched by handwriting is still a mark; an erased one is not.

The reader accepts a mark whose blob was spoiled by a pen stroke only after
checking, at the spot the two ladder pieces predict, that a solid mark-sized
dark rectangle is really there (``vision.ladder.mend``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from vision.interpret import Reader
from vision.result import Outcome


@pytest.fixture(scope="module")
def case() -> tuple[Reader, Any, dict[str, Any]]:
    e = default_election()
    station = default_station(e)
    reader = make_reader(e, station)
    sheet = SheetFactory(e, station, preset("clean"), seed=8, kind="party-list").sheet(0)
    debug: dict[str, Any] = {}
    assert reader.interpret(sheet.front, sheet.back, debug).outcome is Outcome.ACCEPTED
    return reader, sheet, debug


def _ballot_and_other(sheet: Any, debug: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if debug["side"] == "front":
        return sheet.front.copy(), sheet.back
    return sheet.back.copy(), sheet.front


def test_a_felt_tip_stroke_through_a_timing_mark_still_reads(case: Any) -> None:
    reader, sheet, debug = case
    img, other = _ballot_and_other(sheet, debug)
    mark = debug["mesh"].left[20]
    x, y = int(mark[0]), int(mark[1])
    # A 9 px (1.1 mm) felt-tip stroke from the content area across the mark and beyond.
    cv2.line(img, (x + 120, y - 25), (x - 30, y + 18), (25, 25, 45), 9, cv2.LINE_AA)
    res = reader.interpret(img, other) if debug["side"] == "front" else reader.interpret(other, img)
    assert res.outcome is not Outcome.REJECTED, (res.reason, res.detail)
    clean = reader.interpret(sheet.front, sheet.back)
    assert [t.mark for t in res.targets] == [t.mark for t in clean.targets]
    assert res.contests == clean.contests


def test_an_erased_timing_mark_is_not_invented(case: Any) -> None:
    reader, sheet, debug = case
    img, other = _ballot_and_other(sheet, debug)
    mark = debug["mesh"].left[20]
    x, y = int(mark[0]), int(mark[1])
    paper = [int(v) for v in np.percentile(img[y - 60 : y + 60, x + 30 : x + 80].reshape(-1, 3),
                                           90, axis=0)]
    cv2.rectangle(img, (x - 22, y - 9), (x + 22, y + 9), paper, -1)
    res = reader.interpret(img, other) if debug["side"] == "front" else reader.interpret(other, img)
    assert res.outcome is Outcome.REJECTED
    assert res.reason is not None and res.reason.value == "registration-failed"
