"""Signed packages for simulated stations: CEC keys from a seed, a package, provisioned devices.

The simulation and the tests run devices the way a CEC technician sets them
up: ``pcos package keygen`` (here: keys derived from a seed), ``pcos package
build`` for the station's devices, ``pcos device provision`` per device. The
device then loads the package file and verifies it against the CEC root
(:meth:`firmware.device.Device.load_package`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.model import Election
from firmware import crypto, package, provision
from firmware.install import PackageTrust
from firmware.provision import CecKeys, ProvisionedDevice
from vision.config import Thresholds

SIM_SEED = b"pcos-kg simulated CEC keys (not for elections)"
CREATED = "2021-11-20T12:00:00Z"
# simulated keys stay valid for the console's wall clock too (real ones: the election year)
SIM_VALID_UNTIL = "2099-12-31T23:59:59Z"


def sim_cec_keys(seed: bytes = SIM_SEED) -> CecKeys:
    return provision.generate_cec_keys(seed=seed, valid_until=SIM_VALID_UNTIL)


def device_ids(station: str, devices: int) -> list[str]:
    """The ids ``StationAssignments.per_station`` gives: ``<station>-D1``..."""
    return [package.station_device_id(station, k) for k in range(1, devices + 1)]


def sim_package(election: Election, keys: CecKeys, stations: tuple[str, ...],
                devices_per_station: int = 2, version: int = 1,
                thresholds: Thresholds | None = None, spares_per_tec: int = 0) -> bytes:
    """A signed package assigning ``devices_per_station`` devices to each of ``stations``
    (and ``spares_per_tec`` spares to each TEC)."""
    return package.build_package(
        election=election,
        assignments=package.StationAssignments.per_station(
            election, devices_per_station, stations=stations, spares_per_tec=spares_per_tec),
        thresholds=thresholds or Thresholds(), hpke_public_key=keys.hpke_public_key,
        signing_key=keys.signing_key, signing_certificate=keys.signing_certificate,
        version=version, created=CREATED)


def sim_device(keys: CecKeys, device_id: str, station: str | None,
               key: Ed25519PrivateKey | None = None) -> ProvisionedDevice:
    """``key``: the device's existing key (default: derived from the id and SIM_SEED)."""
    return provision.provision_device(keys.signing_key, device_id=device_id, station=station,
                                      seed=SIM_SEED, valid_until=SIM_VALID_UNTIL, key=key)


@dataclass(frozen=True)
class StationSetup:
    """Everything a simulated station's devices are set up with (files under ``directory``)."""

    package_path: Path
    root_cert_path: Path
    device_dirs: tuple[Path, ...]

    def to_json(self) -> dict[str, object]:
        return {"package": str(self.package_path), "root": str(self.root_cert_path),
                "devices": [str(d) for d in self.device_dirs]}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> StationSetup:
        devices = doc["devices"]
        assert isinstance(devices, list)
        return cls(Path(str(doc["package"])), Path(str(doc["root"])),
                   tuple(Path(str(d)) for d in devices))

    def trust(self, n: int) -> PackageTrust:
        return PackageTrust(root=provision.load_root_certificate(self.root_cert_path),
                            device=provision.load_device(self.device_dirs[n]))


def write_station_setup(directory: Path, election: Election, station: str, devices: int,
                        keys: CecKeys | None = None,
                        device_keys: Mapping[str, Ed25519PrivateKey] | None = None
                        ) -> StationSetup:
    """CEC keys (public root certificate only), the package and each device's key files.
    ``device_keys``: device id -> the key the device already has (its one identity, e.g.
    the one a CEC server directory certified for ``pcos station run --cec``)."""
    keys = keys or sim_cec_keys()
    directory.mkdir(parents=True, exist_ok=True)
    pkg = directory / "election-package.bin"
    pkg.write_bytes(sim_package(election, keys, (station,), devices))
    root = directory / provision.ROOT_CERT_FILE
    crypto.save_certificate(keys.root_certificate, root)
    dirs = []
    for device_id in device_ids(station, devices):
        d = directory / "devices" / device_id
        key = device_keys.get(device_id) if device_keys is not None else None
        provision.save_device(sim_device(keys, device_id, station, key), d)
        dirs.append(d)
    return StationSetup(pkg, root, tuple(dirs))
