"""Keys, domain-separated Ed25519 signatures and certificates.

Every signature in PCOS-KG is made over ``pcos-kg/1//KIND//CONTENTS``, as
vxsuite signs ``VERSION//TYPE//CONTENTS``: a signature made for one kind of
artifact (an election package, a printed report, an audit checkpoint, a results
message) can never be replayed as another kind, even when the bytes match.

Certificates are small canonical-JSON documents signed by their issuer:

* the CEC root (offline) certifies the CEC signing key, which signs packages,
  amendments, calibration profiles and device certificates;
* a device certificate binds a device id and its station to the device's
  public key, with a validity window.

Nothing here does I/O except :func:`save_private_key` / :func:`load_private_key`
and the certificate file helpers; every failure is a :class:`CryptoError`
whose message says what was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, replace
from enum import StrEnum
from json.encoder import encode_basestring, encode_basestring_ascii
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from election.errors import PcosError
from election.fileio import write_atomically

SIGNATURE_VERSION = "pcos-kg/1"
CERTIFICATE_FORMAT = "pcos-kg/certificate"
CERTIFICATE_FORMAT_VERSION = 1


class CryptoError(PcosError):
    """A key, signature or certificate is missing, malformed or does not verify."""


class SignatureKind(StrEnum):
    """What a signature is for. Part of every signed byte string."""

    CERTIFICATE = "certificate"
    PACKAGE = "election-package"
    AMENDMENT = "amendment"
    CALIBRATION = "calibration-profile"
    REPORT = "report"
    QUICK_RESULTS = "quick-results"
    AUDIT_CHECKPOINT = "audit-checkpoint"
    MESSAGE = "message"
    RECEIPT = "receipt"


class CertificateRole(StrEnum):
    CEC_ROOT = "cec-root"
    CEC_SIGNING = "cec-signing"
    DEVICE = "device"


class FastJsonEncoder:
    """``encoder.encode(doc)`` (a :class:`json.JSONEncoder` without indent), with the C
    encoder object built once per thread. ``JSONEncoder.encode`` builds it, with its
    circular-reference markers, on every call: about a third of encoding a small document.
    The same chunks, so the same text (a test compares them); a failed call's thread gets
    a fresh encoder (its markers may still hold the failed document's containers)."""

    def __init__(self, encoder: json.JSONEncoder) -> None:
        self.encoder = encoder
        self._local = threading.local()

    def _c_encoder(self) -> Any:
        """The C encoder ``self.encoder.encode`` would build, or None where there is none."""
        e = self.encoder
        make = getattr(json.encoder, "c_make_encoder", None)
        if make is None or e.indent is not None:
            return None
        try:
            return make({} if e.check_circular else None, e.default,
                        encode_basestring_ascii if e.ensure_ascii else encode_basestring,
                        e.indent, e.key_separator, e.item_separator, e.sort_keys, e.skipkeys,
                        e.allow_nan)
        except TypeError:  # another Python's signature: the encoder's own path
            return None

    def encode(self, doc: Any) -> str:
        try:
            encode = self._local.encode
        except AttributeError:
            encode = self._local.encode = self._c_encoder()
        if encode is None:
            return self.encoder.encode(doc)
        try:
            return "".join(encode(doc, 0))
        except BaseException:
            self._local.encode = self._c_encoder()
            raise


# json.dumps with these arguments builds a new encoder on every call; this one is built once
# (it holds no state between calls) and gives the same output
_CANONICAL = FastJsonEncoder(json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                              ensure_ascii=False))


