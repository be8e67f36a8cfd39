"""The CEC's checks: every attack refused with its typed reason, idempotency, TCP timeouts."""

from __future__ import annotations

import socket
import sqlite3
import struct
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_fixtures import TIME, World, ingestor, make_world

from firmware.crypto import CertificateRole, issue_certificate, public_bytes
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerSettings, ServerThread
from protocol.cec.store import Store
from protocol.errors import Reason
from protocol.frames import MAGIC, FrameReader, decode_frames, encode_frame
from protocol.messages import Message, SignedMessage
from protocol.receipts import ReceiptStatus, parse_receipt


@pytest.fixture()
def world() -> World:
    return make_world(revoked=frozenset({"1003-D2"}))


@pytest.fixture()
def cec(world: World, tmp_path: Path) -> tuple[Ingestor, Store]:
    return ingestor(world, tmp_path / "cec.db")


def _send(world: World, ing: Ingestor, signed: SignedMessage):  # type: ignore[no-untyped-def]
    out = ing.process(world.envelope(signed), "test")
    ing.store.commit()
    receipt = parse_receipt(out.receipt, world.registry.signing_public)
    assert receipt.status is out.status
    return receipt


def _refused(world: World, ing: Ingestor, signed: SignedMessage, reason: Reason) -> None:
    before = ing.store.count("messages")
    receipt = _send(world, ing, signed)
    assert receipt.status is ReceiptStatus.REFUSED
    assert receipt.reason is reason, receipt.detail
    assert ing.store.count("messages") == before
    assert ing.store.refusals()[-1]["reason"] == reason.value


def test_accepts_a_station_day(world: World, cec: tuple[Ingestor, Store]) -> None:
    ing, store = cec
    results = world.results("1001", 1)
    for content in (world.zero("1001"), results, world.dec("1001", results.tally),
                    world.audit(), world.status()):
        receipt = _send(world, ing, world.message("1001-D1", content))
        assert receipt.status is ReceiptStatus.ACCEPTED and receipt.reason is None
    assert [m.kind for m in store.messages()] == ["zero-report", "results", "dec-protocol",
                                                 "audit-log", "status"]


def test_idempotent_same_message_same_receipt(world: World, cec: tuple[Ingestor, Store]) -> None:
    ing, store = cec
    signed = world.message("1001-D1", world.zero("1001"))
    first = ing.process(world.envelope(signed)).receipt
    store.commit()
    state = (store.count("messages"), store.count("refusals"), store.count("incidents"))
    for _ in range(3):  # re-encrypted each time: different envelope, same message
        out = ing.process(world.envelope(signed))
        assert out.receipt == first and out.duplicate
    store.commit()
    assert (store.count("messages"), store.count("refusals"), store.count("incidents")) == state


def test_bad_signature(world: World, cec: tuple[Ingestor, Store]) -> None:
    signed = world.message("1001-D1", world.zero("1001"))
    other_key = world.devices["1001-D2"].key
    forged = replace(signed, signature=other_key.sign(b"pcos-kg/1//message//" + signed.body))
    _refused(world, cec[0], forged, Reason.BAD_SIGNATURE)


def test_unknown_device(world: World, cec: tuple[Ingestor, Store]) -> None:
    stranger = make_world(stations=("1001",), seed="test").devices["1001-D1"]
    world.devices["9999-D1"] = replace(stranger, device_id="9999-D1")
    cert = issue_certificate(world.registry.signing_key, role=CertificateRole.DEVICE,
                             subject="9999-D1", public_key=public_bytes(stranger.key),
                             valid_from="2021-01-01T00:00:00Z",
                             valid_until="2022-01-01T00:00:00Z", station="1001")
    world.devices["9999-D1"] = replace(world.devices["9999-D1"], certificate=cert)
    _refused(world, cec[0], world.message("9999-D1", world.zero("1001")),
             Reason.UNKNOWN_DEVICE)


