"""Simulated hardware behind ``firmware.hal``: a paper path, image sensor, display, media.

Everything physical lives in a :class:`SimWorld`: which sheet is at the entry,
which is in the path (held at the back or jammed), what has dropped into the
ballot box, the cover, the media. Events change it (a voter inserts a sheet,
a jam, a double feed, the cover opened, a card pulled); the firmware sees it
only through the sensors and the motor.

A world can be kept in a file (:class:`SimWorld.load` / ``file``): each
physical change appends the whole state as one line with a single
``write`` before the call returns, so a firmware process killed with SIGKILL
leaves the world exactly as the hardware would be (a sheet either dropped
into the box or did not); loading takes the last complete line, and the file
is compacted (atomic rename) now and then. The box's contents are the ground
truth the kill harness compares the tally to. No fsync: the world only has to
survive the process, not the machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from election.model import Text
from firmware.hal.display import Screen
from firmware.hal.imaging import JPEG, DuplexImages, ImageSensorError, SensorFile
from firmware.hal.paper import DropConfirmation, MotionResult, PaperSensors
from firmware.hal.storage import MediumRole

COMPACT_BYTES = 4 * 1024 * 1024


@dataclass
class SimWorld:
    """The physical state around one device. Mutate only through the methods."""

    entry: list[str] = field(default_factory=list)  # sheets at the entry (2 = stacked)
    path: str | None = None  # sheet in the paper path
    path_state: str = "none"  # "none" | "held" | "jammed"
    box: list[str] = field(default_factory=list)  # dropped into the ballot box, in order
    returned: list[str] = field(default_factory=list)  # taken back by voters, in order
    cover_open: bool = False
    jam_next_feeds: int = 0  # the next N feeds stop between sensors
    jam_next_ejects: int = 0  # the next N ejects stop between the rear sensors
    failed_media: list[str] = field(default_factory=list)  # MediumRole values
    last_fed: str | None = None  # the sheet the image sensor saw last
    queue: list[str] = field(default_factory=list)  # voters waiting, next first
    jam_sheets: dict[str, int] = field(default_factory=dict)  # sheet -> times it will jam
    stacked: list[str] = field(default_factory=list)  # voters who insert two sheets at once
    test_queue: list[str] = field(default_factory=list)  # test ballots for the operator
    file: str | None = None

    # --- persistence ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> SimWorld:
        if not path.exists():
            world = cls(file=str(path))
            world.save()
            return world
        doc = None
        for line in reversed(path.read_bytes().split(b"\n")):  # the last whole line
            try:
                doc = json.loads(line)
                break
            except ValueError:
                continue
        if doc is None:
            raise ValueError(f"{path}: no world state")
        doc["file"] = str(path)
        return cls(**doc)

    def save(self) -> None:
        if self.file is None:
            return
        # A shallow dict (every field is a plain value, a list of strings or a str -> int
        # dict): ``dataclasses.asdict`` deep-copies the whole queue on every change.
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "file"}
        line = json.dumps(doc, separators=(",", ":")).encode("utf-8") + b"\n"
        if os.path.exists(self.file) and os.path.getsize(self.file) > COMPACT_BYTES:
            tmp = f"{self.file}.tmp"
            with open(tmp, "wb") as f:
                f.write(line)
            os.replace(tmp, self.file)
            return
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    # --- events from outside the device ----------------------------------------------------

    def insert(self, sheet: str, *, on_top_of: str | None = None) -> None:
        """A voter puts a sheet at the entry (two stacked sheets: a double feed)."""
        if self.entry:
            raise ValueError("the entry is occupied")
        self.entry = [sheet] if on_top_of is None else [sheet, on_top_of]
        self.save()

    def insert_next(self, test: bool = False) -> str | None:
        """The next waiting voter (or test ballot) inserts their sheet, in one change."""
        queue = self.test_queue if test else self.queue
        if self.entry or not queue:
            return None
        sheet = queue.pop(0)
        self.entry = [sheet]
        if sheet in self.stacked and queue:  # this voter puts two sheets in at once
            self.stacked.remove(sheet)
            self.entry.append(queue.pop(0))
        self.save()
        return sheet

    def take_back(self, requeue: bool, test: bool = False) -> list[str]:
        """The voter takes the sheet at the entry; ``requeue``: feeds it again later."""
        taken, self.entry = self.entry, []
        if requeue:
            queue = self.test_queue if test else self.queue
            queue[:0] = taken
        else:
            self.returned += taken
        self.save()
        return taken

    def take_from_entry(self) -> list[str]:
        """The voter takes whatever is at the entry."""
        taken, self.entry = self.entry, []
        self.returned += taken
        self.save()
        return taken

    def clear_jam(self, requeue: bool = False, test: bool = False) -> str | None:
        """The operator pulls the jammed sheet out and hands it to the voter
        (``requeue``: who feeds it again)."""
        sheet = self.path if self.path_state == "jammed" else None
        if sheet is not None:
            self.path, self.path_state = None, "none"
            if requeue:
                (self.test_queue if test else self.queue).insert(0, sheet)
            else:
                self.returned.append(sheet)
            self.save()
        return sheet

    def set_cover(self, open_: bool) -> None:
        self.cover_open = open_
        self.save()

    def jam_feeds(self, n: int = 1) -> None:
        self.jam_next_feeds += n
        self.save()

    def jam_ejects(self, n: int = 1) -> None:
        self.jam_next_ejects += n
        self.save()

    def fail_medium(self, role: MediumRole, failed: bool = True) -> None:
        if failed and role.value not in self.failed_media:
            self.failed_media.append(role.value)
        elif not failed and role.value in self.failed_media:
            self.failed_media.remove(role.value)
        self.save()


class SimPaperPath:
    """:class:`firmware.hal.paper.PaperPath` over a :class:`SimWorld`."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def sensors(self) -> PaperSensors:
        w = self.world
        jammed = w.path_state == "jammed"
        held = w.path_state == "held"
        return PaperSensors(entry=bool(w.entry) or jammed, rear_1=held or jammed, rear_2=held,
                            double_sheet=len(w.entry) > 1, cover_open=w.cover_open)

    def feed(self) -> MotionResult:
        w = self.world
        if w.cover_open:
            return MotionResult.COVER_OPEN
        if not w.entry or w.path_state != "none":
            return MotionResult.NO_PAPER if not w.entry else MotionResult.JAMMED
        sheet = w.entry[0]
        w.entry = w.entry[1:]
        w.path, w.last_fed = sheet, sheet
        if w.jam_sheets.get(sheet, 0) > 0 or w.jam_next_feeds > 0:
            if w.jam_sheets.get(sheet, 0) > 0:
                w.jam_sheets[sheet] -= 1
            else:
                w.jam_next_feeds -= 1
            w.path_state = "jammed"
            w.save()
            return MotionResult.JAMMED
        w.path_state = "held"
        w.save()
        return MotionResult.DONE

    def return_to_voter(self) -> MotionResult:
        w = self.world
        if w.cover_open:
            return MotionResult.COVER_OPEN
        if w.path_state == "jammed":
            return MotionResult.JAMMED
        if w.path_state != "held" or w.path is None:
            return MotionResult.NO_PAPER
        if w.entry:
            return MotionResult.JAMMED  # cannot push out onto another sheet
        w.entry, w.path, w.path_state = [w.path], None, "none"
        w.save()
        return MotionResult.DONE

    def eject_to_box(self) -> DropConfirmation:
        w = self.world
        if w.cover_open:
            return DropConfirmation(False, False, MotionResult.COVER_OPEN)
        if w.path_state != "held" or w.path is None:
            return DropConfirmation(False, False, MotionResult.NO_PAPER)
        if w.jam_next_ejects > 0:
            w.jam_next_ejects -= 1
            w.path_state = "jammed"
            w.save()
            return DropConfirmation(True, False, MotionResult.JAMMED)
        w.box.append(w.path)
        w.path, w.path_state = None, "none"
        w.save()
        return DropConfirmation(True, True, MotionResult.DONE)


