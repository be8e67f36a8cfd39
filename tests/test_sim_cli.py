"""``pcos sim sheets | contact-sheet | election-day``: output, summaries and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from election.default import default_election
from simulator.writer import read_manifest, read_truth
from tools.cli import main

REPO = Path(__file__).resolve().parents[1]
ELECTION = default_election()
NO_COUNCIL = next(s.number for s in ELECTION.stations
                  if s.district is not None and s.council is None)
ABROAD = next(s.number for s in ELECTION.stations if s.abroad)


def _pcos(*args: str | Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "pcos"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tools.cli"]
    return subprocess.run([*cmd, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    rc = main(list(argv))
    captured = capsys.readouterr()
    assert rc == 2, (argv, captured)
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcos: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_sheets_writes_files_and_prints_a_summary(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deep" / "sheets"
    rc = main(["sim", "sheets", "--count", "2", "--seed", "1", "--preset", "clean",
               "--kind", "district", "--station", NO_COUNCIL, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    line = captured.out.strip()
    assert "\n" not in line
    assert str(out) in line and "2 sheets" in line and "fakes" in line and " s " in line
    assert [t["kind"] for t in read_truth(out)] == ["district", "district"]
    m = read_manifest(out)
    assert (m["station"], m["kind"], m["preset"]) == (NO_COUNCIL, "district", "clean")


def test_sheets_in_other_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("tiff", "jpg"):
        out = tmp_path / fmt
        rc = main(["sim", "sheets", "--count", "1", "--preset", "clean", "--kind", "party-list",
                   "--format", fmt, "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        img = cv2.imread(str(out / f"000000-front.{fmt}"), cv2.IMREAD_COLOR)
        assert img is not None and img.ndim == 3
        assert read_manifest(out)["image_format"] == fmt
    capsys.readouterr()


def test_zero_sheets_is_an_empty_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sim", "sheets", "--count", "0", "--out", str(tmp_path / "none")])
    assert rc == 0
    assert "0 sheets" in capsys.readouterr().out
    assert read_truth(tmp_path / "none") == []


@pytest.mark.parametrize("args", [
    ["--preset", "dreamy"],
    ["--kind", "local", "--station", NO_COUNCIL],
    ["--kind", "district", "--station", ABROAD],
    ["--kind", "presidential"],
    ["--station", "99999"],
    ["--count", "-1"],
    ["--count", "many"],
    ["--fakes", "1.5"],
    ["--fakes", "-0.1"],
    ["--fakes", "nan"],
    ["--seed", "-3"],
    ["--format", "bmp"],
    ["--election", "/no/such/election.json"],
])
def test_sheets_bad_arguments_are_one_line_errors(args: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["sim", "sheets", "--count", "1", "--out", str(out)]
    # argparse keeps the last of a repeated option, so later ones override the defaults
    _error(capsys, *argv, *args)
    assert not out.exists()  # nothing written before the arguments are checked


def test_unwritable_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    message = _error(capsys, "sim", "sheets", "--count", "1", "--out", str(blocker / "sub"))
    assert str(blocker) in message
    _error(capsys, "sim", "sheets", "--count", "1", "--out", str(blocker))
    _error(capsys, "sim", "election-day", "--out", str(blocker / "day.json"))


def test_console_script_error_has_no_traceback() -> None:
    result = _pcos("sim", "sheets", "--count", "2", "--preset", "nope", "--out", "/tmp/x-none")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_election_day_writes_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "day.json"
    rc = main(["sim", "election-day", "--seed", "2", "--turnout", "0.2", "--no-faults",
               "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["seed"] == 2 and doc["sheets"] and doc["events"]
    kinds = {e["kind"] for e in doc["events"]}
    assert kinds == {"polls-open", "voter-arrives", "ballot-fed", "polls-close"}
    assert str(out) in captured.out and f"{len(doc['sheets'])} sheets" in captured.out
    # Same arguments, same bytes; a fault rate given explicitly overrides --no-faults.
    again = tmp_path / "again.json"
    assert main(["sim", "election-day", "--seed", "2", "--turnout", "0.2", "--no-faults",
                 "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    jams = tmp_path / "jams.json"
    assert main(["sim", "election-day", "--seed", "2", "--turnout", "0.2", "--no-faults",
                 "--jam-rate", "0.2", "--out", str(jams)]) == 0
    assert "paper-jam" in {e["kind"] for e in json.loads(jams.read_text())["events"]}
    capsys.readouterr()


def test_election_day_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sim", "election-day", "--station", ABROAD, "--turnout", "0.05", "--out", "-"])
    captured = capsys.readouterr()
    assert rc == 0
    doc = json.loads(captured.out)
    assert doc["station"] == ABROAD
    assert {s["kind"] for s in doc["sheets"]} == {"party-list"}
    assert f"station {ABROAD}" in captured.err


@pytest.mark.parametrize("args", [
    ["--station", "nowhere"],
    ["--turnout", "1.2"],
    ["--turnout", "-0.5"],
    ["--jam-rate", "-1"],
    ["--power-cuts", "inf"],
    ["--open", "25:99"],
    ["--open", "21:00"],
    ["--seed", "x"],
])
def test_election_day_bad_arguments(args: list[str], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "day.json"
    _error(capsys, "sim", "election-day", *args, "--out", str(out))
    assert not out.exists()


def test_contact_sheet_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _error(capsys, "sim", "contact-sheet", "--out", str(tmp_path / "sheet.gif"))
    _error(capsys, "sim", "contact-sheet", "--station", "nowhere", "--out",
           str(tmp_path / "sheet.png"))
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "contact.png"
    rc = main(["sim", "contact-sheet", "--seed", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert str(out) in captured.out
    img = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[0] > 3000 and img.shape[1] > 2000
    assert img.std() > 20  # not blank: crops, sheets and labels


def test_contact_sheet_is_deterministic(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("4", "4", "5"), strict=True):
        rc = main(["sim", "contact-sheet", "--marks-only", "--seed", seed, "--out", str(path)])
        assert rc == 0, capsys.readouterr().err
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c
    capsys.readouterr()
