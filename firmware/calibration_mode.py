"""Calibration mode on the device: blank ballots of this print run through the real paper path.

In 2021 operators were trained to "calibrate the ballot" on their device. The
operator (or a CEC technician) puts the scanner in calibration mode before the
polls open (``no-package`` or ``package-loaded``; :data:`CALIBRATION_ALLOWED`)
and feeds N blank ballots of each kind of this print run, one at a time, in
any orientation. For each sheet this module drives the hardware itself
(:mod:`firmware.hal`): entry and double-sheet sensors, the motor feeds it past
the duplex image sensor, and hands it back out of the entry (a calibration
ballot never drops into the ballot box). The reader registers the sheet and
:func:`calibration.device.measure_sheet` measures it; a sheet the reader cannot
register as a ballot of this election is shown and not used.

:meth:`CalibrationMode.finish` combines the sheets
(:func:`calibration.device.calibrate_measures`, the same code as
``pcos calibrate device``): a set in tolerance becomes the calibration profile,
signed with the device's key and stored atomically on both media
(``calibration/profile.json``); an off-tolerance set is refused with its
typed fault, shown to the operator in Kyrgyz and Russian. Either way the
calibration report prints on the thermal printer (report kind
``calibration``, :mod:`firmware.calibration_report`), and the device goes
back to the state it was entered from. Every step is an audit event
(``calibration-started``, ``calibration-sheet``, ``calibration-stored`` /
``calibration-refused`` / ``calibration-cancelled``).

While calibration mode is on, the device's own sheet flow stands still
(``Device.step`` returns at once) and every polls action is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from calibration.device import (
    CalibrationFault,
    CalibrationRefused,
    SheetMeasure,
    Tolerances,
    calibrate_measures,
    calibration_reader,
    measure_sheet,
)
from calibration.profile import (
    CalibrationProfile,
    body_of,
    parse_profile,
    sign_profile,
)
from calibration.render_raster import render_layout
from calibration.station import station_layouts
from calibration.summary import summary_of_body, summary_of_measures
from election.fileio import write_atomically
from election.hashing import election_hash
from election.model import Text
from firmware.audit import EventType
from firmware.calibration_report import report_data
from firmware.calibration_store import PROFILE_PATH, configured, read_profile
from firmware.crypto import key_id
from firmware.device import Device, image_sha256
from firmware.hal.clock import iso
from firmware.hal.display import Screen
from firmware.hal.imaging import ImageSensorError
from firmware.hal.paper import MotionResult
from firmware.hal.printer import PrinterError
from firmware.screens import SCANNER
from firmware.states import CALIBRATION_ALLOWED, DeviceError, ScannerState
from vision.config import TemplateSource
from vision.interpret import Reader

T = Text


OPERATOR: dict[str, Text] = {
    "feed": T(ky="Калибрлөө: ушул тираждын бош бюллетендерин бирден, каалаган жагы менен "
                 "салыңыз. Бүткөндө «Аяктоо» баскычын басыңыз.",
              ru="Калибровка: вставляйте по одному пустые бюллетени этого тиража, любой "
                 "стороной. В конце нажмите «Завершить»."),
    "take": T(ky="Бюллетень өлчөндү. Аны алып, кийинкисин салыңыз.",
              ru="Бюллетень измерен. Заберите его и вставьте следующий."),
    "not-used": T(ky="Бул барак калибрлөөгө жараган жок. Аны алып, кийинкисин салыңыз.",
                  ru="Этот лист не подходит для калибровки. Заберите его и вставьте "
                     "следующий."),
    "double": T(ky="Бир эле учурда бир нече барак. Аларды алып, бирден салыңыз.",
                ru="Несколько листов сразу. Заберите их и вставляйте по одному."),
    "jammed": T(ky="Кагаз тыгылды. Баракты алып, кайра салыңыз.",
                ru="Замятие бумаги. Извлеките лист и вставьте снова."),
    "cover": T(ky="Капкак ачык. Капкакты жабыңыз.", ru="Крышка открыта. Закройте крышку."),
    "working": T(ky="Калибрлөө профили эсептелүүдө...", ru="Вычисляется профиль калибровки..."),
    "stored": T(ky="Калибрлөө аяктады: профиль сакталды, отчет басылды.",
                ru="Калибровка завершена: профиль сохранён, отчёт напечатан."),
    "stored-no-print": T(ky="Калибрлөө аяктады, профиль сакталды, бирок отчет басылган жок. "
                            "Принтерди текшериңиз.",
                         ru="Калибровка завершена, профиль сохранён, но отчёт не напечатан. "
                            "Проверьте принтер."),
    "cancelled": T(ky="Калибрлөө токтотулду. Профиль өзгөргөн жок.",
                   ru="Калибровка отменена. Профиль не изменён."),
}

REFUSED: dict[CalibrationFault, Text] = {
    CalibrationFault.TOO_FEW_SHEETS: T(
        ky="Калибрлөө четке кагылды: ар бир түрдөгү бош бюллетендер жетишсиз.",
        ru="Калибровка отклонена: недостаточно пустых бюллетеней каждого вида."),
    CalibrationFault.UNREADABLE: T(
        ky="Калибрлөө четке кагылды: барак бюллетень катары окулган жок.",
        ru="Калибровка отклонена: лист не распознан как бюллетень."),
    CalibrationFault.WRONG_ELECTION: T(
        ky="Калибрлөө четке кагылды: башка шайлоонун бюллетени.",
        ru="Калибровка отклонена: бюллетень других выборов."),
    CalibrationFault.NOT_BLANK: T(
        ky="Калибрлөө четке кагылды: бюллетенде белги бар. Бош бюллетендерди гана салыңыз.",
        ru="Калибровка отклонена: на бюллетене есть отметка. Вставляйте только пустые "
           "бюллетени."),
    CalibrationFault.PRINT_SHIFTED: T(
        ky="Калибрлөө четке кагылды: басма барактын үстүндө жылып кеткен (тираж талапка "
           "жооп бербейт).",
        ru="Калибровка отклонена: печать смещена на листе (тираж вне допуска)."),
    CalibrationFault.PRINT_SCALED: T(
        ky="Калибрлөө четке кагылды: басманын масштабы туура эмес (тираж талапка жооп "
           "бербейт).",
        ru="Калибровка отклонена: неверный масштаб печати (тираж вне допуска)."),
    CalibrationFault.STRIPE_INK: T(
        ky="Калибрлөө четке кагылды: тилкенин түсү бюллетендин түрүнө туура келбейт.",
        ru="Калибровка отклонена: цвет полосы не соответствует виду бюллетеня."),
    CalibrationFault.SECURITY_INK: T(
        ky="Калибрлөө четке кагылды: коргоочу боек текшерүүдөн өткөн жок.",
        ru="Калибровка отклонена: защитная краска не прошла проверку."),
}


class CalibrationModeError(DeviceError):
    """Calibration mode cannot start (or act) in the device's present state."""


