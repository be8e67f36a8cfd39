"""``pcos station run``: a small day through real images, two device processes, power cuts.

The day is tiny (12 sheets, one power cut during voting, two jams) so that the test stays
within seconds; ``pcos bench station`` runs a full day.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
from nist_reference import nist_schema
from PIL import Image

from election.default import default_election
from election.model import Language
from firmware import escpos
from firmware.printsink import lay_out
from firmware.provision import load_device
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
    # each device's CPU time over all its power-ons, reaped one process at a time
    devices = json.loads((out / "result.json").read_text(encoding="utf-8"))["devices"]
    assert [d["device"] for d in devices] == [1, 2]
    assert all(0.5 < d["cpu_s"] < 600 for d in devices)
    # the devices printed the station's ballots once, into the shared cache
    assert list((out / "print-cache").glob("printed-*.rgb"))
    election = default_election()
    for n, name in enumerate(("device-1", "device-2"), start=1):
        stems = ["01-test", "02-zero", "03-results", "04-audit"]
        assert doc["reports"][name] == sorted(f"{s}{x}" for s in stems
                                              for x in (".escpos", ".json", ".png", ".roll.png"))
        reports_dir = out / name / "reports"
        data = json.loads((reports_dir / "03-results.json").read_text())
        assert data["kind"] == "results" and data["sheets_cast"] > 0
        # the paper the pty printer decoded is the report laid out from the device's data,
        # signed with the provisioned device key (Ed25519 is deterministic), both copies
        device_dir = out / "setup" / "devices" / f"6007-D{n}"
        key = load_device(device_dir).key
        report = lay_out("results", data, election, key, Language.KY, 2)
        roll = np.asarray(Image.open(reports_dir / "03-results.roll.png").convert("L")) < 128
        assert np.array_equal(roll, np.concatenate(
            [escpos.decode(report.escpos()).pieces()[i] for i in range(2)]))
        assert escpos.same_paper(escpos.decode(
            (reports_dir / "03-results.escpos").read_bytes()).pieces(), list(report.pages))
        # an observer's check: the QR codes on the roll verify with the device certificate
        check = _pcos("verify-report", reports_dir / "03-results.roll.png",
                      "--cert", device_dir / "device.cert", "--json")
        assert check.returncode == 0, check.stderr[-2000:]
        figures = json.loads(check.stdout)
        assert figures["tally"] == data["tally"] and figures["device"] == f"6007-D{n}"
        done = json.loads((out / name / "done.json").read_text())
        assert data["tally"] == done["official"]
    # CVRs straight from a device's store, valid against NIST's schema; the images the
    # device kept (rejected + marginal) are the files the CVRs point at
    validator = jsonschema.Draft4Validator(json.loads(NIST_SCHEMA.read_text(encoding="utf-8")))
    for retention in ("rejected+marginal", "none"):
        cvr_path = tmp_path / f"cvr-{retention}.json"
        proc = _pcos("cvr", "export", "--store", out / "device-1", "--out", cvr_path,
                     "--retention", retention, "--generated", "2021-11-28T21:00:00Z")
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(cvr_path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(report))
        official = json.loads((out / "device-1" / "done.json").read_text())["official"]
        assert len(report["CVR"]) == sum(c["ballots"] for c in official["contests"].values())
        located = [img["Location"] for c in report["CVR"] for img in _images(c)
                   if "Location" in img]
        if retention == "none":
            assert located == []
        for loc in located:
            assert (out / "device-1" / "internal" / loc.removeprefix("file:")).is_file()
    kept = sorted((out / "device-1" / "internal" / "images").glob("*.png")) if (
        out / "device-1" / "internal" / "images").is_dir() else []
    returned_here = [r for r in json.loads((out / "device-1" / "reports" / "03-results.json")
                                           .read_text())["returned_by_reason"].values()]
    assert len(kept) >= 2 * sum(returned_here)
    audit = _pcos("audit", "verify", "--dir", out / "device-1", "--json")
    assert audit.returncode == 0 and json.loads(audit.stdout)["ok"]


NIST_SCHEMA = nist_schema("NIST_V0_cast_vote_records.json")


def _images(cvr: dict[str, object]) -> list[dict[str, object]]:
    """Every CVR.ImageData anywhere in one CVR."""
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("@type") == "CVR.ImageData":
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(cvr)
    return found


def test_bad_day_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    proc = _pcos("station", "run", "--day", bad, "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.startswith("pcos: error:")
    assert len(proc.stderr.splitlines()) == 1
