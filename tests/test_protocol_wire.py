"""Encoding, messages, envelopes, frames and receipts of the results protocol."""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_fixtures import TIME, make_world

from benchmarks.cec_data import PNG_1X1
from firmware.crypto import (
    CertificateRole,
    SignatureKind,
    issue_certificate,
    key_from_seed,
    public_bytes,
    sign,
)
from protocol import encoding
from protocol.envelope import (
    INFO_PREFIX,
    CecEncryptionKeys,
    SuiteName,
    open_and_parse,
    open_envelope,
    seal,
    split,
)
from protocol.errors import ProtocolError, Reason
from protocol.frames import FrameDecoder, decode_frames, encode_frame
from protocol.messages import (
    DecFigures,
    DecProtocol,
    MessageKind,
    SignedMessage,
    confirm_dec_figures,
    content_from_json,
)
from protocol.receipts import Receipt, ReceiptStatus, parse_receipt

WORLD = make_world()


def _results_message(seq: int = 1) -> SignedMessage:
    return WORLD.message("1001-D1", WORLD.results("1001", 7), sequence=seq)


# --- encoding -------------------------------------------------------------------------------

def test_encoding_is_canonical_and_decode_refuses_other_forms() -> None:
    doc = {"b": [1, "ж"], "a": {"z": None, "y": True}}
    data = encoding.encode(doc)
    assert data == '{"a":{"y":true,"z":null},"b":[1,"ж"]}'.encode()
    assert encoding.decode(data) == doc
    for other in (b'{"b":[1,"\\u0436"],"a":{"y":true,"z":null}}', b'{"a": 1}', b"[1.5]",
                  b"NaN", b"[1e3]", b'{"a":1,"a":1}', b"\xff", b"[" * 40 + b"]" * 40,
                  str(2**60).encode()):
        with pytest.raises(ProtocolError) as err:
            encoding.decode(other)
        assert err.value.reason is Reason.MALFORMED


def test_encode_refuses_floats() -> None:
    with pytest.raises(ProtocolError):
        encoding.encode({"x": 1.5})


def test_unsupported_version_is_its_own_reason() -> None:
    with pytest.raises(ProtocolError) as err:
        encoding.check_format({"format": "pcos-kg/message", "format_version": 2},
                              "pcos-kg/message", 1, "message")
    assert err.value.reason is Reason.UNSUPPORTED_VERSION


# --- messages -------------------------------------------------------------------------------

def test_message_binds_every_field_and_round_trips() -> None:
    signed = _results_message()
    body = json.loads(signed.body)
    assert set(body) == {"audit_head", "content", "device_certificate", "device_id",
                         "election_hash", "format", "format_version", "kind", "package_hash",
                         "sequence", "station", "time"}
    assert body["kind"] == "results" and body["station"] == "1001"
    assert body["election_hash"] == WORLD.registry.election_hash
    again = SignedMessage.loads(signed.dumps())
    assert again == signed and again.message_hash == signed.message_hash
    again.verify(WORLD.registry.signing_public, at=TIME)
    # deterministic: the same message signs to the same bytes
    assert _results_message().dumps() == signed.dumps()


def test_signature_is_separated_by_kind() -> None:
    """A device signature made for another kind of artifact never verifies as a message."""
    signed = _results_message()
    key = WORLD.devices["1001-D1"].key
    forged = replace(signed, signature=sign(key, SignatureKind.REPORT, signed.body))
    with pytest.raises(ProtocolError) as err:
        forged.verify(WORLD.registry.signing_public, at=TIME)
    assert err.value.reason is Reason.BAD_SIGNATURE


def test_flipped_body_byte_fails_signature() -> None:
    signed = _results_message()
    body = signed.body.replace(b'"time":"2021-11-28T20:05:00Z"', b'"time":"2021-11-28T20:06:00Z"')
    tampered = SignedMessage.loads(replace(signed, body=body).dumps())
    with pytest.raises(ProtocolError) as err:
        tampered.verify(WORLD.registry.signing_public, at=TIME)
    assert err.value.reason is Reason.BAD_SIGNATURE


