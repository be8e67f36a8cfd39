"""Shared set-up for the protocol tests: an election, a CEC, devices, messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.cec_data import PNG_1X1, dec_figures_for, random_tally
from election.default import default_election
from election.hashing import definition_hash, election_hash
from election.model import Election
from election.tally import Tally
from firmware.package import station_device_id
from protocol.cec.ingest import Ingestor
from protocol.cec.provision import cec_keys, device_identity
from protocol.cec.registry import CecRegistry
from protocol.cec.store import Store, open_store
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.envelope import CecPublicKeys, SuiteName, seal
from protocol.messages import (
    AuditLog,
    Content,
    DecProtocol,
    Results,
    SheetCounts,
    SignedMessage,
    Status,
    ZeroReport,
)

TIME = "2021-11-28T20:05:00Z"
HEAD = "ab" * 32
STATIONS = ("1001", "1002", "1003")


def audit_head(i: int) -> str:
    return hashlib.sha256(f"head-{i}".encode()).hexdigest()


@dataclass
class World:
    election: Election
    registry: CecRegistry
    devices: dict[str, DeviceIdentity]
    cec_public: CecPublicKeys
    seq: dict[str, int] = field(default_factory=dict)

    def messenger(self, device_id: str, *, election_hash: str | None = None,
                  package_hash: str | None = None) -> DeviceMessenger:
        return DeviceMessenger(self.devices[device_id],
                               election_hash or self.registry.election_hash,
                               package_hash or self.registry.package_hash)

    def message(self, device_id: str, content: Content, *, sequence: int | None = None,
                station: str | None = None, **kw: str) -> SignedMessage:
        if sequence is None:
            sequence = self.seq.get(device_id, 0) + 1
            self.seq[device_id] = sequence
        return self.messenger(device_id, **kw).build(content, sequence=sequence, time=TIME,
                                                      audit_head=audit_head(sequence),
                                                      station=station)

    def envelope(self, signed: SignedMessage, suite: SuiteName = SuiteName.X25519) -> bytes:
        return seal(signed, self.cec_public, suite)

    def zero(self, station: str) -> ZeroReport:
        return ZeroReport(Tally.empty(self.election, self.election.station(station).contest_ids()))

    def results(self, station: str, seed: int, ballots: int = 200) -> Results:
        tally = random_tally(self.election, self.election.station(station),
                             np.random.default_rng(seed), ballots)
        return Results(tally, SheetCounts(ballots, 3, 1))

    def dec(self, station: str, tally: Tally, shift: dict[str, int] | None = None) -> DecProtocol:
        return DecProtocol((PNG_1X1,), dec_figures_for(self.election.station(station), tally,
                                                      shift=shift))

    def status(self) -> Status:
        return Status("polls-closed", "sent results")

    def audit(self) -> AuditLog:
        return AuditLog(b"entry-1\nentry-2\n", HEAD)


def make_world(stations: tuple[str, ...] = STATIONS, per_station: int = 2,
               spares: dict[str, str] | None = None, revoked: frozenset[str] = frozenset(),
               seed: str = "test", election: Election | None = None,
               tec_spares: dict[str, str] | None = None) -> World:
    """Devices ``<station>-D<i>`` (:func:`firmware.package.station_device_id`); ``spares``
    maps extra device ids to the station they are certified for; ``tec_spares`` maps TEC
    spares certified for no station (registered with the TEC of) to the station they
    speak for by default."""
    election = election or default_election()
    signing, encryption = cec_keys(seed)
    devices = {}
    for station in stations:
        for i in range(1, per_station + 1):
            did = station_device_id(station, i)
            devices[did] = device_identity(signing, did, station, seed, election.election_id)
    for did, station in (spares or {}).items():
        devices[did] = device_identity(signing, did, station, seed, election.election_id)
    for did, station in (tec_spares or {}).items():
        devices[did] = device_identity(signing, did, station, seed, election.election_id,
                                       tec_spare=True)
    registry = CecRegistry.build(
        election, signing, encryption, [d.certificate for d in devices.values()],
        revoked=revoked, spare_tecs={d: election.station(s).tec
                                     for d, s in (tec_spares or {}).items()})
    return World(election, registry, devices, encryption.public())


def ingestor(world: World, db: Path | str) -> tuple[Ingestor, Store]:
    store = open_store(db)
    return Ingestor(world.registry, store, clock=lambda: TIME), store


__all__ = ["HEAD", "TIME", "World", "definition_hash", "election_hash", "ingestor",
           "make_world"]
