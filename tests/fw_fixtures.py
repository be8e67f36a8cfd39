"""Shared set-up for the firmware tests: a device on simulated hardware in a temp dir."""

from __future__ import annotations

from pathlib import Path

from election.default import default_election
from election.model import Election, Station
from firmware.policy import BallotPolicy
from simulator.devices import SimWorld
from simulator.rig import Rig, TableReader, build_device, random_interpretations
from simulator.sheets import default_station
from vision.result import Outcome, SheetInterpretation

ELECTION: Election = default_election()
STATION: Station = default_station(ELECTION)


def table_for(ids: list[str], seed: int = 7, fake_rate: float = 0.0
              ) -> dict[str, SheetInterpretation]:
    return random_interpretations(ELECTION, STATION, ids, seed, fake_rate=fake_rate)


def rig(tmp: Path, table: dict[str, SheetInterpretation], world: SimWorld | None = None,
        policy: BallotPolicy = BallotPolicy.KG_DEFAULT) -> Rig:
    world = world if world is not None else SimWorld()
    r = build_device(tmp, world, ELECTION, STATION, TableReader(table), policy=policy)
    r.device.boot()
    return r


def reboot(old: Rig, table: dict[str, SheetInterpretation],
           policy: BallotPolicy = BallotPolicy.KG_DEFAULT) -> Rig:
    """A power cut: the old device object is dropped without any shutdown."""
    tmp = old.device.hw.internal.root().parent
    return rig(tmp, table, old.world, policy)


def genuine(table: dict[str, SheetInterpretation]) -> set[str]:
    return {s for s, i in table.items() if i.outcome is not Outcome.REJECTED}


def open_polls(r: Rig) -> None:
    r.device.load_package()
    r.device.enter_test_mode()
    r.device.clear_test()
    r.device.open_polls()
