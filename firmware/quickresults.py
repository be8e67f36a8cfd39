"""Signed quick results: the report's figures in QR codes an observer's phone can check.

As VotingWorks VxScan prints signed quick-results codes, the results report
ends with QR codes carrying the totals, the device's identity and an Ed25519
signature by the device key (:attr:`SignatureKind.QUICK_RESULTS`).

Message (bytes)::

    b"PQ" 0x01 | zlib(body) | signature (64 bytes)

``body`` is canonical JSON (sorted keys, no spaces) of the compact figures
(:func:`body_of`); the signature covers ``body`` itself, so the compression is
not part of what is signed. The message is written in Base45 (RFC 9285), whose
alphabet is QR's alphanumeric mode (5.5 bits a character, ~97 % of raw bytes),
and split into parts of at most ``part_chars`` characters, each one QR code::

    PQR1/<index>/<count>/<DIGEST>/<base45 chunk>

``DIGEST`` is the first 8 bytes of SHA-256 of the whole message, in hex: it
groups the parts of one report and catches a wrong or altered part before the
signature is even checked. :func:`reassemble` collects the parts (in any
order, duplicates allowed) and :func:`verify` checks the signature against the
device certificate, then returns the figures as :class:`QuickResults`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.errors import PcosError
from election.reject import RejectReason
from election.rules import PreferenceStatus
from election.tally import ContestTally, Tally, TallyError
from firmware import crypto
from firmware.crypto import Certificate, CertificateRole, CryptoError, SignatureKind
from firmware.reportdata import ReportData, ReportMode

MAGIC = b"PQ\x01"
PREFIX = "PQR1"
SIGNATURE_BYTES = 64
DEFAULT_PART_CHARS = 450  # a version ~13 code at level M: 7 dots a module on 576 dots
MAX_BODY_BYTES = 1 << 20  # refuse to inflate more than 1 MiB (a hostile code)
BODY_FORMAT = 1


class QuickResultsError(PcosError):
    """QR codes that do not make one complete, well-formed, correctly signed result."""


# --- Base45 (RFC 9285) -----------------------------------------------------------------------

B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(B45_ALPHABET)}


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [B45_ALPHABET[c], B45_ALPHABET[d], B45_ALPHABET[e]]
    if len(data) % 2:
        n = data[-1]
        out += [B45_ALPHABET[n % 45], B45_ALPHABET[n // 45]]
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise QuickResultsError(f"base45: character {exc.args[0]!r} is not in the "
                                "alphabet") from None
    if len(values) % 3 == 1:
        raise QuickResultsError("base45: length leaves a single character")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i:i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise QuickResultsError("base45: a triplet exceeds two bytes")
            out += bytes((n >> 8, n & 0xFF))
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise QuickResultsError("base45: a final pair exceeds one byte")
            out.append(n)
    return bytes(out)


# --- the signed message ----------------------------------------------------------------------


def body_of(data: ReportData) -> dict[str, Any]:
    """The compact figures and identity that the device signs."""
    data.check()
    contests = {}
    for c in data.tally.contests:
        entry: dict[str, Any] = {"o": dict(c.options), "n": c.ballots, "b": c.blank,
                                 "x": c.overvote, "w": c.withdrawn}
        if c.has_preferences:
            entry["s"] = [n for _, n in c.preference_statuses]
            entry["p"] = [[party, pos, n] for (party, pos), n in c.preferences]
        contests[c.contest] = entry
    return {
        "f": BODY_FORMAT,
        "e": data.election_id, "eh": data.election_hash, "ph": data.package_hash,
        "sh": data.software_hash, "ah": data.audit_head_hash,
        "d": data.device_id, "st": data.station, "t": data.time, "m": data.mode.value,
        "sc": data.sheets_cast, "mg": data.marginal_sheets,
        "r": {r.value: n for r, n in data.returned if n},
        "c": contests,
    }


def sign_message(data: ReportData, key: Ed25519PrivateKey) -> bytes:
    """The signed quick-results message of ``data`` (see the module docstring)."""
    body = crypto.canonical_json(body_of(data))
    signature = crypto.sign(key, SignatureKind.QUICK_RESULTS, body)
    return MAGIC + zlib.compress(body, 9) + signature


def digest(message: bytes) -> str:
    return hashlib.sha256(message).digest()[:8].hex().upper()


def split(message: bytes, part_chars: int = DEFAULT_PART_CHARS) -> list[str]:
    """The QR texts carrying ``message``, each at most ``part_chars`` characters long
    (header included), the parts as even in size as Base45 triplets allow."""
    if part_chars < 60:
        raise QuickResultsError(f"QR part of {part_chars} characters is too small")
    text = b45encode(message)
    count = 1
    while True:
        header = len(f"{PREFIX}/{count}/{count}/{'0' * 16}/")
        capacity = (part_chars - header) - (part_chars - header) % 3
        needed = max(1, -(-len(text) // capacity))
        if needed <= count:
            break
        count = needed
    step = -(-len(text) // count)
    step += -step % 3  # Base45 triplets stay whole within a part; step <= capacity
    chunks = [text[i:i + step] for i in range(0, len(text), step)] or [""]
    tag = digest(message)
    return [f"{PREFIX}/{i}/{len(chunks)}/{tag}/{chunk}" for i, chunk in enumerate(chunks, 1)]


def encode(data: ReportData, key: Ed25519PrivateKey,
           part_chars: int = DEFAULT_PART_CHARS) -> list[str]:
    """Sign ``data`` and split it into QR texts."""
    return split(sign_message(data, key), part_chars)


@dataclass(frozen=True)
class Part:
    index: int
    count: int
    digest: str
    chunk: str


def parse_part(text: str) -> Part:
    fields = text.strip().split("/", 4)
    if len(fields) != 5 or fields[0] != PREFIX:
        raise QuickResultsError(f"not a quick-results code: {text[:24]!r}")
    _, index, count, tag, chunk = fields
    if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count) <= 999:
        raise QuickResultsError(f"quick-results code with bad index {index}/{count}")
    if len(tag) != 16 or any(c not in "0123456789ABCDEF" for c in tag):
        raise QuickResultsError(f"quick-results code with bad digest {tag!r}")
    return Part(int(index), int(count), tag, chunk)


def is_part(text: str) -> bool:
    return text.startswith(PREFIX + "/")


def reassemble(texts: Iterable[str]) -> bytes:
    """The message from its QR texts (any order; repeats ignored; other QR texts skipped).

    Raises :class:`QuickResultsError` when none is a quick-results code, when
    codes of two reports are mixed, when a part is missing or contradicts a
    repeat of itself, or when the whole does not match its digest.
    """
    parts: dict[int, Part] = {}
    first: Part | None = None
    for text in texts:
        if not is_part(text):
            continue
        part = parse_part(text)
        if first is None:
            first = part
        elif (part.digest, part.count) != (first.digest, first.count):
            raise QuickResultsError(f"codes of two different results ({first.digest} with "
                                    f"{first.count} parts, {part.digest} with {part.count})")
        seen = parts.get(part.index)
        if seen is not None and seen != part:
            raise QuickResultsError(f"two different codes claim part {part.index} of "
                                    f"{part.count}")
        parts[part.index] = part
    if first is None:
        raise QuickResultsError("no quick-results code found")
    missing = [i for i in range(1, first.count + 1) if i not in parts]
    if missing:
        raise QuickResultsError(f"missing quick-results code(s) {missing} of {first.count}")
    message = b45decode("".join(parts[i].chunk for i in range(1, first.count + 1)))
    if digest(message) != first.digest:
        raise QuickResultsError(f"the codes do not match their digest {first.digest}: "
                                "a code was altered")
    return message


# --- reading back ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickResults:
    """What verified codes say: identity and figures (see :class:`ReportData`)."""

    election_id: str
    election_hash: str
    package_hash: str
    software_hash: str
    audit_head_hash: str
    device_id: str
    station: str
    time: str
    mode: ReportMode
    sheets_cast: int
    marginal_sheets: int
    returned: tuple[tuple[RejectReason, int], ...]
    tally: Tally
    signer_key_id: str

    def matches(self, data: ReportData) -> bool:
        """True when these figures and identity are exactly those of ``data``."""
        return (self.election_id, self.election_hash, self.package_hash, self.software_hash,
                self.audit_head_hash, self.device_id, self.station, self.time, self.mode,
                self.sheets_cast, self.marginal_sheets, self.tally) == (
            data.election_id, data.election_hash, data.package_hash, data.software_hash,
            data.audit_head_hash, data.device_id, data.station, data.time, data.mode,
            data.sheets_cast, data.marginal_sheets, data.tally) and self.returned == tuple(
            (r, n) for r, n in sorted(data.returned, key=lambda item: item[0].value) if n)


def _split_message(message: bytes) -> tuple[bytes, bytes]:
    if not message.startswith(MAGIC):
        raise QuickResultsError("quick results: unknown format (bad magic bytes)")
    if len(message) < len(MAGIC) + SIGNATURE_BYTES + 1:
        raise QuickResultsError("quick results: message too short")
    packed, signature = message[len(MAGIC):-SIGNATURE_BYTES], message[-SIGNATURE_BYTES:]
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(packed, MAX_BODY_BYTES)
    except zlib.error as exc:
        raise QuickResultsError(f"quick results: body does not decompress ({exc})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise QuickResultsError("quick results: body too large or truncated")
    return body, signature


def _field(doc: Mapping[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise QuickResultsError(f"quick results: field {key!r} missing or not "
                                f"{kind.__name__}")
    return value


def _tally(election_id: str, doc: Any) -> Tally:
    if not isinstance(doc, dict):
        raise QuickResultsError("quick results: contests must be an object")
    contests = []
    try:
        for cid in sorted(doc):
            c = doc[cid]
            options = tuple(sorted((str(k), v) for k, v in dict(c["o"]).items()))
            statuses: tuple[tuple[PreferenceStatus, int], ...] = ()
            prefs: tuple[tuple[tuple[str, int], int], ...] = ()
            if "s" in c:
                if len(c["s"]) != len(PreferenceStatus):
                    raise QuickResultsError(f"quick results: {cid}: wrong number of "
                                            "preference statuses")
                statuses = tuple(zip(PreferenceStatus, c["s"], strict=True))
                prefs = tuple(((str(p), pos), n) for p, pos, n in c["p"])
            contests.append(ContestTally(cid, options, c["b"], c["x"], c["w"], c["n"],
                                         statuses, prefs))
        tally = Tally(election_id, tuple(contests))
        tally.check()
    except (KeyError, TypeError, ValueError, TallyError) as exc:
        raise QuickResultsError(f"quick results: malformed contests ({exc})") from None
    return tally


def read_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise QuickResultsError("quick results: body is not JSON") from None
    if not isinstance(doc, dict) or doc.get("f") != BODY_FORMAT:
        raise QuickResultsError(f"quick results: body format is not {BODY_FORMAT}")
    return doc


def verify(message: bytes, certificate: Certificate) -> QuickResults:
    """Check the signature by ``certificate``'s key and that the certificate names this
    device and station; return the figures. Raises :class:`QuickResultsError`.

    The certificate itself (its issuer, validity) is checked by the caller, e.g.
    with :func:`verify_chain`.
    """
    body, signature = _split_message(message)
    try:
        crypto.verify(certificate.key, SignatureKind.QUICK_RESULTS, body, signature,
                      "quick results")
    except CryptoError:
        raise QuickResultsError(f"quick results: signature does not verify against the "
                                f"certificate of {certificate.subject}") from None
    doc = read_body(body)
    device = _field(doc, "d", str)
    station = _field(doc, "st", str)
    election_id = _field(doc, "e", str)
    at = _field(doc, "t", str)
    if certificate.role is not CertificateRole.DEVICE:
        raise QuickResultsError(f"quick results: {certificate.subject} has a "
                                f"{certificate.role.value} certificate, not a device one")
    if not certificate.valid_from <= at <= certificate.valid_until:
        raise QuickResultsError(f"quick results: signed at {at}, outside the validity of the "
                                f"certificate of {certificate.subject} ({certificate.valid_from}"
                                f" .. {certificate.valid_until})")
    if certificate.election_id is not None and election_id != certificate.election_id:
        raise QuickResultsError(f"quick results: election {election_id!r}, but the "
                                f"certificate is for {certificate.election_id!r}")
    if device != certificate.subject:
        raise QuickResultsError(f"quick results: signed for device {device!r}, but the "
                                f"certificate is of {certificate.subject!r}")
    if certificate.station is not None and station != certificate.station:
        raise QuickResultsError(f"quick results: station {station!r}, but the certificate "
                                f"binds {certificate.subject} to station {certificate.station!r}")
    try:
        mode = ReportMode(_field(doc, "m", str))
        returned = tuple((RejectReason(r), n) for r, n in sorted(dict(doc["r"]).items()))
    except (ValueError, KeyError, TypeError) as exc:
        raise QuickResultsError(f"quick results: bad mode or return reasons ({exc})") from None
    return QuickResults(
        election_id=election_id, election_hash=_field(doc, "eh", str),
        package_hash=_field(doc, "ph", str), software_hash=_field(doc, "sh", str),
        audit_head_hash=_field(doc, "ah", str), device_id=device, station=station,
        time=at, mode=mode, sheets_cast=_field(doc, "sc", int),
        marginal_sheets=_field(doc, "mg", int), returned=returned,
        tally=_tally(election_id, doc.get("c")), signer_key_id=crypto.key_id(certificate.key))


def verify_chain(device_cert: Certificate, issuers: Iterable[Certificate], at: str | None
                 ) -> None:
    """Check ``device_cert`` up a chain: each certificate signed by the next one's key.

    ``issuers`` is ordered from the device's issuer (the CEC signing certificate)
    to the root; the last one must be self-signed. ``at`` (ISO time) checks every
    validity window. Raises :class:`QuickResultsError`.
    """
    chain = [device_cert, *issuers]
    try:
        for cert, issuer in itertools.pairwise(chain):
            cert.verify(issuer.key, at=at)
        if len(chain) > 1:
            chain[-1].verify(chain[-1].key, at=at)
    except CryptoError as exc:
        raise QuickResultsError(f"certificate chain: {exc}") from None
