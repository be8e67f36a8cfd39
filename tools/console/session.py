"""What the console drives: the real firmware :class:`~firmware.device.Device` on simulated
hardware under one working directory, plus the people around it.

No UI here and no firmware logic either. The device decides everything (polls,
the sheet flow, the ballot policy, recovery after a power cut, the counters it
reports); this module only

* wires the device to :mod:`simulator.devices` hardware kept in ``DIR``
  (``internal/`` and ``removable/`` media, ``world.jsonl`` for the paper path
  and the ballot box, ``reports/`` for what the printer printed: the thermal
  printer is the simulator's pty printer, fed ESC/POS by the firmware's
  printer sink, see :mod:`tools.console.printout`), with the sheet images taken
  from a ``pcos sim sheets`` folder;
* plays the voter (puts the next sheet at the entry, takes a returned sheet
  back), the trainer (arms a jam or a power cut) and the operator (menu
  actions, clearing a jam, switching the device on);
* turns every refusal into a typed :class:`~election.errors.PcosError` for the
  console to show.

A power cut is in-process: the :class:`Device` object is dropped with no
shutdown code run, as ``tests/test_fw_device.py`` does; the SIGKILL kill
harness is ``pcos station crash-test``. Switching on builds a new device that
boots from the media; a sheet left ``pending`` is decided by the paper path,
by the firmware.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.model import Election, Language, Station
from firmware.crypto import key_from_seed
from firmware.device import Device, DeviceConfig, Hardware, SheetReader, SheetResult
from firmware.hal.clock import Clock, FixedStepClock, SystemClock
from firmware.hal.files import image_pairs, load_duplex
from firmware.hal.imaging import DuplexImages, ImageSensorError
from firmware.hal.paper import DropConfirmation, MotionResult, PaperSensors
from firmware.hal.storage import MediumRole
from firmware.install import PackageTrust, ReaderFactory
from firmware.policy import BallotPolicy
from firmware.states import PollsState, ScannerState
from firmware.store import SheetMode
from simulator.devices import RecordingDisplay, SimImageSensor, SimMedium, SimPaperPath, SimWorld
from tools.console.printout import ConsolePrinter
from vision.imageio import ImageFileError

WORLD_FILE = "world.jsonl"
SOFTWARE_HASH = "sim-console"


class ConsoleRefusal(PcosError):
    """Something the person at the console asked for that cannot be done now."""


class PowerCut(BaseException):
    """The power goes at this instant: nothing after it runs (not an Exception on purpose,
    so that no firmware ``except`` can catch it)."""


class CutPoint(StrEnum):
    """Where an armed power cut strikes the next sheet to be ejected into the box."""

    BEFORE_DROP = "before-drop"  # recorded pending, the motor has not moved it
    AFTER_DROP = "after-drop"  # in the box, not yet marked cast


class SheetFolder:
    """The ``NNNNNN-front.png`` / ``-back.png`` pairs of a folder, by sheet id."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pairs = {sid: (front, back) for sid, front, back in image_pairs(directory)}

    @property
    def ids(self) -> list[str]:
        return sorted(self.pairs)

    def images_of(self, sheet: str) -> DuplexImages:
        try:
            front, back = self.pairs[sheet]
        except KeyError:
            raise ImageSensorError(f"sheet {sheet} is not in {self.directory}") from None
        try:
            return load_duplex(front, back)
        except ImageFileError as exc:
            raise ImageSensorError(str(exc)) from exc


class _CuttablePaperPath:
    """The simulated paper path, with the trainer's power cut at the next eject."""

    def __init__(self, inner: SimPaperPath, take_cut: Callable[[], CutPoint | None]) -> None:
        self.inner = inner
        self.take_cut = take_cut

    def sensors(self) -> PaperSensors:
        return self.inner.sensors()

    def feed(self) -> MotionResult:
        return self.inner.feed()

    def return_to_voter(self) -> MotionResult:
        return self.inner.return_to_voter()

    def eject_to_box(self) -> DropConfirmation:
        cut = self.take_cut()
        if cut is CutPoint.BEFORE_DROP:
            raise PowerCut
        drop = self.inner.eject_to_box()
        if cut is CutPoint.AFTER_DROP:
            raise PowerCut
        return drop


@dataclass(frozen=True)
class Counters:
    """The device's own counters for the current mode (from ``Device.report_data``)."""

    mode: str
    sheets_cast: int
    returned_by_reason: dict[str, int]
    contests: dict[str, dict[str, Any]]  # contest id -> the tally's JSON for it


@dataclass(frozen=True)
class ConsoleView:
    """Everything the console shows, read from the device and the simulated world."""

    powered: bool
    screen_id: str
    voter: dict[str, str]  # language value -> text
    operator: dict[str, str]
    detail: str
    polls: str
    scanner: str
    counters: Counters | None
    entry: list[str]
    path: str | None
    path_state: str
    box: int
    pile: int  # sheets left to feed
    armed: list[str]