def test_revoked_device(world: World, cec: tuple[Ingestor, Store]) -> None:
    _refused(world, cec[0], world.message("1003-D2", world.zero("1003")),
             Reason.REVOKED_DEVICE)


def test_certificate_for_another_station(world: World, cec: tuple[Ingestor, Store]) -> None:
    """A genuine CEC certificate, but for station 1002, on device 1001-1 claiming 1002."""
    dev = world.devices["1001-D1"]
    cert = issue_certificate(world.registry.signing_key, role=CertificateRole.DEVICE,
                             subject=dev.device_id, public_key=public_bytes(dev.key),
                             valid_from="2021-01-01T00:00:00Z",
                             valid_until="2022-01-01T00:00:00Z", station="1002")
    world.devices["1001-D1"] = replace(dev, certificate=cert, station="1002")
    _refused(world, cec[0], world.message("1001-D1", world.zero("1002")),
             Reason.WRONG_STATION)


def test_message_claims_another_station(world: World, cec: tuple[Ingestor, Store]) -> None:
    dev = world.devices["1001-D1"]
    world.devices["1001-D1"] = replace(dev, station="1002")  # real certificate says 1001
    _refused(world, cec[0], world.message("1001-D1", world.zero("1002")),
             Reason.WRONG_STATION)


def test_wrong_election(world: World, cec: tuple[Ingestor, Store]) -> None:
    _refused(world, cec[0], world.message("1001-D1", world.zero("1001"),
                                          election_hash="0" * 64), Reason.WRONG_ELECTION)


def test_wrong_package(world: World, cec: tuple[Ingestor, Store]) -> None:
    _refused(world, cec[0], world.message("1001-D1", world.zero("1001"),
                                          package_hash="1" * 64), Reason.WRONG_PACKAGE)


def test_out_of_order_sequence(world: World, cec: tuple[Ingestor, Store]) -> None:
    _refused(world, cec[0], world.message("1001-D1", world.zero("1001"), sequence=2),
             Reason.OUT_OF_ORDER_SEQUENCE)
    assert _send(world, cec[0], world.message("1001-D1", world.zero("1001"),
                                              sequence=1)).status is ReceiptStatus.ACCEPTED


def test_replayed_message_changes_nothing(world: World, cec: tuple[Ingestor, Store]) -> None:
    """An eavesdropper replays a captured envelope after newer messages: same old receipt."""
    ing, store = cec
    first = world.message("1001-D1", world.zero("1001"))
    envelope = world.envelope(first)
    original = ing.process(envelope).receipt
    _send(world, ing, world.message("1001-D1", world.results("1001", 1)))
    messages = store.messages()
    replay = ing.process(envelope)
    store.commit()
    assert replay.receipt == original and replay.duplicate
    assert store.messages() == messages


def test_conflicting_content_kept_as_incident(world: World,
                                              cec: tuple[Ingestor, Store]) -> None:
    ing, store = cec
    _send(world, ing, world.message("1001-D1", world.zero("1001")))
    _send(world, ing, world.message("1001-D1", world.results("1001", 1)))
    original = store.message("1001-D1", 2)
    other = world.message("1001-D1", world.results("1001", 2), sequence=2)
    _refused(world, ing, other, Reason.CONFLICTING_CONTENT)
    assert store.message("1001-D1", 2) == original
    (incident,) = store.incidents()
    assert incident["message_hash"] == other.message_hash
    assert incident["original_hash"] == original.message_hash  # type: ignore[union-attr]


def test_header_mismatch(world: World, cec: tuple[Ingestor, Store]) -> None:
    from protocol.envelope import EnvelopeHeader, seal

    signed = world.message("1001-D1", world.zero("1001"))
    env = seal(signed, world.cec_public)
    # re-seal the same signed message under a header naming another sequence
    import protocol.envelope as envmod

    orig = EnvelopeHeader.to_bytes

    def lying(self: EnvelopeHeader) -> bytes:
        return orig(replace(self, sequence=5))

    envmod.EnvelopeHeader.to_bytes = lying  # type: ignore[method-assign]
    try:
        env = seal(signed, world.cec_public)
    finally:
        envmod.EnvelopeHeader.to_bytes = orig  # type: ignore[method-assign]
    out = cec[0].process(env)
    assert out.reason is Reason.HEADER_MISMATCH


