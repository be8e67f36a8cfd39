"""The device outbox: durable across restarts and SIGKILL, retries with backoff until a
valid receipt, duplicates harmless."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from protocol_fixtures import World, ingestor, make_world

from protocol.cec.server import ServerThread
from protocol.errors import ProtocolError, Reason
from protocol.outbox import Backoff, Outbox, OutboxState, Sender, TcpTransport
from protocol.receipts import ReceiptStatus, parse_receipt


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fill(world: World, outbox: Outbox, device: str = "1001-D1") -> None:
    m = world.messenger(device)
    station = world.devices[device].station
    results = world.results(station, 5)
    for content in (world.zero(station), results, world.dec(station, results.tally)):
        m.queue(outbox, content, time="2021-11-28T20:05:00Z", audit_head="cd" * 32)


def _sender(world: World, outbox: Outbox, port: int, clock: FakeClock,
            transport=TcpTransport) -> Sender:  # type: ignore[no-untyped-def]
    return Sender(outbox, transport, "127.0.0.1", port, world.cec_public,
                  world.registry.signing_public, backoff=Backoff(rng=random.Random(1)),
                  receipt_timeout_s=5, clock=clock)


def test_backoff_grows_with_jitter_and_cap() -> None:
    b = Backoff(base_s=1, cap_s=60, rng=random.Random(3))
    delays = [b.delay_s(n) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(60, 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    again = Backoff(base_s=1, cap_s=60, rng=random.Random(3))
    assert [again.delay_s(n) for n in range(1, 12)] == delays  # seeded
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered


def test_outbox_keeps_messages_across_restart_and_retries_until_receipt(tmp_path: Path) -> None:
    world = make_world()
    path = tmp_path / "outbox.db"
    clock = FakeClock()
    outbox = Outbox(path)
    _fill(world, outbox)
    port = _free_port()  # nothing listens yet: the CEC is unreachable
    report = _sender(world, outbox, port, clock).send_due()
    assert report.failed == 1 and report.delivered == 0
    (first, *_) = outbox.pending()
    assert first.attempts == 1 and first.next_attempt_s > clock.now
    outbox.close()  # power cut

    outbox = Outbox(path)
    pending = outbox.pending()
    assert [e.sequence for e in pending] == [1, 2, 3] and pending[0].attempts == 1
    assert _sender(world, outbox, port, clock).send_due().delivered == 0  # not due yet
    ing, store = ingestor(world, tmp_path / "cec.db")
    from protocol.cec.server import ServerSettings

    with ServerThread(ing, ServerSettings(port=port)):
        assert _sender(world, outbox, port, clock).run(deadline_s=clock.now + 3600,
                                                       sleep=clock.sleep)
    assert outbox.pending() == []
    for entry in outbox.entries():
        assert entry.state is OutboxState.DELIVERED and entry.receipt is not None
        receipt = parse_receipt(entry.receipt, world.registry.signing_public)
        assert receipt.status is ReceiptStatus.ACCEPTED
        assert receipt.message_hash == entry.message_hash
    assert store.count("messages") == 3


class DropAfterSend(TcpTransport):
    """Sends the frame, then the link drops before the receipt arrives (first 2 times)."""

    drops = 2

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        if DropAfterSend.drops > 0:
            DropAfterSend.drops -= 1
            raise ConnectionResetError("link dropped")
        return super().recv(max_bytes, timeout_s)


def test_lost_receipts_cause_harmless_duplicates(tmp_path: Path) -> None:
    world = make_world()
    clock = FakeClock()
    outbox = Outbox(tmp_path / "outbox.db")
    _fill(world, outbox)
    ing, store = ingestor(world, tmp_path / "cec.db")
    with ServerThread(ing) as srv:
        sender = _sender(world, outbox, srv.port, clock, transport=DropAfterSend)
        assert sender.run(deadline_s=clock.now + 3600, sleep=clock.sleep)
        stats = srv.server.stats
    assert stats.accepted == 3 and stats.duplicates == 2
    assert store.count("messages") == 3
    assert [m.sequence for m in store.messages()] == [1, 2, 3]


def test_same_sequence_other_content_refused_by_outbox(tmp_path: Path) -> None:
    world = make_world()
    outbox = Outbox(tmp_path / "o.db")
    a = world.message("1001-D1", world.zero("1001"), sequence=1)
    b = world.message("1001-D1", world.status(), sequence=1)
    outbox.add(a)
    outbox.add(a)  # the same again: no-op
    with pytest.raises(ProtocolError) as err:
        outbox.add(b)
    assert err.value.reason is Reason.CONFLICTING_CONTENT
    assert len(outbox.entries()) == 1


def test_permanent_refusal_is_kept_and_not_retried(tmp_path: Path) -> None:
    world = make_world(revoked=frozenset({"1001-D1"}))
    clock = FakeClock()
    outbox = Outbox(tmp_path / "o.db")
    _fill(world, outbox)
    ing, _ = ingestor(world, tmp_path / "cec.db")
    with ServerThread(ing) as srv:
        report = _sender(world, outbox, srv.port, clock).send_due()
    assert report.refused == 3
    refused = outbox.entries(OutboxState.REFUSED)
    assert len(refused) == 3
    assert parse_receipt(refused[0].receipt or b"", world.registry.signing_public).reason is (
        Reason.REVOKED_DEVICE)


_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from protocol_fixtures import make_world
from protocol.outbox import Outbox
w = make_world(stations=("1001",))
box = Outbox(sys.argv[1])
m = w.messenger("1001-D1")
for i in range(1000):
    m.queue(box, w.status(), time="2021-11-28T20:05:00Z", audit_head="cd" * 32)
    print(i + 1, flush=True)
"""


def test_outbox_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path),
                             str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent.parent)
    assert proc.stdout is not None
    confirmed = 0
    for line in proc.stdout:
        confirmed = int(line)
        if confirmed >= 25:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    outbox = Outbox(path)
    entries = outbox.entries()
    assert len(entries) >= confirmed  # everything reported as queued is there
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert outbox.next_sequence() == len(entries) + 1
