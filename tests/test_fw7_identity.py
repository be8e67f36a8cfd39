"""One identity per device (issue 7): ``pcos station run --cec`` devices carry the package's
``<station>-D<n>`` everywhere — the package assignment, the device certificate, the printed
reports (and their signed QR codes), the CEC's registry and the signed messages — with one
key. A small day on one device process (real images, the real reader) sending over loopback
TCP to a running CEC: the CEC accepts every message under the id the paper shows, and the
QR codes on the decoded paper roll verify with the certificate the CEC holds for that id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from election.default import default_election
from firmware import package
from firmware.crypto import load_certificate
from firmware.qrphoto import decode_files
from firmware.quickresults import reassemble, verify
from protocol.cec.live import LiveCec
from protocol.cec.provision import device_ids, provision
from protocol.cec.registry import CecRegistry
from protocol.cec.store import open_store
from simulator.election_day import DayParams, FaultRates, plan_day
from simulator.packaged import device_ids as package_device_ids

STATION = "6007"


def test_one_naming_for_package_cec_and_simulation() -> None:
    e = default_election()
    assigned = package.StationAssignments.per_station(e, 2, stations=(STATION,))
    assert list(assigned.stations[STATION]) == device_ids(STATION, 2) == \
        package_device_ids(STATION, 2) == [f"{STATION}-D1", f"{STATION}-D2"]


def test_station_run_messages_are_accepted_under_the_ids_its_reports_show(
        tmp_path: Path) -> None:
    election = default_election()
    day = plan_day(election, STATION, DayParams(turnout=0.001, faults=FaultRates(
        paper_jam_per_sheet=0.0, power_cuts_per_day=0.0)), seed=3)
    path = tmp_path / "day.json"
    path.write_text(day.dumps(), encoding="utf-8")
    cec_dir = tmp_path / "cec"
    provision(cec_dir, election, [STATION], devices_per_station=1)
    registry = CecRegistry.load(cec_dir)
    store = open_store(cec_dir / "cec.db")
    out = tmp_path / "run"
    with LiveCec(registry, store) as cec:
        proc = subprocess.run(
            [sys.executable, "-m", "tools.cli", "station", "run", "--day", str(path),
             "--out", str(out), "--devices", "1", "--preset", "clean", "--json", "--cec",
             f"127.0.0.1:{cec.device_port}", "--cec-dir", str(cec_dir)],
            capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["all_receipted"] and doc["messages_sent"] == doc["receipts"] >= 3

    reports = out / "device-1" / "reports"
    printed = {json.loads(p.read_text(encoding="utf-8"))["device"]
               for p in reports.glob("*.json")}
    done = json.loads((out / "device-1" / "done.json").read_text(encoding="utf-8"))
    assert printed == {done["device_id"]} == {f"{STATION}-D1"}
    # every message the CEC holds was accepted, under that id
    messages = store.messages(status=None)
    assert {m.device_id for m in messages} == printed
    assert {m.status for m in messages} == {"accepted"}
    assert {m.kind for m in messages} >= {"zero-report", "results", "audit-log", "status"}
    assert set(registry.devices) == printed
    # the paper's QR codes (decoded from the roll the virtual printer made of the ESC/POS
    # bytes) verify with the certificate the CEC registered for that id: one key
    roll = sorted(reports.glob("*-results.roll.png"))
    assert roll
    quick = verify(reassemble(decode_files(roll[:1])),
                   load_certificate(cec_dir / "devices" / f"{STATION}-D1.cert.json"))
    assert quick.device_id == f"{STATION}-D1" and quick.station == STATION
    # the package's certificate for the device certifies the same key
    setup_cert = load_certificate(out / "setup" / "devices" / f"{STATION}-D1" / "device.cert")
    assert setup_cert.public_key == registry.devices[f"{STATION}-D1"].public_key
