"""The messages a device sends to the CEC, and their signatures.

A message (format ``pcos-kg/message`` version 1, canonical JSON, see
:mod:`protocol.encoding`) binds, in its signed body::

    {"format": "pcos-kg/message", "format_version": 1,
     "kind": "results",                       # MessageKind
     "election_hash": "<64 hex>",             # election.hashing.election_hash
     "package_hash": "<64 hex>",              # the signed election package loaded
     "station": "1001", "device_id": "...",
     "device_certificate": {...},             # firmware.crypto.Certificate JSON
     "sequence": 7,                           # per device, 1, 2, 3, ... never reused
     "time": "2021-11-28T20:05:00Z",          # device clock, UTC
     "audit_head": "<64 hex>",                # audit-log head hash when signed
     "content": {...}}                        # per kind, below

The signature is Ed25519 by the device key over
``pcos-kg/1//message//<canonical body>`` (:class:`SignatureKind.MESSAGE`); the
message kind sits inside the signed body, so a status message can never be
passed off as results. The message hash (:attr:`SignedMessage.message_hash`)
is SHA-256 of the canonical body: the identity receipts and the CEC refer to.

Contents:

* ``zero-report``: ``{"tally": <Tally JSON, every count zero>}``;
* ``results``: ``{"tally": <Tally JSON>, "sheets": {"cast", "returned", "marginal"}}``;
* ``dec-protocol``: ``{"pages": [<base64 PNG>...], "figures": <DecFigures JSON>}`` —
  the figures the operator typed twice (:func:`confirm_dec_figures`);
* ``audit-log``: ``{"entries": <base64 blob>, "head": "<64 hex>"}``;
* ``status``: ``{"state": "<text>", "detail": "<text>"}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from election.errors import PcosError
from election.tally import Tally
from firmware.crypto import (
    Certificate,
    CertificateRole,
    CryptoError,
    SignatureKind,
    b64,
    sha256_hex,
    sign,
    unb64,
    verify,
)
from protocol.encoding import check_format, decode, encode, exact_keys, field
from protocol.errors import ProtocolError, Reason

MESSAGE_FORMAT = "pcos-kg/message"
MESSAGE_FORMAT_VERSION = 1
MAX_PAGES = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_TEXT_MAX = 200
_PREFIX = b'{"message":'
_MIDDLE = b',"signature":"'


class MessageKind(StrEnum):
    ZERO_REPORT = "zero-report"
    RESULTS = "results"
    DEC_PROTOCOL = "dec-protocol"
    AUDIT_LOG = "audit-log"
    STATUS = "status"


# --- contents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetCounts:
    """Sheets the device handled: counted, returned to the voter, marginal (sent to review)."""

    cast: int
    returned: int
    marginal: int

    def to_json(self) -> dict[str, Any]:
        return {"cast": self.cast, "marginal": self.marginal, "returned": self.returned}

    @classmethod
    def from_json(cls, doc: Any) -> SheetCounts:
        what = "results sheets"
        if not isinstance(doc, dict):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: expected an object")
        exact_keys(doc, {"cast", "returned", "marginal"}, what)
        values = [field(doc, k, int, what) for k in ("cast", "returned", "marginal")]
        if any(v < 0 for v in values):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: counts must be non-negative")
        return cls(*values)


@dataclass(frozen=True)
class DecFigures:
    """Key figures of the DEC's signed paper protocol, as typed by the operator.

    ``votes``: contest id -> option id -> votes, as written on the protocol.
    """

    voters_on_list: int
    ballots_received: int
    ballots_cast: int
    ballots_spoiled: int
    votes: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]

    @classmethod
    def make(cls, *, voters_on_list: int, ballots_received: int, ballots_cast: int,
             ballots_spoiled: int, votes: dict[str, dict[str, int]]) -> DecFigures:
        return cls(voters_on_list, ballots_received, ballots_cast, ballots_spoiled,
                   tuple(sorted((c, tuple(sorted(o.items()))) for c, o in votes.items())))

    def votes_dict(self) -> dict[str, dict[str, int]]:
        return {c: dict(o) for c, o in self.votes}

    def to_json(self) -> dict[str, Any]:
        return {"ballots_cast": self.ballots_cast, "ballots_received": self.ballots_received,
                "ballots_spoiled": self.ballots_spoiled, "voters_on_list": self.voters_on_list,
                "votes": self.votes_dict()}

    @classmethod
    def from_json(cls, doc: Any) -> DecFigures:
        what = "DEC figures"
        if not isinstance(doc, dict):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: expected an object")
        numbers = ("voters_on_list", "ballots_received", "ballots_cast", "ballots_spoiled")
        exact_keys(doc, {*numbers, "votes"}, what)
        values = {k: field(doc, k, int, what) for k in numbers}
        votes = field(doc, "votes", dict, what)
        parsed: dict[str, dict[str, int]] = {}
        for contest, options in votes.items():
            if not isinstance(options, dict):
                raise ProtocolError(Reason.BAD_CONTENT, f"{what}: votes of {contest} not an object")
            parsed[contest] = {o: field(options, o, int, f"{what} {contest}") for o in options}
        if any(v < 0 for v in values.values()) or any(
                n < 0 for opts in parsed.values() for n in opts.values()):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: figures must be non-negative")
        return cls.make(votes=parsed, **values)


def confirm_dec_figures(first: DecFigures, second: DecFigures) -> DecFigures:
    """The figures, if the operator's two entries agree; else a typed error naming the fields.

    Called on the device before anything is signed or sent: a typing slip must
    never reach the CEC as if it were the protocol.
    """
    a, b = first.to_json(), second.to_json()
    differ = [k for k in sorted(a) if k != "votes" and a[k] != b[k]]
    va, vb = first.votes_dict(), second.votes_dict()
    for contest in sorted(set(va) | set(vb)):
        oa, ob = va.get(contest, {}), vb.get(contest, {})
        differ += [f"{contest}/{o}" for o in sorted(set(oa) | set(ob)) if oa.get(o) != ob.get(o)]
    if differ:
        raise ProtocolError(Reason.DEC_FIGURES_MISMATCH,
                            f"the two entries of the DEC protocol differ at {', '.join(differ)}")
    return first


@dataclass(frozen=True)
class ZeroReport:
    tally: Tally


@dataclass(frozen=True)
class Results:
    tally: Tally
    sheets: SheetCounts


@dataclass(frozen=True)
class DecProtocol:
    pages_png: tuple[bytes, ...]
    figures: DecFigures

    @classmethod
    def from_entries(cls, pages_png: tuple[bytes, ...], first: DecFigures,
                     second: DecFigures) -> DecProtocol:
        """The DEC protocol message content from the scanned pages and the operator's two
        entries; refuses (``dec-figures-mismatch``) unless the entries agree, and refuses
        pages that are not PNG images, before anything is signed."""
        if not 1 <= len(pages_png) <= MAX_PAGES or any(
                not p.startswith(PNG_SIGNATURE) for p in pages_png):
            raise ProtocolError(Reason.BAD_CONTENT, f"1..{MAX_PAGES} PNG pages expected")
        return cls(tuple(pages_png), confirm_dec_figures(first, second))


@dataclass(frozen=True)
class AuditLog:
    entries: bytes
    head: str


@dataclass(frozen=True)
class Status:
    state: str
    detail: str = ""


Content = ZeroReport | Results | DecProtocol | AuditLog | Status
_KIND_OF: dict[type, MessageKind] = {
    ZeroReport: MessageKind.ZERO_REPORT, Results: MessageKind.RESULTS,
    DecProtocol: MessageKind.DEC_PROTOCOL, AuditLog: MessageKind.AUDIT_LOG,
    Status: MessageKind.STATUS,
}


def kind_of(content: Content) -> MessageKind:
    return _KIND_OF[type(content)]


def content_to_json(content: Content) -> dict[str, Any]:
    if isinstance(content, ZeroReport):
        return {"tally": content.tally.to_json()}
    if isinstance(content, Results):
        return {"sheets": content.sheets.to_json(), "tally": content.tally.to_json()}
    if isinstance(content, DecProtocol):
        return {"figures": content.figures.to_json(), "pages": [b64(p) for p in content.pages_png]}
    if isinstance(content, AuditLog):
        return {"entries": b64(content.entries), "head": content.head}
    return {"detail": content.detail, "state": content.state}


def _tally(doc: Any, what: str) -> Tally:
    try:
        return Tally.from_json(doc)
    except PcosError as exc:
        raise ProtocolError(Reason.BAD_CONTENT, f"{what}: {exc}") from None


def _text(doc: dict[str, Any], key: str, what: str) -> str:
    value = field(doc, key, str, what)
    if len(value) > _TEXT_MAX:
        raise ProtocolError(Reason.BAD_CONTENT, f"{what}: {key} longer than {_TEXT_MAX}")
    return str(value)


def content_from_json(kind: MessageKind, doc: Any) -> Content:
    """Typed content of a ``kind`` message; a misfit raises BAD_CONTENT / MALFORMED."""
    what = f"{kind.value} content"
    if not isinstance(doc, dict):
        raise ProtocolError(Reason.BAD_CONTENT, f"{what}: expected an object")
    if kind is MessageKind.ZERO_REPORT:
        exact_keys(doc, {"tally"}, what)
        tally = _tally(doc["tally"], what)
        if any(c.ballots for c in tally.contests):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: a zero report must count nothing")
        return ZeroReport(tally)
    if kind is MessageKind.RESULTS:
        exact_keys(doc, {"tally", "sheets"}, what)
        return Results(_tally(doc["tally"], what), SheetCounts.from_json(doc["sheets"]))
    if kind is MessageKind.DEC_PROTOCOL:
        exact_keys(doc, {"pages", "figures"}, what)
        pages = field(doc, "pages", list, what)
        if not 1 <= len(pages) <= MAX_PAGES:
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: 1..{MAX_PAGES} pages expected")
        try:
            images = tuple(unb64(p, "page") for p in pages)
        except CryptoError as exc:
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: {exc}") from None
        if any(not im.startswith(PNG_SIGNATURE) for im in images):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: every page must be a PNG image")
        return DecProtocol(images, DecFigures.from_json(doc["figures"]))
    if kind is MessageKind.AUDIT_LOG:
        exact_keys(doc, {"entries", "head"}, what)
        head = field(doc, "head", str, what)
        if not _HEX64.match(head):
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: head must be 64 hex digits")
        try:
            entries = unb64(doc["entries"], "audit entries")
        except CryptoError as exc:
            raise ProtocolError(Reason.BAD_CONTENT, f"{what}: {exc}") from None
        return AuditLog(entries, head)
    exact_keys(doc, {"state", "detail"}, what)
    return Status(_text(doc, "state", what), _text(doc, "detail", what))


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One unsigned message. ``content`` is typed; :meth:`body` is what gets signed."""

    election_hash: str
    package_hash: str
    station: str
    device_id: str
    certificate: Certificate
    sequence: int
    time: str
    audit_head: str
    content: Content

    @property
    def kind(self) -> MessageKind:
        return kind_of(self.content)

    def body(self) -> dict[str, Any]:
        return {
            "audit_head": self.audit_head,
            "content": content_to_json(self.content),
            "device_certificate": self.certificate.to_json(),
            "device_id": self.device_id,
            "election_hash": self.election_hash,
            "format": MESSAGE_FORMAT,
            "format_version": MESSAGE_FORMAT_VERSION,
            "kind": self.kind.value,
            "package_hash": self.package_hash,
            "sequence": self.sequence,
            "station": self.station,
            "time": self.time,
        }

    def signed_bytes(self) -> bytes:
        return encode(self.body())

    def sign(self, key: Ed25519PrivateKey) -> SignedMessage:
        body = self.signed_bytes()
        return SignedMessage(self, body, sign(key, SignatureKind.MESSAGE, body))


