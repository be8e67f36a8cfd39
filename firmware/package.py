"""The signed election package: one file a CEC technician builds and every scanner loads.

Container (``pcos-kg/package`` version 1), a strict length-prefixed format with exactly
one encoding for a given content, so that the SHA-256 of the file (the *package hash*,
printed on every report) identifies it::

    magic      8 bytes   b"PCOSPKG1"
    count      u16 BE    number of members, 1..16
    member     repeated  u8 name length (1..64), ASCII name, u32 BE size, bytes
    (nothing after the last member; names strictly ascending; whole file <= 64 MiB)

Members:

=====================  =========================================================
``election.json``      the election definition (``election.definition``)
``stations.json``      station assignments: station -> device ids, TEC -> spares
``thresholds.json``    reader thresholds (``vision.config.Thresholds``)
``cec-hpke.pub``       the CEC's X25519 public key for result encryption (32 bytes)
``cec-signing.cert``   the CEC signing certificate (role cec-signing, by the root)
``calibration.bin``    optional: a default calibration profile blob (opaque here)
``manifest.json``      version, election identity, SHA-256 and size of every member
``manifest.sig``       Ed25519 signature of ``manifest.json`` (64 bytes, kind PACKAGE)
=====================  =========================================================

The manifest is signed as raw bytes; the signature's key is certified by the CEC
root the device trusts. Loading checks, in order, and refuses with a typed
:class:`PackageRefusal` (see :class:`PackageError`):

1. the container parses (else ``malformed``);
2. the signing certificate chains to the trusted root (``wrong-key``; a corrupted
   certificate is ``tampered``; outside its validity ``certificate-expired``);
3. the manifest signature verifies under that certificate (``tampered``; or
   ``wrong-key`` when it verifiably comes from another key);
4. every member is listed with its hash and size, none missing, none extra
   (``tampered``);
5. the members parse and agree with the manifest: election hash and id
   (``wrong-election``), assignments, thresholds, key (``malformed``);
6. on the device (:func:`load_package`): the expected election hash
   (``wrong-election``), the version against the installed one (``older-version``),
   the device's assignment (``not-assigned`` / ``another-station``) and its
   certificate (``wrong-key``, ``another-station``, ``certificate-expired``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from election.definition import election_json_text, load_election
from election.errors import PcosError
from election.hashing import definition_hash, election_hash
from election.model import Election, Station
from firmware import crypto
from firmware.crypto import Certificate, CertificateRole, CryptoError, SignatureKind
from firmware.provision import check_device_id, check_root_certificate, instant
from vision.config import Thresholds

MAGIC = b"PCOSPKG1"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 16
MAX_NAME_BYTES = 64

MANIFEST_FORMAT = "pcos-kg/package-manifest"
ASSIGNMENTS_FORMAT = "pcos-kg/station-assignments"
FORMAT_VERSION = 1

ELECTION = "election.json"
STATIONS = "stations.json"
THRESHOLDS = "thresholds.json"
HPKE_PUBLIC = "cec-hpke.pub"
SIGNING_CERT = "cec-signing.cert"
CALIBRATION = "calibration.bin"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"

REQUIRED_MEMBERS = frozenset({ELECTION, STATIONS, THRESHOLDS, HPKE_PUBLIC, SIGNING_CERT})
OPTIONAL_MEMBERS = frozenset({CALIBRATION})
SIGNED_MEMBERS = REQUIRED_MEMBERS | OPTIONAL_MEMBERS

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_THRESHOLD_KEYS = ("definite", "marginal", "faint", "ring")


class PackageRefusal(StrEnum):
    """Why a package is refused. Each maps to one operator message on the device."""

    MALFORMED = "malformed"  # not a package container, or signed contents that do not parse
    TAMPERED = "tampered"  # contents differ from what the CEC signed; member missing or extra
    WRONG_KEY = "wrong-key"  # signed by a key the trusted CEC root did not certify
    CERTIFICATE_EXPIRED = "certificate-expired"  # a certificate is outside its validity
    WRONG_ELECTION = "wrong-election"  # election hash or id differs from what is expected
    NOT_ASSIGNED = "not-assigned"  # this device is not in the package's assignments
    ANOTHER_STATION = "another-station"  # the device belongs to another station
    OLDER_VERSION = "older-version"  # older than (or conflicting with) the installed one


class PackageError(PcosError):
    """A package was refused; ``reason`` says why, the message says what exactly."""

    def __init__(self, reason: PackageRefusal, detail: str) -> None:
        super().__init__(f"election package refused ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


def _refuse(reason: PackageRefusal, detail: str) -> NoReturn:
    raise PackageError(reason, detail)


# --- container --------------------------------------------------------------------------------


def write_container(members: Mapping[str, bytes]) -> bytes:
    """Encode members in the one canonical container encoding (names sorted)."""
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise PcosError(f"a package holds 1..{MAX_MEMBERS} members, not {len(members)}")
    out = [MAGIC, struct.pack(">H", len(members))]
    for name in sorted(members):
        raw = name.encode("ascii")
        if not _NAME.match(name) or len(raw) > MAX_NAME_BYTES:
            raise PcosError(f"bad package member name {name!r}")
        out += [struct.pack(">B", len(raw)), raw, struct.pack(">I", len(members[name])),
                members[name]]
    data = b"".join(out)
    if len(data) > MAX_PACKAGE_BYTES:
        raise PcosError(f"package would be {len(data)} bytes; the limit is {MAX_PACKAGE_BYTES}")
    return data


def read_container(data: bytes) -> dict[str, bytes]:
    """Decode a container, refusing anything but its one canonical encoding (``malformed``)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        _refuse(PackageRefusal.MALFORMED, "expected the package file's bytes")
    data = bytes(data)
    if len(data) > MAX_PACKAGE_BYTES:
        _refuse(PackageRefusal.MALFORMED, f"{len(data)} bytes; the limit is {MAX_PACKAGE_BYTES}")
    if data[:len(MAGIC)] != MAGIC:
        _refuse(PackageRefusal.MALFORMED, "not a pcos-kg election package (bad magic)")
    pos = len(MAGIC)

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            _refuse(PackageRefusal.MALFORMED, f"truncated at byte {len(data)} (reading {what})")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    (count,) = struct.unpack(">H", take(2, "member count"))
    if not 1 <= count <= MAX_MEMBERS:
        _refuse(PackageRefusal.MALFORMED, f"member count {count} not in 1..{MAX_MEMBERS}")
    members: dict[str, bytes] = {}
    previous = ""
    for i in range(count):
        (name_len,) = struct.unpack(">B", take(1, f"member {i} name length"))
        raw_name = take(name_len, f"member {i} name")
        try:
            name = raw_name.decode("ascii")
        except UnicodeDecodeError:
            _refuse(PackageRefusal.MALFORMED, f"member {i}: name is not ASCII")
        if not _NAME.match(name):
            _refuse(PackageRefusal.MALFORMED, f"member {i}: bad name {name!r}")
        if name <= previous:
            _refuse(PackageRefusal.MALFORMED, f"member {name!r}: names must be unique and "
                    "in ascending order")
        (size,) = struct.unpack(">I", take(4, f"member {name!r} size"))
        members[name] = take(size, f"member {name!r}")
        previous = name
    if pos != len(data):
        _refuse(PackageRefusal.MALFORMED, f"{len(data) - pos} unexpected bytes after the "
                "last member")
    return members