def test_certificate_not_signed_by_cec_is_refused() -> None:
    rogue = key_from_seed(b"r" * 32)
    dev = WORLD.devices["1001-D1"]
    cert = issue_certificate(rogue, role=CertificateRole.DEVICE, subject=dev.device_id,
                             public_key=public_bytes(dev.key), valid_from="2021-01-01T00:00:00Z",
                             valid_until="2022-01-01T00:00:00Z", station="1001")
    signed = _results_message()
    m = replace(signed.message, certificate=cert).sign(dev.key)
    with pytest.raises(ProtocolError) as err:
        m.verify(WORLD.registry.signing_public, at=TIME)
    assert err.value.reason is Reason.BAD_CERTIFICATE


def test_dec_figures_typed_twice_must_agree() -> None:
    tally = WORLD.results("1001", 3).tally
    first = WORLD.dec("1001", tally).figures
    assert confirm_dec_figures(first, first) == first
    slip = WORLD.dec("1001", tally, shift={"P07": 1}).figures
    with pytest.raises(ProtocolError) as err:
        confirm_dec_figures(first, slip)
    assert err.value.reason is Reason.DEC_FIGURES_MISMATCH
    assert "party-list/P07" in str(err.value)
    assert DecProtocol.from_entries((PNG_1X1,), first, first).figures == first
    with pytest.raises(ProtocolError) as err:
        DecProtocol.from_entries((PNG_1X1,), first, slip)
    assert err.value.reason is Reason.DEC_FIGURES_MISMATCH
    with pytest.raises(ProtocolError, match="PNG"):
        DecProtocol.from_entries((b"GIF89a",), first, first)
    other = replace(first, ballots_cast=first.ballots_cast + 1)
    with pytest.raises(ProtocolError, match="ballots_cast"):
        confirm_dec_figures(first, other)


def test_content_checks_per_kind() -> None:
    zero = WORLD.zero("1001")
    counted = WORLD.results("1001", 1).tally
    with pytest.raises(ProtocolError) as err:
        content_from_json(MessageKind.ZERO_REPORT, {"tally": counted.to_json()})
    assert err.value.reason is Reason.BAD_CONTENT
    assert content_from_json(MessageKind.ZERO_REPORT, {"tally": zero.tally.to_json()}) == zero
    bad_page = {"pages": ["aGVsbG8="], "figures": WORLD.dec("1001", counted).figures.to_json()}
    with pytest.raises(ProtocolError, match="PNG"):
        content_from_json(MessageKind.DEC_PROTOCOL, bad_page)
    with pytest.raises(ProtocolError):
        content_from_json(MessageKind.AUDIT_LOG, {"entries": "", "head": "xyz"})
    broken = counted.to_json()
    broken["contests"]["party-list"]["ballots"] += 1
    with pytest.raises(ProtocolError) as err:
        content_from_json(MessageKind.RESULTS, {"tally": broken,
                                                "sheets": {"cast": 1, "returned": 0,
                                                           "marginal": 0}})
    assert err.value.reason is Reason.BAD_CONTENT
    assert DecFigures.from_json(WORLD.dec("1001", counted).figures.to_json()) == WORLD.dec(
        "1001", counted).figures


def test_every_kind_round_trips() -> None:
    tally = WORLD.results("1002", 2).tally
    for content in (WORLD.zero("1002"), WORLD.results("1002", 2), WORLD.dec("1002", tally),
                    WORLD.audit(), WORLD.status()):
        signed = WORLD.message("1002-D1", content, sequence=1)
        assert SignedMessage.loads(signed.dumps()).message.content == content


# --- envelopes ------------------------------------------------------------------------------

