"""One station's election day through the real firmware and the real protocol.

:func:`run_station` is the unit of work of ``pcos sim national``: a pure function of
its :class:`StationTask` (plus the CEC it talks to), picklable for a spawn process
pool or a Dask worker. It

* plans the station's day (:func:`simulator.election_day.plan_day`: voters, sheets in
  the order they reach the scanners, jams, power cuts, modem outages);
* runs two real :class:`firmware.device.Device` s on simulated hardware (paper path,
  image sensor, two media directories with the real SQLite WAL store and card
  journal, audit log): package, test ballots, zero report, polls open, every sheet,
  close, results report. Voters alternate between the two devices; a device that is
  down (power cut, failure) leaves its voters to the other one;
* power cuts strike in the middle of a sheet at a drawn fault point (after feed,
  after ``pending``, after the drop, between the two media, inside the SQLite commit):
  the device object is abandoned as a dead process would be, and a new one boots
  from the media and the paper path, and decides any pending sheet;
* a failed device is replaced by a spare from the TEC that boots from the failed
  device's removable card (the journal), stands on the same ballot box, and carries
  on: the operator acknowledges the storage problem at close;
* every device queues its zero report and results, and one device the DEC protocol,
  in a real :class:`protocol.outbox.Outbox` (SQLite), signed with its key, sealed
  with HPKE to the CEC, sent by the real :class:`protocol.outbox.Sender` over
  loopback TCP or through the real SIM7600 driver over an emulated modem on a pty,
  retrying with backoff in simulated time while the link is down;
* returns what happened, and the ground truth of the station's ballot boxes
  computed from the simulated world (never from the device).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import os
import random
import shutil
import signal
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.hashing import election_hash
from election.model import PARTY_LIST_CONTEST, BallotKind, Election, Station
from election.rules import BallotOutcome
from election.tally import Tally, TallyBuilder
from firmware.crypto import Certificate, public_key_from_bytes
from firmware.device import Device, DeviceConfig, Hardware, SheetReader
from firmware.faults import FaultPoints
from firmware.hal.imaging import DuplexImages
from firmware.hal.storage import MediumRole
from firmware.install import PackageTrust
from firmware.package import PackageError
from firmware.policy import BallotPolicy
from firmware.provision import ProvisionedDevice
from firmware.sink import RecordingReportSink
from firmware.states import ACCEPTS_PAPER, PollsState, ScannerState
from firmware.store import SheetMode, SheetState
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.envelope import CecPublicKeys
from protocol.messages import (
    DecFigures,
    DecProtocol,
    Results,
    SheetCounts,
    ZeroReport,
    confirm_dec_figures,
)
from protocol.outbox import Backoff, Outbox, OutboxState, Sender, TcpTransport
from simulator.devices import (
    RecordingDisplay,
    SimImageSensor,
    SimMedium,
    SimPaperPath,
    SimWorld,
    sensor_images,
)
from simulator.election_day import DayParams, ElectionDay, EventKind, plan_day
from simulator.national.exchange import DecDesk, original_of, replacement_spec
from simulator.national.faults import NationalFaults, StationFaults
from simulator.national.intent import IntentReader, Intents, box_truth, parse_sheet_id, sheet_id
from simulator.sheets import GivenSheet

BISHKEK_UTC_OFFSET_S = 6 * 3600.0
MAX_STEPS_PER_SHEET = 40
MAX_READER_RETURNS = 3  # a voter tries a rejected sheet this often, then keeps it
PUMP_EVERY_S = 900.0  # devices with pending messages retry at least this often
SEND_DEADLINE_S = 36 * 3600.0  # give up the simulation of sending at noon the next day
CUT_POINTS = ("sheet.after-feed", "sheet.after-pending", "sheet.after-drop",
              "sheet.after-cast", "store.between-media", "sqlite-commit")
TEST_BALLOTS = 2
SPARE = "spare"  # the unit name of the TEC spare that took over a failed device


class SimFlashMedium(SimMedium):
    """A simulated medium in a tmpfs directory (``/dev/shm`` by default): the store's
    SQLite WAL and journal files are real and ``fsync`` is still called, but it costs
    nothing there, so the medium says ``cheap_sync`` and the store writes the card in the
    calling thread after SQLite instead of overlapping the two fsyncs in a helper thread
    (``firmware.store``): no thread hand-off per sheet; and ``private_db``: nothing else
    opens the database while the device runs."""

    cheap_sync: ClassVar[bool] = True
    # only the device's process opens its database while it runs (the run reads nothing
    # from the media; a worker that dies takes its locks with it): the store may hold
    # SQLite's lock for the connection's life (``firmware.store``)
    private_db: ClassVar[bool] = True
    # the directory, once seen: the run creates it before the device boots and removes it
    # only after the station's day, so the store's check before every write (twice per
    # sheet per medium) needs no ``stat`` after the first; a simulated failure of the
    # medium is ``world.failed_media``, looked at every time
    _seen: bool = False

    def available(self) -> bool:  # MediumRole is a StrEnum: equal to its value
        if self.role in self.world.failed_media:
            return False
        if not self._seen:
            self._seen = os.path.isdir(self.path)
        return self._seen


def fast_tiny_images(sheet: str) -> DuplexImages:
    """:func:`simulator.devices.tiny_images` (the same arrays, a test checks it), built
    from bytes without numpy arithmetic: this runs once per sheet of ``--images none``."""
    data = sheet.encode("utf-8").ljust(16, b"\0")[:16]
    front = bytearray(48)
    for channel in range(3):
        front[channel::3] = data
    back = bytearray(48)
    for channel in range(3):
        back[channel::3] = data[::-1]
    return DuplexImages(np.frombuffer(front, np.uint8).reshape(1, 16, 3),
                        np.frombuffer(back, np.uint8).reshape(1, 16, 3))


class PowerCut(BaseException):
    """The device loses power here (raised from a fault point; nothing catches it)."""


@dataclass
class CutPoints(FaultPoints):
    """Fault points that cut the power (raise :class:`PowerCut`) instead of SIGKILL."""

    def arm(self, name: str) -> None:
        self.name, self.at, self.hits = name, 1, {}

    def hit(self, name: str) -> None:
        if self.name is not None and name == self.name:
            self.name = None
            raise PowerCut(name)


@dataclass(frozen=True)
class DeviceKeys:
    """A device's key and its CEC-signed certificate, as provisioned (simulation: handed
    to the worker; on a real device the key never leaves it)."""

    device_id: str
    key_raw: bytes
    certificate: dict[str, Any]

    def identity(self, station: str) -> DeviceIdentity:
        key = Ed25519PrivateKey.from_private_bytes(self.key_raw)
        return DeviceIdentity(self.device_id, station, key,
                              Certificate.from_json(self.certificate))


@dataclass(frozen=True)
class StationTask:
    station: str
    seed: int
    faults: StationFaults
    rates: NationalFaults
    devices: tuple[DeviceKeys, ...]  # two, and a spare when one fails
    cec_host: str
    cec_port: int
    cec_x25519_public: bytes
    cec_signing_public: bytes
    package_hash: str
    workdir: str
    attempt: int = 0
    kill_after_zero: bool = False  # tests: SIGKILL this worker once zero reports are out
    keep: bool = False
    profile_dir: str = ""  # write a cProfile of this station's run here (station-N.prof)
    # the signed election package the TEC hands a spare (a file; read only by a spare that
    # takes over), and the CEC root certificate (JSON) the spare trusts
    package_path: str = ""
    cec_root: dict[str, Any] = field(default_factory=dict)


class SimClock:
    """The device clock: simulated local time of election day, as aware UTC."""

    def __init__(self, date: dt.date) -> None:
        self.midnight_utc = dt.datetime(date.year, date.month, date.day,
                                        tzinfo=dt.UTC) - dt.timedelta(
            seconds=BISHKEK_UTC_OFFSET_S)
        self.t_s = 0.0
        self._at: tuple[float, dt.datetime] = (0.0, self.midnight_utc)

    def now(self) -> dt.datetime:
        t_s, at = self._at  # the device asks several times per sheet at the same time
        if t_s != self.t_s:
            at = self.midnight_utc + dt.timedelta(seconds=self.t_s)
            self._at = (self.t_s, at)
        return at

    def advance(self, t_s: float) -> None:
        self.t_s = max(self.t_s, t_s)

    def stamp(self) -> str:
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1)
def worker_election() -> Election:
    """The default election, built once per worker process (its hash cached on it)."""
    from election.default import default_election

    election = default_election()
    election_hash(election)
    return election


class _DownTransport:
    """The link is down (modem outage, late or silent station): connecting fails."""

    def open(self, host: str, port: int) -> None:
        raise ConnectionError("no network (simulated link outage)")

    def send(self, data: bytes) -> None:
        raise ConnectionError("not connected")

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        raise ConnectionError("not connected")

    def close(self) -> None:
        return None


@dataclass
class Unit:
    """One scanner position: a device (or the spare that replaced it), its world, outbox."""

    name: str
    keys: DeviceKeys
    root: Path
    world: SimWorld
    removable: Path
    device: Device | None = None
    faults: CutPoints = field(default_factory=CutPoints)
    outbox: Outbox | None = None
    sender: Sender | None = None
    down_until_s: float | None = None  # power cut: back at this time
    failed: bool = False
    cuts: int = 0
    jams: int = 0
    returns: int = 0
    delivered_at: dict[int, float] = field(default_factory=dict)
    # when the outbox's head is next due, as last read (inf: nothing pending; None: read it
    # again): the pump runs every 15 simulated minutes and need not query the outbox
    # while nothing was queued and nothing is due
    due_s: float | None = None
    package_load_cpu_s: float | None = None  # a spare: CPU of loading the signed package
    desk: DecDesk | None = None  # the station's commission: exchanges a ballot given up on

    @property
    def up(self) -> bool:
        return self.device is not None and not self.failed and self.down_until_s is None


@dataclass
class _Day:
    """Everything one station run holds (kept out of module state)."""

    task: StationTask
    election: Election
    station: Station
    plan: ElectionDay
    clock: SimClock
    reader: SheetReader
    images_of: Any
    link_down: list[tuple[float, float]]
    cec: CecPublicKeys
    cec_signing: Any
    modems: list[Any] = field(default_factory=list)
    truths: dict[str, BallotOutcome] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, Any] | None = None  # the spare refused the TEC's package: why
    desk: DecDesk | None = None  # the spoiled-ballot exchange (set up by ``_run_station``)

    def link_up(self, t_s: float) -> bool:
        if self.task.faults.never_reports:
            return False
        return not any(a <= t_s < b for a, b in self.link_down)


# --- devices ---------------------------------------------------------------------------------


def _boot(day: _Day, unit: Unit, internal: Path) -> Device:
    if unit.device is not None:
        unit.device.close()
        unit.device = None
    internal.mkdir(parents=True, exist_ok=True)
    unit.removable.mkdir(parents=True, exist_ok=True)
    ident = unit.keys.identity(day.station.number)
    config = DeviceConfig(election=day.election, station=day.station,
                          device_id=unit.keys.device_id, signing_key=ident.key,
                          reader=day.reader, package_hash=day.task.package_hash,
                          software_hash="sim-software", policy=BallotPolicy.KG_DEFAULT)
    if unit.name == SPARE:
        # a TEC spare runs only what it verifies: the CEC root and its own certificate; the
        # election and station here are placeholders until it loads the signed package
        # (``_spare_takes_over``); after a restart it re-verifies the installed file
        config = replace(config, package_hash="", trust=PackageTrust(
            root=Certificate.from_json(day.task.cec_root),
            device=ProvisionedDevice(ident.key, ident.certificate)),
            reader_for=lambda e, s, t: day.reader)
    hw = Hardware(paper=SimPaperPath(unit.world), images=SimImageSensor(unit.world,
                                                                        day.images_of),
                  display=RecordingDisplay(keep=4),
                  internal=SimFlashMedium(MediumRole.INTERNAL, internal, unit.world),
                  removable=SimFlashMedium(MediumRole.REMOVABLE, unit.removable, unit.world),
                  clock=day.clock, reports=RecordingReportSink())
    device = Device(config, hw, unit.faults)
    device.boot()
    unit.device = device
    if unit.outbox is None:
        unit.outbox = Outbox(unit.root / "outbox.sqlite")
        unit.sender = Sender(unit.outbox, lambda: _transport(day, unit), day.task.cec_host,
                             day.task.cec_port, day.cec, day.cec_signing,
                             backoff=Backoff(base_s=60.0, cap_s=1800.0,
                                             rng=random.Random(f"{unit.keys.device_id}")),
                             receipt_timeout_s=30.0, clock=lambda: day.clock.t_s)
    return device


def _transport(day: _Day, unit: Unit) -> Any:
    if not day.link_up(day.clock.t_s):
        return _DownTransport()
    if not day.task.faults.modem:
        return TcpTransport(connect_timeout_s=10.0)
    from protocol.modem import ModemTimeouts, Sim7600Modem
    from simulator.modem_emulator import ModemEmulator

    if not day.modems:
        day.modems.append(ModemEmulator(seed=day.task.seed).start())
    return Sim7600Modem(day.modems[0].port_path, apn="elections.kg",
                        timeouts=ModemTimeouts.fast(5.0))


def _drive(unit: Unit, test: bool = False) -> None:
    """Step the device until its paper path is settled and nothing waits in the queue."""
    device, world = unit.device, unit.world
    assert device is not None
    tries: dict[str, int] = {}
    if (device.scanner is ScannerState.WAITING and not world.entry and world.path is None
            and not world.cover_open and device.polls in ACCEPTS_PAPER):
        # a step now would only read the sensors and wait on (no state, record or screen
        # changes): the voter inserts the sheet first, and the first step takes it
        world.insert_next(test=test)
    for _ in range(MAX_STEPS_PER_SHEET * (len(world.queue) + len(world.test_queue) + 2)):
        device.step()
        state = device.scanner
        if state is ScannerState.JAMMED and world.path_state == "jammed":
            world.clear_jam(requeue=True, test=test)
        elif state is ScannerState.NEEDS_REVIEW:
            device.voter_choice(cast=True)
        elif world.entry:
            if state is ScannerState.WAITING:
                continue
            sid = world.entry[0]
            tries[sid] = tries.get(sid, 0) + 1
            unit.returns += 1
            requeue = tries[sid] < MAX_READER_RETURNS
            taken = world.take_back(requeue=requeue, test=test)
            if not requeue and not test and unit.desk is not None:
                # the voter gives up on it: the commission spoils a genuine ballot and
                # issues a fresh one, which the voter marks alike and feeds next
                unit.desk.exchange(world, taken)
        elif world.path is None and world.insert_next(test=test) is None:
            return
    raise RuntimeError(f"device {unit.keys.device_id}: the paper path did not settle "
                       f"({device.scanner.value})")


def _cut(day: _Day, unit: Unit, restore_s: float, why: str) -> None:
    """The power goes: the device object dies where it is (its media stay as written)."""
    if unit.device is not None:
        with contextlib.suppress(Exception):
            unit.device.close()
    unit.device = None
    unit.down_until_s = restore_s
    unit.cuts += 1
    day.incidents.append({"kind": "power-cut", "t_s": day.clock.t_s, "device": unit.name,
                          "where": why})


def _restore(day: _Day, unit: Unit) -> None:
    """Power is back: boot from the media and the paper path, settle any sheet left."""
    day.clock.advance(unit.down_until_s or day.clock.t_s)
    unit.down_until_s = None
    device = _boot(day, unit, unit.root / "internal")
    if device.polls in (PollsState.POLLS_OPEN, PollsState.POLLS_PAUSED, PollsState.TEST_MODE):
        _drive(unit, test=device.polls is PollsState.TEST_MODE)


def _feed(day: _Day, unit: Unit, sid: str, jams: int,
          cut: tuple[str, float] | None = None) -> None:
    """A voter feeds ``sid`` (``jams`` times it stops in the path first); ``cut``: the
    power goes at that fault point during this sheet and is back at that time."""
    world = unit.world
    if jams:
        world.jam_feeds(jams)
        unit.jams += jams
    world.queue.append(sid)
    if cut is not None:
        unit.faults.arm(cut[0])
    try:
        _drive(unit)
    except PowerCut as exc:
        assert cut is not None
        _cut(day, unit, cut[1], str(exc))
    unit.faults.name = None


def _open_polls(day: _Day, unit: Unit) -> None:
    device = unit.device
    assert device is not None
    if device.polls is PollsState.NO_PACKAGE:
        device.load_package()
    if device.polls is PollsState.PACKAGE_LOADED:
        device.enter_test_mode()
    if device.polls is PollsState.TEST_MODE:
        for i in range(TEST_BALLOTS):
            unit.world.test_queue.append(sheet_id(day.station.number, i, BallotKind.PARTY_LIST,
                                                  test=True))
        _drive(unit, test=True)
        device.clear_test()
        device.open_polls()
        _queue(day, unit, ZeroReport(device.tally(SheetMode.OFFICIAL)))


def _queue(day: _Day, unit: Unit, content: Any) -> None:
    device = unit.device
    assert device is not None and unit.outbox is not None
    ident = unit.keys.identity(day.station.number)
    head = device.store.view.audit_head
    DeviceMessenger(ident, election_hash(day.election), day.task.package_hash).queue(
        unit.outbox, content, time=day.clock.stamp(),
        audit_head=head["hash"] if head else "0" * 64)
    unit.due_s = None


def _pump(day: _Day, unit: Unit) -> None:
    """One sending round if anything is due; note when each message got its receipt."""
    if unit.sender is None or unit.outbox is None:
        return
    if unit.due_s is not None and unit.due_s > day.clock.t_s:
        return
    pending = unit.outbox.pending()
    if not pending or pending[0].next_attempt_s > day.clock.t_s:
        unit.due_s = pending[0].next_attempt_s if pending else float("inf")
        return
    unit.due_s = None
    unit.sender.send_due()
    for e in unit.outbox.entries(OutboxState.DELIVERED):
        unit.delivered_at.setdefault(e.sequence, day.clock.t_s)


def _close(day: _Day, unit: Unit) -> None:
    device = unit.device
    assert device is not None
    if device.polls in (PollsState.POLLS_OPEN, PollsState.POLLS_PAUSED):
        if device.storage_ack_needed:
            device.acknowledge_storage()
        device.close_polls()
    if device.polls is PollsState.POLLS_CLOSED:
        printed = [d for k, d in device.hw.reports.reports  # type: ignore[attr-defined]
                   if k == "results"]
        # what this device printed at close (the same recount); after a restart, again
        data = printed[-1] if printed else device.report_data("results")
        device.report_results()
        _queue(day, unit, Results(Tally.from_json(data["tally"]), SheetCounts(
            data["sheets_cast"], sum(data["returned_by_reason"].values()),
            data["marginal_sheets"])))


def _page_png(station: str) -> bytes:
    img = np.full((24, 96), 255, np.uint8)
    cv2.putText(img, station, (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return bytes(buf)


def _dec_figures(station: Station, truth: Tally, spoiled: int) -> DecFigures:
    """The figures the commission writes on its paper protocol after the hand count;
    ``spoiled``: the ballots it cancelled in exchange for fresh ones."""
    votes = {c.contest: dict(c.options) for c in truth.contests}
    return DecFigures.make(voters_on_list=station.voters, ballots_received=station.voters,
                           ballots_cast=truth.contest(PARTY_LIST_CONTEST).ballots,
                           ballots_spoiled=spoiled, votes=votes)


# --- the day ---------------------------------------------------------------------------------


def _plan(task: StationTask, election: Election) -> ElectionDay:
    return plan_day(election, task.station, DayParams(faults=task.rates.day_rates()),
                    seed=task.seed)


def _outages(plan: ElectionDay, faults: StationFaults) -> list[tuple[float, float]]:
    down = [(e.t_s, e.t_s + (e.duration_s or 0.0)) for e in plan.events
            if e.kind is EventKind.MODEM_DOWN]
    close = next(e.t_s for e in plan.events if e.kind is EventKind.POLLS_CLOSE)
    if faults.late_s > 0:
        down.append((close, close + faults.late_s))
    return down


@dataclass
class ImageSource:
    """Full images of one station's day: the reader, the scan of each fed sheet, and the
    DEC's hooks (which fed sheets are genuine; a replacement's paper)."""

    reader: SheetReader
    images_of: Any
    genuine: Any
    issue: Any


def _image_source(task: StationTask, election: Election, station: Station,
                  plan: ElectionDay, truths: dict[str, BallotOutcome]) -> ImageSource:
    """Full images: the simulator renders each sheet; the real reader reads it. The truth
    of a sheet is what the Kyrgyz default policy must count: its definite marks (a
    marginal mark counts as unmarked), from the simulator's mark truth. A replacement
    ballot the DEC issued (:mod:`simulator.national.exchange`) is rendered from its spec:
    the spoiled sheet's ballot and intended marks on a new paper."""
    from firmware.reader_setup import make_reader
    from simulator.election_day import sheet_factories
    from simulator.scanner import preset
    from simulator.station_day import policy_expected

    factories = sheet_factories(election, plan, preset("realistic"))
    feeds: dict[str, int] = {}  # scans of each sheet so far in this station's day
    genuine: dict[str, dict[str, Any]] = {}  # official genuine sheets fed: their truth
    given: dict[str, GivenSheet] = {}  # replacements the DEC issued: their paper

    def images_of(sid: str) -> DuplexImages:
        """The scan of ``sid`` as fed now: its first feed is the sheet's first scan; a
        sheet fed again (returned by the reader, or after a power cut) is the same paper
        scanned afresh (``SheetFactory.sheet(rescan=)``)."""
        _, index, kind, test = parse_sheet_id(sid)
        rescan = feeds.get(sid, 0)
        feeds[sid] = rescan + 1
        spec = given.get(sid)
        if spec is not None:
            sheet = factories[kind].given_sheet(index, spec, rescan=rescan)
        else:
            sheet = factories[kind].sheet(index + (1_000_000 if test else 0), rescan=rescan)
        expected = None if test else policy_expected(election, sheet.truth)
        if expected is not None:
            truths[sid] = BallotOutcome.from_json(expected)
        if not test and sheet.truth["genuine"]:
            genuine[sid] = sheet.truth
        return sensor_images(sheet.front, sheet.back, sheet.jpeg)

    def issue(old: str, new: str) -> None:
        given[new] = replacement_spec(station, genuine[old], plan.sheet_seed,
                                      parse_sheet_id(new)[1])

    return ImageSource(make_reader(election, station), images_of, genuine.__contains__,
                       issue)