WITHDRAWAL_NEEDS_FILE = ("applying a withdrawal needs a CEC-signed amendment and a signed "
                         "package: start the console with --package, --cec-root, "
                         "--device-keys and --amendment FILE (pcos package amend)")


@dataclass
class ConsoleSession:
    """A device and the people around it, in ``workdir``. Call :meth:`power_on` first."""

    workdir: Path
    election: Election
    station: Station
    reader: SheetReader
    sheets: SheetFolder | None = None
    clock: Clock = field(default_factory=SystemClock)
    policy: BallotPolicy = BallotPolicy.KG_DEFAULT
    device_id: str = "KG-0001"
    # a signed election package (what `l` loads), what the device trusts, a reader for the
    # package's election, and a CEC-signed withdrawal amendment (what `w` applies)
    package: bytes | None = None
    trust: PackageTrust | None = None
    reader_for: ReaderFactory | None = None
    amendment: bytes | None = None
    print_language: Language = Language.RU
    device: Device | None = field(init=False, default=None)
    world: SimWorld = field(init=False)
    display: RecordingDisplay = field(init=False, default_factory=RecordingDisplay)
    printer: ConsolePrinter = field(init=False)
    armed_cut: CutPoint | None = field(init=False, default=None)
    events: list[dict[str, Any]] = field(init=False, default_factory=list)
    last_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.workdir / WORLD_FILE).exists()
        self.world = SimWorld.load(self.workdir / WORLD_FILE)
        if fresh and self.sheets is not None:
            self.world.queue = self.sheets.ids  # the pile of sheets the voters will feed
            self.world.save()
        self.printer = ConsolePrinter(self.workdir / "reports", self.print_language).start()

    def close(self) -> None:
        """Close the printer's port and its pty (the device's media are left as they are;
        the device object stays readable)."""
        self.printer.close()

    # --- power -----------------------------------------------------------------------------

    def power_on(self) -> list[str]:
        """Build a device on the media and boot it; the lines say what the boot decided."""
        if self.device is not None:
            raise ConsoleRefusal("the device is already on")
        for role in MediumRole:
            (self.workdir / role.value).mkdir(exist_ok=True)
        provisioned = self.trust.device if self.trust is not None else None
        config = DeviceConfig(
            election=self.election, station=self.station,
            device_id=provisioned.device_id if provisioned else self.device_id,
            signing_key=provisioned.key if provisioned else
            key_from_seed(self.device_id.encode("utf-8").ljust(32, b"\0")),
            reader=self.reader, package_hash="sim-package-" + self.election.election_id,
            software_hash=SOFTWARE_HASH, policy=self.policy, trust=self.trust,
            reader_for=self.reader_for)
        images_of = self.sheets.images_of if self.sheets is not None else _no_images
        hw = Hardware(paper=_CuttablePaperPath(SimPaperPath(self.world), self._take_cut),
                      images=SimImageSensor(self.world, images_of), display=self.display,
                      internal=SimMedium(MediumRole.INTERNAL, self.workdir / "internal",
                                         self.world),
                      removable=SimMedium(MediumRole.REMOVABLE, self.workdir / "removable",
                                          self.world),
                      clock=self.clock, reports=self.printer)
        device = Device(config, hw, on_event=self.events.append)
        self.printer.bind(device)
        start = len(self.events)
        check = device.boot()
        self.device = device
        self.last_reason = None
        lines = [f"booted: internal {check.internal_records} records, "
                 f"removable {check.removable_records}"]
        lines += [event_line(e) for e in self.events[start:] if e["type"] != "power-on"]
        return lines

    def power_cut(self) -> str:
        """The power goes now: the device object is dropped, no shutdown code runs."""
        self._on()
        self.device = None
        return "power cut: the device is off (switch it on to restart from its store)"

    def arm_cut(self, point: CutPoint) -> str:
        self._on()
        self.armed_cut = point
        where = ("after it is recorded pending, before the motor drops it"
                 if point is CutPoint.BEFORE_DROP else
                 "after it dropped into the box, before it is marked cast")
        return f"armed: the power goes at the next sheet to be cast, {where}"

    def _take_cut(self) -> CutPoint | None:
        cut, self.armed_cut = self.armed_cut, None
        return cut

    # --- the operator's menu (every rule is the firmware's) ---------------------------------

    def load_package(self) -> str:
        d = self._on()
        # installed at the console's station: a TEC spare loads the package for it
        state = d.load_package(self.package, station=self.station.number)
        signed = f" (signed package {d.config.package_hash[:12]})" if self.package else ""
        return f"package loaded: {state.value}{signed}"

    def withdrawal(self) -> str:
        """Apply the CEC-signed withdrawal amendment (before polls open; the firmware
        refuses it after, with its typed reason)."""
        d = self._on()
        if self.amendment is None or self.trust is None:
            raise ConsoleRefusal(WITHDRAWAL_NEEDS_FILE)
        a = d.apply_withdrawal(self.amendment)
        what = [f"{w.party} #{w.position}" for w in a.list_positions] + [
            w.candidate for w in a.candidates]
        return f"withdrawal {a.amendment_id} applied: {', '.join(what)} withdrawn"

    def enter_test_mode(self) -> str:
        return f"test mode: {self._on().enter_test_mode().value}"

    def clear_test(self) -> str:
        self._on().clear_test()
        return "test report printed; test ballots cleared"

    def open_polls(self) -> str:
        return f"zero report printed; {self._on().open_polls().value}"

    def pause_or_resume(self) -> str:
        d = self._on()
        if d.polls is PollsState.POLLS_PAUSED:
            return d.resume().value
        return d.pause().value

    def close_polls(self) -> str:
        return f"results report printed; {self._on().close_polls().value}"

    def report_results(self) -> str:
        return self._on().report_results().value

    def acknowledge_storage(self) -> str:
        d = self._on()
        if not d.storage_ack_needed:
            raise ConsoleRefusal("no storage problem to acknowledge")
        d.acknowledge_storage()
        return "storage problem acknowledged"

    def print_copy(self) -> str:
        """The device prints another copy of its last report (results, test or audit
        summary; the zero report prints once, when polls open)."""
        d = self._on()
        if d.polls in (PollsState.POLLS_CLOSED, PollsState.RESULTS_REPORTED) and \
                not d.results_printed:
            kind = "results"  # the printer failed at closing: print them now
        else:
            kind = self.printer.last_kind()
        if kind == "zero":
            raise ConsoleRefusal("the zero report prints once, when polls open; a copy can "
                                 "be printed of the test report, the results or the audit "
                                 "summary")
        d.print_report(kind)
        return f"printed a copy of the {kind} report: {self.printer.printed[-1].roll}"

    def printer_paper(self) -> str:
        """Trainer: the paper runs out in the middle of the next report; operator: load a
        new roll. The firmware then reports the fault and prints again."""
        return self.printer.toggle_paper()

    def print_audit(self) -> str:
        """The device prints its audit-log summary."""
        self._on().print_report("audit")
        return f"printed the audit summary: {self.printer.printed[-1].roll}"

    # --- voters and the paper path ----------------------------------------------------------

    def feed_next(self, double: bool = False) -> str:
        """The next voter puts a sheet at the entry (two stacked: ``double``); the device
        takes it from there."""
        d = self._on()
        d.step()  # the device settles first (a closed cover, a sheet taken away)
        w = self.world
        if w.entry:
            raise ConsoleRefusal(f"a sheet is at the entry ({d.scanner.value}): "
                                 "the voter takes it first")
        if w.path is not None:
            raise ConsoleRefusal(f"paper in the path ({w.path_state}): clear it first")
        if d.scanner is ScannerState.COVER_OPEN:
            raise ConsoleRefusal("the cover is open: close it first")
        if self.sheets is None:
            raise ConsoleRefusal("no sheets folder: start the console with --sheets DIR")
        if len(w.queue) < (2 if double else 1):
            raise ConsoleRefusal("no sheets left to feed")
        if double:
            first, second = w.queue[0], w.queue[1]
            del w.queue[:2]
            w.insert(first, on_top_of=second)  # saves the world with the pile shortened
            sheet = f"{first}+{second}"
        else:
            sheet = w.insert_next() or "?"
        result = self._step()
        if result is None and w.entry:
            taken = w.take_back(requeue=True)  # not taken in: back on the pile
            raise ConsoleRefusal(f"sheet {'+'.join(taken)} not taken: the scanner is "
                                 f"{d.scanner.value} with polls {d.polls.value} (paper is "
                                 "taken only in test mode or with polls open)")
        return describe(sheet, result)

    def take_back(self) -> str:
        """The voter takes the sheet at the entry: a sheet the reader rejected leaves with
        them; one that came back for any other reason (a double sheet, a restart) goes on
        the pile to be fed again."""
        w = self.world
        if not w.entry:
            raise ConsoleRefusal("no sheet at the entry")
        rejected = self.last_reason is not None and self.last_reason != "double-feed"
        taken = w.take_from_entry() if rejected else w.take_back(requeue=True)
        self.last_reason = None
        if self.device is not None:
            self._step()
        where = "leaves with the voter" if rejected else "back on the pile, to feed again"
        return f"sheet {'+'.join(taken)} taken from the entry: {where}"

    def voter_choice(self, cast: bool) -> str:
        return describe("held sheet", self._on().voter_choice(cast))

    def jam_next_feed(self) -> str:
        self.world.jam_feeds(1)
        return "armed: the next feed stops between the sensors"

    def jam_next_eject(self) -> str:
        self.world.jam_ejects(1)
        return "armed: the next eject into the box stops between the rear sensors"

    def clear_jam(self) -> str:
        """The operator opens the path, takes the jammed sheet out and hands it to the voter,
        who feeds it again."""
        sheet = self.world.clear_jam(requeue=True)
        if sheet is None:
            raise ConsoleRefusal("no jammed sheet in the paper path")
        if self.device is not None:
            self._step()
        return f"jam cleared: sheet {sheet} handed back to the voter, to feed again"

    def toggle_cover(self) -> str:
        self.world.set_cover(not self.world.cover_open)
        if self.device is not None:
            self._step()
        return "cover opened" if self.world.cover_open else "cover closed"

    def _step(self) -> SheetResult | None:
        d = self._on()
        try:
            result = d.step()
        except PowerCut:
            self.device = None
            raise ConsoleRefusal("POWER CUT during the eject: the device is off "
                                 "(switch it on)") from None
        if result is not None and result.action in ("returned", "double-sheet"):
            self.last_reason = result.reason
        return result

    # --- what the console shows -------------------------------------------------------------

    def _on(self) -> Device:
        if self.device is None:
            raise ConsoleRefusal("the device is off: switch it on first")
        return self.device

    def counters(self) -> Counters | None:
        d = self.device
        if d is None:
            return None
        test = d.polls is PollsState.TEST_MODE
        data = d.report_data("test" if test else "results")
        return Counters(mode=SheetMode.TEST.value if test else SheetMode.OFFICIAL.value,
                        sheets_cast=int(data["sheets_cast"]),
                        returned_by_reason=dict(data["returned_by_reason"]),
                        contests=dict(data["tally"]["contests"]))

    def view(self) -> ConsoleView:
        d, w = self.device, self.world
        s = self.display.current if d is not None else None
        armed = [f"jam next feed x{w.jam_next_feeds}"] if w.jam_next_feeds else []
        armed += [f"jam next eject x{w.jam_next_ejects}"] if w.jam_next_ejects else []
        armed += [f"power cut {self.armed_cut.value}"] if self.armed_cut is not None else []
        armed += ["cover open"] if w.cover_open else []
        return ConsoleView(
            powered=d is not None,
            screen_id=s.screen if s is not None else "off",
            voter=_both(s.voter) if s is not None else {"ky": "", "ru": ""},
            operator=_both(s.operator) if s is not None and s.operator else {"ky": "", "ru": ""},
            detail=s.detail if s is not None else "",
            polls=d.polls.value if d is not None else "-",
            scanner=d.scanner.value if d is not None else "off",
            counters=self.counters(), entry=list(w.entry), path=w.path,
            path_state=w.path_state, box=len(w.box), pile=len(w.queue), armed=armed)