def test_station_tally_for_wrong_contests_refused(world: World,
                                                  cec: tuple[Ingestor, Store]) -> None:
    el = world.election
    a = el.station("1001")
    other = next(s for s in el.stations if s.contest_ids() != a.contest_ids())
    receipt = _send(world, cec[0], world.message("1001-D1", world.results(other.number, 1)))
    assert receipt.reason is Reason.BAD_CONTENT
    assert cec[1].message("1001-D1", 1).status == "refused"  # type: ignore[union-attr]
    # the number is consumed: the next one is accepted
    assert _send(world, cec[0], world.message("1001-D1", world.zero("1001"))).status is (
        ReceiptStatus.ACCEPTED)


def test_receipts_survive_restart(world: World, tmp_path: Path) -> None:
    ing, store = ingestor(world, tmp_path / "cec.db")
    signed = world.message("1001-D1", world.zero("1001"))
    first = ing.process(world.envelope(signed)).receipt
    store.commit()
    store.close()
    ing2, _ = ingestor(world, tmp_path / "cec.db")
    assert ing2.process(world.envelope(signed)).receipt == first
    nxt = world.message("1001-D1", world.results("1001", 1))
    assert ing2.process(world.envelope(nxt)).status is ReceiptStatus.ACCEPTED


# --- over TCP -------------------------------------------------------------------------------

def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


class _SocketTransport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def open(self, host: str, port: int) -> None:
        pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        self.sock.settimeout(timeout_s)
        return self.sock.recv(max_bytes)

    def close(self) -> None:
        pass


def _read_receipt(sock: socket.socket, world: World,  # type: ignore[no-untyped-def]
                  reader: FrameReader | None = None):
    reader = reader or FrameReader(_SocketTransport(sock))
    return parse_receipt(reader.read(5), world.registry.signing_public)


def test_tcp_round_trip_and_duplicate_on_one_connection(world: World,
                                                        cec: tuple[Ingestor, Store]) -> None:
    signed = world.message("1001-D1", world.zero("1001"))
    with ServerThread(cec[0]) as srv, _connect(srv.port) as sock:
        sock.sendall(encode_frame(world.envelope(signed)) * 2)
        reader = FrameReader(_SocketTransport(sock))
        a, b = _read_receipt(sock, world, reader), _read_receipt(sock, world, reader)
    assert a == b and a.status is ReceiptStatus.ACCEPTED
    assert srv.server.stats.accepted == 1 and srv.server.stats.duplicates == 1


def test_tcp_oversized_frame(world: World, cec: tuple[Ingestor, Store]) -> None:
    with ServerThread(cec[0], ServerSettings(max_frame_bytes=1000)) as srv, \
            _connect(srv.port) as sock:
        sock.sendall(MAGIC + struct.pack(">I", 10_000_000))
        receipt = _read_receipt(sock, world)
    assert receipt.reason is Reason.OVERSIZED_FRAME
    assert cec[1].refusals()[-1]["reason"] == "oversized-frame"


