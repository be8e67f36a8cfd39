"""``pcos scan``: the command line a test engineer and the demo read sheets with.

Six sheets are written once by ``pcos sim sheets`` (realistic, 30 % fakes) and
read back through the installed console script. Protects: the documented
JSON keys per sheet and of the grade; the histogram file; positional
FRONT BACK pairs agreeing with ``--dir``; user errors as one line with exit
code 2 and no traceback; a truncated image rejected for that sheet only; and
the debug overlays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

PCOS = str(Path(sys.executable).parent / "pcos")
COUNT = 6
SHEET_KEYS = {"sheet", "outcome", "reason", "kind", "district", "orientation", "targets",
              "contests"}
TARGET_KEYS = {"contest", "option", "score", "mark"}
GRADE_KEYS = {"sheets", "definite_errors", "none_errors", "definite_or_none_marginal_rate",
              "marginal_flagged_rate", "genuine_rejected_rate", "fakes_rejected_rate",
              "wrong_contest_results"}
OUTCOMES = {"accepted", "review", "rejected"}
REASONS = {"image-invalid", "not-a-ballot", "registration-failed", "code-invalid",
           "wrong-election", "wrong-contest", "stripe-mismatch", "security-missing",
           "scale-out-of-range", "streak", "double-feed"}


def _pcos(*args: str | Path | float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PCOS, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd, check=False)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, nothing on stdout, exactly one 'pcos: error:' line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pcos: error: "), proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sheets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six simulated sheets with truth and manifest (written once): seed 4 gives four
    genuine sheets and two fakes."""
    out = tmp_path_factory.mktemp("sheets") / "run"
    proc = _pcos("sim", "sheets", "--count", COUNT, "--seed", 4, "--preset", "realistic",
                 "--fakes", 0.3, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*-front.png"))) == COUNT
    truth = [json.loads(x) for x in (out / "truth.jsonl").read_text("utf-8").splitlines()]
    assert sum(t["genuine"] for t in truth) >= 3 and sum(not t["genuine"] for t in truth) >= 1
    return out


@pytest.fixture(scope="module")
def truth(sheets_dir: Path) -> dict[int, dict[str, Any]]:
    lines = _json_lines((sheets_dir / "truth.jsonl").read_text(encoding="utf-8"))
    return {t["sheet"]: t for t in lines}


@pytest.fixture(scope="module")
def scan_lines(sheets_dir: Path) -> list[dict[str, Any]]:
    proc = _pcos("scan", "--dir", sheets_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    return _json_lines(proc.stdout)


@pytest.fixture(scope="module")
def grade_run(sheets_dir: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[dict[str, Any], Path]:
    """``--grade --json`` on a copy of the directory (so the histogram lands in the copy)."""
    copy = tmp_path_factory.mktemp("graded") / "run"
    shutil.copytree(sheets_dir, copy)
    proc = _pcos("scan", "--dir", copy, "--grade", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = _json_lines(proc.stdout)
    assert len(lines) == 1, proc.stdout
    return lines[0], copy


# --------------------------------------------------------------------------- --json


def test_scan_json_one_line_per_sheet_with_documented_keys(
        scan_lines: list[dict[str, Any]]) -> None:
    """Six lines, sheets 0..5 in order, each with the documented keys and value types."""
    assert [line["sheet"] for line in scan_lines] == list(range(COUNT))
    for line in scan_lines:
        assert set(line) >= SHEET_KEYS, sorted(SHEET_KEYS - set(line))
        assert line["outcome"] in OUTCOMES
        assert isinstance(line["targets"], list) and isinstance(line["contests"], dict)
        for t in line["targets"]:
            assert set(t) >= TARGET_KEYS
            assert t["mark"] in {"marked", "marginal", "unmarked"}
            assert 0.0 <= t["score"] <= 1.0
        if line["outcome"] == "rejected":
            assert line["reason"] in REASONS
            assert line["targets"] == [] and line["contests"] == {}
            for who in ("voter", "operator"):
                assert line["message"][who]["ky"] and line["message"][who]["ru"]
        else:
            assert line["reason"] is None
            assert line["targets"] and line["contests"]
            assert line["orientation"] in {"front/0", "front/180", "back/0", "back/180"}


def test_scan_json_agrees_with_truth(scan_lines: list[dict[str, Any]],
                                     truth: dict[int, dict[str, Any]]) -> None:
    """Genuine sheets read with truth's kind, district, orientation and contest results;
    fakes rejected with their expected reason."""
    assert any(t["genuine"] for t in truth.values())
    assert any(not t["genuine"] for t in truth.values())
    for line in scan_lines:
        t = truth[line["sheet"]]
        if not t["genuine"]:
            assert line["reason"] == t["expected_reason"], (line["sheet"], line["detail"])
            continue
        assert line["outcome"] != "rejected", line["detail"]
        assert (line["kind"], line["district"], line["orientation"]) == (
            t["kind"], t["district"], t["orientation"])
        if line["outcome"] == "accepted":
            assert line["contests"] == t["expected"]
        assert [(x["contest"], x["option"]) for x in line["targets"]] == [
            (x["contest"], x["option"]) for x in t["targets"]]


def test_scan_text_output_one_line_per_sheet(sheets_dir: Path) -> None:
    """Without --json: one human-readable line per sheet, 'N: outcome ...'."""
    proc = _pcos("scan", "--dir", sheets_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == COUNT
    for i, line in enumerate(lines):
        assert line.startswith(f"{i}: ")
        assert line.split()[1] in OUTCOMES


# --------------------------------------------------------------------------- --grade


def test_grade_json_has_documented_keys_and_writes_histogram(
        grade_run: tuple[dict[str, Any], Path], truth: dict[int, dict[str, Any]]) -> None:
    """The issue's figures are present; the histogram PNG is written into DIR."""
    summary, directory = grade_run
    assert set(summary) >= GRADE_KEYS, sorted(GRADE_KEYS - set(summary))
    assert summary["sheets"] == COUNT
    assert summary["genuine"] + summary["fakes"] == COUNT
    assert summary["fakes"] == sum(not t["genuine"] for t in truth.values())
    hist = directory / "grade-histogram.png"
    assert hist.is_file()
    assert cv2.imread(str(hist)) is not None
    assert Path(summary["histogram"]) == hist


def test_grade_json_figures_on_this_run(grade_run: tuple[dict[str, Any], Path]) -> None:
    """On these six realistic sheets: no errors, every fake rejected for the right reason."""
    summary, _ = grade_run
    assert summary["definite_errors"] == 0
    assert summary["none_errors"] == 0
    assert summary["wrong_contest_results"] == 0
    assert summary["fakes_rejected_rate"] == 1.0
    assert summary["fakes_right_reason_rate"] == 1.0
    assert summary["genuine_rejected_rate"] == 0.0


def test_grade_hist_option_writes_there(sheets_dir: Path, tmp_path: Path) -> None:
    """--hist FILE puts the histogram where asked (and the text report on stdout)."""
    hist = tmp_path / "h.png"
    proc = _pcos("scan", "--dir", sheets_dir, "--grade", "--hist", hist)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(hist)) is not None
    assert "definite_errors" in proc.stdout and "per-target confusion" in proc.stdout


def test_grade_hist_with_unwritable_name_is_a_one_line_error(sheets_dir: Path,
                                                             tmp_path: Path) -> None:
    _one_line_error(_pcos("scan", "--dir", sheets_dir, "--grade", "--hist",
                          tmp_path / "hist.txt"))


# --------------------------------------------------------------------------- positional pairs


def test_positional_front_back_pairs(sheets_dir: Path, scan_lines: list[dict[str, Any]]) -> None:
    """FRONT BACK pairs read the same as --dir (with the same station), numbered from 0."""
    pick = (4, 0, 2)
    files: list[Path] = []
    for i in pick:
        files += [sheets_dir / f"{i:06d}-front.png", sheets_dir / f"{i:06d}-back.png"]
    proc = _pcos("scan", *files, "--station", "6007", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = _json_lines(proc.stdout)
    assert [line["sheet"] for line in lines] == [0, 1, 2]
    for line, i in zip(lines, pick, strict=True):
        ref = scan_lines[i]
        for key in ("outcome", "reason", "kind", "district", "orientation", "contests"):
            assert line[key] == ref[key], (i, key)


# --------------------------------------------------------------------------- user errors


def test_odd_number_of_files_is_a_one_line_error(sheets_dir: Path) -> None:
    _one_line_error(_pcos("scan", sheets_dir / "000000-front.png"))
    _one_line_error(_pcos("scan", sheets_dir / "000000-front.png",
                          sheets_dir / "000000-back.png", sheets_dir / "000001-front.png"))


def test_missing_dir_is_a_one_line_error(tmp_path: Path) -> None:
    _one_line_error(_pcos("scan", "--dir", tmp_path / "no-such-dir", "--json"))


def test_grade_without_dir_is_a_one_line_error(sheets_dir: Path) -> None:
    _one_line_error(_pcos("scan", "--grade"))
    _one_line_error(_pcos("scan", "--grade", sheets_dir / "000000-front.png",
                          sheets_dir / "000000-back.png"))


def test_dir_without_truth_cannot_be_graded(sheets_dir: Path, tmp_path: Path) -> None:
    """Grading needs truth.jsonl; reading the same directory without --grade still works."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in sheets_dir.glob("000000-*.png"):
        shutil.copy(f, bare / f.name)
    line = _one_line_error(_pcos("scan", "--dir", bare, "--grade"))
    assert "truth.jsonl" in line
    assert "station" in _one_line_error(_pcos("scan", "--dir", bare, "--json"))
    proc = _pcos("scan", "--dir", bare, "--json", "--station", "6007")
    assert proc.returncode == 0 and len(_json_lines(proc.stdout)) == 1


def test_empty_dir_and_no_arguments_are_one_line_errors(tmp_path: Path) -> None:
    _one_line_error(_pcos("scan", "--dir", tmp_path))
    _one_line_error(_pcos("scan"))


def test_files_and_dir_together_or_unknown_station_are_one_line_errors(sheets_dir: Path) -> None:
    _one_line_error(_pcos("scan", "--dir", sheets_dir, sheets_dir / "000000-front.png",
                          sheets_dir / "000000-back.png"))
    line = _one_line_error(_pcos("scan", "--dir", sheets_dir, "--station", "99999"))
    assert "99999" in line


# --------------------------------------------------------------------------- bad files


def test_truncated_front_png_rejects_that_sheet_only(sheets_dir: Path, tmp_path: Path,
                                                     scan_lines: list[dict[str, Any]]) -> None:
    """A front PNG cut in half: that sheet's line is image-invalid (naming the file); the
    others read as before; the command then exits 2 with one error line."""
    copy = tmp_path / "run"
    shutil.copytree(sheets_dir, copy)
    victim = copy / "000002-front.png"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    proc = _pcos("scan", "--dir", copy, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "pcos: error: 1 of 6 sheets could not be read" in proc.stderr
    assert "Traceback" not in proc.stderr
    lines = _json_lines(proc.stdout)
    assert [line["sheet"] for line in lines] == list(range(COUNT))
    bad = lines[2]
    assert bad["outcome"] == "rejected" and bad["reason"] == "image-invalid"
    assert "000002-front.png" in bad["detail"]
    for i in (0, 1, 3, 4, 5):
        assert (lines[i]["outcome"], lines[i]["reason"], lines[i]["contests"]) == (
            scan_lines[i]["outcome"], scan_lines[i]["reason"], scan_lines[i]["contests"])


def test_missing_positional_file_rejects_that_sheet(sheets_dir: Path, tmp_path: Path) -> None:
    """A named image that does not exist is that sheet's image-invalid line, not a crash;
    the command exits 2."""
    proc = _pcos("scan", sheets_dir / "000004-front.png", tmp_path / "gone.png", "--json",
                 "--station", "6007")
    assert proc.returncode == 2, proc.stderr
    (line,) = _json_lines(proc.stdout)
    assert (line["outcome"], line["reason"]) == ("rejected", "image-invalid")
    assert "gone.png" in line["detail"]


def test_missing_back_image_is_a_one_line_error(sheets_dir: Path, tmp_path: Path) -> None:
    """A front without its back in --dir is refused before reading."""
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(sheets_dir / "000000-front.png", copy / "000000-front.png")
    _one_line_error(_pcos("scan", "--dir", copy))


# --------------------------------------------------------------------------- --debug


def test_debug_writes_overlays(sheets_dir: Path, scan_lines: list[dict[str, Any]],
                               tmp_path: Path) -> None:
    """--debug OUT: a read sheet gets all four stage overlays (valid PNGs); a rejected
    sheet gets its reject note, plus the registration overlay once its ladders were found
    (an orientation was reported); the readings themselves are unchanged."""
    out = tmp_path / "debug"
    proc = _pcos("scan", "--dir", sheets_dir, "--json", "--debug", out)
    assert proc.returncode == 0, proc.stderr
    assert _json_lines(proc.stdout) == scan_lines
    for line in scan_lines:
        name = f"{line['sheet']:06d}"
        if line["orientation"] is not None:
            assert cv2.imread(str(out / f"{name}-1-registration.png")) is not None, name
        if line["outcome"] == "rejected":
            note = out / f"{name}-reject.txt"
            assert note.is_file() and line["reason"] in note.read_text(encoding="utf-8")
        else:
            for stage in ("1-registration", "2-stripe", "3-targets", "4-patches"):
                assert cv2.imread(str(out / f"{name}-{stage}.png")) is not None, (name, stage)
