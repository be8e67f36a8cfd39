"""``pcos station run --cec``: a small day on device processes (real images, the real reader,
a power cut), each device sending its zero report, results and audit log to a running CEC,
over emulated modems; the CEC's station total equals the devices' signed
totals and the ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from election.default import default_election
from election.tally import Tally, merge
from protocol.cec.consolidate import consolidate
from protocol.cec.live import LiveCec
from protocol.cec.provision import provision
from protocol.cec.registry import CecRegistry
from protocol.cec.store import open_store
from protocol.messages import Results, SignedMessage
from simulator.election_day import DayParams, FaultRates, plan_day

STATION = "6007"


def _pcos(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_station_run_sends_to_a_running_cec_over_modems(tmp_path: Path) -> None:
    """Over emulated modems (the TCP transport is the same sender, tested in
    test_transmit.py; one station day per test keeps this file near 45 s)."""
    modem = True
    election = default_election()
    day = plan_day(election, STATION, DayParams(turnout=0.003, faults=FaultRates(
        paper_jam_per_sheet=0.1, power_cuts_per_day=1.5)), seed=2)
    path = tmp_path / "day.json"
    path.write_text(day.dumps(), encoding="utf-8")
    cec_dir = tmp_path / "cec"
    provision(cec_dir, election, [STATION], devices_per_station=2)
    registry = CecRegistry.load(cec_dir)
    store = open_store(cec_dir / "cec.db")
    out = tmp_path / "run"
    with LiveCec(registry, store) as cec:
        proc = _pcos("station", "run", "--day", path, "--out", out, "--json", "--cec",
                     f"127.0.0.1:{cec.device_port}", "--cec-dir", cec_dir,
                     *(["--modem"] if modem else []))
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["tally_matches_truth"] is True and doc["power_cuts"] >= 2
    # besides the reports, each device sends its own status lines (issue 7: polls
    # transitions, jams, recoveries)
    assert doc["messages_sent"] == doc["receipts"] > 6 and doc["all_receipted"]
    assert sorted((m.device_id, m.kind) for m in store.messages() if m.kind != "status") == \
        sorted((f"{STATION}-D{n}", k) for n in (1, 2) for k in ("zero-report", "results",
                                                                "audit-log"))
    devices = [Tally.from_json(json.loads((out / f"device-{n}" / "done.json").read_text())
                               ["official"]) for n in (1, 2)]
    signed = []
    for m in store.messages(kind="results"):
        raw = store.signed_message(m.device_id, m.sequence)
        assert raw is not None
        content = SignedMessage.loads(raw).message.content
        assert isinstance(content, Results)
        signed.append(content.tally)
    assert sorted(t.to_json()["contests"]["party-list"]["ballots"] for t in signed) == sorted(
        t.to_json()["contests"]["party-list"]["ballots"] for t in devices)
    total = consolidate(registry, store).station_tallies[STATION]
    assert total == merge(devices[0], devices[1]) == merge(signed[0], signed[1])
    result = json.loads((out / "result.json").read_text())
    for dev in result["devices"]:
        assert dev["uplink"]["transport"] == ("modem" if modem else "tcp")
        assert {m["state"] for m in dev["uplink"]["messages"]} == {"delivered"}