def test_tcp_truncated_frame(world: World, cec: tuple[Ingestor, Store]) -> None:
    frame = encode_frame(world.envelope(world.message("1001-D1", world.zero("1001"))))
    with ServerThread(cec[0]) as srv:
        with _connect(srv.port) as sock:
            sock.sendall(frame[: len(frame) // 2])
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""  # closed, nothing stored
        deadline = time.monotonic() + 5
        while not cec[1].refusals() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert cec[1].refusals()[-1]["reason"] == "truncated-frame"
    assert cec[1].count("messages") == 0


def test_tcp_slow_sender(world: World, cec: tuple[Ingestor, Store]) -> None:
    frame = encode_frame(world.envelope(world.message("1001-D1", world.zero("1001"))))
    settings = ServerSettings(idle_timeout_s=5, frame_timeout_s=0.3)
    with ServerThread(cec[0], settings) as srv, _connect(srv.port) as sock:
        sock.sendall(frame[:20])
        time.sleep(0.6)
        receipt = _read_receipt(sock, world)
    assert receipt.reason is Reason.TIMEOUT and "slow" in receipt.detail
    assert cec[1].count("messages") == 0


def test_tcp_idle_sender(world: World, cec: tuple[Ingestor, Store]) -> None:
    settings = ServerSettings(idle_timeout_s=0.2, frame_timeout_s=5)
    with ServerThread(cec[0], settings) as srv, _connect(srv.port) as sock:
        receipt = _read_receipt(sock, world)
        assert receipt.reason is Reason.TIMEOUT and "idle" in receipt.detail
        assert sock.recv(10) == b""


def test_tcp_garbage(world: World, cec: tuple[Ingestor, Store]) -> None:
    with ServerThread(cec[0]) as srv, _connect(srv.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        receipt = _read_receipt(sock, world)
    assert receipt.reason is Reason.MALFORMED


def test_frames_helper_sanity() -> None:
    assert decode_frames(encode_frame(b"x")) == [b"x"]
    assert Message  # re-exported types used by the fixtures
    assert TIME


def test_registry_refuses_certificates_it_cannot_trust(world: World) -> None:
    from firmware.crypto import key_from_seed
    from protocol.cec.registry import CecRegistry, RegistryError

    reg = world.registry
    dev = world.devices["1001-D1"]
    cases = {
        "issued by key": issue_certificate(key_from_seed(b"x" * 32), role=CertificateRole.DEVICE,
                                           subject="d1", public_key=public_bytes(dev.key),
                                           valid_from="2021-01-01T00:00:00Z",
                                           valid_until="2022-01-01T00:00:00Z", station="1001"),
        "not in the election": issue_certificate(
            reg.signing_key, role=CertificateRole.DEVICE, subject="d2",
            public_key=public_bytes(dev.key), valid_from="2021-01-01T00:00:00Z",
            valid_until="2022-01-01T00:00:00Z", station="99999"),
        "certified for election": issue_certificate(
            reg.signing_key, role=CertificateRole.DEVICE, subject="d3",
            public_key=public_bytes(dev.key), valid_from="2021-01-01T00:00:00Z",
            valid_until="2022-01-01T00:00:00Z", station="1001", election_id="other"),
    }
    for message, cert in cases.items():
        with pytest.raises(RegistryError, match=message):
            CecRegistry.build(reg.election, reg.signing_key, reg.encryption_keys, [cert])
    with pytest.raises(RegistryError, match="two certificates"):
        CecRegistry.build(reg.election, reg.signing_key, reg.encryption_keys,
                          [dev.certificate, dev.certificate])


def test_hybrid_post_quantum_suite_is_accepted(world: World, cec: tuple[Ingestor, Store]) -> None:
    from protocol.envelope import SuiteName

    signed = world.message("1001-D1", world.zero("1001"))
    out = cec[0].process(world.envelope(signed, SuiteName.MLKEM768_X25519))
    assert out.status is ReceiptStatus.ACCEPTED
    # the same message under the default suite is the same message: same receipt
    assert cec[0].process(world.envelope(signed)).receipt == out.receipt


_WORLD = make_world(stations=("1001",))
_MESSAGES = {d: [_WORLD.message(d, c, sequence=i + 1) for i, c in enumerate(
    (_WORLD.zero("1001"), _WORLD.results("1001", n), _WORLD.status()))]
    for n, d in enumerate(("1001-D1", "1001-D2"))}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_MESSAGES)), st.integers(0, 2)),
                min_size=1, max_size=25))