def _both(text: Any) -> dict[str, str]:
    return {Language.KY.value: text.ky, Language.RU.value: text.ru}


def _no_images(sheet: str) -> DuplexImages:
    raise ImageSensorError(f"no sheets folder for sheet {sheet}")


def describe(sheet: str, result: SheetResult | None) -> str:
    """One line for what the device did with the sheet."""
    if result is None:
        return f"{sheet}: nothing happened"
    if result.action == "cast":
        return f"{sheet}: cast into the box" + (f" ({result.sheet_id})" if result.sheet_id
                                                else "")
    if result.action == "returned":
        return f"{sheet}: returned to the voter, reason {result.reason or '?'}"
    if result.action == "needs-review":
        return f"{sheet}: held, the voter chooses ({', '.join(result.warnings)})"
    if result.action == "jammed":
        return f"{sheet}: JAM in the paper path - the operator clears it"
    if result.action == "double-sheet":
        return f"{sheet}: double sheet, not fed - the voter takes them back"
    return f"{sheet}: {result.action}"


def event_line(event: dict[str, Any]) -> str:
    """A short line for an audit event, for the console's log."""
    data = event.get("data") or {}
    parts = [f"{k}={v}" for k, v in sorted(data.items()) if k in
             ("decision", "sheet", "why", "reason", "kind", "mode", "where")]
    return f"{event['type']}" + (f" ({', '.join(parts)})" if parts else "")


def day_clock() -> Clock:
    """The deterministic clock the tests use (the day's start, 10 ms a read)."""
    return FixedStepClock(dt.datetime(2021, 11, 28, 7, 30, tzinfo=dt.UTC), 0.01)
