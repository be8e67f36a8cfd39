"""Encrypt a signed message to the CEC: HPKE (RFC 9180), base mode, single shot.

Wire form of an envelope (the payload of one frame, see :mod:`protocol.frames`)::

    u16 big-endian header length | header (canonical JSON) | HPKE enc || ciphertext

The header is in clear so that the CEC can log who sent what before it
decrypts (and refuse with a reason); it is authenticated by HPKE: it is the
``info`` of the key schedule, as RFC 9180 §8.1 prescribes for single-shot
APIs (``cryptography``'s ``Suite.encrypt`` has no separate AAD argument; in
``info`` it is bound into the key and nonce, so changing one header byte makes
decryption fail). The CEC also checks that the header names the same device,
sequence and kind as the signed message inside (:data:`Reason.HEADER_MISMATCH`).

Header: ``{"format": "pcos-kg/envelope", "format_version": 1, "suite": ...,
"recipient": <CEC key id>, "device_id", "sequence", "kind"}``.

Suites (:class:`SuiteName`): the default ``x25519-hkdf-sha256-aes256gcm``
(DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), and the post-quantum
hybrid ``mlkem768x25519-hkdf-sha256-aes256gcm`` (ML-KEM-768 + X25519 KEM).

Inside the ciphertext: :meth:`protocol.messages.SignedMessage.dumps` bytes.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from election.fileio import write_atomically
from firmware.crypto import CryptoError, b64, unb64
from protocol.encoding import check_format, decode, encode, exact_keys, field
from protocol.errors import ProtocolError, Reason
from protocol.messages import SignedMessage

ENVELOPE_FORMAT = "pcos-kg/envelope"
ENVELOPE_FORMAT_VERSION = 1
INFO_PREFIX = b"pcos-kg/1//envelope//"
MAX_HEADER_BYTES = 1024


class SuiteName(StrEnum):
    X25519 = "x25519-hkdf-sha256-aes256gcm"
    MLKEM768_X25519 = "mlkem768x25519-hkdf-sha256-aes256gcm"


def _suite(name: SuiteName) -> hpke.Suite:
    kem = hpke.KEM.X25519 if name is SuiteName.X25519 else hpke.KEM.MLKEM768_X25519
    return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class CecEncryptionKeys:
    """The CEC's HPKE private keys: X25519 always, the hybrid ML-KEM-768+X25519 optionally.

    Stored as one JSON file (mode 0600): raw X25519 private bytes, and for the hybrid
    the 64-byte ML-KEM seed plus its own X25519 key, all base64.
    """

    x25519_key: x25519.X25519PrivateKey
    mlkem_seed: bytes | None = None
    hybrid_x25519_key: x25519.X25519PrivateKey | None = None

    @classmethod
    def generate(cls, hybrid: bool = True) -> CecEncryptionKeys:
        if not hybrid:
            return cls(x25519.X25519PrivateKey.generate())
        return cls(x25519.X25519PrivateKey.generate(), os.urandom(64),
                   x25519.X25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> CecEncryptionKeys:
        """Deterministic keys (tests and simulations only)."""
        h = [hashlib.sha256(seed + bytes([i])).digest() for i in range(4)]
        return cls(x25519.X25519PrivateKey.from_private_bytes(h[0]), h[1] + h[2],
                   x25519.X25519PrivateKey.from_private_bytes(h[3]))

    def hybrid_private(self) -> hpke.MLKEM768X25519PrivateKey:
        if self.mlkem_seed is None or self.hybrid_x25519_key is None:
            raise ProtocolError(Reason.DECRYPTION_FAILED, "the CEC has no ML-KEM-768+X25519 key")
        return hpke.MLKEM768X25519PrivateKey(mlkem.MLKEM768PrivateKey.from_seed_bytes(
            self.mlkem_seed), self.hybrid_x25519_key)

    @property
    def key_id(self) -> str:
        """Names the X25519 public key (and with it this key set) in envelope headers."""
        return hashlib.sha256(self.x25519_key.public_key().public_bytes_raw()).hexdigest()[:16]

    def public(self) -> CecPublicKeys:
        hybrid = self.hybrid_private().public_key() if self.mlkem_seed is not None else None
        return CecPublicKeys(self.x25519_key.public_key(), hybrid)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": "pcos-kg/cec-encryption-keys", "format_version": 1,
                               "x25519": b64(self.x25519_key.private_bytes_raw())}
        if self.mlkem_seed is not None and self.hybrid_x25519_key is not None:
            doc["mlkem768_seed"] = b64(self.mlkem_seed)
            doc["hybrid_x25519"] = b64(self.hybrid_x25519_key.private_bytes_raw())
        return doc

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = write_atomically(path, encode(self.to_json()) + b"\n")
        os.chmod(target, 0o600)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CecEncryptionKeys:
        try:
            doc = decode(Path(path).read_bytes().rstrip(b"\n"), str(path))
            check_format(doc, "pcos-kg/cec-encryption-keys", 1, str(path))
            x = x25519.X25519PrivateKey.from_private_bytes(unb64(doc.get("x25519"), "x25519"))
            if "mlkem768_seed" not in doc:
                return cls(x)
            return cls(x, unb64(doc["mlkem768_seed"], "mlkem768_seed"),
                       x25519.X25519PrivateKey.from_private_bytes(
                           unb64(doc.get("hybrid_x25519"), "hybrid_x25519")))
        except OSError as exc:
            raise CryptoError(f"{path}: cannot read CEC encryption keys ({exc})") from None
        except (ProtocolError, ValueError) as exc:
            raise CryptoError(f"{path}: not a CEC encryption key file ({exc})") from None


@dataclass(frozen=True)
class CecPublicKeys:
    """What a device needs to encrypt to the CEC (shipped in the election package)."""

    x25519: x25519.X25519PublicKey
    hybrid: hpke.MLKEM768X25519PublicKey | None = None

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.x25519.public_bytes_raw()).hexdigest()[:16]


@dataclass(frozen=True)
class EnvelopeHeader:
    suite: SuiteName
    recipient: str
    device_id: str
    sequence: int
    kind: str

    def to_bytes(self) -> bytes:
        return encode({"device_id": self.device_id, "format": ENVELOPE_FORMAT,
                       "format_version": ENVELOPE_FORMAT_VERSION, "kind": self.kind,
                       "recipient": self.recipient, "sequence": self.sequence,
                       "suite": self.suite.value})

    @classmethod
    def from_bytes(cls, data: bytes) -> EnvelopeHeader:
        what = "envelope header"
        doc = check_format(decode(data, what), ENVELOPE_FORMAT, ENVELOPE_FORMAT_VERSION, what)
        exact_keys(doc, {"device_id", "format", "format_version", "kind", "recipient",
                         "sequence", "suite"}, what)
        try:
            suite = SuiteName(field(doc, "suite", str, what))
        except ValueError:
            raise ProtocolError(Reason.UNSUPPORTED_VERSION,
                                f"{what}: unknown suite {doc['suite']!r}") from None
        return cls(suite, field(doc, "recipient", str, what), field(doc, "device_id", str, what),
                   field(doc, "sequence", int, what), field(doc, "kind", str, what))


def seal(signed: SignedMessage, cec: CecPublicKeys,
         suite: SuiteName = SuiteName.X25519) -> bytes:
    """Encrypt ``signed`` to the CEC; returns the envelope bytes."""
    m = signed.message
    header = EnvelopeHeader(suite, cec.key_id, m.device_id, m.sequence, m.kind.value).to_bytes()
    if suite is SuiteName.X25519:
        ct = _suite(suite).encrypt(signed.dumps(), cec.x25519, info=INFO_PREFIX + header)
    else:
        if cec.hybrid is None:
            raise ProtocolError(Reason.MALFORMED, "the CEC published no ML-KEM-768+X25519 key")
        ct = _suite(suite).encrypt(signed.dumps(), cec.hybrid, info=INFO_PREFIX + header)
    return struct.pack(">H", len(header)) + header + ct


def split(envelope: bytes) -> tuple[EnvelopeHeader, bytes, bytes]:
    """(parsed header, header bytes, ciphertext); refuses malformed envelopes."""
    if len(envelope) < 2:
        raise ProtocolError(Reason.MALFORMED, "envelope shorter than its header length")
    (n,) = struct.unpack(">H", envelope[:2])
    if n > MAX_HEADER_BYTES or len(envelope) < 2 + n:
        raise ProtocolError(Reason.MALFORMED, f"envelope header length {n} does not fit")
    header_bytes = envelope[2:2 + n]
    return EnvelopeHeader.from_bytes(header_bytes), header_bytes, envelope[2 + n:]


def open_envelope(envelope: bytes, keys: CecEncryptionKeys) -> tuple[EnvelopeHeader, bytes]:
    """Decrypt: (header, plaintext signed-message bytes). Any failure: DECRYPTION_FAILED."""
    header, header_bytes, ct = split(envelope)
    if header.recipient != keys.key_id:
        raise ProtocolError(Reason.DECRYPTION_FAILED,
                            f"envelope is for key {header.recipient}, not this CEC's")
    private: Any = (keys.x25519_key if header.suite is SuiteName.X25519
                    else keys.hybrid_private())
    try:
        plain = _suite(header.suite).decrypt(ct, private, info=INFO_PREFIX + header_bytes)
    except Exception:  # cryptography raises InvalidTag / ValueError on any tampering
        raise ProtocolError(Reason.DECRYPTION_FAILED,
                            f"envelope from {header.device_id}#{header.sequence} does not "
                            "decrypt (wrong key or altered bytes)") from None
    return header, plain


def open_and_parse(envelope: bytes, keys: CecEncryptionKeys) -> tuple[EnvelopeHeader,
                                                                       SignedMessage]:
    """Decrypt and parse; check the clear header against the signed message."""
    header, plain = open_envelope(envelope, keys)
    signed = SignedMessage.loads(plain)
    m = signed.message
    if (header.device_id, header.sequence, header.kind) != (m.device_id, m.sequence,
                                                            m.kind.value):
        raise ProtocolError(Reason.HEADER_MISMATCH,
                            f"header says {header.device_id}#{header.sequence} {header.kind}, "
                            f"message is {m.device_id}#{m.sequence} {m.kind.value}")
    return header, signed
