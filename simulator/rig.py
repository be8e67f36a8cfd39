"""A device on simulated hardware: world, media directories, a reader, a clock.

:func:`build_device` wires a :class:`firmware.device.Device` to a
:class:`~simulator.devices.SimWorld` under one working directory
(``internal/``, ``removable/``). Tests and the kill harness use it, with either
the real reader (images through ``vision``) or :class:`TableReader`, a
stand-in that returns a pre-judged interpretation for each tiny sheet image so
that storage and recovery can be exercised hundreds of times a second.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from election.model import BallotKind, Election, Station
from election.reject import RejectReason
from election.rules import judge_ballot
from firmware.crypto import key_from_seed
from firmware.cvr import ImageRetention
from firmware.device import Device, DeviceConfig, Hardware, SheetReader
from firmware.faults import FaultPoints
from firmware.hal.clock import FixedStepClock
from firmware.hal.imaging import DuplexImages
from firmware.hal.storage import MediumRole
from firmware.install import PackageTrust, ReaderFactory
from firmware.policy import BallotPolicy
from firmware.sink import RecordingReportSink, ReportSink
from simulator.devices import (
    RecordingDisplay,
    SimImageSensor,
    SimMedium,
    SimPaperPath,
    SimWorld,
    sheet_of_tiny,
    tiny_images,
)
from vision.result import Outcome, SheetInterpretation

DAY_START = dt.datetime(2021, 11, 28, 7, 30, tzinfo=dt.UTC)


class TableReader:
    """Stand-in reader: the interpretation stored for the sheet id the tiny image carries."""

    def __init__(self, table: dict[str, SheetInterpretation]) -> None:
        self.table = table

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        try:
            return self.table[sheet_of_tiny(DuplexImages(front, back))]
        except (KeyError, UnicodeDecodeError, IndexError):
            return SheetInterpretation(Outcome.REJECTED, RejectReason.NOT_A_BALLOT,
                                       "unknown sheet")


def random_interpretations(election: Election, station: Station, ids: list[str], seed: int,
                           fake_rate: float = 0.05, marginal_rate: float = 0.03
                           ) -> dict[str, SheetInterpretation]:
    """A judged random ballot (or a rejected fake) per sheet id, by the election's rules."""
    rng = np.random.default_rng(seed)
    kinds = [(BallotKind.PARTY_LIST, station.contest_ids()[0])]
    if station.district is not None:
        kinds.append((BallotKind.DISTRICT, station.contest_ids()[1]))
    if station.council is not None:
        kinds.append((BallotKind.LOCAL, station.contest_ids()[-1]))
    out: dict[str, SheetInterpretation] = {}
    fakes = [RejectReason.SECURITY_MISSING, RejectReason.WRONG_CONTEST, RejectReason.NOT_A_BALLOT,
             RejectReason.DOUBLE_FEED]
    for sid in ids:
        if rng.random() < fake_rate:
            out[sid] = SheetInterpretation(Outcome.REJECTED,
                                           fakes[int(rng.integers(len(fakes)))], "simulated")
            continue
        kind, contest = kinds[int(rng.integers(len(kinds)))]
        if kind is BallotKind.PARTY_LIST:
            options = list(election.party_list.option_ids)
        else:
            options = list(election.contest(contest).option_ids)
        n_marks = int(rng.choice([0, 1, 1, 1, 1, 1, 1, 2]))
        marked = {options[int(i)] for i in rng.choice(len(options), n_marks, replace=False)}
        selections: dict[str, frozenset[str]] = {contest: frozenset(marked)}
        if kind is BallotKind.PARTY_LIST and rng.random() < 0.6:
            selections["preference"] = frozenset({str(int(rng.integers(1, 20)))})
        outcome = judge_ballot(election, kind, contest, selections)
        marginal = (f"{contest}/{options[0]}",) if rng.random() < marginal_rate else ()
        out[sid] = SheetInterpretation(Outcome.REVIEW if marginal else Outcome.ACCEPTED,
                                       kind=kind.value, contest=contest,
                                       contests=outcome.to_json(), marginal=marginal)
    return out