# --- strict JSON --------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def strict_json(data: bytes, what: str, reason: PackageRefusal) -> Any:
    """Parse UTF-8 JSON: no duplicate keys, no NaN/Infinity. Errors refuse with ``reason``."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _refuse(reason, f"{what}: not valid JSON ({str(exc).splitlines()[0][:80]})")


def _object(doc: Any, what: str, keys: set[str],
            optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(doc, dict):
        _refuse(PackageRefusal.MALFORMED, f"{what}: expected a JSON object")
    missing = keys - set(doc)
    extra = set(doc) - keys - optional
    if missing or extra:
        _refuse(PackageRefusal.MALFORMED, f"{what}: missing keys {sorted(missing)}, "
                f"unknown keys {sorted(extra)}")
    return doc


# --- station assignments ------------------------------------------------------------------------


@dataclass(frozen=True)
class StationAssignments:
    """Which devices serve which station, and which spares wait at which TEC.

    ``stations``: station number -> device ids (normally two). ``spares``: TEC id ->
    device ids of spares that may replace a device at any station of that TEC. A
    device id appears at most once in all.
    """

    stations: Mapping[str, tuple[str, ...]]
    spares: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stations", MappingProxyType(dict(self.stations)))
        object.__setattr__(self, "spares", MappingProxyType(dict(self.spares)))
        seen: set[str] = set()
        for group in (*self.stations.values(), *self.spares.values()):
            for device in group:
                check_device_id(device)
                if device in seen:
                    raise PcosError(f"device {device!r} is assigned twice")
                seen.add(device)

    @classmethod
    def per_station(cls, election: Election, devices_per_station: int, *,
                    stations: tuple[str, ...] | None = None,
                    spares_per_tec: int = 0) -> StationAssignments:
        """Generated ids: ``<station>-D1``.. per station, ``<tec>-S1``.. spares per TEC."""
        if not 1 <= devices_per_station <= 16 or not 0 <= spares_per_tec <= 64:
            raise PcosError("devices per station must be 1..16 and spares per TEC 0..64")
        numbers = stations if stations is not None else tuple(s.number for s in election.stations)
        for number in numbers:
            _station_or_fail(election, number)
        return cls(
            stations={n: tuple(station_device_id(n, k) for k in range(1, devices_per_station + 1))
                      for n in numbers},
            spares={t.id: tuple(spare_device_id(t.id, k) for k in range(1, spares_per_tec + 1))
                    for t in election.tecs} if spares_per_tec else {},
        )

    def station_of(self, device_id: str) -> str | None:
        for number, devices in self.stations.items():
            if device_id in devices:
                return number
        return None

    def tec_of_spare(self, device_id: str) -> str | None:
        for tec, devices in self.spares.items():
            if device_id in devices:
                return tec
        return None

    def check(self, election: Election) -> None:
        """Every station and TEC named exists in ``election`` (PcosError otherwise)."""
        for number in self.stations:
            _station_or_fail(election, number)
        tecs = {t.id for t in election.tecs}
        for tec in self.spares:
            if tec not in tecs:
                raise PcosError(f"spares at unknown TEC {tec!r}")

    def to_json(self) -> dict[str, Any]:
        return {"format": ASSIGNMENTS_FORMAT, "format_version": FORMAT_VERSION,
                "stations": {k: list(v) for k, v in sorted(self.stations.items())},
                "spares": {k: list(v) for k, v in sorted(self.spares.items())}}

    @classmethod
    def from_json(cls, doc: Any, what: str = "assignments") -> StationAssignments:
        """Inverse of :meth:`to_json`; raises PcosError naming the bad field."""
        if not isinstance(doc, dict) or doc.get("format") != ASSIGNMENTS_FORMAT or doc.get(
                "format_version") != FORMAT_VERSION:
            raise PcosError(f"{what}: not a {ASSIGNMENTS_FORMAT} version {FORMAT_VERSION}")
        if set(doc) - {"format", "format_version", "stations", "spares"} or "stations" not in doc:
            raise PcosError(f"{what}: expected keys format, format_version, stations, spares")
        groups = []
        for key in ("stations", "spares"):
            value = doc.get(key, {})
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, list) and v
                    and all(isinstance(d, str) for d in v) for k, v in value.items()):
                raise PcosError(f"{what}.{key}: expected an object of non-empty lists of "
                                "device ids")
            groups.append({k: tuple(v) for k, v in value.items()})
        if not groups[0]:
            raise PcosError(f"{what}.stations: no station is assigned")
        try:
            return cls(stations=groups[0], spares=groups[1])
        except PcosError as exc:
            raise PcosError(f"{what}: {exc}") from None


def station_device_id(station: str, n: int) -> str:
    """The one name of a station's ``n``-th device (1, 2, ...): ``<station>-D<n>``. The
    package assigns it, the device certificate names it, the device prints it on its
    reports and signs its messages to the CEC with it, and the CEC registers it."""
    return f"{station}-D{n}"


def spare_device_id(tec: str, n: int) -> str:
    """The name of a TEC's ``n``-th spare: ``<tec>-S<n>``."""
    return f"{tec}-S{n}"