def canonical_json(doc: Any) -> bytes:
    """The one canonical JSON encoding: sorted keys, no whitespace, UTF-8."""
    return _CANONICAL.encode(doc).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise CryptoError(f"{what}: expected base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise CryptoError(f"{what}: not valid base64") from exc


# --- signatures ------------------------------------------------------------------------------


def signing_input(kind: SignatureKind, contents: bytes) -> bytes:
    """``pcos-kg/1//KIND//CONTENTS``: the exact bytes every signature covers."""
    return f"{SIGNATURE_VERSION}//{kind.value}//".encode("ascii") + contents


def sign(key: Ed25519PrivateKey, kind: SignatureKind, contents: bytes) -> bytes:
    return key.sign(signing_input(kind, contents))


def verify(public: Ed25519PublicKey, kind: SignatureKind, contents: bytes,
           signature: bytes, what: str = "signature") -> None:
    """Raise :class:`CryptoError` unless ``signature`` signs ``contents`` as ``kind``."""
    try:
        public.verify(signature, signing_input(kind, contents))
    except InvalidSignature:
        raise CryptoError(f"{what}: does not verify ({kind.value})") from None


# --- keys ------------------------------------------------------------------------------------


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """A deterministic key from 32 seed bytes (tests and simulations only)."""
    if len(seed) != 32:
        raise CryptoError("key seed must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes, what: str = "public key") -> Ed25519PublicKey:
    if len(raw) != 32:
        raise CryptoError(f"{what}: an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Short fingerprint: the first 16 hex digits of SHA-256 of the raw public key."""
    return sha256_hex(public_bytes(key))[:16]


def save_private_key(key: Ed25519PrivateKey, path: str | os.PathLike[str]) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    target = write_atomically(path, pem)
    os.chmod(target, 0o600)
    return target


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CryptoError(f"{path}: cannot read key ({exc.strerror or exc})") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CryptoError(f"{path}: not an Ed25519 key")
    return key


# --- certificates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A public key bound to a subject by its issuer's signature.

    ``valid_from`` / ``valid_until`` are ISO-8601 UTC instants (``2021-11-28T00:00:00Z``);
    ``station`` is set for device certificates only. ``issuer_key_id`` names the key
    that signed (see :func:`key_id`).
    """

    role: CertificateRole
    subject: str
    public_key: bytes
    valid_from: str
    valid_until: str
    issuer_key_id: str
    station: str | None = None
    election_id: str | None = None
    signature: bytes = b""

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": CERTIFICATE_FORMAT,
            "format_version": CERTIFICATE_FORMAT_VERSION,
            "role": self.role.value,
            "subject": self.subject,
            "public_key": b64(self.public_key),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "issuer_key_id": self.issuer_key_id,
        }
        if self.station is not None:
            doc["station"] = self.station
        if self.election_id is not None:
            doc["election_id"] = self.election_id
        return doc

    def signed_bytes(self) -> bytes:
        return canonical_json(self.body())

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "signature": b64(self.signature)}

    def dumps(self) -> bytes:
        return canonical_json(self.to_json())

    @property
    def key(self) -> Ed25519PublicKey:
        return public_key_from_bytes(self.public_key, f"certificate of {self.subject}")

    @property
    def fingerprint(self) -> str:
        return sha256_hex(self.dumps())

    def verify(self, issuer: Ed25519PublicKey, at: str | None = None) -> None:
        """Check the issuer's signature and, when ``at`` is given, the validity window."""
        if self.issuer_key_id != key_id(issuer):
            raise CryptoError(f"certificate of {self.subject}: issued by key "
                              f"{self.issuer_key_id}, not by {key_id(issuer)}")
        verify(issuer, SignatureKind.CERTIFICATE, self.signed_bytes(), self.signature,
               f"certificate of {self.subject}")
        if at is not None and not (self.valid_from <= at <= self.valid_until):
            raise CryptoError(f"certificate of {self.subject}: not valid at {at} "
                              f"({self.valid_from} .. {self.valid_until})")

    @classmethod
    def from_json(cls, doc: Any) -> Certificate:
        if not isinstance(doc, dict):
            raise CryptoError("certificate: expected a JSON object")
        if doc.get("format") != CERTIFICATE_FORMAT or doc.get(
                "format_version") != CERTIFICATE_FORMAT_VERSION:
            raise CryptoError("certificate: not a pcos-kg/certificate version 1")
        try:
            role = CertificateRole(doc["role"])
            fields = {k: doc[k] for k in ("subject", "valid_from", "valid_until",
                                          "issuer_key_id")}
        except (KeyError, ValueError) as exc:
            raise CryptoError(f"certificate: missing or bad field {exc}") from None
        if not all(isinstance(v, str) for v in fields.values()):
            raise CryptoError("certificate: subject, validity and issuer must be text")
        for opt in ("station", "election_id"):
            if doc.get(opt) is not None and not isinstance(doc[opt], str):
                raise CryptoError(f"certificate: {opt} must be text")
        cert = cls(role=role, public_key=unb64(doc.get("public_key"), "certificate public_key"),
                   station=doc.get("station"), election_id=doc.get("election_id"),
                   signature=unb64(doc.get("signature"), "certificate signature"), **fields)
        public_key_from_bytes(cert.public_key, f"certificate of {cert.subject}")
        return cert

    @classmethod
    def loads(cls, data: bytes, what: str = "certificate") -> Certificate:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CryptoError(f"{what}: not JSON") from exc
        return cls.from_json(doc)


def issue_certificate(issuer: Ed25519PrivateKey, *, role: CertificateRole, subject: str,
                      public_key: bytes, valid_from: str, valid_until: str,
                      station: str | None = None, election_id: str | None = None
                      ) -> Certificate:
    cert = Certificate(role=role, subject=subject, public_key=public_key,
                       valid_from=valid_from, valid_until=valid_until,
                       issuer_key_id=key_id(issuer), station=station,
                       election_id=election_id)
    return replace(cert, signature=sign(issuer, SignatureKind.CERTIFICATE, cert.signed_bytes()))


def save_certificate(cert: Certificate, path: str | os.PathLike[str]) -> Path:
    return write_atomically(path, cert.dumps() + b"\n")


def load_certificate(path: str | os.PathLike[str]) -> Certificate:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CryptoError(f"{path}: cannot read certificate ({exc.strerror or exc})") from exc
    return Certificate.loads(data, str(path))
