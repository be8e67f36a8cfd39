"""The reader graded against the simulator's ground truth, on seeded sheets.

These are the accuracy figures of issue 4 at test scale (the full 5,000-sheet
run is ``pcos bench accuracy``). The reader never sees the truth: the grader
compares afterwards. Seeds are fixed, so a failure here is reproducible with
``benchmarks.accuracy.grade_run`` and the same arguments.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.accuracy import grade_run
from calibration.grade import Grade


def _fakes_accepted(grade: Grade) -> list[dict[str, Any]]:
    return [m for m in grade.misread if m.get("problem") == "fake accepted"]


@pytest.fixture(scope="module")
def realistic() -> Grade:
    return grade_run(400, seed=404, preset_name="realistic", kind="party-list,district",
                     fakes=0.08, workers=2)


@pytest.fixture(scope="module")
def harsh() -> Grade:
    return grade_run(160, seed=77, preset_name="harsh", kind="mixed", fakes=0.1, workers=2)


def test_realistic_definite_and_none_targets_are_never_misread(realistic: Grade) -> None:
    s = realistic.summary()
    assert s["targets_read"] > 10_000
    assert s["definite_errors"] == 0, realistic.misread
    assert s["none_errors"] == 0, realistic.misread
    assert s["definite_or_none_marginal_rate"] <= 0.001


def test_realistic_marginal_marks_are_flagged(realistic: Grade) -> None:
    s = realistic.summary()
    assert s["marginal_targets"] >= 5  # the voter model makes some
    assert s["marginal_flagged_rate"] >= 0.99, realistic.misread


def test_realistic_genuine_sheets_are_read_and_contests_match_truth(realistic: Grade) -> None:
    s = realistic.summary()
    assert s["genuine_rejected_rate"] <= 0.001, s["genuine_reject_reasons"]
    assert s["contest_results_checked"] > 300
    assert s["wrong_contest_results"] == 0, realistic.misread


def test_realistic_every_fake_is_rejected_with_the_right_reason(realistic: Grade) -> None:
    s = realistic.summary()
    assert s["fakes"] >= 15
    assert {k.split(" -> ")[0] for k in s["fake_outcomes"]} == {
        "photocopy", "foreign-contest", "other-election", "blank-sheet", "random-document",
        "double-feed", "fit-to-page", "wrong-stripe"}
    assert s["fakes_rejected_rate"] == 1.0, _fakes_accepted(realistic)
    assert s["fakes_right_reason_rate"] == 1.0, s["fake_outcomes"]


def test_harsh_sheets_make_no_silent_errors(harsh: Grade) -> None:
    """Under harsh conditions the reader may reject or flag, but never read wrong."""
    s = harsh.summary()
    assert s["sheets"] == 160
    # ... and it does read most of them: a reader rejecting everything would fail here.
    assert s["targets_read"] > 1500
    assert s["contest_results_checked"] > 40
    assert s["genuine_rejected_rate"] < 0.5
    assert s["definite_errors"] == 0, harsh.misread
    assert s["none_errors"] == 0, harsh.misread
    assert s["wrong_contest_results"] == 0, harsh.misread
    assert _fakes_accepted(harsh) == []
    # marginal marks are never silently dropped as unmarked or promoted to marked
    assert s["confusion"]["marginal"]["unmarked"] == 0
