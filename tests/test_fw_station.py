"""``pcos station run``: a small day through real images, two device processes, power cuts.

The day is tiny (12 sheets, one power cut during voting, two jams) so that the test stays
within seconds; ``pcos bench station`` runs a full day.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from election.default import default_election
from simulator.election_day import DayParams, FaultRates, plan_day


def _pcos(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_a_small_day_with_power_cuts_matches_ground_truth(tmp_path: Path) -> None:
    day = plan_day(default_election(), "6007",
                   DayParams(turnout=0.003, faults=FaultRates(paper_jam_per_sheet=0.1,
                                                              power_cuts_per_day=1.5)), seed=2)
    assert len(day.sheets) == 12
    path = tmp_path / "day.json"
    path.write_text(day.dumps(), encoding="utf-8")
    out = tmp_path / "run"
    proc = _pcos("station", "run", "--day", path, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"sheets_fed", "sheets_cast", "sheets_returned", "power_cuts", "jams",
                        "tally_matches_truth", "differences", "reports"}
    assert doc["sheets_fed"] == 12 and doc["sheets_cast"] + doc["sheets_returned"] == 12
    assert doc["tally_matches_truth"] is True and doc["differences"] == []
    cuts = sum(1 for e in day.events if e.kind.value == "power-cut")
    assert cuts >= 1 and doc["power_cuts"] == 2 * cuts  # each cut stops both devices
    assert doc["jams"] == sum(s.jams for s in day.sheets) == 2
    for name in ("device-1", "device-2"):
        assert doc["reports"][name] == ["01-test.json", "02-zero.json", "03-results.json"]
        results = json.loads((out / name / "reports" / "03-results.json").read_text())
        assert results["kind"] == "results" and results["sheets_cast"] > 0
    audit = _pcos("audit", "verify", "--dir", out / "device-1", "--json")
    assert audit.returncode == 0 and json.loads(audit.stdout)["ok"]


def test_bad_day_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    proc = _pcos("station", "run", "--day", bad, "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.startswith("pcos: error:")
    assert len(proc.stderr.splitlines()) == 1
