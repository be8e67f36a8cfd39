"""Provision a CEC directory and device identities (demo, tests, benchmarks).

The real provisioning comes from the signed-package helper; this writes the
same files :class:`protocol.cec.registry.CecRegistry` reads, and the device
side's key + certificate per device, so a person can try ``pcos cec serve``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.definition import dump_election
from election.model import Election
from firmware.crypto import (
    CertificateRole,
    issue_certificate,
    key_from_seed,
    public_bytes,
    save_certificate,
    save_private_key,
)
from firmware.package import station_device_id
from protocol.device import DeviceIdentity
from protocol.envelope import CecEncryptionKeys

VALID_FROM = "2021-01-01T00:00:00Z"
VALID_UNTIL = "2022-12-31T23:59:59Z"


def _seed(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).encode()).digest()


def cec_keys(seed: str) -> tuple[Ed25519PrivateKey, CecEncryptionKeys]:
    """Deterministic CEC signing and encryption keys (simulation only)."""
    return key_from_seed(_seed("cec-signing", seed)), CecEncryptionKeys.from_seed(
        _seed("cec-encryption", seed))


def device_identity(cec_signing: Ed25519PrivateKey, device_id: str, station: str,
                    seed: str, election_id: str | None = None, *, valid_from: str = VALID_FROM,
                    valid_until: str = VALID_UNTIL, tec_spare: bool = False) -> DeviceIdentity:
    """A device key (from ``seed``) and its certificate for ``station``. ``tec_spare``: the
    certificate names no station (a spare of a TEC, see :mod:`protocol.cec.registry`);
    the identity still speaks for ``station``, the one it is installed at."""
    key = key_from_seed(_seed("device", seed, device_id))
    cert = issue_certificate(cec_signing, role=CertificateRole.DEVICE, subject=device_id,
                             public_key=public_bytes(key), valid_from=valid_from,
                             valid_until=valid_until, station=None if tec_spare else station,
                             election_id=election_id)
    return DeviceIdentity(device_id, station, key, cert)


def device_ids(station: str, count: int) -> list[str]:
    """The package's names (``<station>-D<n>``, :func:`firmware.package.station_device_id`):
    one identity per device in the package, its certificate, its reports and here."""
    return [station_device_id(station, i) for i in range(1, count + 1)]


def provision(directory: str | Path, election: Election, stations: list[str], *,
              devices_per_station: int = 2, seed: str = "demo",
              package_hash: str | None = None) -> list[DeviceIdentity]:
    """Write a CEC directory for ``stations`` and each device's key and certificate.

    Device keys go to ``<dir>/device-keys/<id>.key`` (they belong on the devices;
    kept here only so a demo can play them).
    """
    root = Path(directory)
    (root / "devices").mkdir(parents=True, exist_ok=True)
    (root / "device-keys").mkdir(exist_ok=True)
    signing, encryption = cec_keys(seed)
    dump_election(election, root / "election.json")
    save_private_key(signing, root / "cec-signing.key")
    encryption.save(root / "cec-encryption.keys")
    if package_hash is not None:
        (root / "package-hash.txt").write_text(package_hash + "\n")
    out = []
    # Valid from a year before the election until a year after it, or after today for a
    # demo played now (the device clock is checked against this window).
    until = max(election.date.year, dt.date.today().year) + 1
    valid_from = f"{election.date.year - 1}-01-01T00:00:00Z"
    valid_until = f"{until}-12-31T23:59:59Z"
    for station in stations:
        for device_id in device_ids(station, devices_per_station):
            ident = device_identity(signing, device_id, station, seed, election.election_id,
                                    valid_from=valid_from, valid_until=valid_until)
            save_certificate(ident.certificate, root / "devices" / f"{device_id}.cert.json")
            save_private_key(ident.key, root / "device-keys" / f"{device_id}.key")
            out.append(ident)
    return out