def _station_or_fail(election: Election, number: str) -> Station:
    try:
        return election.station(number)
    except KeyError:
        raise PcosError(f"station {number!r} is not in election "
                        f"{election.election_id!r}") from None


# --- building -----------------------------------------------------------------------------------


def thresholds_json(thresholds: Thresholds) -> dict[str, float]:
    return {k: float(getattr(thresholds, k)) for k in _THRESHOLD_KEYS}


def thresholds_from_json(doc: Any, what: str = "thresholds") -> Thresholds:
    if not isinstance(doc, dict) or set(doc) != set(_THRESHOLD_KEYS):
        raise PcosError(f"{what}: expected exactly the keys {list(_THRESHOLD_KEYS)}")
    values = {}
    for key in _THRESHOLD_KEYS:
        v = doc[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PcosError(f"{what}.{key}: expected a number")
        values[key] = float(v)
    try:
        return Thresholds(**values)
    except ValueError as exc:
        raise PcosError(f"{what}: {exc}") from None


def build_package(*, election: Election, assignments: StationAssignments,
                  thresholds: Thresholds, hpke_public_key: bytes,
                  signing_key: Ed25519PrivateKey, signing_certificate: Certificate,
                  version: int, created: str, calibration: bytes | None = None) -> bytes:
    """The package file's bytes, signed with the CEC signing key.

    Deterministic: the same inputs give the same bytes (Ed25519 signatures are).
    Raises :class:`PcosError` on inconsistent inputs (a station not in the election,
    a key that is not the certificate's, a bad version).
    """
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise PcosError(f"package version must be an integer 1..2^31-1, not {version!r}")
    if len(hpke_public_key) != 32:
        raise PcosError("the CEC result key must be a raw 32-byte X25519 public key")
    if signing_certificate.role is not CertificateRole.CEC_SIGNING:
        raise PcosError("the signing certificate must have role cec-signing")
    if signing_certificate.public_key != crypto.public_bytes(signing_key):
        raise PcosError("the signing key is not the one its certificate certifies")
    if (signing_certificate.election_id is not None
            and signing_certificate.election_id != election.election_id):
        raise PcosError(f"the signing certificate is for election "
                        f"{signing_certificate.election_id!r}, not {election.election_id!r}")
    assignments.check(election)
    election_bytes = election_json_text(election).encode("utf-8")
    try:
        reloaded = load_election(election_bytes)
    except PcosError as exc:
        raise PcosError(f"the election definition does not load back: {exc}") from None
    if definition_hash(reloaded) != definition_hash(election):
        raise PcosError("the election definition does not load back to the same definition")
    members = {
        ELECTION: election_bytes,
        STATIONS: crypto.canonical_json(assignments.to_json()),
        THRESHOLDS: crypto.canonical_json(thresholds_json(thresholds)),
        HPKE_PUBLIC: bytes(hpke_public_key),
        SIGNING_CERT: signing_certificate.dumps(),
    }
    if calibration is not None:
        members[CALIBRATION] = bytes(calibration)
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": version,
        "election_id": election.election_id,
        "election_hash": election_hash(election),
        "definition_hash": definition_hash(election),
        "created": instant(created),
        "signer_key_id": crypto.key_id(signing_key),
        "members": {name: {"sha256": crypto.sha256_hex(data), "size": len(data)}
                    for name, data in sorted(members.items())},
    }
    manifest_bytes = crypto.canonical_json(manifest)
    members[MANIFEST] = manifest_bytes
    members[SIGNATURE] = signature_member(signing_key, manifest_bytes)
    return write_container(members)