@contextlib.contextmanager
def young_cycles_collected_after() -> Iterator[None]:
    """No cyclic garbage collection during a station's day; one pass over what the day
    allocated at its end. The day allocates millions of short-lived objects beside a
    large live graph (the election, the devices' views and audit heads): the collector's
    automatic passes over it cost about a tenth of the station's CPU. Reference counting
    frees nearly everything as before; the few cycles a day makes (the tracebacks of its
    simulated power cuts, ...) stay in the youngest generation while collection is off
    and are freed by the one ``gc.collect(0)`` at the end. Leaves the collector as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect(0)


def run_station(task: StationTask) -> dict[str, Any]:
    """Run one station's day; return its record (JSON-ready). With ``task.profile_dir``
    the run is profiled (cProfile, in this worker) into ``station-N.prof`` there."""
    if not task.profile_dir:
        with young_cycles_collected_after():
            return _run_station(task)
    import cProfile

    prof = cProfile.Profile(time.process_time)  # CPU time: fsync waits are not CPU
    with young_cycles_collected_after():
        record: dict[str, Any] = prof.runcall(_run_station, replace(task, profile_dir=""))
    out = Path(task.profile_dir)
    out.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(out / f"station-{task.station}.prof")
    return record


def _run_station(task: StationTask) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    election = worker_election()
    station = election.station(task.station)
    root = Path(task.workdir) / f"st-{station.number}"
    if root.exists():
        shutil.rmtree(root)  # a rerun starts the station's day over, messages and all
    root.mkdir(parents=True)
    plan = _plan(task, election)
    truths: dict[str, BallotOutcome] = {}
    intents = Intents(election, station, task.seed)
    if task.faults.images:
        source = _image_source(task, election, station, plan, truths)
        reader, images_of = source.reader, source.images_of
        genuine, issue = source.genuine, source.issue
    else:
        by_kind: dict[BallotKind, list[int]] = {}
        for s in plan.sheets:
            by_kind.setdefault(s.kind, []).append(s.sheet_index)
        for kind, idx in by_kind.items():
            intents.prepare(kind, idx)
        intents.prepare(BallotKind.PARTY_LIST, list(range(TEST_BALLOTS)), test=True)
        reader, images_of = IntentReader(intents), fast_tiny_images
        genuine, issue = intents.issued, intents.same_as
    cec = CecPublicKeys(x25519.X25519PublicKey.from_public_bytes(task.cec_x25519_public))
    day = _Day(task, election, station, plan, SimClock(election.date), reader, images_of,
               _outages(plan, task.faults), cec, public_key_from_bytes(task.cec_signing_public),
               truths=truths)
    day.desk = DecDesk(genuine, issue, lambda: day.clock.t_s, day.incidents)
    try:
        record = _run(day, root)
    finally:
        for m in day.modems:
            m.stop()
        day.desk = None  # its clock refers to the day: freed now, not by the collector
    if not task.keep:
        shutil.rmtree(root, ignore_errors=True)
    record.update(seconds=round(time.perf_counter() - t0, 3),
                  cpu_s=round(time.process_time() - c0, 3), pid=os.getpid(),
                  attempt=task.attempt)
    return record


def _run(day: _Day, root: Path) -> dict[str, Any]:
    task, plan, clock = day.task, day.plan, day.clock
    sn = day.station.number
    units = [Unit(n, task.devices[i], root / n, SimWorld(), root / n / "removable",
                  desk=day.desk) for i, n in enumerate(("A", "B"))]
    spare: Unit | None = None
    rng = np.random.default_rng([task.seed, zlib.crc32(sn.encode()), 30])
    cut_plan: list[tuple[int, str, float]] = []  # cuts waiting for the unit's next sheet
    next_pump = 0.0
    closed = False
    for ev in plan.events:
        clock.advance(ev.t_s)
        # devices back from a power cut, failures, spares (looked at on every event: a
        # list is built only when there is a spare, a copy of the cut plan only when it
        # holds a cut)
        for u in (units if spare is None else [*units, spare]):
            if u.down_until_s is not None and u.down_until_s <= clock.t_s:
                _restore(day, u)
        if cut_plan:
            for which, point, restore in list(cut_plan):
                if restore <= clock.t_s:  # no voter came to it: the cut strikes between sheets
                    cut_plan.remove((which, point, restore))
                    if units[which].up:
                        _cut(day, units[which], restore, "between sheets")
                        _restore(day, units[which])
        f = task.faults
        if f.failed_device is not None and clock.t_s >= f.fail_at_s and \
                not units[f.failed_device].failed and not closed:
            u = units[f.failed_device]
            if u.device is not None:
                with contextlib.suppress(Exception):
                    u.device.close()
            u.device, u.failed, u.down_until_s = None, True, None
            day.incidents.append({"kind": "device-failure", "t_s": clock.t_s, "device": u.name})
        if spare is None and day.refused is None and f.failed_device is not None and \
                clock.t_s >= f.spare_at_s and units[f.failed_device].failed:
            spare = _spare_takes_over(day, root, units[f.failed_device])
        kind = ev.kind
        if kind is EventKind.POLLS_OPEN:
            for u in units:
                if u.down_until_s is not None:
                    _restore(day, u)
                elif u.device is None:
                    clock.advance(ev.t_s - 1200.0)  # set-up, test ballots before opening
                    _boot(day, u, u.root / "internal")
                clock.advance(ev.t_s)
                _open_polls(day, u)
                _pump(day, u)
            if task.kill_after_zero:
                _kill_once(root.parent / f"killed-{sn}")
        elif kind is EventKind.POWER_CUT:
            which = int(rng.integers(2))
            point = CUT_POINTS[int(rng.integers(len(CUT_POINTS)))]
            restore = ev.t_s + (ev.duration_s or 60.0)
            u = units[which]
            if not u.up or any(c[0] == which for c in cut_plan):
                continue
            if u.device is not None and u.device.polls is PollsState.POLLS_OPEN and not closed:
                cut_plan.append((which, point, restore))
            else:
                _cut(day, u, restore, "between sheets")
        elif kind is EventKind.BALLOT_FED:
            fed = plan.sheets[ev.sheet or 0]
            sid = sheet_id(sn, fed.sheet_index, fed.kind)
            stands = [u for u in units if not u.failed] + ([spare] if spare else [])
            target = stands[fed.voter % len(stands)]
            if not target.up:
                others = [u for u in stands if u.up]
                if others:
                    target = others[0]
                else:  # nobody can take the sheet: the voter waits for the power
                    target = min(stands, key=lambda u: u.down_until_s or 0.0)
                    _restore(day, target)
            cut = None
            for c in cut_plan:
                if units[c[0]] is target:
                    cut_plan.remove(c)
                    cut = (c[1], c[2])
                    break
            _feed(day, target, sid, fed.jams, cut)
        elif kind is EventKind.POLLS_CLOSE:
            closed = True
            if f.failed_device is not None and spare is None and day.refused is None:
                clock.advance(max(clock.t_s, f.spare_at_s))
                spare = _spare_takes_over(day, root, units[f.failed_device])
            cut_plan.clear()
            for u in [*units, *([spare] if spare else [])]:
                if u.failed:
                    continue
                if u.down_until_s is not None:
                    _restore(day, u)
                clock.advance(clock.t_s + 300.0)  # reports printed, signed, queued
                _close(day, u)
        if clock.t_s >= next_pump:
            for u in [*units, *([spare] if spare else [])]:
                if u.device is not None:
                    _pump(day, u)
            next_pump = clock.t_s + PUMP_EVERY_S
    reporters = [u for u in [*units, *([spare] if spare else [])] if not u.failed]
    for u in reporters:
        if u.down_until_s is not None:  # a cut after closing: it sends once power is back
            _restore(day, u)
    worlds = {id(u.world): u.world for u in [*units, *([spare] if spare else [])]}
    box = [sid for w in worlds.values() for sid in w.box]
    if task.faults.images:
        truth = box_truth(day.election, day.station, box, lambda s: day.truths[s])
    else:
        intents = day.reader.intents  # type: ignore[attr-defined]
        truth = box_truth(day.election, day.station, box, intents.outcome)
    clock.advance(clock.t_s + 600.0)  # the commission's hand count and protocol
    spoiled = len(day.desk.spoiled) if day.desk is not None else 0
    _queue(day, reporters[0], DecProtocol((_page_png(sn),), confirm_dec_figures(
        _dec_figures(day.station, truth, spoiled), _dec_figures(day.station, truth, spoiled))))
    _send_all(day, reporters)
    record = _record(day, units, spare, box, truth)
    for u in [*units, *([spare] if spare else [])]:
        # each sender's transport and clock refer to its unit and the day: freed now
        u.sender = u.desk = u.device = None
    return record


def _spare_takes_over(day: _Day, root: Path, failed: Unit) -> Unit | None:
    """The TEC's spare boots from the failed device's card, on the same ballot box, and
    loads the signed election package the TEC holds for the station
    (``Device.load_package(data, station=...)``: signature, election hash, TEC assignment,
    certificate). A refused package (typed reason, audited on the spare): the spare does
    not take over; the failed device's sheets stay on its card, unreported; None."""
    spare = Unit(SPARE, day.task.devices[2], root / "spare", failed.world, failed.removable,
                 desk=day.desk)
    device = _boot(day, spare, spare.root / "internal")
    data = Path(day.task.package_path).read_bytes()
    c0 = time.process_time()
    try:
        device.load_package(data, station=day.station.number)
    except PackageError as exc:
        audited = next((e["data"] for e in reversed(device.store.audit_events())
                        if e["type"] == "package-refused"), None)
        device.close()
        spare.device = None
        day.refused = {"device": spare.keys.device_id, "reason": exc.reason.value,
                       "detail": exc.detail, "audited": audited}
        day.incidents.append({"kind": "spare-refused-package", "t_s": day.clock.t_s,
                              "device": SPARE, "reason": exc.reason.value})
        return None
    spare.package_load_cpu_s = time.process_time() - c0
    if device.polls is PollsState.POLLS_OPEN:
        _drive(spare)
    day.incidents.append({"kind": "spare-took-over", "t_s": day.clock.t_s, "device": SPARE})
    return spare


