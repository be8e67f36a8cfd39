"""The scanner as a device: polls, the sheet flow, exactly-once counting, recovery.

:class:`Device` owns the state machines (:mod:`firmware.states`), calls the
hardware through :mod:`firmware.hal`, decides with :mod:`firmware.policy`,
and writes every change through :class:`firmware.store.Store` together with
its audit event (:mod:`firmware.audit`), in one batch on both media.

Exactly once: a sheet to be cast is recorded ``pending`` (with its reading,
outcome and image hashes) *before* the motor ejects it, and marked ``cast``
when both rear sensors confirm the drop. A jam during the eject voids it (the
operator hands the sheet back). On boot, a ``pending`` sheet is decided by the
paper path: paper still in the path -> returned to the voter, voided; path
clear -> it dropped, cast. Tallies are recomputed from the stored sheet
records; the running count cached with each cast (a digest of the cast outcomes,
:mod:`firmware.castdigest`) is checked at boot and at close.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import election_hash
from election.model import Election, Station, Text
from election.rules import BallotOutcome
from election.tally import Tally, TallyBuilder
from firmware import amendment as amendments
from firmware import audit
from firmware import package as packages
from firmware.audit import EventType
from firmware.calibration_store import configured, packaged_profile, read_profile
from firmware.castdigest import CastDigest
from firmware.crypto import b64, public_bytes
from firmware.cvr import ImageRetention
from firmware.cvrstore import keep_images
from firmware.faults import FaultPoints
from firmware.hal.clock import Clock, iso
from firmware.hal.display import Display, Screen
from firmware.hal.imaging import DuplexImages, ImageSensor, ImageSensorError, SensorFile
from firmware.hal.paper import MotionResult, PaperPath
from firmware.hal.printer import PrinterError
from firmware.hal.results_channel import ResultsChannel
from firmware.hal.storage import StorageMedium
from firmware.install import (
    AMENDMENT_REFUSALS,
    PACKAGE_REFUSALS,
    PackageTrust,
    ReaderFactory,
    configure,
    installed_package_path,
    reinstall_quick,
    with_election,
    withdrawals_from_json,
    withdrawals_json,
)
from firmware.policy import Action, BallotPolicy, decide
from firmware.reportdata import Withdrawals
from firmware.screens import SCANNER, screen
from firmware.sink import ReportSink
from firmware.states import (
    ACCEPTS_PAPER,
    DeviceError,
    IllegalTransition,
    PollsAction,
    PollsState,
    ScannerState,
    next_polls_state,
)
from firmware.store import BootCheck, SheetMode, SheetState, StorageError, Store
from vision.config import Thresholds
from vision.result import Outcome, SheetInterpretation

TALLY_CACHE = "running-tally"
_POLLS_BY_VALUE: dict[str, PollsState] = {p.value: p for p in PollsState}
_NO_PACKAGE = PollsState.NO_PACKAGE.value
_PENDING, _CAST = SheetState.PENDING.value, SheetState.CAST.value
# enum values looked up once (``.value`` is a descriptor call; these are read per cast)
_MODE_VALUE: dict[SheetMode, str] = {m: m.value for m in SheetMode}
_OUTCOME_VALUE: dict[Outcome, str] = {o: o.value for o in Outcome}
SMALL_IMAGES_BYTES = 64 * 1024

# Events the device reports to the CEC by itself, as a signed ``status`` message: every
# polls transition, and every fault or recovery the CEC's operators should see live.
STATUS_EVENTS = frozenset({
    EventType.PACKAGE_LOADED, EventType.MODE_CHANGED, EventType.POLLS_OPENED,
    EventType.POLLS_PAUSED, EventType.POLLS_RESUMED, EventType.POLLS_CLOSED,
    EventType.RESULTS_REPORTED, EventType.JAM, EventType.JAM_CLEARED,
    EventType.DOUBLE_FEED, EventType.STORAGE_ERROR, EventType.STORAGE_ACKNOWLEDGED,
    EventType.PRINTER_FAULT, EventType.RECOVERY, EventType.TALLY_MISMATCH,
})
STATUS_DETAIL_CHARS = 200  # what the CEC accepts (protocol.messages)


class SheetReader(Protocol):
    """What reads a fed sheet: ``vision.interpret.Reader`` (see firmware.reader_setup)."""

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        ...


class PackageMismatch(DeviceError):
    """The stored state belongs to another election package."""


class StorageNotAcknowledged(DeviceError):
    """A storage medium failed; closing polls needs the operator's acknowledgement."""


class ReportNotPrinted(DeviceError):
    """The printer failed (paper out, cover open, link): the report can be printed again."""

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(f"{kind} report not printed: {problem}; fix the printer and "
                         "print it again")
        self.kind = kind
        self.problem = problem


PRINTER_FAULT_TEXT = Text(ky="Принтер басып чыгарган жок. Кагазды жана капкакты текшерип, "
                             "кайра басыңыз.",
                          ru="Принтер не напечатал. Проверьте бумагу и крышку и напечатайте "
                             "снова.")


@dataclass(frozen=True)
class DeviceConfig:
    """Everything the device is configured with (later mapped from the signed package)."""

    election: Election
    station: Station
    device_id: str
    signing_key: Ed25519PrivateKey
    reader: SheetReader
    package_hash: str
    software_hash: str
    policy: BallotPolicy = BallotPolicy.KG_DEFAULT
    # a signed package: what the device trusts, and how to build a reader for its election
    trust: PackageTrust | None = None
    reader_for: ReaderFactory | None = None
    thresholds: Thresholds | None = None
    # the package's default calibration profile (``calibration.bin``), if it carries one
    default_calibration: bytes | None = None
    # which sheets' images the device keeps on the internal medium (None: none, no files)
    image_retention: ImageRetention | None = None
    # hand a status line to the uplink (``hw.results``) on every event of STATUS_EVENTS
    send_status: bool = True


@dataclass
class Hardware:
    paper: PaperPath
    images: ImageSensor
    display: Display
    internal: StorageMedium
    removable: StorageMedium
    clock: Clock
    reports: ReportSink
    results: ResultsChannel | None = None  # uplink to the CEC (protocol.channel), if any


@dataclass(frozen=True)
class SheetResult:
    """What happened to the sheet at the entry on one :meth:`Device.step`."""

    action: str  # "cast" | "returned" | "needs-review" | "jammed" | "double-sheet" | ...
    sheet_id: str | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()


@functools.lru_cache(maxsize=64)
def _image_header(shape: tuple[int, ...], dtype: Any) -> bytes:
    """``shape|dtype|`` as hashed before the pixels (numpy's dtype name is made in Python:
    a few microseconds, per image; a device sees a handful of shapes)."""
    return f"{shape}|{dtype}|".encode("ascii")