# --- verifying ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    package_version: int
    election_id: str
    election_hash: str
    definition_hash: str
    created: str
    signer_key_id: str
    members: Mapping[str, tuple[str, int]]  # name -> (sha256 hex, size)


def _manifest(doc: Any) -> Manifest:
    d = _object(doc, MANIFEST, {"format", "format_version", "package_version", "election_id",
                                "election_hash", "definition_hash", "created",
                                "signer_key_id", "members"})
    if d["format"] != MANIFEST_FORMAT or d["format_version"] != FORMAT_VERSION:
        _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: not a {MANIFEST_FORMAT} version "
                f"{FORMAT_VERSION}")
    version = d["package_version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: bad package_version {version!r}")
    for key in ("election_id", "signer_key_id", "created"):
        if not isinstance(d[key], str) or not d[key]:
            _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: {key} must be text")
    for key in ("election_hash", "definition_hash"):
        if not isinstance(d[key], str) or not _HEX64.match(d[key]):
            _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: {key} must be 64 hex digits")
    if not isinstance(d["members"], dict):
        _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: members must be an object")
    members: dict[str, tuple[str, int]] = {}
    for name, entry in d["members"].items():
        e = _object(entry, f"{MANIFEST}: member {name!r}", {"sha256", "size"})
        if name not in SIGNED_MEMBERS:
            _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: unknown member {name!r}")
        if (not isinstance(e["sha256"], str) or not _HEX64.match(e["sha256"])
                or isinstance(e["size"], bool) or not isinstance(e["size"], int)):
            _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: member {name!r}: bad sha256/size")
        members[name] = (e["sha256"], e["size"])
    missing = REQUIRED_MEMBERS - set(members)
    if missing:
        _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: does not list {sorted(missing)}")
    return Manifest(package_version=version, election_id=d["election_id"],
                    election_hash=d["election_hash"], definition_hash=d["definition_hash"],
                    created=d["created"], signer_key_id=d["signer_key_id"],
                    members=MappingProxyType(members))


