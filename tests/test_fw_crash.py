"""The kill harness: a real device process SIGKILLed 50 times; nothing lost, nothing twice.

Also the ``pcos station crash-test`` and ``pcos audit verify`` commands, run as
real subprocesses, and audit tampering found on the media a real run left.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firmware.store import DB_NAME
from simulator.crash import crash_test

KILLS = 50


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("crash")
    return crash_test(KILLS, out, seed=2021), out


def test_fifty_kills_lose_nothing_and_count_nothing_twice(
        crashed: tuple[dict[str, Any], Path]) -> None:
    result, _ = crashed
    assert result["kills"] >= KILLS
    assert (result["lost"], result["doubled"], result["phantom"]) == (0, 0, 0)
    assert result["tally_matches_truth"] is True
    assert result["sheets_cast"] == result["sheets_in_box"] > 0
    assert result["test_sheets_official"] == 0 and result["test_sheets_cast_as_test"] > 0
    assert result["media_identical"] and result["audit_ok"]
    assert "results" in result["reports"]


def test_the_kills_landed_where_they_matter(crashed: tuple[dict[str, Any], Path]) -> None:
    by_point = crashed[0]["kills_by_point"]
    for point in ("sqlite-commit", "store.between-media", "sheet.after-pending",
                  "sheet.after-drop", "journal.mid-frame"):
        assert by_point.get(point, 0) >= 1, by_point
    assert crashed[0]["journal_truncations"] >= 3


def _pcos(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_audit_verify_cli_passes_then_finds_an_edit(crashed: tuple[dict[str, Any], Path],
                                                    tmp_path: Path) -> None:
    _, out = crashed
    ok = _pcos("audit", "verify", "--dir", out, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["ok"] and doc["internal"]["events"] == doc["removable"]["events"] > 0
    # edit one event on the internal medium (a copy)
    import shutil
    copy = tmp_path / "dev"
    shutil.copytree(out, copy)
    db = sqlite3.connect(copy / "internal" / DB_NAME)
    # since nat12 the audit rows are a view of the audit records: the event is edited there
    seq, body = db.execute("SELECT seq, body FROM records WHERE body ->> '$.op' = 'audit' "
                           "AND body LIKE '%sheet-cast%' ORDER BY seq LIMIT 1").fetchone()
    rec = json.loads(body)
    rec["event"]["data"]["sheet"] = "forged"
    db.execute("UPDATE records SET body = ? WHERE seq = ?", (json.dumps(rec), seq))
    db.commit()
    db.close()
    bad = _pcos("audit", "verify", "--dir", copy, "--json")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert not doc["ok"] and any("edited" in p for p in doc["internal"]["problems"])
    assert any("differs" in p for p in doc["problems"])


def test_crash_test_cli_prints_the_promised_json() -> None:
    proc = _pcos("station", "crash-test", "--kills", "2", "--sheets", "12", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kills"] == 2 and doc["lost"] == 0 and doc["doubled"] == 0
    assert doc["tally_matches_truth"] is True


def test_cli_errors_are_one_line() -> None:
    proc = _pcos("station", "crash-test", "--kills", "-1")
    assert proc.returncode == 2 and proc.stderr.startswith("pcos: error:")
    assert len(proc.stderr.splitlines()) == 1
    proc = _pcos("audit", "verify")
    assert proc.returncode == 2 and proc.stderr.startswith("pcos: error:")