@dataclass(frozen=True)
class CalibrationSettings:
    """What the operator sets before feeding: N per kind (the minimum the set needs), the
    print run's label for the report, and the tolerances."""

    per_kind: int = 10
    print_run: str = ""
    tolerances: Tolerances | None = None
    templates: TemplateSource = render_layout

    def tol(self) -> Tolerances:
        base = self.tolerances or Tolerances()
        return replace(base, min_per_kind=max(base.min_per_kind, self.per_kind))


@dataclass(frozen=True)
class FedSheet:
    """What happened to one sheet fed in calibration mode."""

    action: str  # "measured" | "not-used" | "double-sheet" | "jammed" | "cover-open" | motion
    name: str | None = None
    kind: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class CalibrationOutcome:
    """The end of a calibration: stored (profile path and hash), or refused (fault)."""

    stored: bool
    fault: CalibrationFault | None
    detail: str
    profile_sha256: str | None
    paths: tuple[Path, ...]
    printed: bool
    report: dict[str, Any]
    profile: CalibrationProfile | None = None


@dataclass
class CalibrationMode:
    """One calibration session on a booted device (:meth:`enter` first)."""

    device: Device
    settings: CalibrationSettings = field(default_factory=CalibrationSettings)
    measures: list[SheetMeasure] = field(init=False, default_factory=list)
    not_used: int = field(init=False, default=0)
    active: bool = field(init=False, default=False)
    _reader: Reader | None = field(init=False, default=None)
    _wait_take: bool = field(init=False, default=False)  # a sheet lies at the entry for the
    # operator to take (handed back, or two stacked sheets): never fed again unattended
    _fed: int = field(init=False, default=0)
    _wanted: tuple[str, ...] = field(init=False, default=())

    # --- entering and leaving -----------------------------------------------------------------

    def enter(self) -> None:
        """Start calibration mode: only before polls open, with the paper path clear."""
        d = self.device
        polls = d.polls
        if polls not in CALIBRATION_ALLOWED:
            raise CalibrationModeError(f"calibration mode only before polls open (from "
                                       f"{' or '.join(p.value for p in CALIBRATION_ALLOWED)}),"
                                       f" not in {polls.value}")
        if d.scanner is not ScannerState.DISABLED:
            raise CalibrationModeError(f"calibration mode needs the scanner idle, it is "
                                       f"{d.scanner.value}")
        if self.settings.per_kind < 1:
            raise CalibrationModeError(f"calibration needs at least 1 blank per kind, "
                                       f"not {self.settings.per_kind}")
        s = d.hw.paper.sensors()
        if not s.path_clear or s.cover_open:
            raise CalibrationModeError("calibration mode needs the paper path clear and the "
                                       "cover closed")
        c = d.config
        self._wanted = tuple(sorted({lay.kind.value
                                     for lay in station_layouts(c.election, c.station)}))
        self._reader = calibration_reader(c.election, c.station, self.settings.templates)
        d.record([(EventType.CALIBRATION_STARTED,
                   {"polls": polls.value, "per_kind": self.settings.per_kind,
                    "kinds": list(self._wanted), "print_run": self.settings.print_run,
                    "election_hash": election_hash(c.election)})])
        d.scanner = ScannerState.CALIBRATING
        self.active = True
        self._show("feed")

    def cancel(self) -> None:
        """Leave without a profile (the stored one, if any, stays)."""
        self._check_active()
        self.device.record([(EventType.CALIBRATION_CANCELLED,
                             {"sheets": len(self.measures), "not_used": self.not_used})])
        self._leave()
        self._show("cancelled", leaving=True)

    def _leave(self) -> None:
        self.active = False
        self.device.scanner = ScannerState.DISABLED

    def _check_active(self) -> None:
        if not self.active:
            raise CalibrationModeError("calibration mode is not on")

    # --- the paper path -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Blank ballots measured so far, per kind this station votes on."""
        out = dict.fromkeys(self._wanted, 0)
        for m in self.measures:
            out[m.layout.kind.value] = out.get(m.layout.kind.value, 0) + 1
        return out

    def step(self) -> FedSheet | None:
        """Look at the sensors; feed, measure and hand back the sheet at the entry, if any."""
        self._check_active()
        hw = self.device.hw
        s = hw.paper.sensors()
        if s.cover_open:
            self._show("cover")
            return FedSheet("cover-open")
        if s.jammed or s.held_at_rear:
            self._show("jammed")
            return FedSheet("jammed")
        if self._wait_take:
            if s.entry:
                return None  # the operator has not taken the sheet yet
            self._wait_take = False
            self._show("feed")
        if not s.entry:
            return None
        if s.double_sheet:
            self._wait_take = True
            self._show("double")
            return FedSheet("double-sheet")
        moved = hw.paper.feed()
        if moved is MotionResult.JAMMED:
            self.device.record([(EventType.JAM, {"where": "feed", "mode": "calibration"})])
            self._show("jammed")
            return FedSheet("jammed")
        if moved is not MotionResult.DONE:
            return FedSheet(moved.value)
        self._fed += 1
        name = f"cal-{self._fed:03d}"
        try:
            images = hw.images.capture()
            assert self._reader is not None
            m = measure_sheet(self._reader, name, images.front, images.back)
            hashes = [image_sha256(images.front), image_sha256(images.back)]
        except (ImageSensorError, CalibrationRefused) as exc:
            fault = exc.fault.value if isinstance(exc, CalibrationRefused) else "image-invalid"
            result = self._hand_back()
            self.not_used += 1
            self.device.record([(EventType.CALIBRATION_SHEET,
                                 {"sheet": name, "used": False, "fault": fault,
                                  "detail": str(exc), "motor": result.value})])
            self._show("not-used", detail=str(exc))
            return FedSheet("not-used", name, None, str(exc))
        self.measures.append(m)
        result = self._hand_back()
        kind = m.layout.kind.value
        self.device.record([(EventType.CALIBRATION_SHEET,
                             {"sheet": name, "used": True, "kind": kind,
                              "language": m.layout.language.value, "images": hashes,
                              "motor": result.value})])
        self._show("take")
        return FedSheet("measured", name, kind)

    def _hand_back(self) -> MotionResult:
        result = self.device.hw.paper.return_to_voter()
        self._wait_take = result is MotionResult.DONE
        return result

    # --- the profile --------------------------------------------------------------------------

    def finish(self) -> CalibrationOutcome:
        """Calibrate from the sheets measured; store the signed profile, or refuse the set.
        Prints the report and leaves calibration mode either way."""
        self._check_active()
        d = self.device
        c = d.config
        self._show("working")
        now = iso(d.hw.clock.now())
        fed = self.counts()
        common: dict[str, Any] = {
            "device": c.device_id, "station": c.station.number,
            "election_hash": election_hash(c.election), "print_run": self.settings.print_run,
            "time": now, "fed": fed, "not_used": self.not_used}
        try:
            cal = calibrate_measures(self.measures, c.election, c.station,
                                     self._reader.config.dpi if self._reader else 200.0,
                                     self.settings.tol())
        except CalibrationRefused as exc:
            report = report_data(result="refused", summary=summary_of_measures(self.measures),
                                 fault=exc.fault.value, reason=REFUSED[exc.fault],
                                 detail=exc.detail, **common)
            d.record([(EventType.CALIBRATION_REFUSED,
                       {"fault": exc.fault.value, "detail": exc.detail, "fed": fed,
                        "not_used": self.not_used})])
            printed = self._print(report)
            self._leave()
            self.device.hw.display.show(Screen(
                screen="calibration-refused", voter=SCANNER[ScannerState.CALIBRATING],
                operator=REFUSED[exc.fault], detail=str(exc)))
            return CalibrationOutcome(False, exc.fault, exc.detail, None, (), printed, report)
        body = body_of(cal, c.device_id, now)
        body["print_run"] = self.settings.print_run
        data = sign_profile(body, c.signing_key)
        digest = hashlib.sha256(data).hexdigest()
        paths: list[Path] = []
        media: list[str] = []
        for medium in (d.hw.internal, d.hw.removable):
            if medium.available():
                try:
                    paths.append(write_atomically(Path(medium.root()) / PROFILE_PATH, data))
                except OSError:
                    continue  # the other medium keeps it; the audit event says where
                media.append(str(medium.role.value))
        if not paths:
            raise CalibrationModeError("calibration profile not stored: no medium is "
                                       "writable")
        profile = parse_profile(data, c.signing_key.public_key(), "calibration profile")
        report = report_data(result="calibrated", summary=summary_of_body(body),
                             profile_sha256=digest, signer=key_id(c.signing_key), **common)
        stored = {"sha256": digest, "created": now, "sheets": cal.sheets,
                  "print_run": self.settings.print_run,
                  "media": media,
                  "optical_scale": [round(cal.optical_scale.across, 6),
                                    round(cal.optical_scale.along, 6)]}
        d.record([(EventType.CALIBRATION_STORED, stored)],
                 [{"op": "meta", "key": "calibration", "value": stored}])
        apply_profile(d, profile)
        printed = self._print(report)
        self._leave()
        self._show("stored" if printed else "stored-no-print", leaving=True)
        return CalibrationOutcome(True, None, "", digest, tuple(paths), printed, report,
                                  profile)

    def _print(self, report: dict[str, Any]) -> bool:
        d = self.device
        try:
            d.hw.reports.print_report("calibration", report)
        except PrinterError as exc:
            d.record([(EventType.PRINTER_FAULT, {"kind": "calibration", "problem": str(exc)})])
            return False
        d.record([(EventType.REPORT_PRINTED, {"kind": "calibration"})])
        return True

    # --- the screen ---------------------------------------------------------------------------

    def _show(self, what: str, detail: str = "", leaving: bool = False) -> None:
        if not detail and not leaving:
            want = self.settings.per_kind
            detail = " · ".join(f"{k} {n}/{want}" for k, n in self.counts().items())
        self.device.hw.display.show(Screen(screen=f"calibration-{what}",
                                           voter=SCANNER[ScannerState.CALIBRATING],
                                           operator=OPERATOR[what], detail=detail))


def stored_profile(device: Device) -> CalibrationProfile | None:
    """The calibration profile this device stored (verified with its own key), or None."""
    return read_profile((device.hw.internal, device.hw.removable),
                        device.config.signing_key.public_key())


def apply_profile(device: Device, profile: CalibrationProfile) -> bool:
    """From now on the device's reader compares with this print run's blank boxes. True when
    applied; False when the reader is a stand-in or the profile is not for this reader."""
    config = configured(device.config, profile)
    if config is None:
        return False
    device.config = config
    return True


def use_stored_profile(device: Device) -> bool:
    """At boot, or after a package or withdrawal rebuilt the reader: read the stored
    profile back (verified with the device's key) and apply it. True when applied."""
    profile = stored_profile(device)
    return profile is not None and apply_profile(device, profile)