@dataclass(frozen=True)
class PackageContents:
    """A package whose signature, hashes and contents were all checked (not device-specific)."""

    version: int
    created: str
    election: Election
    election_hash: str
    definition_hash: str
    assignments: StationAssignments
    thresholds: Thresholds
    cec_hpke_public_key: bytes  # raw X25519 public key (32 bytes)
    cec_signing_certificate: Certificate
    calibration: bytes | None
    package_hash: str  # SHA-256 of the whole file
    manifest: Manifest


@dataclass(frozen=True)
class VerifiedPackage:
    """A package this device may run: its contents, and this device's station."""

    contents: PackageContents
    device_id: str
    station: Station
    spare: bool  # True when a TEC spare stands in at ``station``

    @property
    def election(self) -> Election:
        return self.contents.election

    @property
    def thresholds(self) -> Thresholds:
        return self.contents.thresholds

    @property
    def version(self) -> int:
        return self.contents.version

    @property
    def package_hash(self) -> str:
        return self.contents.package_hash

    @property
    def election_hash(self) -> str:
        return self.contents.election_hash

    @property
    def cec_hpke_public_key(self) -> bytes:
        return self.contents.cec_hpke_public_key

    @property
    def cec_signing_certificate(self) -> Certificate:
        return self.contents.cec_signing_certificate

    @property
    def calibration(self) -> bytes | None:
        return self.contents.calibration


TrustAnchor = Ed25519PublicKey | Certificate


def trusted_root_key(root: TrustAnchor) -> Ed25519PublicKey:
    """The root public key: given directly, or as a self-signed ``cec-root`` certificate."""
    if isinstance(root, Certificate):
        check_root_certificate(root)
        return root.key
    if not isinstance(root, Ed25519PublicKey):
        raise PcosError("trust anchor must be an Ed25519 public key or a cec-root certificate")
    return root


