"""The device-to-CEC path: the device core's hand-overs become signed messages in its
outbox, delivered over loopback TCP to a real CEC server, across power cuts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transmit_fixtures import (
    STATION,
    cec_station_tally,
    cec_store,
    device_ids,
    make_registry,
    run_sim_day,
    sim_device,
    sum_tallies,
)

from firmware import audit
from firmware.states import PollsState
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerThread
from protocol.channel import audit_blob, make_sender, message_time
from protocol.errors import ProtocolError, Reason
from protocol.messages import AuditLog, MessageKind, Results, SignedMessage, ZeroReport
from protocol.outbox import OutboxState, TcpTransport
from protocol.receipts import ReceiptStatus, parse_receipt

HERE = Path(__file__).parent


def test_device_hands_over_zero_report_results_and_audit_log(tmp_path: Path) -> None:
    registry = make_registry(device_ids(1))
    d = sim_device(tmp_path, device_ids(1)[0], registry)
    assert d.outbox.entries() == []
    tally = run_sim_day(d)
    assert d.rig.device.polls is PollsState.RESULTS_REPORTED
    kinds = [e.kind for e in d.outbox.entries()]
    assert kinds == ["zero-report", "results", "audit-log"]
    msgs = [SignedMessage.loads(e.signed) for e in d.outbox.entries()]
    for m in msgs:
        m.verify(registry.signing_public)
    zero, results, log = (m.message.content for m in msgs)
    assert isinstance(zero, ZeroReport) and not any(c.ballots for c in zero.tally.contests)
    assert isinstance(results, Results) and results.tally == tally
    assert results.sheets.cast == d.rig.device.sheets_cast(
        __import__("firmware.store", fromlist=["SheetMode"]).SheetMode.OFFICIAL)
    assert isinstance(log, AuditLog)
    events = [json.loads(line) for line in log.entries.splitlines()]
    report = audit.verify_chain(events, d.identity.key.public_key(), expect_head=log.head)
    assert report.ok, report.problems
    assert log.head == events[-1]["hash"] == msgs[2].message.audit_head
    # the results message binds the audit head printed on the results report
    printed = [data for kind, data in d.rig.reports.reports if kind == "results"]
    assert msgs[1].message.audit_head == printed[-1]["audit_head"]
    # booting again hands the reports over again: nothing new is queued
    d.rig.device.close()
    again = sim_device(tmp_path, device_ids(1)[0], registry)
    assert [e.message_hash for e in again.outbox.entries()] == \
        [e.message_hash for e in d.outbox.entries()]


def test_late_zero_report_carries_the_zero_tally(tmp_path: Path) -> None:
    """No channel during the day (or the hand-over lost to a power cut): attached later,
    the device hands over a zero report with zero counts and its real results."""
    registry = make_registry(device_ids(1))
    d = sim_device(tmp_path, device_ids(1)[0], registry)
    d.rig.device.hw.results = None
    tally = run_sim_day(d)
    assert d.outbox.entries() == []
    d.rig.device.hw.results = d.channel
    d.rig.device.hand_results()
    zero, results, _ = (SignedMessage.loads(e.signed).message.content
                        for e in d.outbox.entries())
    assert isinstance(zero, ZeroReport) and not any(c.ballots for c in zero.tally.contests)
    assert isinstance(results, Results) and results.tally == tally


def test_two_devices_deliver_over_tcp_and_the_cec_totals_match(tmp_path: Path) -> None:
    ids = device_ids(2)
    registry = make_registry(ids)
    store = cec_store(tmp_path / "cec.db")
    tallies = []
    with ServerThread(Ingestor(registry, store)) as srv:
        for n, did in enumerate(ids):
            d = sim_device(tmp_path / did, did, registry, sheets=10 + n, seed=n + 3)
            tallies.append(run_sim_day(d))
            sender = make_sender(d.outbox, TcpTransport, "127.0.0.1", srv.port,
                                 registry.encryption_keys.public(), registry.signing_public, did)
            assert sender.run(deadline_s=time.time() + 20)
            for e in d.outbox.entries():
                assert e.state is OutboxState.DELIVERED and e.receipt is not None
                r = parse_receipt(e.receipt, registry.signing_public)
                assert r.status is ReceiptStatus.ACCEPTED and r.message_hash == e.message_hash
    assert cec_station_tally(registry, store, STATION.number) == sum_tallies(tallies)
    assert sorted((m.device_id, m.kind) for m in store.messages()) == sorted(
        (did, k) for did in ids for k in ("zero-report", "results", "audit-log"))


def test_status_and_time_helpers(tmp_path: Path) -> None:
    registry = make_registry(device_ids(1))
    d = sim_device(tmp_path, device_ids(1)[0], registry)
    d.channel.status("polls-open", "paper low", "2021-11-28T08:00:00.250Z", "ab" * 32)
    (entry,) = d.outbox.entries()
    assert entry.kind == MessageKind.STATUS.value
    assert SignedMessage.loads(entry.signed).message.time == "2021-11-28T08:00:00Z"
    assert message_time("2021-11-28T08:00:00Z") == "2021-11-28T08:00:00Z"
    with pytest.raises(ProtocolError) as err:
        message_time("yesterday")
    assert err.value.reason is Reason.MALFORMED
    with pytest.raises(ProtocolError):
        d.channel.status("x", "y", "2021-11-28T08:00:00Z", "not-a-head")
    assert audit_blob([]) == b""


CHILD = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from transmit_fixtures import make_registry, run_sim_day, sim_device
from protocol.channel import make_sender
from protocol.outbox import TcpTransport

workdir, did, port, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
registry = make_registry([did])
d = sim_device(__import__('pathlib').Path(workdir), did, registry)
run_sim_day(d)
sent = 0

class Dying(TcpTransport):
    def send(self, data: bytes) -> None:
        global sent
        super().send(data)
        sent += 1
        if sent == kill_after:      # a power cut just after a frame left, before its receipt
            os.kill(os.getpid(), signal.SIGKILL)

sender = make_sender(d.outbox, Dying, '127.0.0.1', port, registry.encryption_keys.public(),
                     registry.signing_public, did, base_s=0.05, cap_s=0.2)
print('done' if sender.run(deadline_s=time.time() + 20) else 'pending', flush=True)
"""