def test_envelope_round_trip_both_suites() -> None:
    keys = WORLD.registry.encryption_keys
    signed = _results_message()
    for suite in SuiteName:
        env = seal(signed, keys.public(), suite)
        header, back = open_and_parse(env, keys)
        assert header.suite is suite and back == signed
    assert seal(signed, keys.public()) != seal(signed, keys.public())  # fresh ephemeral key


def test_header_is_authenticated() -> None:
    keys = WORLD.registry.encryption_keys
    env = seal(_results_message(), keys.public())
    tampered = env.replace(b'"sequence":1', b'"sequence":2')
    assert tampered != env
    with pytest.raises(ProtocolError) as err:
        open_envelope(tampered, keys)
    assert err.value.reason is Reason.DECRYPTION_FAILED


def test_wrong_recipient_key_fails() -> None:
    other = CecEncryptionKeys.from_seed(b"other")
    env = seal(_results_message(), other.public())
    with pytest.raises(ProtocolError) as err:
        open_envelope(env, WORLD.registry.encryption_keys)
    assert err.value.reason is Reason.DECRYPTION_FAILED


def test_pyhpke_decrypts_the_default_suite() -> None:
    """An independent HPKE implementation opens our envelope (RFC 9180 interop)."""
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

    keys = WORLD.registry.encryption_keys
    signed = _results_message()
    env = seal(signed, keys.public())
    _, header_bytes, ct = split(env)
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256,
                            AEADId.AES256_GCM)
    enc, body = ct[:32], ct[32:]
    skr = KEMKey.from_pyca_cryptography_key(keys.x25519_key)
    recipient = suite.create_recipient_context(enc, skr, info=INFO_PREFIX + header_bytes)
    plain = recipient.open(body)
    assert plain == signed.dumps()
    # and the other way: pyhpke seals, cryptography opens
    pkr = KEMKey.from_pyca_cryptography_key(keys.x25519_key.public_key())
    enc2, sender = suite.create_sender_context(pkr, info=INFO_PREFIX + header_bytes)
    ct2 = sender.seal(signed.dumps())
    assert open_envelope(env[:2 + len(header_bytes)] + enc2 + ct2, keys)[1] == signed.dumps()


def test_encryption_keys_file_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys = CecEncryptionKeys.generate()
    keys.save(tmp_path / "k")
    again = CecEncryptionKeys.load(tmp_path / "k")
    env = seal(_results_message(), keys.public(), SuiteName.MLKEM768_X25519)
    assert open_and_parse(env, again)[1] == _results_message()
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


# --- frames ---------------------------------------------------------------------------------

def test_frames_round_trip_in_any_chunking() -> None:
    payloads = [b"", b"a", b"x" * 70000]
    data = b"".join(encode_frame(p) for p in payloads)
    assert decode_frames(data) == payloads
    dec = FrameDecoder()
    got = []
    for i in range(0, len(data), 997):
        got += dec.feed(data[i:i + 997])
    dec.close()
    assert got == payloads


def test_oversized_frame_refused_from_its_header() -> None:
    with pytest.raises(ProtocolError) as err:
        FrameDecoder(max_bytes=100).feed(b"PKF1" + struct.pack(">I", 101))
    assert err.value.reason is Reason.OVERSIZED_FRAME
    with pytest.raises(ProtocolError) as err:
        encode_frame(b"x" * 101, max_bytes=100)
    assert err.value.reason is Reason.OVERSIZED_FRAME


def test_truncated_frame_refused() -> None:
    data = encode_frame(b"hello")
    for cut in range(1, len(data)):
        with pytest.raises(ProtocolError) as err:
            decode_frames(data[:cut])
        assert err.value.reason in (Reason.TRUNCATED_FRAME,)


def test_garbage_is_malformed() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_frames(b"GET / HTTP/1.1\r\n\r\n")
    assert err.value.reason is Reason.MALFORMED


# --- receipts -------------------------------------------------------------------------------