class SimImageSensor:
    """Images of the sheet fed last, from ``images_of(sheet_id)`` (a renderer or a cache)."""

    def __init__(self, world: SimWorld, images_of: Callable[[str], DuplexImages]) -> None:
        self.world = world
        self.images_of = images_of

    def capture(self) -> DuplexImages:
        sheet = self.world.last_fed
        if sheet is None or self.world.path_state == "none":
            raise ImageSensorError("no sheet in the scanner")
        return self.images_of(sheet)


def sensor_images(front: np.ndarray, back: np.ndarray,
                  jpeg: tuple[bytes, bytes] | None) -> DuplexImages:
    """A simulated sheet as its sensor delivers it: raw pixels, or (a scanner that
    compresses) the JPEG files too, whose decodings the pixels are."""
    files = None if jpeg is None else (SensorFile(JPEG, jpeg[0]), SensorFile(JPEG, jpeg[1]))
    return DuplexImages(front, back, files)


def tiny_images(sheet: str) -> DuplexImages:
    """Tiny distinct images carrying the sheet id, for tests whose reader is a stand-in."""
    data = np.frombuffer(sheet.encode("utf-8").ljust(16, b"\0")[:16], dtype=np.uint8)
    front = np.broadcast_to(data.reshape(1, 16, 1), (1, 16, 3)).copy()
    return DuplexImages(front, front[:, ::-1].copy())


def sheet_of_tiny(images: DuplexImages) -> str:
    return bytes(images.front[0, :, 0]).rstrip(b"\0").decode("utf-8")


@dataclass
class SimMedium:
    """A medium whose directory exists, unless the world says it failed or was pulled."""

    role: MediumRole
    path: Path
    world: SimWorld

    def root(self) -> Path:
        return self.path

    def available(self) -> bool:
        return self.role.value not in self.world.failed_media and self.path.is_dir()


@dataclass
class RecordingDisplay:
    """Keeps the screens shown (the last ``keep`` of them)."""

    keep: int = 50
    shown: list[Screen] = field(default_factory=list)

    def show(self, screen: Screen) -> None:
        shown = self.shown
        shown.append(screen)
        if len(shown) > self.keep:  # a few times per sheet: trim only when over
            del shown[:-self.keep]

    @property
    def current(self) -> Screen | None:
        return self.shown[-1] if self.shown else None

    def text(self, lang: str = "ru") -> str:
        s = self.current
        if s is None:
            return ""
        t: Text = s.voter
        return t.ru if lang == "ru" else t.ky


def world_summary(world: SimWorld) -> dict[str, Any]:
    return {"box": len(world.box), "returned": len(world.returned), "path": world.path_state}
