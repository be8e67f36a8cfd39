"""Shared set-up for the device-to-CEC tests: a simulated device with its uplink, a CEC."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from fw_fixtures import ELECTION, STATION, genuine, table_for

from election.tally import Tally, merge
from firmware.crypto import CertificateRole, issue_certificate, public_bytes
from firmware.package import station_device_id
from protocol.cec.consolidate import consolidate
from protocol.cec.ingest import Ingestor
from protocol.cec.provision import cec_keys
from protocol.cec.registry import CecRegistry
from protocol.cec.store import Store, open_store
from protocol.channel import OutboxChannel
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.outbox import Outbox
from simulator.devices import SimWorld
from simulator.drive import run_day
from simulator.rig import Rig, TableReader, build_device

SEED = "transmit-test"
VALID = ("2021-01-01T00:00:00Z", "2022-12-31T23:59:59Z")


def device_ids(n: int) -> list[str]:
    return [station_device_id(STATION.number, i) for i in range(1, n + 1)]


@dataclass
class SimDevice:
    rig: Rig
    identity: DeviceIdentity
    outbox: Outbox
    channel: OutboxChannel
    genuine: set[str]


def identity_for(device_id: str, station: str = STATION.number) -> DeviceIdentity:
    """The CEC-certified identity of a simulated device (its rig's own key, certified)."""
    signing, _ = cec_keys(SEED)
    from firmware.crypto import key_from_seed

    key = key_from_seed(device_id.encode("utf-8").ljust(32, b"\0"))  # as simulator.rig does
    cert = issue_certificate(signing, role=CertificateRole.DEVICE, subject=device_id,
                             public_key=public_bytes(key), valid_from=VALID[0],
                             valid_until=VALID[1], station=station,
                             election_id=ELECTION.election_id)
    return DeviceIdentity(device_id, station, key, cert)


def make_registry(ids: list[str], revoked: frozenset[str] = frozenset(),
                  extra: list[DeviceIdentity] | None = None) -> CecRegistry:
    signing, encryption = cec_keys(SEED)
    certs = [identity_for(d).certificate for d in ids] + [i.certificate for i in extra or []]
    return CecRegistry.build(ELECTION, signing, encryption, certs, revoked=revoked)


def sim_device(workdir: Path, device_id: str, registry: CecRegistry, sheets: int = 12,
               seed: int = 7) -> SimDevice:
    """A booted device (tiny images, table reader) whose uplink is an outbox on its
    internal medium."""
    ids = [f"{device_id}-S{i:03d}" for i in range(sheets)]
    table = table_for(ids, seed)
    workdir.mkdir(parents=True, exist_ok=True)
    world = SimWorld.load(workdir / "world.json")
    if not world.queue and not world.box:
        world.queue = list(ids)
        world.save()
    r = build_device(workdir, world, ELECTION, STATION, TableReader(table), device_id=device_id)
    # these tests count the report messages; the device's own status messages are tested in
    # test_fw7_status.py
    r.device.config = replace(r.device.config, send_status=False)
    ident = identity_for(device_id)
    outbox = Outbox(workdir / "internal" / "outbox.db")
    channel = OutboxChannel(DeviceMessenger(ident, registry.election_hash,
                                            registry.package_hash), outbox, ELECTION)
    r.device.hw.results = channel
    r.device.boot()
    return SimDevice(r, ident, outbox, channel, genuine(table))


def run_sim_day(d: SimDevice) -> Tally:
    run_day(d.rig.device, d.rig.world, lambda s: s in d.genuine)
    return d.rig.device.tally()


def cec_store(path: Path) -> Store:
    return open_store(path)


def cec_station_tally(registry: CecRegistry, store: Store, station: str) -> Tally | None:
    return consolidate(registry, store).station_tallies.get(station)


def sum_tallies(tallies: list[Tally]) -> Tally:
    total = tallies[0]
    for t in tallies[1:]:
        total = merge(total, t)
    return total


__all__ = ["ELECTION", "STATION", "Ingestor", "SimDevice", "cec_station_tally", "cec_store",
           "device_ids", "identity_for", "make_registry", "run_sim_day", "sim_device",
           "sum_tallies"]
