"""The grader (``calibration.grade``): the figures the reader's acceptance is decided on.

Readings and truth are built by hand, so each expected count is known
exactly. Protects every summary figure (the error counts, each rate and its
denominator, the contest-result check and the sheets it is restricted to, the
misread list), that merging partial grades equals grading everything at once,
and the histogram file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import pytest

from calibration.grade import Grade
from election.reject import RejectReason
from vision.result import Mark, Outcome, SheetInterpretation, TargetReading, TargetScores

C = "district-18"
VOTE_A = {C: {"status": "valid", "choice": "A"}}
VOTE_B = {C: {"status": "valid", "choice": "B"}}
FILL = {Mark.MARKED: 0.6, Mark.MARGINAL: 0.02, Mark.UNMARKED: 0.0}


# --------------------------------------------------------------------------- builders


def _reading(option: str, mark: Mark, fill: float | None = None) -> TargetReading:
    f = FILL[mark] if fill is None else fill
    return TargetReading(C, option, TargetScores(f, f, 0.0), mark, (10.0, 20.0), (0, 0))


def _truth(sheet: int, classes: dict[str, str] | None = None,
           expected: dict[str, Any] | None = None, fake: str | None = None,
           expected_reason: str | None = None) -> dict[str, Any]:
    """A truth line as ``pcos sim sheets`` writes it (only the keys the grader reads)."""
    targets = [{"contest": C, "option": o, "intent": cls != "none", "class": cls}
               for o, cls in (classes or {}).items()]
    return {"sheet": sheet, "genuine": fake is None, "fake": fake,
            "expected_reason": expected_reason, "targets": targets,
            "expected": expected if fake is None else None}


def _read(outcome: Outcome, marks: dict[str, Mark] | None = None,
          contests: dict[str, Any] | None = None, reason: RejectReason | None = None,
          fills: dict[str, float] | None = None) -> SheetInterpretation:
    marks = marks or {}
    targets = tuple(_reading(o, m, (fills or {}).get(o)) for o, m in marks.items())
    marginal = tuple(f"{C}/{o}" for o, m in marks.items() if m is Mark.MARGINAL)
    return SheetInterpretation(outcome, reason, "why" if reason else "", targets=targets,
                               contests=contests or {}, marginal=marginal)


M, G, U = Mark.MARKED, Mark.MARGINAL, Mark.UNMARKED
ACC, REV, REJ = Outcome.ACCEPTED, Outcome.REVIEW, Outcome.REJECTED


def _corpus() -> list[tuple[dict[str, Any], SheetInterpretation]]:
    """Twelve sheets, one situation each (the comment says what the grader must count)."""
    return [
        # 0: perfect: definite A marked, none B/C unmarked; contests checked and right
        (_truth(0, {"A": "definite", "B": "none", "C": "none"}, VOTE_A),
         _read(ACC, {"A": M, "B": U, "C": U}, VOTE_A)),
        # 1: definite read unmarked (definite error) -> wrong contest result, counted
        (_truth(1, {"A": "definite", "B": "none", "C": "none"}, VOTE_A),
         _read(ACC, {"A": U, "B": U, "C": U}, {C: {"status": "blank", "choice": None}})),
        # 2: none read marked (none error) -> wrong contest result, counted
        (_truth(2, {"A": "definite", "B": "none", "C": "none"}, VOTE_A),
         _read(ACC, {"A": M, "B": M, "C": U}, {C: {"status": "overvote", "choice": None}})),
        # 3: definite and none read marginal (sheet goes to review): contests NOT checked
        (_truth(3, {"A": "definite", "B": "none", "C": "none"}, VOTE_A),
         _read(REV, {"A": G, "B": G, "C": U}, VOTE_B)),
        # 4: truth marginal flagged marginal (review): contests not checked
        (_truth(4, {"A": "marginal", "B": "none", "C": "none"}, VOTE_A),
         _read(REV, {"A": G, "B": U, "C": U}, VOTE_B)),
        # 5: truth marginal read unmarked, accepted: contests NOT checked (truth marginal)
        (_truth(5, {"A": "marginal", "B": "definite", "C": "none"}, VOTE_A),
         _read(ACC, {"A": U, "B": M, "C": U}, VOTE_B)),
        # 6: truth marginal read marked, accepted: contests not checked either
        (_truth(6, {"A": "marginal", "B": "none", "C": "none"}, VOTE_A),
         _read(ACC, {"A": M, "B": U, "C": U}, VOTE_A)),
        # 7: genuine sheet rejected: no targets graded
        (_truth(7, {"A": "definite", "B": "none", "C": "none"}, VOTE_A),
         _read(REJ, reason=RejectReason.STREAK)),
        # 8: fake rejected with the right reason
        (_truth(8, fake="photocopy", expected_reason="security-missing"),
         _read(REJ, reason=RejectReason.SECURITY_MISSING)),
        # 9: fake rejected with another reason
        (_truth(9, fake="fit-to-page", expected_reason="scale-out-of-range"),
         _read(REJ, reason=RejectReason.REGISTRATION)),
        # 10: fake accepted
        (_truth(10, fake="foreign-contest", expected_reason="wrong-contest"),
         _read(ACC, {"A": M}, VOTE_A)),
        # 11: perfect, none B read with a sub-threshold score; contests right
        (_truth(11, {"A": "none", "B": "definite", "C": "none"}, VOTE_B),
         _read(ACC, {"A": U, "B": M, "C": U}, VOTE_B, fills={"A": 0.003})),
    ]


def _graded(items: list[tuple[dict[str, Any], SheetInterpretation]]) -> Grade:
    g = Grade()
    for truth, res in items:
        g.add(truth, res)
    return g


# --------------------------------------------------------------------------- summary


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return _graded(_corpus()).summary()


def test_sheet_counts(summary: dict[str, Any]) -> None:
    """Sheets, genuine and fakes; genuine rejected and in review."""
    assert summary["sheets"] == 12
    assert summary["genuine"] == 9
    assert summary["fakes"] == 3
    assert summary["genuine_rejected"] == 1
    assert summary["genuine_review"] == 2
    assert summary["genuine_rejected_rate"] == pytest.approx(1 / 9, abs=1e-6)
    assert summary["genuine_reject_reasons"] == {"streak": 1}


def test_confusion_counts_targets_of_read_sheets_only(summary: dict[str, Any]) -> None:
    """Targets of the 8 read genuine sheets (3 each) are in the confusion; the rejected
    genuine sheet's and the fakes' are not."""
    assert summary["targets_read"] == 24
    assert summary["confusion"] == {
        "definite": {"marked": 4, "marginal": 1, "unmarked": 1},
        "marginal": {"marked": 1, "marginal": 1, "unmarked": 1},
        "none": {"marked": 1, "marginal": 1, "unmarked": 13},
    }


def test_error_counts(summary: dict[str, Any]) -> None:
    """definite_errors = definite read unmarked; none_errors = none read marked (marginal
    verdicts are counted apart, not as errors)."""
    assert summary["definite_errors"] == 1
    assert summary["none_errors"] == 1


def test_marginal_rates(summary: dict[str, Any]) -> None:
    """Marginal verdicts on definite/none targets over all definite/none targets; truth
    marginal targets flagged marginal over all truth marginal targets."""
    assert summary["definite_or_none_marginal"] == 2
    assert summary["definite_or_none_marginal_rate"] == pytest.approx(2 / 21, abs=1e-6)
    assert summary["marginal_targets"] == 3
    assert summary["marginal_flagged_rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_fake_rates(summary: dict[str, Any]) -> None:
    """Fakes rejected (any reason) and rejected with the expected reason."""
    assert summary["fakes_rejected_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert summary["fakes_right_reason_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert summary["fake_outcomes"] == {
        "fit-to-page -> registration-failed": 1,
        "foreign-contest -> accepted": 1,
        "photocopy -> security-missing": 1,
    }


def test_wrong_contest_results_only_on_accepted_sheets_without_truth_marginal(
        summary: dict[str, Any]) -> None:
    """Checked: sheets 0, 1, 2, 11 (accepted, no truth-marginal target); 1 and 2 differ.
    Not checked: review sheets 3 and 4 (their contests differ), accepted sheets 5 and 6 with
    a truth-marginal target (5 differs), the rejected sheet and the fakes."""
    assert summary["contest_results_checked"] == 4
    assert summary["wrong_contest_results"] == 2


def test_misread_list(summary: dict[str, Any]) -> None:
    """Every sheet with a problem, in order, with what went wrong; perfect sheets absent."""
    misread = summary["misread_sheets"]
    assert [m["sheet"] for m in misread] == [1, 2, 3, 5, 6, 7, 9, 10]
    by_sheet = {m["sheet"]: m for m in misread}
    for s in (1, 2, 3, 5, 6):
        assert by_sheet[s]["problem"] == "targets"
    assert any("truth definite, read unmarked" in d for d in by_sheet[1]["details"])
    assert any(d.startswith("contests ") for d in by_sheet[1]["details"])
    assert any("truth none, read marked" in d for d in by_sheet[2]["details"])
    assert not any(d.startswith("contests ") for d in by_sheet[3]["details"])
    assert not any(d.startswith("contests ") for d in by_sheet[5]["details"])
    assert by_sheet[7] == {"sheet": 7, "problem": "genuine rejected", "reason": "streak",
                           "detail": "why"}
    assert by_sheet[9]["problem"] == "fake rejected with another reason"
    assert by_sheet[9]["expected"] == "scale-out-of-range"
    assert by_sheet[9]["reason"] == "registration-failed"
    assert by_sheet[10]["problem"] == "fake accepted"


def test_missing_or_extra_targets_are_misreads() -> None:
    """A reading with fewer targets than truth, or a target truth does not know, is listed."""
    g = Grade()
    g.add(_truth(0, {"A": "definite", "B": "none"}, VOTE_A), _read(ACC, {"A": M}, VOTE_A))
    g.add(_truth(1, {"A": "definite"}, VOTE_A), _read(ACC, {"A": M, "Z": U}, VOTE_A))
    details = [d for m in g.summary()["misread_sheets"] for d in m["details"]]
    assert "1 targets read, truth has 2" in details
    assert any("Z: not in truth" in d for d in details)


def test_empty_grade_has_no_rates() -> None:
    """With nothing graded every rate is None (no division by zero), counts are 0."""
    s = Grade().summary()
    assert s["sheets"] == 0
    for key in ("definite_or_none_marginal_rate", "marginal_flagged_rate",
                "genuine_rejected_rate", "fakes_rejected_rate", "fakes_right_reason_rate"):
        assert s[key] is None
    assert s["wrong_contest_results"] == 0 and s["misread_sheets"] == []


def test_summary_caps_the_misread_list_but_not_the_counts() -> None:
    """A long run lists at most 200 misread sheets; the counts still cover all of them."""
    g = Grade()
    for i in range(250):
        g.add(_truth(i, {"A": "definite"}, VOTE_A), _read(REJ, reason=RejectReason.STREAK))
    s = g.summary()
    assert len(s["misread_sheets"]) == 200
    assert s["genuine_rejected"] == 250


def test_report_names_every_required_figure() -> None:
    """The text report carries the issue's figures and the confusion rows."""
    text = _graded(_corpus()).report()
    for key in ("definite_errors", "none_errors", "definite_or_none_marginal_rate",
                "marginal_flagged_rate", "genuine_rejected_rate", "fakes_rejected_rate",
                "wrong_contest_results", "misread sheets: 8"):
        assert key in text
    for cls in ("definite", "marginal", "none"):
        assert any(line.strip().startswith(cls) for line in text.splitlines())