def test_device_process_killed_mid_send_resends_after_restart(tmp_path: Path) -> None:
    """SIGKILL right after a frame left (receipt never read), twice; the restarted device
    resends from its outbox; the CEC keeps each message once and every receipt is stored."""
    did = device_ids(1)[0]
    registry = make_registry([did])
    store = cec_store(tmp_path / "cec.db")
    script = CHILD.format(tests=str(HERE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    outputs = []
    with ServerThread(Ingestor(registry, store)) as srv:
        for kill_after in (2, 2, 0):
            proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "dev"), did,
                                   str(srv.port), str(kill_after)], env=env,
                                  capture_output=True, text=True, timeout=120)
            outputs.append((proc.returncode, proc.stdout.strip()))
        time.sleep(0.2)
    assert outputs[0][0] == -signal.SIGKILL and outputs[1][0] == -signal.SIGKILL
    assert outputs[2] == (0, "done"), outputs
    d = sim_device(tmp_path / "dev", did, registry)
    entries = d.outbox.entries()
    assert [e.state for e in entries] == [OutboxState.DELIVERED] * 3
    assert [(m.sequence, m.kind) for m in store.messages()] == [
        (1, "zero-report"), (2, "results"), (3, "audit-log")]
    for e in entries:
        stored = store.message(did, e.sequence)
        assert stored is not None and stored.receipt == e.receipt  # byte for byte
    assert cec_station_tally(registry, store, STATION.number) == d.rig.device.tally()


class _BrokenChannel:
    """An uplink whose queue fails (its medium died)."""

    def polls_opened(self, zero_report: dict[str, object]) -> None:
        raise ProtocolError(Reason.MALFORMED, "outbox medium failed")

    def polls_closed(self, results_report: dict[str, object], audit_events: object) -> None:
        raise ProtocolError(Reason.MALFORMED, "outbox medium failed")

    def dec_protocol(self, *args: object) -> None:
        raise AssertionError("not called")

    def status(self, *args: object) -> None:  # the device's own status lines (issue 7)
        raise ProtocolError(Reason.MALFORMED, "outbox medium failed")


def test_a_failing_uplink_never_keeps_the_device_from_booting(tmp_path: Path) -> None:
    registry = make_registry(device_ids(1))
    d = sim_device(tmp_path, device_ids(1)[0], registry)
    dev = d.rig.device
    dev.load_package()
    dev.enter_test_mode()
    dev.clear_test()
    dev.open_polls()
    dev.close()
    from simulator.rig import build_device

    r = build_device(tmp_path, d.rig.world, dev.config.election, dev.config.station,
                     dev.config.reader, device_id=dev.config.device_id)
    r.device.hw.results = _BrokenChannel()
    r.device.boot()  # does not raise
    assert r.device.polls is PollsState.POLLS_OPEN
    last = r.device.store.audit_events()[-1]
    assert last["type"] == "recovery" and "outbox medium failed" in last["data"]["why"]