_BODY_KEYS = {"audit_head", "content", "device_certificate", "device_id", "election_hash",
              "format", "format_version", "kind", "package_hash", "sequence", "station", "time"}


def message_from_json(doc: Any) -> Message:
    """Parse and check a message body (not its signature)."""
    what = "message"
    doc = check_format(doc, MESSAGE_FORMAT, MESSAGE_FORMAT_VERSION, what)
    exact_keys(doc, _BODY_KEYS, what)
    try:
        kind = MessageKind(field(doc, "kind", str, what))
    except ValueError:
        raise ProtocolError(Reason.MALFORMED, f"{what}: unknown kind {doc['kind']!r}") from None
    for key in ("election_hash", "package_hash", "audit_head"):
        if not _HEX64.match(field(doc, key, str, what)):
            raise ProtocolError(Reason.MALFORMED, f"{what}: {key} must be 64 hex digits")
    if not _TIME.match(field(doc, "time", str, what)):
        raise ProtocolError(Reason.MALFORMED, f"{what}: time must be YYYY-MM-DDTHH:MM:SSZ")
    sequence = field(doc, "sequence", int, what)
    if sequence < 1:
        raise ProtocolError(Reason.MALFORMED, f"{what}: sequence must be at least 1")
    station = _text(doc, "station", what)
    device_id = _text(doc, "device_id", what)
    try:
        cert = Certificate.from_json(doc["device_certificate"])
    except CryptoError as exc:
        raise ProtocolError(Reason.BAD_CERTIFICATE, f"{what}: {exc}") from None
    return Message(doc["election_hash"], doc["package_hash"], station, device_id, cert,
                   sequence, doc["time"], doc["audit_head"],
                   content_from_json(kind, doc["content"]))


