"""Attacks through the device's real uplink (outbox -> sender -> loopback TCP -> CEC server):
each gets its typed refusal, and the device's outbox does the right thing with it: a
permanent refusal is kept with its signed receipt and never retried, a transient one is
retried with the device's seeded backoff until it is accepted.

The CEC's checks themselves are tested message by message in test_protocol_cec.py; here
the point is the whole path and what the device keeps."""

from __future__ import annotations

import random
import socket
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from protocol_fixtures import TIME, World, audit_head, make_world

from firmware.crypto import CertificateRole, issue_certificate, public_bytes
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerThread
from protocol.cec.store import Store, open_store
from protocol.channel import make_sender
from protocol.errors import Reason
from protocol.frames import FrameDecoder
from protocol.messages import Content
from protocol.outbox import Backoff, Outbox, OutboxState, Sender, TcpTransport
from protocol.receipts import ReceiptStatus, parse_receipt

DID = "1001-D1"


class Recording(TcpTransport):
    """A TCP transport that keeps every frame it sent (what an eavesdropper captures)."""

    sent: ClassVar[list[bytes]] = []

    def send(self, data: bytes) -> None:
        Recording.sent.append(data)
        super().send(data)


@pytest.fixture()
def world() -> World:
    return make_world(revoked=frozenset({"1003-D2"}))


def _queue(world: World, outbox: Outbox, device_id: str, contents: list[Content],
           first_sequence: int = 1) -> None:
    m = world.messenger(device_id)
    for i, content in enumerate(contents, start=first_sequence):
        outbox.add(m.build(content, sequence=i, time=TIME, audit_head=audit_head(i)))


def _sender(world: World, outbox: Outbox, port: int, device_id: str, now: list[float]
            ) -> Sender:
    return make_sender(outbox, Recording, "127.0.0.1", port, world.cec_public,
                       world.registry.signing_public, device_id, clock=lambda: now[0])


def _reason(world: World, receipt: bytes | None) -> Reason | None:
    assert receipt is not None
    return parse_receipt(receipt, world.registry.signing_public).reason


def _cec(world: World, tmp: Path) -> tuple[Ingestor, Store]:
    store = open_store(tmp / "cec.db")
    return Ingestor(world.registry, store, clock=lambda: TIME), store


def test_replayed_old_envelope_after_newer_ones(world: World, tmp_path: Path) -> None:
    ing, store = _cec(world, tmp_path)
    outbox, now = Outbox(tmp_path / "outbox.db"), [0.0]
    _queue(world, outbox, DID, [world.zero("1001"), world.results("1001", 1), world.status()])
    Recording.sent = []
    with ServerThread(ing) as srv:
        assert _sender(world, outbox, srv.port, DID, now).send_due().delivered == 3
        captured_first = Recording.sent[0]
        before = [(m.sequence, m.message_hash) for m in store.messages()]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:  # the replay
            s.sendall(captured_first)
            s.settimeout(5)
            decoder, frames = FrameDecoder(), list[bytes]()
            while not frames:
                chunk = s.recv(65536)
                assert chunk, "the CEC closed without answering the replay"
                frames = decoder.feed(chunk)
            answer = frames[0]
    assert answer == outbox.entries()[0].receipt  # the stored receipt, byte for byte
    assert [(m.sequence, m.message_hash) for m in store.messages()] == before
    assert store.incidents() == []
    assert [e.state for e in outbox.entries()] == [OutboxState.DELIVERED] * 3


def test_certificate_for_another_station_is_refused_and_not_retried(world: World,
                                                                     tmp_path: Path) -> None:
    """Device 1001-1 given a genuine CEC certificate for station 1002 (not the registered
    one) claims 1002: refused wrong-station; the outbox keeps the signed refusal."""
    dev = world.devices[DID]
    cert = issue_certificate(world.registry.signing_key, role=CertificateRole.DEVICE,
                             subject=DID, public_key=public_bytes(dev.key),
                             valid_from="2021-01-01T00:00:00Z",
                             valid_until="2022-01-01T00:00:00Z", station="1002")
    world.devices[DID] = replace(dev, certificate=cert, station="1002")
    ing, store = _cec(world, tmp_path)
    outbox, now = Outbox(tmp_path / "outbox.db"), [0.0]
    _queue(world, outbox, DID, [world.zero("1002"), world.results("1002", 1)])
    with ServerThread(ing) as srv:
        sender = _sender(world, outbox, srv.port, DID, now)
        report = sender.send_due()
        assert (report.delivered, report.refused, report.failed) == (0, 2, 0)
        now[0] += 10_000
        assert sender.send_due().refused == 0  # nothing left to send: not retried
    for e in outbox.entries():
        assert e.state is OutboxState.REFUSED and e.attempts == 0
        assert _reason(world, e.receipt) is Reason.WRONG_STATION
    assert store.count("messages") == 0
    assert {r["reason"] for r in store.refusals()} == {"wrong-station"}


