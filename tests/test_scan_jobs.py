"""``pcos scan --jobs``: reading on several processes changes nothing but the speed.

Protects: ``--jobs 2`` prints exactly what ``--jobs 1`` prints (text and JSON,
sheet order kept), a bad ``--jobs`` is a one-line error, and the text line
is readable (no Python dict).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.cmd_scan import text_line
from vision.result import Outcome, SheetInterpretation

PCOS = str(Path(sys.executable).parent / "pcos")


def _pcos(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PCOS, *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jobs") / "run"
    proc = _pcos("sim", "sheets", "--count", "5", "--seed", "8", "--fakes", "0.2", "--kind",
                 "district,local", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_jobs_give_identical_output(sheets: Path) -> None:
    one = _pcos("scan", "--dir", sheets, "--jobs", "1")
    two = _pcos("scan", "--dir", sheets, "--jobs", "2")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    assert one.stdout == two.stdout
    lines = one.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["0", "1", "2", "3", "4"]
    assert not any("{" in line for line in lines)
    j1 = _pcos("scan", "--dir", sheets, "--jobs", "1", "--json")
    j2 = _pcos("scan", "--dir", sheets, "--jobs", "2", "--json")
    assert j1.stdout == j2.stdout
    assert [json.loads(x)["sheet"] for x in j2.stdout.splitlines()] == [0, 1, 2, 3, 4]


def test_bad_jobs_is_a_one_line_error(sheets: Path) -> None:
    proc = _pcos("scan", "--dir", sheets, "--jobs", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pcos: error: --jobs must be at least 1, not 0"


def test_text_line_is_readable() -> None:
    res = SheetInterpretation(Outcome.REVIEW, kind="district", contest="district-18",
                              language="ru",
                              contests={"district-18": {"status": "valid", "choice": "D18-02"}},
                              marginal=("district-18/D18-04",))
    assert text_line(7, res) == ("7: review · district district-18 ru · district-18 valid "
                                 "D18-02 · marginal: district-18/D18-04")
    pl = SheetInterpretation(Outcome.ACCEPTED, kind="party-list", contest="party-list",
                             language="ky",
                             contests={"party-list": {"status": "valid", "choice": "P03"},
                                       "preference": {"status": "valid", "party": "P03",
                                                      "position": 7}})
    assert text_line(1, pl) == ("1: accepted · party-list ky · party-list valid P03; "
                                "preference valid P03 #7")