@dataclass(frozen=True)
class SignedMessage:
    """A message, its canonical body bytes and the device's signature over them."""

    message: Message
    body: bytes
    signature: bytes

    @property
    def message_hash(self) -> str:
        return sha256_hex(self.body)

    def dumps(self) -> bytes:
        """Wire form: ``{"message": <body>, "signature": <base64>}`` canonical JSON."""
        # The canonical encoding of an object is its members' encodings in key order,
        # so the body bytes can be spliced in without re-encoding them.
        return _PREFIX + self.body + _MIDDLE + b64(self.signature).encode("ascii") + b'"}'

    @classmethod
    def loads(cls, data: bytes) -> SignedMessage:
        what = "signed message"
        doc = decode(data, what)
        if not isinstance(doc, dict):
            raise ProtocolError(Reason.MALFORMED, f"{what}: expected an object")
        exact_keys(doc, {"message", "signature"}, what)
        try:
            signature = unb64(doc["signature"], "message signature")
        except CryptoError as exc:
            raise ProtocolError(Reason.MALFORMED, f"{what}: {exc}") from None
        message = message_from_json(doc["message"])
        # ``data`` is canonical, so the body is exactly the bytes between the two keys.
        body = bytes(data[len(_PREFIX):data.rindex(_MIDDLE)])
        return cls(message, body, signature)

    def verify(self, cec_signing_key: Ed25519PublicKey, at: str | None = None, *,
               trusted: Certificate | None = None) -> None:
        """Check the certificate (CEC-signed, a device's, for this device and station, or
        for no station: a TEC spare) and the device's signature. Each failure raises its
        own :class:`Reason`.

        ``trusted``: a certificate whose CEC signature the caller has already verified
        (the CEC's registry); when the message carries exactly it, only its validity
        window is checked here, not its signature again.
        """
        m, cert = self.message, self.message.certificate
        try:
            if trusted is not None and cert == trusted:
                if at is not None and not cert.valid_from <= at <= cert.valid_until:
                    raise CryptoError(f"certificate of {cert.subject}: not valid at {at}")
            else:
                cert.verify(cec_signing_key, at)
        except CryptoError as exc:
            raise ProtocolError(Reason.BAD_CERTIFICATE, str(exc)) from None
        if cert.role is not CertificateRole.DEVICE or cert.subject != m.device_id:
            raise ProtocolError(Reason.BAD_CERTIFICATE, f"certificate is for {cert.role.value} "
                                f"{cert.subject!r}, not device {m.device_id!r}")
        # A certificate naming no station is a TEC spare's: the CEC checks that the station
        # it claims is one of its TEC's (protocol.cec.registry.check_spare_station).
        if cert.station is not None and cert.station != m.station:
            raise ProtocolError(Reason.WRONG_STATION, f"device {m.device_id} is certified for "
                                f"station {cert.station}, message claims {m.station}")
        try:
            verify(cert.key, SignatureKind.MESSAGE, self.body, self.signature,
                   f"message {m.device_id}#{m.sequence}")
        except CryptoError as exc:
            raise ProtocolError(Reason.BAD_SIGNATURE, str(exc)) from None