def _send_all(day: _Day, units: list[Unit]) -> None:
    """After closing: keep sending (in simulated time) until every outbox is empty."""
    clock = day.clock
    while True:
        for u in units:
            _pump(day, u)
        heads = [p[0] for u in units if u.outbox is not None
                 for p in [u.outbox.pending()] if p]
        if not heads:
            return
        due = min(e.next_attempt_s for e in heads)  # a device sends its queue in order
        if due >= SEND_DEADLINE_S:
            return
        clock.advance(max(due, clock.t_s + 1.0))


def _kill_once(marker: Path) -> None:
    """Tests: this worker process dies (SIGKILL) mid-station, once per station."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _record(day: _Day, units: list[Unit], spare: Unit | None, box: list[str],
            truth: Tally) -> dict[str, Any]:
    sn = day.station.number
    planned = {sheet_id(sn, s.sheet_index, s.kind) for s in day.plan.sheets}
    spoiled = sorted(day.desk.spoiled) if day.desk is not None else []
    in_box = set(box)
    # a voter's ballot reached a box if it or a replacement the DEC issued for it did
    reached = {original_of(s) for s in in_box}
    devices = []
    reported_s = None
    for u in [*units, *([spare] if spare else [])]:
        msgs = []
        if u.outbox is not None:
            for e in u.outbox.entries():
                msgs.append({"sequence": e.sequence, "kind": e.kind, "hash": e.message_hash,
                             "state": e.state.value, "attempts": e.attempts,
                             "delivered_s": u.delivered_at.get(e.sequence)})
                if e.kind == "results" and e.state is OutboxState.DELIVERED:
                    t = u.delivered_at.get(e.sequence)
                    if t is not None and (reported_s is None or t < reported_s):
                        reported_s = t
            u.outbox.close()
        cast = 0
        loaded: dict[str, Any] | None = None
        if u.device is not None:
            cast = len(u.device.store.sheets(mode=SheetMode.OFFICIAL, state=SheetState.CAST))
            if u.name == SPARE:  # what its audit log says it loaded
                loaded = next((e["data"] for e in reversed(u.device.store.audit_events())
                               if e["type"] == "package-loaded"), None)
            u.device.close()
        devices.append({"device_id": u.keys.device_id, "role": u.name, "failed": u.failed,
                        "power_cuts": u.cuts, "jams": u.jams, "reader_returns": u.returns,
                        "sheets_cast_on_record": cast, "messages": msgs,
                        **({"package_loaded": loaded,
                            "package_load_cpu_s": round(u.package_load_cpu_s or 0.0, 4)}
                           if u.name == SPARE else {})})
    for ev in day.plan.events:
        if ev.kind is EventKind.MODEM_DOWN:
            day.incidents.append({"kind": "modem-outage", "t_s": ev.t_s})
        elif ev.kind is EventKind.PAPER_JAM:
            day.incidents.append({"kind": "paper-jam", "t_s": ev.t_s})
    if day.task.faults.late_s > 0:
        day.incidents.append({"kind": "late-station", "t_s": day.clock.t_s})
    if day.task.faults.never_reports:
        day.incidents.append({"kind": "never-reports", "t_s": day.clock.t_s})
    hours = [0] * 24
    for v in day.plan.voters:
        hours[min(int(v.arrival_s // 3600), 23)] += 1
    return {
        "station": sn, "region": day.station.region, "district": day.station.district,
        "voters_on_list": day.station.voters, "voters": len(day.plan.voters),
        "voters_by_hour": hours, "sheets": len(day.plan.sheets), "box": len(box),
        "not_in_box": sorted(planned - reached),
        "spoiled": spoiled,
        "truth": truth.to_json(), "devices": devices, "reported_s": reported_s,
        "incidents": day.incidents, "faults": day.task.faults.to_json(),
        "spare_refused": day.refused,
    }


def truth_builder(election: Election) -> TallyBuilder:
    return TallyBuilder.from_tally(Tally.empty(election, ()))