class SelectionReader:
    """Stand-in reader that judges each tiny sheet's marks by the election it was built
    for (as the real reader does): a withdrawal changes what it reports."""

    def __init__(self, election: Election, station: Station,
                 marks: dict[str, tuple[BallotKind, str, dict[str, frozenset[str]]]]) -> None:
        self.election, self.station, self.marks = election, station, marks

    def for_election(self, election: Election, station: Station, _thresholds: Any) -> Any:
        return SelectionReader(election, station, self.marks)

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        try:
            kind, contest, selections = self.marks[sheet_of_tiny(DuplexImages(front, back))]
        except (KeyError, UnicodeDecodeError, IndexError):
            return SheetInterpretation(Outcome.REJECTED, RejectReason.NOT_A_BALLOT,
                                       "unknown sheet")
        outcome = judge_ballot(self.election, kind, contest, selections)
        return SheetInterpretation(Outcome.ACCEPTED, kind=kind.value, contest=contest,
                                   contests=outcome.to_json())


@dataclass
class Rig:
    device: Device
    world: SimWorld
    display: RecordingDisplay
    reports: RecordingReportSink
    clock: FixedStepClock


def build_device(workdir: Path, world: SimWorld, election: Election, station: Station,
                 reader: SheetReader, *, images_of: Any = tiny_images,
                 policy: BallotPolicy = BallotPolicy.KG_DEFAULT, device_id: str = "KG-0001",
                 faults: FaultPoints | None = None, clock_step_s: float = 0.01,
                 reports: ReportSink | None = None, trust: PackageTrust | None = None,
                 reader_for: ReaderFactory | None = None,
                 image_retention: ImageRetention | None = None) -> Rig:
    """A device on simulated hardware under ``workdir`` (not booted).

    ``trust``: the CEC root and this device's provisioned key and certificate; the
    device then loads a signed package file (``Device.load_package(data)``) and signs
    with its provisioned key. ``reader_for`` builds the reader for the package's
    election (and again after a withdrawal)."""
    internal, removable = workdir / "internal", workdir / "removable"
    internal.mkdir(parents=True, exist_ok=True)
    removable.mkdir(parents=True, exist_ok=True)
    key = (trust.device.key if trust is not None and trust.device is not None
           else key_from_seed(device_id.encode("utf-8").ljust(32, b"\0")))
    if trust is not None and trust.device is not None:
        device_id = trust.device.device_id
    config = DeviceConfig(election=election, station=station, device_id=device_id,
                          signing_key=key, reader=reader,
                          package_hash="sim-package-" + election.election_id,
                          software_hash="sim-software", policy=policy, trust=trust,
                          reader_for=reader_for, image_retention=image_retention)
    display, recorder = RecordingDisplay(), RecordingReportSink()
    clock = FixedStepClock(DAY_START, clock_step_s)
    hw = Hardware(paper=SimPaperPath(world), images=SimImageSensor(world, images_of),
                  display=display, internal=SimMedium(MediumRole.INTERNAL, internal, world),
                  removable=SimMedium(MediumRole.REMOVABLE, removable, world), clock=clock,
                  reports=reports if reports is not None else recorder)
    return Rig(Device(config, hw, faults or FaultPoints()), world, display, recorder, clock)


def interpretations_to_json(table: dict[str, SheetInterpretation]) -> dict[str, Any]:
    return {sid: {"outcome": i.outcome.value, "reason": i.reason.value if i.reason else None,
                  "kind": i.kind, "contest": i.contest, "contests": i.contests,
                  "marginal": list(i.marginal)} for sid, i in table.items()}


def interpretations_from_json(doc: dict[str, Any]) -> dict[str, SheetInterpretation]:
    return {sid: SheetInterpretation(Outcome(d["outcome"]),
                                     RejectReason(d["reason"]) if d["reason"] else None,
                                     kind=d["kind"], contest=d["contest"],
                                     contests=d["contests"], marginal=tuple(d["marginal"]))
            for sid, d in doc.items()}


def save_table(path: Path, table: dict[str, SheetInterpretation]) -> None:
    path.write_text(json.dumps(interpretations_to_json(table)), encoding="utf-8")
