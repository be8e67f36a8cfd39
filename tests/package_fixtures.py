"""Shared fixtures for the package, amendment and CVR tests: a small election that
survives a round trip through its JSON file, deterministic CEC keys, and a way to
re-sign a package's members as the CEC (or an attacker) would."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from election_fixtures import small_election

from election.model import Election, Text
from firmware import crypto, package, provision
from firmware.crypto import Certificate, SignatureKind
from vision.config import Thresholds

NOW = "2021-11-28T06:00:00Z"
CREATED = "2021-11-20T12:00:00Z"
CEC_SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))


def election() -> Election:
    """``small_election`` with council references as the file format writes them."""
    e = small_election()
    stations = tuple(dataclasses.replace(s, council=s.council.removeprefix("council-")
                                         if s.council else None) for s in e.stations)
    return dataclasses.replace(e, stations=stations, _index={})


def cec_keys(seed: bytes = CEC_SEED, **kwargs: str) -> provision.CecKeys:
    return provision.generate_cec_keys(seed=seed, **kwargs)


def assignments(e: Election) -> package.StationAssignments:
    """Stations 0001 and 0002 with two devices each, one spare at TEC T1."""
    return package.StationAssignments.per_station(e, 2, spares_per_tec=1)


def build(keys: provision.CecKeys | None = None, *, e: Election | None = None,
          version: int = 3, calibration: bytes | None = b"calibration-profile",
          thresholds: Thresholds | None = None) -> bytes:
    keys = keys or cec_keys()
    e = e or election()
    return package.build_package(
        election=e, assignments=assignments(e), thresholds=thresholds or Thresholds(),
        hpke_public_key=keys.hpke_public_key, signing_key=keys.signing_key,
        signing_certificate=keys.signing_certificate, version=version, created=CREATED,
        calibration=calibration)


def resign(members: Mapping[str, bytes], key: Ed25519PrivateKey, /,
           certificate: Certificate | None = None, claimed_signer: bytes | None = None,
           **manifest_changes: object) -> bytes:
    """Re-hash ``members`` into a new manifest, sign it with ``key``, re-encode.

    ``certificate`` replaces the signing certificate member; ``claimed_signer`` is the
    public key written beside the signature (default: ``key``'s); ``manifest_changes``
    overwrite manifest fields (after the member hashes are computed).
    """
    out = {k: v for k, v in members.items() if k not in (package.MANIFEST, package.SIGNATURE)}
    if certificate is not None:
        out[package.SIGNING_CERT] = certificate.dumps()
    old = package.strict_json(members[package.MANIFEST], "manifest",
                              package.PackageRefusal.MALFORMED)
    manifest = {**old, "signer_key_id": crypto.key_id(key),
                "members": {n: {"sha256": crypto.sha256_hex(b), "size": len(b)}
                            for n, b in sorted(out.items())}}
    manifest.update(manifest_changes)
    raw = crypto.canonical_json(manifest)
    out[package.MANIFEST] = raw
    signer = crypto.public_bytes(key) if claimed_signer is None else claimed_signer
    out[package.SIGNATURE] = signer + crypto.sign(key, SignatureKind.PACKAGE, raw)
    return package.write_container(out)


def member_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte range [start, end) of each member's body inside the container."""
    spans = {}
    pos = len(package.MAGIC) + 2
    for _ in range(int.from_bytes(data[8:10], "big")):
        name_len = data[pos]
        name = data[pos + 1:pos + 1 + name_len].decode("ascii")
        pos += 1 + name_len
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
        spans[name] = (pos, pos + size)
        pos += size
    return spans


def two_tec_election() -> Election:
    """:func:`election` with stations 0003 (TEC T1) and 0004 in a second TEC, T2: for the
    rules that keep a TEC's spares to that TEC's stations."""
    e = election()
    s1 = e.stations[0]
    t2 = dataclasses.replace(e.tecs[0], id="T2", name=Text(ky="TEC 2", ru="TEC 2"))
    stations = (*e.stations, dataclasses.replace(s1, number="0003"),
                dataclasses.replace(s1, number="0004", tec="T2"))
    return dataclasses.replace(e, tecs=(*e.tecs, t2), stations=stations, _index={})

