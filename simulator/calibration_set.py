"""Sheets of one print run scanned on one device: calibration sets and marked ballots.

Device calibration meets one printing house's batch on one scanner. The print
run is the simulator's one print model (:class:`simulator.print_run.PrintRun`:
dot gain, toner, print offset and scale on the paper, plate misregistration,
wrong inks), here fixed instead of drawn from the scanner preset; the
:class:`~simulator.print_run.Device` is the scanner's own optical scale across
and along the feed (it replaces the preset's per-sheet scale draw).

:class:`PrintRunFactory` is a :class:`~simulator.sheets.SheetFactory` whose
every ballot comes from that run on that device: ``sheet(i)`` gives marked
ballots (the voter's ink lands where the run printed the box), and
:meth:`PrintRunFactory.blank_sheet` / :meth:`PrintRunFactory.calibration_set`
give the unmarked calibration ballots, fed in any orientation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from election.layout import BallotLayout
from election.model import BallotKind, Election, Language, Station
from simulator import scanner as sc
from simulator.print_run import Device, PrintRun
from simulator.sheets import JpegFiles, SheetFactory, SimSheet, duplex_sides

__all__ = ["Device", "PrintRun", "PrintRunFactory"]


@dataclass
class PrintRunFactory(SheetFactory):
    """Sheets from one print run, scanned on one device."""

    print_run: PrintRun = field(default_factory=PrintRun)
    device: Device | None = None

    def __post_init__(self) -> None:
        if self.device is not None:
            s = self.device.scale_across
            self.params = self.params.with_(scale=(s, s))
        super().__post_init__()
        self.print_runs = (self.print_run,)  # this run only, not the preset's draws

    def blank(self, layout: BallotLayout, blur: float, fade: float,
              run: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The printed blank ballot, with this run's inks (then dot gain, toner, position)."""
        return super().blank(self.print_run.inks(layout), blur, fade, 0)

    def _scan(self, rng: np.random.Generator, src: np.ndarray, dark_small: np.ndarray,
              p: sc.ScannerParams, effects: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray, sc.Orientation, JpegFiles]:
        if self.device is None or self.device.scale_along == self.device.scale_across:
            return super()._scan(rng, src, dark_small, p, effects)
        orient = sc.ORIENTATIONS[int(rng.integers(len(sc.ORIENTATIONS)))]
        geo = sc.draw_geometry(rng, p, src.shape[:2], orient.rotated)
        k = self.device.scale_along / self.device.scale_across  # image rows per transport row
        geo = sc.FeedGeometry(geo.matrix, geo.knots * k, geo.offsets, round(geo.image_h * k),
                              geo.image_w)
        printed = cv2.cvtColor(sc.warp_sheet(src, geo, (*p.backing_rgb, 0)), cv2.COLOR_RGBA2RGB)
        other = self._other_side(rng, dark_small, geo, p)
        q = self._jpeg(rng, p, effects)
        b_side = "back" if orient.side is sc.Side.FRONT else "front"
        return duplex_sides(self._finish(rng, printed, p, effects, orient.side.value, q),
                            self._finish(rng, other, p, effects, b_side, q), orient)

    def blank_sheet(self, index: int, kind: BallotKind, contest: int | str | None,
                    lang: Language) -> SimSheet:
        """An unmarked ballot of this run, fed in a random orientation (no folds, no fakes)."""
        rng = np.random.default_rng([self.seed, 0xB1A4C, index])
        p = self.params
        layout = self.layout(kind, contest, lang)
        blur = float(p.blur_px[int(rng.integers(len(p.blur_px)))])
        blank, dark_small = self.blank(layout, blur, 1.0)
        src = cv2.multiply(blank, sc.gain_field(rng, p, blank.shape[:2]), scale=1 / 255)
        effects: dict[str, Any] = {"blur_px": blur}
        if not self.print_run.identity:
            effects["print"] = self.print_run.to_json()
        front, back, orient, jpeg = self._scan(rng, src, dark_small, p, effects)
        truth: dict[str, Any] = {
            "sheet": index, "genuine": True, "kind": kind.value, "contest": layout.contest,
            "language": lang.value, "orientation": orient.label, "targets": [],
            "effects": effects}
        return SimSheet(front, back, truth, jpeg)

    def calibration_set(self, per_kind: int) -> Iterator[tuple[str, SimSheet]]:
        """``per_kind`` blank ballots of each kind this station votes on, languages alternating."""
        index = 0
        for kind, contest in self._kinds():
            for i in range(per_kind):
                lang = (Language.KY, Language.RU)[i % 2]
                yield f"{kind.value}-{i:02d}", self.blank_sheet(index, kind, contest, lang)
                index += 1


@dataclass(frozen=True)
class DeviceCalibrationRun:
    """What :func:`calibrate_on_simulated_device` did: the outcome, the printed roll, time."""

    outcome: Any  # firmware.calibration_mode.CalibrationOutcome
    roll_png: Path
    sheets: int
    seconds: float


def calibrate_on_simulated_device(workdir: Path, election: Election, station: Station,
                                  run: PrintRun, per_kind: int = 3, seed: int = 0,
                                  print_run_label: str = "") -> DeviceCalibrationRun:
    """Calibration mode end to end on simulated hardware: a booted device with the real
    reader, ``per_kind`` blanks of each kind of ``run`` inserted one at a time through its
    paper path and taken back, the profile stored, and the report printed on the virtual
    printer on a real pty (its paper saved as ``workdir/calibration-report.roll.png``)."""
    import time

    from firmware.calibration_mode import CalibrationMode, CalibrationSettings
    from firmware.hal.imaging import DuplexImages
    from firmware.hal.printer import SerialPrinter
    from firmware.printsink import PrinterReportSink
    from firmware.reader_setup import make_reader
    from simulator.devices import SimWorld
    from simulator.printer import VirtualPrinter
    from simulator.rig import build_device
    from simulator.scanner import preset

    t0 = time.perf_counter()
    factory = PrintRunFactory(election, station, preset("realistic"), seed=seed, print_run=run)
    images = {name: DuplexImages(s.front, s.back)
              for name, s in factory.calibration_set(per_kind)}
    with VirtualPrinter() as vp, SerialPrinter(vp.port) as printer:
        sink = PrinterReportSink(printer)
        rig = build_device(workdir / "device", SimWorld(), election, station,
                           make_reader(election, station), images_of=images.__getitem__,
                           reports=sink)
        sink.device = rig.device
        rig.device.boot()
        try:
            mode = CalibrationMode(rig.device, CalibrationSettings(per_kind=per_kind,
                                                                   print_run=print_run_label))
            mode.enter()
            for name in images:
                rig.world.insert(name)
                mode.step()
                rig.world.take_from_entry()  # the operator takes the blank back
                mode.step()
            outcome = mode.finish()
        finally:
            rig.device.close()
        vp.wait_received(vp.received_bytes)
        roll = vp.save_png(workdir / "calibration-report.roll.png")
    return DeviceCalibrationRun(outcome, roll, len(images), time.perf_counter() - t0)