def image_sha256(img: Any) -> str:
    """SHA-256 over the image's shape, dtype and pixels."""
    h = hashlib.sha256(_image_header(img.shape, img.dtype))
    h.update(memoryview(img.tobytes() if not img.flags.c_contiguous else img).cast("B"))
    return h.hexdigest()


def file_sha256(f: SensorFile) -> str:
    """SHA-256 of a file a compressing sensor delivered, as ``sha256sum`` gives it."""
    return hashlib.sha256(f.data).hexdigest()


@dataclass(frozen=True)
class _PendingHashes:
    """The two image digests being computed in the hash workers (front, back)."""

    images: DuplexImages
    front: Future[str]
    back: Future[str]

    def result(self) -> list[str]:
        """Both digests. A side whose worker has not even started by now (a loaded CPU did
        not schedule it) is taken back and hashed here, rather than waited for."""
        return [image_sha256(img) if fut.cancel() else fut.result()
                for fut, img in ((self.front, self.images.front),
                                 (self.back, self.images.back))]


class _HashedImages:
    """Both digests, computed already (small images are hashed inline: a real ``Future``
    takes a lock on each call); answers :meth:`_PendingHashes.result` alike."""

    __slots__ = ("digests",)

    def __init__(self, digests: list[str]) -> None:
        self.digests = digests

    def result(self) -> list[str]:
        return self.digests


@dataclass
class _Held:
    """The sheet held at the back while the voter chooses (warn policy)."""

    interp: SheetInterpretation
    hashes: list[str]
    warnings: tuple[str, ...]