# --------------------------------------------------------------------------- merge


@pytest.mark.parametrize("cut", [0, 1, 5, 7, 11, 12])
def test_merge_equals_grading_all_at_once(cut: int) -> None:
    """Grading two halves and merging gives the same summary and histogram data."""
    items = _corpus()
    whole = _graded(items)
    first, second = _graded(items[:cut]), _graded(items[cut:])
    merged = first.merge(second)
    assert merged is first
    assert merged.summary() == whole.summary()
    assert merged.scores == whole.scores


def test_merge_of_three_parts_in_order() -> None:
    items = _corpus()
    parts = [_graded(items[:3]), _graded(items[3:8]), _graded(items[8:])]
    merged = Grade().merge(parts[0]).merge(parts[1]).merge(parts[2])
    assert merged.summary() == _graded(items).summary()


def test_merge_leaves_the_other_grade_unchanged() -> None:
    items = _corpus()
    other = _graded(items[6:])
    before = other.summary()
    _graded(items[:6]).merge(other)
    assert other.summary() == before


# --------------------------------------------------------------------------- histogram


def test_histogram_png_is_a_valid_image(tmp_path: Path) -> None:
    """The histogram is a PNG that decodes, one panel per truth class."""
    path = tmp_path / "hist.png"
    _graded(_corpus()).histogram_png(str(path))
    img = cv2.imread(str(path))
    assert img is not None
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_histogram_png_of_an_empty_grade(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    Grade().histogram_png(str(path))
    assert cv2.imread(str(path)) is not None


def test_histogram_png_unwritable_directory_raises_oserror(tmp_path: Path) -> None:
    """A path in a missing folder is an OSError (the CLI's one-line error)."""
    with pytest.raises(OSError):
        Grade().histogram_png(str(tmp_path / "missing" / "hist.png"))


@pytest.mark.parametrize("name", ["hist.txt", "."])
def test_histogram_png_unwritable_name_raises_oserror(tmp_path: Path, name: str) -> None:
    """Any path the PNG cannot be written to is an OSError."""
    with pytest.raises(OSError):
        Grade().histogram_png(str(tmp_path / name))