def verify_signing_certificate(cert_bytes: bytes, root: Ed25519PublicKey,
                               now: str) -> Certificate:
    """Parse a cec-signing certificate and check it up to ``root`` (refusals as PackageError)."""
    try:
        cert = Certificate.loads(cert_bytes, SIGNING_CERT)
    except CryptoError as exc:
        _refuse(PackageRefusal.TAMPERED, str(exc))
    if cert.issuer_key_id != crypto.key_id(root):
        _refuse(PackageRefusal.WRONG_KEY, f"signing certificate issued by key "
                f"{cert.issuer_key_id}, not by the trusted CEC root {crypto.key_id(root)}")
    try:
        crypto.verify(root, SignatureKind.CERTIFICATE, cert.signed_bytes(), cert.signature,
                      "signing certificate")
    except CryptoError as exc:
        _refuse(PackageRefusal.TAMPERED, str(exc))
    if cert.role is not CertificateRole.CEC_SIGNING:
        _refuse(PackageRefusal.WRONG_KEY, f"certificate role {cert.role.value}, "
                "expected cec-signing")
    if not cert.valid_from <= now <= cert.valid_until:
        _refuse(PackageRefusal.CERTIFICATE_EXPIRED, f"signing certificate not valid at {now} "
                f"({cert.valid_from} .. {cert.valid_until})")
    return cert


def verify_package(data: bytes, *, root: TrustAnchor, now: str | dt.datetime) -> PackageContents:
    """Check a package up to the CEC root and parse it; raise :class:`PackageError` if not.

    ``now`` is a UTC instant (``YYYY-MM-DDTHH:MM:SSZ`` or an aware datetime) at which
    the signing certificate must be valid.
    """
    root_key = trusted_root_key(root)
    now = instant(now)
    members = read_container(data)
    for name in (SIGNING_CERT, MANIFEST, SIGNATURE):
        if name not in members:
            _refuse(PackageRefusal.TAMPERED, f"member {name!r} is missing")
    cert = verify_signing_certificate(members[SIGNING_CERT], root_key, now)

    manifest_bytes = members[MANIFEST]
    _check_manifest_signature(manifest_bytes, members[SIGNATURE], cert)
    manifest = _manifest(strict_json(manifest_bytes, MANIFEST, PackageRefusal.MALFORMED))
    if manifest.signer_key_id != crypto.key_id(cert.key):
        _refuse(PackageRefusal.MALFORMED, "manifest names another signer than the one "
                "that signed it")

    present = set(members) - {MANIFEST, SIGNATURE}
    for name in sorted(present - set(manifest.members)):
        _refuse(PackageRefusal.TAMPERED, f"member {name!r} is not in the signed manifest")
    for name in sorted(set(manifest.members) - present):
        _refuse(PackageRefusal.TAMPERED, f"member {name!r} is missing")
    for name, (digest, size) in sorted(manifest.members.items()):
        body = members[name]
        if len(body) != size or crypto.sha256_hex(body) != digest:
            _refuse(PackageRefusal.TAMPERED, f"member {name!r} does not match its signed hash")

    election = _election(members[ELECTION], manifest)
    if cert.election_id is not None and cert.election_id != election.election_id:
        _refuse(PackageRefusal.WRONG_ELECTION, f"signing certificate is for election "
                f"{cert.election_id!r}, not {election.election_id!r}")
    try:
        assignments = StationAssignments.from_json(
            strict_json(members[STATIONS], STATIONS, PackageRefusal.MALFORMED), STATIONS)
        assignments.check(election)
        thresholds = thresholds_from_json(
            strict_json(members[THRESHOLDS], THRESHOLDS, PackageRefusal.MALFORMED), THRESHOLDS)
    except PackageError:
        raise
    except PcosError as exc:
        _refuse(PackageRefusal.MALFORMED, str(exc))
    if len(members[HPKE_PUBLIC]) != 32:
        _refuse(PackageRefusal.MALFORMED, f"{HPKE_PUBLIC}: expected a raw 32-byte X25519 key")
    try:
        instant(manifest.created)
    except CryptoError as exc:
        _refuse(PackageRefusal.MALFORMED, f"{MANIFEST}: created: {exc}")
    return PackageContents(
        version=manifest.package_version, created=manifest.created, election=election,
        election_hash=manifest.election_hash, definition_hash=manifest.definition_hash,
        assignments=assignments, thresholds=thresholds,
        cec_hpke_public_key=members[HPKE_PUBLIC], cec_signing_certificate=cert,
        calibration=members.get(CALIBRATION), package_hash=hashlib.sha256(data).hexdigest(),
        manifest=manifest)