@dataclass
class Device:
    config: DeviceConfig
    hw: Hardware
    faults: FaultPoints = field(default_factory=FaultPoints)
    store: Store = field(init=False)
    scanner: ScannerState = field(init=False, default=ScannerState.DISABLED)
    boot_check: BootCheck | None = field(init=False, default=None)
    _held: _Held | None = field(init=False, default=None)
    _images: DuplexImages | None = field(init=False, default=None)
    _digest: CastDigest = field(init=False, default_factory=CastDigest)
    _hasher: ThreadPoolExecutor | None = field(init=False, default=None)
    on_event: Callable[[dict[str, Any]], None] | None = None
    # where the last step's time went (seconds): for the benchmarks, never for decisions
    timings: dict[str, float] = field(init=False, default_factory=dict)
    # screen() is pure: each (scanner, polls, reason, detail) is built once per device
    _screens: dict[tuple[ScannerState, PollsState, str | None, str], Screen] = field(
        init=False, default_factory=dict)
    # the ISO stamp of the last clock reading (asked several times per sheet)
    _stamp: tuple[dt.datetime | None, str] = field(init=False, default=(None, ""))
    # booted on another device's records (a TEC spare on a failed device's card): that
    # device's ``package`` record, until this device loads the signed package itself
    _takeover: dict[str, Any] | None = field(init=False, default=None)

    # --- boot and recovery ---------------------------------------------------------------------

    def boot(self) -> BootCheck:
        """Open the store, recover, decide any pending sheet, and show the ready screen."""
        self.store = Store(self.hw.internal, self.hw.removable, self.faults)
        try:
            check = self.store.open()
        except StorageError:
            self.scanner = ScannerState.STORAGE_FAILED
            self._show()
            raise
        self.boot_check = check
        stored_pkg = self.store.meta("package")
        if self._takes_over(stored_pkg):
            object.__setattr__(self, "_takeover", dict(stored_pkg or {}))
        elif stored_pkg is not None and stored_pkg.get("package_hash") != self.config.package_hash:
            self._reinstall(stored_pkg)
        self._reapply_withdrawals()
        self._use_calibration()
        recs: list[dict[str, Any]] = []
        power_on: dict[str, Any] = {"software": self.config.software_hash,
                                    "internal_records": check.internal_records,
                                    "removable_records": check.removable_records}
        events: list[tuple[EventType, dict[str, Any]]] = [(EventType.POWER_ON, power_on)]
        events += [(EventType.RECOVERY, {"decision": d}) for d in check.decisions]
        events += [(EventType.STORAGE_ERROR, p.to_json()) for p in check.problems]
        if check.problems:
            recs.append(_meta("storage-ack-needed", True))
        if self.store.meta("device-key") is None:
            recs.append(_meta("device-key", {"device": self.config.device_id,
                                             "public": b64(public_bytes(self.config.signing_key))}))
        self._commit(recs, events)
        self.faults.hit("boot.after-recovery")
        self._recover_paper()
        if self._takeover is None:  # else once the package is loaded (load_package)
            self._recount_at_boot()
        sensors = self.hw.paper.sensors()
        if sensors.jammed or sensors.held_at_rear:
            self.scanner = ScannerState.JAMMED  # the motor could not clear the path
        elif self.polls not in ACCEPTS_PAPER or self._takeover is not None:
            self.scanner = ScannerState.DISABLED
        else:  # a sheet at the entry after a restart: wait until the voter takes it
            self.scanner = ScannerState.WAITING if sensors.path_clear else ScannerState.RETURNED
        self._show()
        # a power cut may have struck between a transition and its hand-over
        for hand, what in ((self._hand_missed_status, "status not handed to the uplink"),
                           (self.hand_results, "reports not handed to the uplink")):
            try:
                hand()
            except PcosError as exc:  # the uplink never keeps the device from counting
                self._commit([], [(EventType.RECOVERY, {"decision": what, "why": str(exc)})])
        return check

    def _recount_at_boot(self) -> None:
        """Recount the official tally from the sheet records; re-seed the running tally."""
        self._digest = CastDigest()
        self._recount_builder(SheetMode.OFFICIAL, self._digest)
        recount = self._digest.to_json()
        cached = self.store.cache(TALLY_CACHE)
        if cached is not None and cached != recount:
            # normal after a power cut took the last (unsynced) cast mark with it
            self._commit([], [(EventType.RECOVERY, {"decision": "running tally re-seeded "
                                                                "from the sheet records"})])
        if cached != recount:
            self.store.set_cache(TALLY_CACHE, recount)

    def _takes_over(self, stored: dict[str, Any] | None) -> bool:
        """Whether the records on the media are another device's (a TEC spare booted on a
        failed device's card): a device with a trusted CEC root then runs nothing of that
        device's configuration until it loads the signed package itself
        (:meth:`load_package`, which verifies it for this device at the records' station)."""
        return (stored is not None and self.config.trust is not None
                and stored.get("device") not in (None, self.config.device_id))

    @property
    def takeover_pending(self) -> bool:
        """True while this device holds another device's records and has not yet loaded
        the signed package for their station: it accepts no paper and moves no polls."""
        return self._takeover is not None

    def _install_package_file(self, data: bytes) -> None:
        """Keep the verified package on every medium that is there, so that a restart
        re-verifies it from either (a medium that fails here is reported at boot)."""
        for medium in (self.hw.internal, self.hw.removable):
            if medium.available():
                with contextlib.suppress(OSError):
                    write_atomically(installed_package_path(medium.root()), data)

    def _take_over(self, data: bytes, station: str | None) -> PollsState:
        """Load the signed package on another device's records (see :meth:`load_package`)."""
        stored = self._takeover
        assert stored is not None
        own = str(stored.get("station"))
        if station is not None and station != own:
            exc = packages.PackageError(packages.PackageRefusal.ANOTHER_STATION,
                                        f"the records in this device are station {own}'s, "
                                        f"not {station}'s")
            self._refused(exc, data, station)
            raise exc
        config, spare = self._verify_package(
            data, station=own, expected_election_hash=str(stored.get("election_hash")))
        self._install_package_file(data)
        self.config = config
        self._reapply_withdrawals()
        self._use_calibration()
        c = self.config
        pkg = {"package_hash": c.package_hash, "election_hash": election_hash(c.election),
               "station": c.station.number, "device": c.device_id,
               "took_over_from": str(stored.get("device")),
               **({"spare": True} if spare else {})}
        self._commit([_meta("package", pkg)], [(EventType.PACKAGE_LOADED, pkg)])
        object.__setattr__(self, "_takeover", None)
        self._recount_at_boot()
        if self.scanner is ScannerState.DISABLED and self.polls in ACCEPTS_PAPER:
            self.scanner = ScannerState.WAITING
        self._show()
        return self.polls

    def _reinstall(self, stored: dict[str, Any]) -> None:
        """After a restart: verify the installed package file again and run it (or refuse)."""
        want = str(stored.get("package_hash", "?"))
        mismatch = PackageMismatch(f"the stored polls belong to package {want[:12]}, not "
                                   f"{self.config.package_hash[:12]}")
        if self.config.trust is None:
            raise mismatch
        for medium in (self.hw.internal, self.hw.removable):
            path = installed_package_path(medium.root())
            if not (medium.available() and path.is_file()):
                continue
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != want:
                continue  # not the file that was verified at load
            quick = reinstall_quick(self.config, data, stored)
            self.config = quick if quick is not None else self._verify_package(
                data, audit_refusal=False,
                station=str(stored["station"]) if stored.get("spare") else None)[0]
            return
        raise mismatch

    def _use_calibration(self) -> None:
        """Whenever the reader was (re)built: compare with this device's calibrated blank
        boxes: the profile calibration mode stored on this device, else the package's
        default, whichever is for this election and DPI."""
        profile = read_profile((self.hw.internal, self.hw.removable),
                               self.config.signing_key.public_key())
        if profile is None and self.config.default_calibration is not None:
            profile = packaged_profile(self.config.default_calibration)
        if profile is not None:
            self.config = configured(self.config, profile) or self.config

    def _reapply_withdrawals(self) -> None:
        doc = self.store.meta("withdrawals")
        if doc:
            positions, candidates = withdrawals_from_json(doc)
            self.config = with_election(self.config, amendments.with_withdrawals(
                self.config.election, positions, candidates))

    def _recover_paper(self) -> None:
        sensors = self.hw.paper.sensors()
        for sheet in self.store.sheets(state=SheetState.PENDING):
            if sensors.path_clear:
                extra = ([_meta("test-cleared", False)] if sheet["mode"] == SheetMode.TEST.value
                         else [])
                self._commit([_state(sheet["id"], SheetState.CAST, self._now(),
                                     "restart: paper path clear, the sheet dropped"), *extra],
                             [(EventType.RECOVERY, {"sheet": sheet["id"], "decision": "cast",
                                                    "why": "pending at restart, path clear"}),
                              (EventType.SHEET_CAST, {"sheet": sheet["id"],
                                                      "mode": sheet["mode"]})])
            else:
                moved = self.hw.paper.return_to_voter()
                self._commit([_state(sheet["id"], SheetState.VOIDED, self._now(),
                                     "restart: paper in the path, returned to the voter")],
                             [(EventType.RECOVERY, {"sheet": sheet["id"], "decision": "void",
                                                    "why": "pending at restart, paper in path",
                                                    "motor": moved.value}),
                              (EventType.SHEET_VOIDED, {"sheet": sheet["id"]})])
                sensors = self.hw.paper.sensors()
        if not sensors.path_clear and not sensors.at_entry_only:
            moved = self.hw.paper.return_to_voter()
            self._commit([], [(EventType.RECOVERY, {"decision": "return",
                                                    "why": "paper in the path after restart",
                                                    "motor": moved.value})])

    # --- polls ---------------------------------------------------------------------------------

    @property
    def polls(self) -> PollsState:
        """The polls state on record (the ``polls`` meta record): read many times per sheet,
        so looked up by value rather than by calling the enum."""
        value = self.store.view.meta.get("polls", _NO_PACKAGE)
        state = _POLLS_BY_VALUE.get(value) if type(value) is str else None
        return state if state is not None else PollsState(value)  # an unknown value raises

    def _transition(self, action: PollsAction, check: Callable[[], str | None] | None = None,
                    extra: list[dict[str, Any]] | None = None,
                    event: tuple[EventType, dict[str, Any]] | None = None) -> PollsState:
        state = self.polls
        try:
            new = next_polls_state(state, action)
            why = check() if check is not None else None
            if self._takeover is not None:
                why = (f"this device holds device {self._takeover.get('device')}'s records: "
                       "load the signed package for its station first")
            if self.scanner is ScannerState.CALIBRATING:
                why = "calibration mode is on; finish or cancel it first"
            if why:
                raise IllegalTransition(state, action, why)
        except IllegalTransition as exc:
            self._commit([], [(EventType.TRANSITION_REFUSED, {"from": state.value,
                                                              "action": action.value,
                                                              "why": str(exc)})])
            raise
        events = [event] if event else []
        self._commit([*(extra or []), _meta("polls", new.value)], events, checkpoint=action.value)
        self.scanner = ScannerState.WAITING if new in ACCEPTS_PAPER else ScannerState.DISABLED
        self._show()
        return new

    def load_package(self, data: bytes | None = None, station: str | None = None
                     ) -> PollsState:
        """Load the election package and go to ``package-loaded``.

        ``data``: a signed package file, verified with :func:`firmware.package.load_package`
        against ``config.trust`` (the CEC root, this device's certificate); a refusal is
        audited (``package-refused``, with its reason), shown to the operator in ky/ru and
        raised as :class:`firmware.package.PackageError`. The file is kept on both media so
        that a restart verifies it again. Without ``data`` the device runs the
        configuration it was built with (simulations and tests of the core).

        A device booted on another device's records (a TEC spare that takes over a failed
        device's card mid-day, :attr:`takeover_pending`) loads the package in whatever
        polls state those records are in: it is verified for this device at the records'
        station (another station named: ``another-station``) and must carry the records'
        election hash (``wrong-election``); ``package-loaded`` then records
        ``took_over_from``, and the device counts on from the records. Until then it takes
        no paper and refuses every polls transition.

        ``station``: where the device is installed. A TEC spare (assigned in the package
        to a TEC, not to a station) must name it: any station of its TEC that the package
        holds; a station outside the package or another TEC's is refused
        (``another-station``, with the detail), and so is a spare that names none
        (``not-assigned``). For a device assigned to a station it may be given and must be
        that station. The station chosen is recorded (``package-loaded``: ``station``,
        ``spare``) and a restart verifies the package for it again.
        """
        if self._takeover is not None:
            if data is None:
                raise DeviceError(f"this device holds device {self._takeover.get('device')}'s "
                                  "records: it needs the signed package file")
            return self._take_over(data, station)
        if data is not None and self.polls is PollsState.NO_PACKAGE:
            config, spare = self._verify_package(data, station=station)
            self._install_package_file(data)
            self.config = config
            self._use_calibration()
        elif data is None and station is not None and station != self.config.station.number:
            raise DeviceError(f"this device is configured for station "
                              f"{self.config.station.number}, not {station}")
        else:
            spare = False
        c = self.config
        pkg = {"package_hash": c.package_hash, "election_hash": election_hash(c.election),
               "station": c.station.number, "device": c.device_id,
               **({"spare": True} if spare else {})}
        return self._transition(PollsAction.LOAD_PACKAGE, extra=[_meta("package", pkg)],
                                event=(EventType.PACKAGE_LOADED, pkg))

    def _verify_package(self, data: bytes, audit_refusal: bool = True,
                        station: str | None = None,
                        expected_election_hash: str | None = None
                        ) -> tuple[DeviceConfig, bool]:
        """The configuration running ``data``, and whether this device stands in as a TEC
        spare at ``station``."""
        trust = self.config.trust
        if trust is None:
            raise DeviceError("this device has no trusted CEC root: it cannot verify a signed "
                              "package")
        device = trust.device
        try:
            verified = packages.load_package(
                data, root=trust.root, now=self._now(),
                device_id=device.device_id if device else self.config.device_id,
                device_certificate=device.certificate if device else None,
                station=station, expected_election_hash=expected_election_hash)
        except packages.PackageError as exc:
            self._refused(exc, data, station, audit=audit_refusal)
            raise
        return configure(self.config, verified), verified.spare

    def _refused(self, exc: packages.PackageError, data: bytes, station: str | None,
                 audit: bool = True) -> None:
        """A refused package: audited (``package-refused``, typed reason) and shown."""
        if audit:
            self._commit([], [(EventType.PACKAGE_REFUSED,
                               {"reason": exc.reason.value, "detail": exc.detail,
                                "sha256": hashlib.sha256(data).hexdigest(),
                                **({"station": station} if station else {})})])
        self.hw.display.show(Screen(screen="package-refused",
                                    voter=SCANNER[ScannerState.DISABLED],
                                    operator=PACKAGE_REFUSALS[exc.reason],
                                    detail=exc.detail))

    def apply_withdrawal(self, data: bytes) -> amendments.Amendment:
        """Apply a CEC-signed withdrawal amendment; only before polls open.

        The rules then judge a withdrawn candidate's ballot invalid (``withdrawn``);
        the election hash does not change. Audited ``withdrawal-applied`` (or
        ``withdrawal-refused`` with the typed reason, raised as
        :class:`firmware.amendment.AmendmentError`); the zero report prints it.
        """
        trust, polls = self.config.trust, self.polls
        if trust is None:
            raise DeviceError("this device has no trusted CEC root: it cannot verify an "
                              "amendment")
        if polls is PollsState.NO_PACKAGE:
            raise DeviceError("load the election package before applying a withdrawal")
        before_open = polls in (PollsState.PACKAGE_LOADED, PollsState.TEST_MODE)
        try:
            amendment = amendments.load_amendment(data, root=trust.root, now=self._now(),
                                                  election=self.config.election)
            election = amendments.apply_amendment(self.config.election, amendment,
                                                  polls_opened=not before_open)
        except amendments.AmendmentError as exc:
            self._commit([], [(EventType.WITHDRAWAL_REFUSED,
                               {"reason": exc.reason.value, "detail": exc.detail,
                                "polls": polls.value})])
            self.hw.display.show(Screen(screen="withdrawal-refused",
                                        voter=SCANNER[self.scanner],
                                        operator=AMENDMENT_REFUSALS[exc.reason],
                                        detail=exc.detail))
            raise
        positions = tuple(amendments.ListWithdrawal(p.id, pos)
                          for p in election.party_list.parties for pos in p.withdrawn_positions)
        candidates = tuple(amendments.CandidateWithdrawal(contest.id, c.id)
                           for contest in election.candidate_contests()
                           for c in contest.candidates if c.withdrawn)
        self._commit([_meta("withdrawals", withdrawals_json(positions, candidates))],
                     [(EventType.WITHDRAWAL_APPLIED,
                       {"amendment": amendment.amendment_id,
                        "amendment_hash": amendment.amendment_hash,
                        "positions": [[w.party, w.position] for w in amendment.list_positions],
                        "candidates": [[w.contest, w.candidate]
                                       for w in amendment.candidates]})])
        self.config = with_election(self.config, election)
        self._use_calibration()
        self._show()
        return amendment

    def enter_test_mode(self) -> PollsState:
        return self._transition(PollsAction.ENTER_TEST,
                                extra=[_meta("test-cleared", True)],
                                event=(EventType.MODE_CHANGED, {"mode": "test"}))

    def clear_test(self) -> None:
        """Print the test report and clear the test ballots (they stay on record, apart)."""
        if self.polls is not PollsState.TEST_MODE:
            raise IllegalTransition(self.polls, PollsAction.OPEN, "test ballots are cleared "
                                    "only in test mode")
        self._print("test")
        cleared = [s["id"] for s in self.store.sheets(mode=SheetMode.TEST)
                   if not s.get("cleared")]
        self._commit([_meta("test-cleared", True), _meta("test-cleared-upto", self.store.seq)],
                     [(EventType.REPORT_PRINTED, {"kind": "test"}),
                      (EventType.TEST_CLEARED, {"sheets": len(cleared)})])

    def _open_check(self) -> str | None:
        if not self.store.meta("test-cleared", False):
            return "test ballots not cleared (print and clear the test report)"
        if self.store.sheets(mode=SheetMode.OFFICIAL):
            return "official sheet records exist"
        if self.store.sheets(state=SheetState.PENDING):
            return "a sheet is pending"
        if not self.hw.paper.sensors().path_clear:
            return "paper in the path"
        tally = self.tally(SheetMode.OFFICIAL)
        if any(c.ballots for c in tally.contests):
            return "official totals are not zero"
        return None

    def open_polls(self) -> PollsState:
        def check() -> str | None:
            why = self._open_check()
            if why is None:
                self._print("zero")  # no zero report on paper: polls do not open
            return why
        state = self._transition(PollsAction.OPEN, check,
                                 event=(EventType.POLLS_OPENED, {"zero_report": True}))
        self._commit([], [(EventType.REPORT_PRINTED, {"kind": "zero"}),
                          (EventType.MODE_CHANGED, {"mode": "official"})])
        self.hand_results()
        return state

    def pause(self) -> PollsState:
        return self._transition(PollsAction.PAUSE, event=(EventType.POLLS_PAUSED, {}))

    def resume(self) -> PollsState:
        return self._transition(PollsAction.RESUME, event=(EventType.POLLS_RESUMED, {}))

    def acknowledge_storage(self) -> None:
        """The operator acknowledges a storage problem (needed before closing polls)."""
        self._commit([_meta("storage-ack-needed", False)],
                     [(EventType.STORAGE_ACKNOWLEDGED, {})])

    @property
    def storage_ack_needed(self) -> bool:
        return bool(self.store.meta("storage-ack-needed", False))

    def close_polls(self) -> PollsState:
        def check() -> str | None:
            if self.storage_ack_needed:
                return "a storage medium failed: the operator must acknowledge it first"
            if self.store.sheets(state=SheetState.PENDING):
                return "a sheet is pending"
            if self._held is not None:
                return "a sheet is waiting for the voter's choice"
            return None
        if self.polls in (PollsState.POLLS_OPEN, PollsState.POLLS_PAUSED) and \
                self.storage_ack_needed:
            self._commit([], [(EventType.TRANSITION_REFUSED,
                               {"from": self.polls.value, "action": "close-polls",
                                "why": "storage not acknowledged"})])
            raise StorageNotAcknowledged("a storage medium failed: acknowledge it before "
                                         "closing polls")
        on_record = CastDigest()
        # the one recount at close: its digest checks the cache, its tally is the report's
        recount = self._recount_builder(SheetMode.OFFICIAL, on_record).build()
        cached = self.store.cache(TALLY_CACHE)
        mismatch = cached is not None and cached != on_record.to_json()
        state = self._transition(PollsAction.CLOSE, check,
                                 event=(EventType.POLLS_CLOSED,
                                        {"sheets_cast": self.sheets_cast(SheetMode.OFFICIAL),
                                         "cached_tally_matches": not mismatch}))
        if mismatch:
            self._commit([], [(EventType.TALLY_MISMATCH,
                               {"decision": "the recount from sheet records is reported"})])
        data = self._print("results", tally=recount)
        self._commit([_meta("results-printed", True)],
                     [(EventType.REPORT_PRINTED, {"kind": "results"})])
        self.hand_results(results_report=data)
        return state

    def print_report(self, kind: str) -> None:
        """Print (again) a report: ``results`` once polls are closed (after a printer
        fault, or more copies), ``test`` in test mode (without clearing), ``audit`` (the
        audit-log summary) once a package is loaded. Audited ``report-printed`` only when
        it printed; a printer fault raises :class:`ReportNotPrinted`."""
        polls = self.polls
        allowed = {"results": polls in (PollsState.POLLS_CLOSED, PollsState.RESULTS_REPORTED),
                   "test": polls is PollsState.TEST_MODE,
                   "audit": polls is not PollsState.NO_PACKAGE}
        if not allowed.get(kind, False):
            raise DeviceError(f"cannot print a {kind} report in {polls.value}")
        self._print(kind)
        extra = [_meta("results-printed", True)] if kind == "results" else []
        self._commit(extra, [(EventType.REPORT_PRINTED, {"kind": kind, "requested": True})])

    @property
    def results_printed(self) -> bool:
        return bool(self.store.meta("results-printed", False))

    def report_results(self) -> PollsState:
        def check() -> str | None:
            return None if self.results_printed else "the results report is not printed yet"
        return self._transition(PollsAction.REPORT, check,
                                event=(EventType.RESULTS_REPORTED, {}))

    def _print(self, kind: str, tally: Tally | None = None) -> dict[str, Any]:
        """Hand a report to the printer and return the data printed; a printer fault is
        audited and shown, and raised. ``tally``: the recount just made, if any."""
        data = self.report_data(kind, tally)
        try:
            self.hw.reports.print_report(kind, data)
        except PrinterError as exc:
            self._commit([], [(EventType.PRINTER_FAULT, {"kind": kind, "problem": str(exc)})])
            self.hw.display.show(Screen(screen="printer-fault", voter=SCANNER[self.scanner],
                                        operator=PRINTER_FAULT_TEXT, detail=str(exc)))
            raise ReportNotPrinted(kind, str(exc)) from exc
        return data

    def audit_summary(self) -> dict[str, Any]:
        """The audit log at a glance, for the printed audit summary."""
        events = self.store.audit_events()
        kinds: dict[str, int] = {}
        for e in events:
            kinds[e["type"]] = kinds.get(e["type"], 0) + 1
        return {"entries": len(events),
                "head_hash": events[-1]["hash"] if events else audit.GENESIS,
                "first_time": events[0]["t"] if events else "",
                "last_time": events[-1]["t"] if events else "",
                "checkpoints": kinds.get(EventType.CHECKPOINT.value, 0),
                "by_kind": sorted(kinds.items())}

    def hand_results(self, results_report: dict[str, Any] | None = None) -> None:
        """Hand the reports due in this polls state to the CEC uplink (``hw.results``): the
        zero report once polls have opened, the results (``results_report``: the one just
        printed) and audit log once they have closed. Only queues (see
        :mod:`firmware.hal.results_channel`); repeating it is harmless."""
        channel, polls = self.hw.results, self.polls
        if channel is None:
            return
        if polls in (PollsState.POLLS_OPEN, PollsState.POLLS_PAUSED, PollsState.POLLS_CLOSED,
                     PollsState.RESULTS_REPORTED):
            channel.polls_opened(self.report_data("zero"))
        if polls in (PollsState.POLLS_CLOSED, PollsState.RESULTS_REPORTED):
            channel.polls_closed(results_report or self.report_data("results"),
                                 self.store.audit_events())

    def _hand_status(self, events: list[dict[str, Any]]) -> None:
        """Queue a signed ``status`` message for each of ``events`` in STATUS_EVENTS (after
        they are stored). Only queues; the channel keeps one status per audit event, so
        handing one again (at boot, see :meth:`_hand_missed_status`) is harmless. A failure
        to queue never stops the sheet flow: the boot hands over whatever was missed."""
        channel = self.hw.results
        if channel is None:
            return
        due = [ev for ev in events if ev["type"] in _STATUS_TYPES]
        if not due:
            return
        polls = self.polls.value
        for ev in due:
            with contextlib.suppress(PcosError, OSError):
                channel.status(polls, status_detail(ev), ev["t"], ev["hash"])

    def _hand_missed_status(self) -> None:
        """At boot: hand over the status events of the audit log again (a power cut may
        have struck between storing an event and queuing its status). The polls state
        named is today's; the event itself is in the detail."""
        channel = self.hw.results
        if channel is None or not self.config.send_status:
            return
        for ev in self.store.audit_events():
            if ev["type"] in _STATUS_TYPES:
                channel.status(self.polls.value, status_detail(ev), ev["t"], ev["hash"])

    # --- tallies -------------------------------------------------------------------------------

    def _empty(self) -> TallyBuilder:
        return TallyBuilder.empty(self.config.election, self.config.station.contest_ids())

    def _recount_builder(self, mode: SheetMode, digest: CastDigest | None = None
                         ) -> TallyBuilder:
        b = self._empty()
        cleared_upto = self.store.meta("test-cleared-upto", 0) if mode is SheetMode.TEST else 0
        # a station's sheets share a few hundred distinct outcomes: each distinct one is
        # decoded, checked by the rules and hashed once per recount
        known: dict[str, tuple[BallotOutcome, int]] = {}
        for seq, text in self.store.stored_outcomes(mode, SheetState.CAST):
            if seq > cleared_upto:
                if text is None:
                    raise StorageError(f"a cast sheet record (seq {seq}) has no outcome")
                got = known.get(text)
                if got is None:
                    doc = json.loads(text)
                    got = known[text] = (BallotOutcome.from_json(doc), CastDigest.term(doc))
                b.add(got[0])
                if digest is not None:
                    digest.add_term(got[1])
        return b

    def tally(self, mode: SheetMode = SheetMode.OFFICIAL) -> Tally:
        """Recomputed from the sheet records on the primary medium (test: since the last
        clear)."""
        return self._recount_builder(mode).build()

    def sheets_cast(self, mode: SheetMode) -> int:
        return len(self.store.sheets(mode=mode, state=SheetState.CAST))

    def report_data(self, kind: str, tally: Tally | None = None) -> dict[str, Any]:
        """The figures of a report, from the store (test: only since the last clear, as the
        test tally), with the identity, the withdrawals in force and, for ``audit``, the
        audit-log summary. ``tally``: :meth:`tally` of the report's mode if the caller has
        just recounted it (close: one recount for the check and the report)."""
        mode = SheetMode.TEST if kind == "test" else SheetMode.OFFICIAL
        c = self.config
        since = self.store.meta("test-cleared-upto", 0) if mode is SheetMode.TEST else 0
        returned: dict[str, int] = {}
        for s in self.store.sheets(mode=mode, state=SheetState.RETURNED):
            if s.get("seq", 0) > since:
                returned[s.get("reason") or "?"] = returned.get(s.get("reason") or "?", 0) + 1
        cast = [s for s in self.store.sheets(mode=mode, state=SheetState.CAST)
                if s.get("seq", 0) > since]
        head = self.store.view.audit_head
        w = Withdrawals.of(c.election)
        extra: dict[str, Any] = {"withdrawals": {"positions": [list(p) for p in w.positions],
                                                 "candidates": list(w.candidates)}}
        if kind == "audit":
            extra["audit_summary"] = self.audit_summary()
        return {**extra,
            "kind": kind, "mode": mode.value, "device": c.device_id,
            "station": c.station.number, "election": c.election.election_id,
            "election_hash": election_hash(c.election), "package_hash": c.package_hash,
            "software_hash": c.software_hash, "time": iso(self.hw.clock.now()),
            "audit_head": head["hash"] if head else audit.GENESIS,
            "sheets_cast": len(cast), "returned_by_reason": dict(sorted(returned.items())),
            "marginal_sheets": sum(1 for s in cast if s.get("marginal")),
            "tally": (tally if tally is not None else self.tally(mode)).to_json(),
        }

    # --- the sheet flow ------------------------------------------------------------------------

    def step(self) -> SheetResult | None:
        """Look at the sensors and move the sheet at the entry through, if there is one."""
        self.timings = {"store_s": 0.0, "hash_wait_s": 0.0}
        if self.scanner is ScannerState.CALIBRATING:
            return None  # calibration mode (firmware.calibration_mode) drives the paper path
        s = self.hw.paper.sensors()
        if s.cover_open:
            if self.scanner is not ScannerState.COVER_OPEN:
                self._commit([], [(EventType.COVER_OPENED, {})])
                self._set(ScannerState.COVER_OPEN)
            return None
        if self.scanner is ScannerState.COVER_OPEN:
            self._commit([], [(EventType.COVER_CLOSED, {})])
            self._set(ScannerState.WAITING if self.polls in ACCEPTS_PAPER
                      else ScannerState.DISABLED)
        if (s.jammed or (s.held_at_rear and self.scanner is not ScannerState.NEEDS_REVIEW)) \
                and self.scanner is not ScannerState.JAMMED:
            self._commit([], [(EventType.JAM, {"where": "path"})])
            self._set(ScannerState.JAMMED)
            return SheetResult("jammed")
        if self.scanner is ScannerState.JAMMED:
            if s.jammed or s.held_at_rear:
                return None
            self._commit([], [(EventType.JAM_CLEARED, {})])
            self._set(ScannerState.RETURNED if s.entry else ScannerState.WAITING)
        if self.scanner in (ScannerState.RETURNED, ScannerState.DOUBLE_SHEET):
            if s.entry:
                return None  # the voter has not taken the sheet yet
            self._set(ScannerState.WAITING)
        if self.scanner is ScannerState.NEEDS_REVIEW:
            return None
        if self.polls not in ACCEPTS_PAPER or self._takeover is not None:
            if self.scanner is not ScannerState.DISABLED:
                self._set(ScannerState.DISABLED)
            return None
        if not s.entry:
            if self.scanner is not ScannerState.WAITING:
                self._set(ScannerState.WAITING)
            return None
        if s.double_sheet:
            self._commit([], [(EventType.DOUBLE_FEED, {"sensor": "ultrasonic"})])
            self._set(ScannerState.DOUBLE_SHEET, "double-feed")
            return SheetResult("double-sheet", reason="double-feed")
        return self._feed()

    def _feed(self) -> SheetResult:
        self._set(ScannerState.FEEDING)
        moved = self.hw.paper.feed()
        if moved is MotionResult.JAMMED:
            self._commit([], [(EventType.JAM, {"where": "feed"})])
            self._set(ScannerState.JAMMED)
            return SheetResult("jammed")
        if moved is not MotionResult.DONE:
            self._set(ScannerState.WAITING)
            return SheetResult(moved.value)
        self.faults.hit("sheet.after-feed")
        self._set(ScannerState.SCANNING)
        self._images = None  # never another sheet's images, whatever happens next
        try:
            images = self.hw.images.capture()
        except ImageSensorError as exc:
            return self._return(None, "image-invalid", [], str(exc))
        self._images = images
        hashes = self._hash_images(images)
        self._set(ScannerState.READING)
        interp = self.config.reader.interpret(images.front, images.back)
        t = time.perf_counter()
        digests = hashes.result()
        self.timings["hash_wait_s"] = time.perf_counter() - t
        decision = decide(interp, self.config.policy)
        if decision.action is Action.RETURN:
            return self._return(interp, decision.reason, digests)
        if decision.action is Action.ASK_VOTER:
            self._held = _Held(interp, digests, decision.warnings)
            self._set(ScannerState.NEEDS_REVIEW, detail=", ".join(decision.warnings))
            return SheetResult("needs-review", warnings=decision.warnings)
        return self._accept(interp, digests)

    def _hash_images(self, images: DuplexImages) -> _PendingHashes | _HashedImages:
        """Start hashing both images as soon as the sensor delivered them, one worker thread
        per side, while the reader runs: hashlib releases the GIL while it digests a large
        buffer, and the contiguous pixel arrays are hashed in place (no copy). The device
        joins them (:meth:`_PendingHashes.result`) after the reading, before anything is
        recorded, so what is recorded is always the SHA-256 of the exact raw pixels.
        Images under 64 KiB are hashed here: handing them to a thread costs more.

        A sensor that compresses delivers files (``images.files``): then the record holds
        the SHA-256 of each file as delivered (about a fifteenth of the raw pixels' bytes, so
        hashed here), which anyone can check against the kept file with ``sha256sum``."""
        if images.files is not None:
            front, back = images.files
            return _HashedImages([file_sha256(front), file_sha256(back)])
        if images.front.nbytes + images.back.nbytes < SMALL_IMAGES_BYTES:
            return _HashedImages([image_sha256(images.front), image_sha256(images.back)])
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pcos-hash")
        return _PendingHashes(images, self._hasher.submit(image_sha256, images.front),
                              self._hasher.submit(image_sha256, images.back))

    def voter_choice(self, cast: bool) -> SheetResult:
        """Warn policy: the voter casts the held sheet as is, or takes it back."""
        if self._held is None or self.scanner is not ScannerState.NEEDS_REVIEW:
            raise DeviceError("no sheet is waiting for the voter's choice")
        held, self._held = self._held, None
        if cast:
            return self._accept(held.interp, held.hashes, warnings=held.warnings)
        return self._return(held.interp, "voter-took-back", held.hashes)

    def _mode(self) -> SheetMode:
        return SheetMode.TEST if self.polls is PollsState.TEST_MODE else SheetMode.OFFICIAL

    def _new_id(self) -> str:
        return f"{self.config.device_id}/{len(self.store.view.sheets) + 1:06d}"

    def _accept(self, interp: SheetInterpretation, hashes: list[str],
                warnings: tuple[str, ...] = ()) -> SheetResult:
        sheet_id, mode, now = self._new_id(), self._mode(), self._now()
        mode_value = _MODE_VALUE[mode]
        # these fields of interp.to_json(), without building the rest of it
        sheet = {"id": sheet_id, "mode": mode_value, "state": _PENDING,
                 "t": self._iso(now), "outcome": interp.contests, "images": hashes,
                 **self._image_format(), "marginal": list(interp.marginal),
                 "warnings": list(warnings),
                 "reading": {"outcome": _OUTCOME_VALUE[interp.outcome], "kind": interp.kind,
                             "contest": interp.contest, "language": interp.language,
                             "orientation": interp.orientation,
                             "targets": [t.to_json() for t in interp.targets]},
                 "seq": self.store.seq + 1}
        self._set(ScannerState.ACCEPTING)
        self.faults.hit("sheet.before-pending")
        self._commit([{"op": "sheet", "sheet": sheet}], [])
        self.faults.hit("sheet.after-pending")
        drop = self.hw.paper.eject_to_box()
        if not drop.confirmed:
            self._commit([_state(sheet_id, SheetState.VOIDED, self._now(),
                                 f"eject not confirmed ({drop.result.value})")],
                         [(EventType.JAM, {"where": "eject", "sheet": sheet_id}),
                          (EventType.SHEET_VOIDED, {"sheet": sheet_id})])
            self._set(ScannerState.JAMMED)
            return SheetResult("jammed", sheet_id)
        self.faults.hit("sheet.after-drop")
        cache = None
        if mode is SheetMode.OFFICIAL:
            self._digest.add(interp.contests)  # O(1) per sheet (firmware.castdigest)
            cache = {TALLY_CACHE: self._digest.to_json()}
        extra = [_meta("test-cleared", False)] if mode is SheetMode.TEST else []
        # Not fsynced: if this mark is lost with the power, the restart finds the sheet
        # pending with the path clear and casts it (the same decision, audited); the next
        # durable write (the next sheet's pending) makes it durable first.
        self._commit([{"op": "sheet-state", "id": sheet_id, "state": _CAST,
                       "t": self._iso(self._now()), "note": ""}, *extra],
                     [(EventType.SHEET_CAST, {"sheet": sheet_id, "mode": mode_value,
                                              "marginal": len(interp.marginal)})],
                     cache=cache, sync=False)
        self.faults.hit("sheet.after-cast")
        self._keep_images(sheet_id, returned=False, marginal=bool(interp.marginal))
        self._set(ScannerState.ACCEPTED)
        self._set(ScannerState.WAITING)
        return SheetResult("cast", sheet_id)

    def _return(self, interp: SheetInterpretation | None, reason: str | None,
                hashes: list[str], detail: str = "") -> SheetResult:
        self._set(ScannerState.RETURNING, reason)
        moved = self.hw.paper.return_to_voter()
        sheet_id = self._new_id()
        sheet = {"id": sheet_id, "mode": self._mode().value, "state": SheetState.RETURNED.value,
                 "t": self._iso(self._now()), "reason": reason, "images": hashes,
                 **self._image_format(), "detail": detail or (interp.detail if interp else ""),
                 "seq": self.store.seq + 1}
        events: list[tuple[EventType, dict[str, Any]]] = [
            (EventType.SHEET_RETURNED, {"sheet": sheet_id, "reason": reason})]
        if moved is not MotionResult.DONE:
            events.append((EventType.JAM, {"where": "return", "motor": moved.value}))
        self._commit([{"op": "sheet", "sheet": sheet}], events)
        self.faults.hit("sheet.after-return")
        self._keep_images(sheet_id, returned=True, marginal=bool(interp and interp.marginal))
        if moved is not MotionResult.DONE:
            self._set(ScannerState.JAMMED)
            return SheetResult("jammed", sheet_id, reason)
        self._set(ScannerState.RETURNED, reason)
        return SheetResult("returned", sheet_id, reason)

    def _image_format(self) -> dict[str, str]:
        """``{"image_format": "jpeg"}`` in a sheet record whose image hashes are of the
        files a compressing sensor delivered; nothing for raw pixels."""
        files = self._images.files if self._images is not None else None
        return {"image_format": files[0].format} if files is not None else {}

    def _keep_images(self, sheet_id: str, *, returned: bool, marginal: bool) -> None:
        """Keep the sheet's images under the retention policy (after it was recorded: a lost
        image file never costs a ballot; its hashes are in the record)."""
        images, self._images = self._images, None
        retention = self.config.image_retention
        if retention is None or images is None or not self.hw.internal.available():
            return
        with contextlib.suppress(OSError):
            keep_images(self.hw.internal.root(), sheet_id, (images.front, images.back),
                        retention, returned=returned, marginal=marginal, files=images.files)

    # --- calibration mode (firmware.calibration_mode) ------------------------------------------

    def record(self, events: list[tuple[EventType, dict[str, Any]]],
               records: list[dict[str, Any]] | None = None) -> None:
        """Commit state records with their audit events, one batch on both media (for the
        device's modes that live in their own modules, e.g. calibration mode)."""
        self._commit(list(records or []), events)

    # --- plumbing ------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.hw.clock.now()

    def _set(self, state: ScannerState, reason: str | None = None, detail: str = "") -> None:
        self.scanner = state
        self._show(reason, detail)

    def _show(self, reason: str | None = None, detail: str = "") -> None:
        # a few times per sheet: the screens are remembered by the polls value on record
        # (a PollsState is a StrEnum, equal to and hashed as its value); the state itself
        # is looked up (and an unknown value refused) only to draw a new screen
        store = getattr(self, "store", None)
        value = store.view.meta.get("polls", _NO_PACKAGE) if store is not None else \
            _NO_PACKAGE
        key = (self.scanner, value if type(value) is str else None, reason, detail)
        shown = self._screens.get(key)
        if shown is None or key[1] is None:
            polls = self.polls if store is not None else PollsState.NO_PACKAGE
            shown = self._screens[self.scanner, polls, reason, detail] = screen(
                self.scanner, polls, reason, detail)
        self.hw.display.show(shown)

    def _iso(self, t: dt.datetime) -> str:
        """``iso(t)``, remembered for the last ``t`` (the clock gives one time per step)."""
        last, stamp = self._stamp
        if last is None or last != t:
            stamp = iso(t)
            self._stamp = (t, stamp)
        return stamp

    def _commit(self, records: list[dict[str, Any]],
                events: list[tuple[EventType, dict[str, Any]]],
                checkpoint: str | None = None, cache: dict[str, Any] | None = None,
                sync: bool = True) -> None:
        """One batch: the state records, their audit events (and a signed checkpoint)."""
        head = self.store.view.audit_head
        now = self._now()
        out = list(records)
        encoded: list[bytes | None] | None = None
        if events:
            stamp = self._iso(now)
            encoded = [None] * len(out)
            for type_, data in events:
                head, enc = audit.make_event_encoded(head, type_, data, now, stamp)
                out.append({"op": "audit", "event": head})
                encoded.append(enc)
        if checkpoint is not None:
            head = audit.make_checkpoint(head, self.config.signing_key, self.config.device_id,
                                         checkpoint, now)
            out.append({"op": "audit", "event": head})
            if encoded is not None:
                encoded.append(None)
        t = time.perf_counter()
        self.store.commit(out, cache, sync, encoded)
        self.timings["store_s"] = self.timings.get("store_s", 0.0) + time.perf_counter() - t
        if self.on_event is not None:
            for r in out:
                if r["op"] == "audit":
                    self.on_event(r["event"])
        if events and self.hw.results is not None and self.config.send_status:
            self._hand_status([r["event"] for r in out if r["op"] == "audit"])
        if self.store.new_problems:
            problems, self.store.new_problems = self.store.new_problems, []
            evs = [(EventType.STORAGE_ERROR, p.to_json()) for p in problems]
            self._commit([_meta("storage-ack-needed", True)], evs)

    def power_off(self) -> None:
        """An orderly shutdown (a power cut is simply the process dying)."""
        self._commit([], [(EventType.POWER_OFF, {})])
        self.close()

    def close(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown()
            self._hasher = None
        self.store.close()


_STATUS_TYPES = frozenset(e.value for e in STATUS_EVENTS)


def status_detail(event: dict[str, Any]) -> str:
    """The status line for an audit event: ``<type> #<seq> <data as canonical JSON>``,
    cut to STATUS_DETAIL_CHARS (the full event is in the audit log the device sends at
    close, under the same hash)."""
    data = json.dumps(event["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{event['type']} #{event['seq']} {data}"[:STATUS_DETAIL_CHARS]


def _meta(key: str, value: Any) -> dict[str, Any]:
    return {"op": "meta", "key": key, "value": value}


def _state(sheet_id: str, state: SheetState, t: dt.datetime, note: str = "") -> dict[str, Any]:
    return {"op": "sheet-state", "id": sheet_id, "state": state.value, "t": iso(t), "note": note}


def is_read(interp: SheetInterpretation) -> bool:
    return interp.outcome is not Outcome.REJECTED