def test_any_arrival_order_stores_each_message_once_in_sequence(
        arrivals: list[tuple[str, int]]) -> None:
    """Duplicates, gaps and reorders in any order: the store holds, per device, exactly a
    prefix 1..k of its messages, each once; every copy of a stored message gets its receipt."""
    with tempfile.TemporaryDirectory() as tmp:
        ing, store = ingestor(_WORLD, Path(tmp) / "cec.db")
        receipts: dict[tuple[str, int], bytes] = {}
        for device, index in arrivals:
            signed = _MESSAGES[device][index]
            out = ing.process(_WORLD.envelope(signed))
            key = (device, index + 1)
            if out.status is ReceiptStatus.ACCEPTED:
                assert receipts.setdefault(key, out.receipt) == out.receipt
            else:
                assert out.reason is Reason.OUT_OF_ORDER_SEQUENCE
                assert key not in receipts
        store.commit()
        for device in _MESSAGES:
            stored = [m.sequence for m in store.messages() if m.device_id == device]
            assert stored == list(range(1, len(stored) + 1))
            assert {k for k in receipts if k[0] == device} == {(device, s) for s in stored}
        store.close()


def test_a_failing_write_leaves_no_partial_trace(world: World,
                                                 cec: tuple[Ingestor, Store]) -> None:
    """A database error in the middle of one message undoes that message only."""
    ing, store = cec
    ok = world.message("1001-D1", world.zero("1001"))
    ing.process(world.envelope(ok))
    bad = world.message("1001-D2", world.zero("1001"))
    original = store.insert_message

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        store.log_refusal(received_at=TIME, peer="x", reason="partial", device_id=None,
                          sequence=None, detail="written before the failure")
        raise sqlite3.OperationalError("disk I/O error")

    store.insert_message = failing  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        ing.process(world.envelope(bad))
    store.insert_message = original  # type: ignore[method-assign]
    store.commit()
    assert [m.device_id for m in store.messages()] == ["1001-D1"]
    assert store.refusals() == []
    assert ing.process(world.envelope(bad)).status is ReceiptStatus.ACCEPTED


def test_nothing_is_durable_before_the_batch_commit(world: World, tmp_path: Path) -> None:
    """Group commit: other readers see a batch's messages only after its one commit."""
    from protocol.cec.store import open_store

    ing, store = ingestor(world, tmp_path / "cec.db")
    reader = open_store(tmp_path / "cec.db")
    for device in ("1001-D1", "1001-D2"):
        ing.process(world.envelope(world.message(device, world.zero("1001"))))
    assert reader.count("messages") == 0
    store.commit()
    assert reader.count("messages") == 2


_FUZZ_DIR = tempfile.TemporaryDirectory()
_FUZZ_ING, _FUZZ_STORE = ingestor(_WORLD, Path(_FUZZ_DIR.name) / "cec.db")
_FUZZ_ENVELOPE = _WORLD.envelope(_MESSAGES["1001-D1"][0])


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.tuples(st.integers(0, len(_FUZZ_ENVELOPE) - 1), st.integers(0, 255)).map(
                     lambda pb: _FUZZ_ENVELOPE[:pb[0]] + bytes([pb[1]])
                     + _FUZZ_ENVELOPE[pb[0] + 1:])))
def test_fuzz_ingest_answers_every_frame_with_a_signed_receipt(data: bytes) -> None:
    """Whatever arrives in a frame, the CEC answers with a receipt it signed; a changed
    envelope is never accepted as something else."""
    out = _FUZZ_ING.process(data, "fuzz")
    receipt = parse_receipt(out.receipt, _WORLD.registry.signing_public)
    if receipt.status is ReceiptStatus.ACCEPTED:
        assert receipt.message_hash == _MESSAGES["1001-D1"][0].message_hash
    else:
        assert isinstance(receipt.reason, Reason)