def signature_member(key: Ed25519PrivateKey, manifest_bytes: bytes) -> bytes:
    """``manifest.sig``: the signer's raw public key (32 bytes), then the signature (64)."""
    return crypto.public_bytes(key) + crypto.sign(key, SignatureKind.PACKAGE, manifest_bytes)


def _check_manifest_signature(manifest_bytes: bytes, member: bytes, cert: Certificate) -> None:
    """``tampered`` unless the certified key signed the manifest; ``wrong-key`` when
    another key verifiably did (a genuine signature, by a key the root did not certify)."""
    if len(member) != 32 + 64:
        _refuse(PackageRefusal.TAMPERED, f"{SIGNATURE}: expected 96 bytes, got {len(member)}")
    signer, signature = member[:32], member[32:]
    if signer == cert.public_key:
        try:
            crypto.verify(cert.key, SignatureKind.PACKAGE, manifest_bytes, signature, MANIFEST)
        except CryptoError:
            _refuse(PackageRefusal.TAMPERED, "the manifest signature does not verify")
        return
    try:
        crypto.verify(crypto.public_key_from_bytes(signer), SignatureKind.PACKAGE,
                      manifest_bytes, signature, MANIFEST)
    except (CryptoError, ValueError):
        _refuse(PackageRefusal.TAMPERED, "the manifest signature does not verify")
    _refuse(PackageRefusal.WRONG_KEY, f"manifest signed by key {crypto.sha256_hex(signer)[:16]}"
            f", not by the certified CEC signing key {crypto.key_id(cert.key)}")


def _election(data: bytes, manifest: Manifest) -> Election:
    try:
        election = load_election(data)
    except PcosError as exc:
        _refuse(PackageRefusal.MALFORMED, f"{ELECTION}: {exc}")
    if election.election_id != manifest.election_id:
        _refuse(PackageRefusal.WRONG_ELECTION, f"definition is election "
                f"{election.election_id!r}, manifest says {manifest.election_id!r}")
    if election_hash(election) != manifest.election_hash:
        _refuse(PackageRefusal.WRONG_ELECTION, f"election hash {election_hash(election)[:16]}"
                f"... does not match the manifest's {manifest.election_hash[:16]}...")
    if definition_hash(election) != manifest.definition_hash:
        _refuse(PackageRefusal.WRONG_ELECTION, "definition hash does not match the manifest")
    return election


def load_package(data: bytes, *, root: TrustAnchor, device_id: str, now: str | dt.datetime,
                 installed_version: int | None = None,
                 installed_package_hash: str | None = None,
                 device_certificate: Certificate | None = None,
                 station: str | None = None,
                 expected_election_hash: str | None = None) -> VerifiedPackage:
    """What a device runs: :func:`verify_package`, then the device's own checks.

    * ``installed_version`` / ``installed_package_hash``: the package already
      installed; an older version is refused, and so is the same version with other
      contents (a package is never replaced by one it cannot tell apart).
    * ``device_certificate``: when given, it must be this device's, issued by the
      package's CEC signing key, valid at ``now``, and name the same station.
    * ``station``: the station a TEC spare stands in for (required for a spare; for
      an assigned device it must be its own station when given).
    * ``expected_election_hash``: when the device already knows its election.
    """
    contents = verify_package(data, root=root, now=now)
    now = instant(now)
    if expected_election_hash is not None and contents.election_hash != expected_election_hash:
        _refuse(PackageRefusal.WRONG_ELECTION, f"package is for election hash "
                f"{contents.election_hash[:16]}..., this device expects "
                f"{expected_election_hash[:16]}...")
    if installed_version is not None:
        if contents.version < installed_version:
            _refuse(PackageRefusal.OLDER_VERSION, f"version {contents.version} is older than "
                    f"the installed version {installed_version}")
        if (contents.version == installed_version and installed_package_hash is not None
                and installed_package_hash != contents.package_hash):
            _refuse(PackageRefusal.OLDER_VERSION, f"version {contents.version} is installed "
                    "with other contents; a new package needs a higher version")
    try:
        check_device_id(device_id)
    except CryptoError as exc:
        _refuse(PackageRefusal.NOT_ASSIGNED, str(exc))
    number, spare = _assigned_station(contents, device_id, station)
    if device_certificate is not None:
        _check_device_certificate(device_certificate, contents, device_id, number, now)
    return VerifiedPackage(contents=contents, device_id=device_id,
                           station=contents.election.station(number), spare=spare)