def test_receipt_signed_by_cec_and_checked() -> None:
    r = Receipt(ReceiptStatus.ACCEPTED, None, "accepted", "a" * 64, "b" * 64, "1001-D1", 1,
                TIME)
    data = r.sign(WORLD.registry.signing_key)
    assert parse_receipt(data, WORLD.registry.signing_public) == r
    forged = r.sign(key_from_seed(b"f" * 32))
    with pytest.raises(ProtocolError) as err:
        parse_receipt(forged, WORLD.registry.signing_public)
    assert err.value.reason is Reason.BAD_RECEIPT
    # a message signature is not a receipt signature (kind separation)
    body = encoding.encode(r.body())
    as_message = encoding.encode({"receipt": r.body(), "signature": __import__("base64")
                                  .b64encode(sign(WORLD.registry.signing_key,
                                                  SignatureKind.MESSAGE, body)).decode()})
    with pytest.raises(ProtocolError):
        parse_receipt(as_message, WORLD.registry.signing_public)


# --- fuzzing: only typed refusals -----------------------------------------------------------

_GOOD_ENVELOPE = seal(_results_message(), WORLD.registry.encryption_keys.public())
_GOOD_SIGNED = _results_message().dumps()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_frame_decoder(data: bytes) -> None:
    try:
        for p in decode_frames(data, max_bytes=200):
            assert len(p) <= 200
    except ProtocolError as exc:
        assert exc.reason in (Reason.MALFORMED, Reason.OVERSIZED_FRAME, Reason.TRUNCATED_FRAME)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_GOOD_SIGNED) - 1), st.integers(0, 255), st.integers(1, 40))
def test_fuzz_signed_message_parser(pos: int, byte: int, cut: int) -> None:
    for data in (_GOOD_SIGNED[:pos] + bytes([byte]) + _GOOD_SIGNED[pos + 1:],
                 _GOOD_SIGNED[:-cut]):
        try:
            signed = SignedMessage.loads(data)
            signed.verify(WORLD.registry.signing_public, at=TIME)
        except ProtocolError:
            continue
        assert data == _GOOD_SIGNED or signed.dumps() == data


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                         max_size=3),
                    max_leaves=20))
def test_fuzz_message_from_any_json(doc: object) -> None:
    with contextlib.suppress(ProtocolError):
        SignedMessage.loads(encoding.encode({"message": doc, "signature": "AAAA"}))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(_GOOD_ENVELOPE) - 1), st.integers(0, 255))
def test_fuzz_envelope(pos: int, byte: int) -> None:
    data = _GOOD_ENVELOPE[:pos] + bytes([byte]) + _GOOD_ENVELOPE[pos + 1:]
    try:
        open_and_parse(data, WORLD.registry.encryption_keys)
    except ProtocolError:
        return
    assert data == _GOOD_ENVELOPE


_LOOPS: list[object] = []


def _loop():  # type: ignore[no-untyped-def]
    """One event loop for every example (a new loop per example is slow)."""
    import asyncio

    if not _LOOPS:
        _LOOPS.append(asyncio.new_event_loop())
    return _LOOPS[0]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_fuzz_async_frame_reader(data: bytes, valid_prefix: bool) -> None:
    """The server's stream reader: frames, a clean end, or a typed refusal; nothing else."""
    import asyncio

    from protocol.frames import read_frame_async

    stream = (encode_frame(b"ok") if valid_prefix else b"") + data

    async def read_all() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        frames = []
        while True:
            frame = await read_frame_async(reader, idle_timeout_s=1, frame_timeout_s=1,
                                           max_bytes=32)
            if frame is None:
                return frames
            frames.append(frame)

    loop = _loop()
    try:
        frames = loop.run_until_complete(read_all())
    except ProtocolError as exc:
        assert exc.reason in (Reason.MALFORMED, Reason.OVERSIZED_FRAME, Reason.TRUNCATED_FRAME)
        return
    assert b"".join(encode_frame(f) for f in frames) == stream