def test_revoked_device_is_refused_and_not_retried(world: World, tmp_path: Path) -> None:
    did = "1003-D2"
    ing, store = _cec(world, tmp_path)
    outbox, now = Outbox(tmp_path / "outbox.db"), [0.0]
    _queue(world, outbox, did, [world.zero("1003")])
    with ServerThread(ing) as srv:
        assert _sender(world, outbox, srv.port, did, now).send_due().refused == 1
    (e,) = outbox.entries()
    assert e.state is OutboxState.REFUSED and _reason(world, e.receipt) is Reason.REVOKED_DEVICE
    assert outbox.pending() == [] and store.count("messages") == 0


def test_changed_content_under_a_used_sequence_number(world: World, tmp_path: Path) -> None:
    """A second outbox with the same key (a cloned or tampered device) sends other results
    as #2 after the genuine #2 was accepted: refused conflicting-content, kept as an
    incident, the genuine message untouched; the clone's outbox keeps the refusal."""
    ing, store = _cec(world, tmp_path)
    genuine, clone, now = Outbox(tmp_path / "a.db"), Outbox(tmp_path / "b.db"), [0.0]
    _queue(world, genuine, DID, [world.zero("1001"), world.results("1001", 1)])
    _queue(world, clone, DID, [world.zero("1001"), world.results("1001", 2)])
    with ServerThread(ing) as srv:
        assert _sender(world, genuine, srv.port, DID, now).send_due().delivered == 2
        report = _sender(world, clone, srv.port, DID, now).send_due()
    assert (report.delivered, report.refused) == (1, 1)  # #1 is identical: a duplicate
    first, second = clone.entries()
    assert first.state is OutboxState.DELIVERED and first.receipt == genuine.entries()[0].receipt
    assert second.state is OutboxState.REFUSED
    assert _reason(world, second.receipt) is Reason.CONFLICTING_CONTENT
    stored = store.message(DID, 2)
    assert stored is not None and stored.message_hash == genuine.entries()[1].message_hash
    (incident,) = store.incidents()
    assert incident["message_hash"] == second.message_hash


def test_transient_refusals_are_retried_with_the_devices_backoff(world: World,
                                                                  tmp_path: Path) -> None:
    """No server (connection refused), then a gap in the sequence (out of order): both are
    retried after the delays ``Backoff(rng=Random(device id))`` gives, then accepted."""
    ing, store = _cec(world, tmp_path)
    outbox, now = Outbox(tmp_path / "outbox.db"), [100.0]
    expected = Backoff(rng=random.Random(DID))
    m = world.messenger(DID)
    second = m.build(world.results("1001", 1), sequence=2, time=TIME, audit_head=audit_head(2))
    outbox.add(second)  # #1 not queued yet: the CEC will see a gap
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    sender = _sender(world, outbox, dead_port, DID, now)
    assert sender.send_due().failed == 1
    (e,) = outbox.pending()
    assert e.attempts == 1 and e.next_attempt_s == pytest.approx(100.0 + expected.delay_s(1))
    assert sender.send_due().failed == 0  # not due yet: nothing sent
    with ServerThread(ing) as srv:
        sender.port = srv.port
        now[0] = e.next_attempt_s
        assert sender.send_due().failed == 1
        (e,) = outbox.pending()
        assert e.attempts == 2 and "out-of-order" in e.last_error
        assert e.next_attempt_s == pytest.approx(now[0] + expected.delay_s(2))
        outbox.add(m.build(world.zero("1001"), sequence=1, time=TIME, audit_head=audit_head(1)))
        now[0] = e.next_attempt_s
        assert sender.send_due().delivered == 2
    assert [e.state for e in outbox.entries()] == [OutboxState.DELIVERED] * 2
    assert [r["reason"] for r in store.refusals()] == ["out-of-order-sequence"]
    for e in outbox.entries():
        assert parse_receipt(e.receipt or b"", world.registry.signing_public).status \
            is ReceiptStatus.ACCEPTED