def _assigned_station(contents: PackageContents, device_id: str,
                      requested: str | None) -> tuple[str, bool]:
    assigned = contents.assignments.station_of(device_id)
    if assigned is not None:
        if requested is not None and requested != assigned:
            _refuse(PackageRefusal.ANOTHER_STATION, f"device {device_id} is assigned to "
                    f"station {assigned}, not {requested}")
        return assigned, False
    tec = contents.assignments.tec_of_spare(device_id)
    if tec is None:
        _refuse(PackageRefusal.NOT_ASSIGNED, f"device {device_id} is not assigned to any "
                "station in this package")
    if requested is None:
        _refuse(PackageRefusal.NOT_ASSIGNED, f"device {device_id} is a spare at {tec}; "
                "name the station it replaces a device at")
    if requested not in contents.assignments.stations:
        _refuse(PackageRefusal.ANOTHER_STATION, f"station {requested} is not in this package")
    if contents.election.station(requested).tec != tec:
        _refuse(PackageRefusal.ANOTHER_STATION, f"spare {device_id} belongs to {tec}, and "
                f"station {requested} to another TEC")
    return requested, True


def _check_device_certificate(cert: Certificate, contents: PackageContents, device_id: str,
                              station: str, now: str) -> None:
    signing = contents.cec_signing_certificate
    if cert.role is not CertificateRole.DEVICE:
        _refuse(PackageRefusal.WRONG_KEY, f"device certificate has role {cert.role.value}")
    if cert.subject != device_id:
        _refuse(PackageRefusal.WRONG_KEY, f"device certificate is for {cert.subject}, "
                f"not {device_id}")
    if cert.issuer_key_id != crypto.key_id(signing.key):
        _refuse(PackageRefusal.WRONG_KEY, f"device certificate issued by key "
                f"{cert.issuer_key_id}, not by this package's CEC signing key")
    try:
        cert.verify(signing.key)
    except CryptoError as exc:
        _refuse(PackageRefusal.WRONG_KEY, str(exc))
    if not cert.valid_from <= now <= cert.valid_until:
        _refuse(PackageRefusal.CERTIFICATE_EXPIRED, f"device certificate not valid at {now} "
                f"({cert.valid_from} .. {cert.valid_until})")
    if cert.election_id is not None and cert.election_id != contents.election.election_id:
        _refuse(PackageRefusal.WRONG_ELECTION, f"device certificate is for election "
                f"{cert.election_id!r}")
    if cert.station is not None and cert.station != station:
        _refuse(PackageRefusal.ANOTHER_STATION, f"device {device_id} is certified for "
                f"station {cert.station}, the package assigns it to {station}")


# --- inspection (unverified) ---------------------------------------------------------------------


def describe_package(data: bytes) -> dict[str, Any]:
    """What the file *claims*, without verifying anything (``pcos package show``).

    Raises :class:`PackageError` (``malformed``) if the container itself does not parse.
    """
    members = read_container(data)
    doc: dict[str, Any] = {
        "package_hash": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "members": {name: {"size": len(body), "sha256": crypto.sha256_hex(body)}
                    for name, body in members.items()},
        "verified": False,
    }
    if MANIFEST in members:
        try:
            doc["manifest"] = strict_json(members[MANIFEST], MANIFEST, PackageRefusal.MALFORMED)
        except PackageError as exc:
            doc["manifest_error"] = str(exc)
    return doc
