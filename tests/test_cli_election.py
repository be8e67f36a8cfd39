"""``pcos election show`` and ``pcos election export``, in-process and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from election.default import default_election
from election.definition import load_election
from election.hashing import definition_hash, election_hash
from tools.cli import main

REPO = Path(__file__).resolve().parents[1]

FIGURES = {
    "election_id": "kg-2021-jk",
    "parties": 21,
    "list_candidates": 1015,
    "districts": 36,
    "district_candidates": 296,
    "councils": 5,
    "stations": 2494,
    "stations_abroad": 59,
    "voters": 3_703_420,
    "voters_abroad": 84_128,
}


def _pcos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], cwd=REPO,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def _show_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["election", "show", "--json", *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "election.json"
    assert main(["election", "export", "--out", str(out)]) == 0
    return out


def _broken_copy(exported: Path, tmp_path: Path) -> Path:
    """The exported default with one wrong field: station 18 names district 99."""
    doc = json.loads(exported.read_text(encoding="utf-8"))
    doc["geography"]["stations"][17]["district"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return bad


def test_show_json_figures(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _show_json(capsys)
    assert {k: summary[k] for k in FIGURES} == FIGURES
    e = default_election()
    assert summary["election_hash"] == election_hash(e)
    assert summary["definition_hash"] == definition_hash(e)
    assert summary["withdrawn_list_positions"] == [{"party": "P05", "position": 7},
                                                   {"party": "P14", "position": 3}]
    assert summary["withdrawn_district_candidates"] == ["D12-04"]
    assert summary["by_region"]["abroad"] == {"stations": 59, "voters": 84_128, "districts": 0}
    assert sum(r["voters"] for r in summary["by_region"].values()) == 3_703_420
    assert sum(summary["ballots"]["party-list"].values()) == 3_703_420


def test_show_human(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["election", "show"]) == 0
    out = capsys.readouterr().out
    for fragment in ("kg-2021-jk", "21 parties, 1,015 candidates", "36, 296 candidates",
                     "2,494 (59 abroad)", "3,703,420 (84,128 abroad)", "P05 #7, P14 #3",
                     "D12-04", "kara-suu", election_hash(default_election())):
        assert fragment in out


def test_export_then_show_the_file(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_election(exported) == default_election()
    from_file = _show_json(capsys, "--election", str(exported))
    assert from_file == _show_json(capsys)


def test_export_overwrites_and_creates_directories(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "dir" / "election.json"
    assert main(["election", "export", "--out", str(out)]) == 0
    first = out.read_bytes()
    assert main(["election", "export", "--out", str(out)]) == 0
    assert out.read_bytes() == first
    assert "wrote" in capsys.readouterr().out


def test_export_of_a_file_normalises_it(exported: Path, tmp_path: Path) -> None:
    messy = tmp_path / "messy.json"
    messy.write_text(json.dumps(json.loads(exported.read_text(encoding="utf-8")),
                                sort_keys=True), encoding="utf-8")
    out = tmp_path / "clean.json"
    assert main(["election", "export", "--election", str(messy), "--out", str(out)]) == 0
    assert out.read_bytes() == exported.read_bytes()


def test_wrong_field_is_one_line_exit_2(exported: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = _broken_copy(exported, tmp_path)
    assert main(["election", "show", "--election", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("pcos: error: $.geography.stations[17].district: "
                            "unknown district 99\n")


@pytest.mark.parametrize(("content", "fragment"), [
    ("{\n  \"format\": \"pcos-kg/election\",\n", "$: invalid JSON at line 3, column 1"),
    ('{"format": "pcos-kg/election", "format_version": 7}', "$.format_version: unsupported"),
    ("[]", "$: expected an object"),
])
def test_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                       fragment: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    assert main(["election", "show", "--json", "--election", str(bad)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["election", "show", "--election", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and err.count("\n") == 1


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["election"]) == 2
    assert main(["election", "export"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


def test_subprocess_show_json() -> None:
    result = _pcos("election", "show", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in FIGURES} == FIGURES


def test_subprocess_wrong_field(exported: Path, tmp_path: Path) -> None:
    bad = _broken_copy(exported, tmp_path)
    result = _pcos("election", "show", "--json", "--election", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "$.geography.stations[17].district" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
