"""A print run and a scanner device, as device calibration meets them (calibration sets).

A real printing house never prints the renderer's raster pixel for pixel, and
a real scanner has its own optical scale along and across the feed. This
module simulates both, for the calibration set (blank ballots of each kind)
and for marked ballots of the same run:

* :class:`PrintRun` — dot gain (dark print grows by whole pixels on every
  edge: a grey-level erosion of the 200 DPI raster, i.e. a minimum filter),
  print scale and offset on the paper, and a wrong stripe or security ink;
* :class:`Device` — a fixed optical scale across and along the feed (the
  per-sheet scale draw of the preset is replaced by it);
* :class:`PrintRunFactory` — a :class:`~simulator.sheets.SheetFactory` whose
  every ballot comes from that print run, scanned on that device, with
  :meth:`PrintRunFactory.blank_sheet` for unmarked calibration ballots.

Kept apart from ``simulator.scanner`` (the generic scanner model) on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from calibration.render_raster import render_layout
from election.layout import BallotLayout, SecurityFeature, Stripe
from election.model import BallotKind, Language
from simulator import scanner as sc
from simulator.sheets import BLANK_CACHE_SIZE, SheetFactory, SimSheet, _small_darkness


@dataclass(frozen=True)
class PrintRun:
    """How this printing house printed this batch."""

    dot_gain_px: int = 0  # dark print heavier by this many pixels on each edge (200 DPI)
    scale: float = 1.0  # print scale on the paper
    shift_mm: tuple[float, float] = (0.0, 0.0)  # print offset on the paper (across, along)
    stripe_srgb: tuple[int, int, int] | None = None  # stripe ink used instead of the design's
    security_srgb: tuple[int, int, int] | None = None  # security ink used instead

    def inks(self, layout: BallotLayout) -> BallotLayout:
        """The layout as printed with this run's inks."""
        if self.stripe_srgb is not None and layout.stripes:
            layout = replace(layout, stripes=tuple(Stripe(s.rect, self.stripe_srgb)
                                                   for s in layout.stripes))
        if self.security_srgb is not None:
            sec: SecurityFeature = replace(layout.security, srgb=self.security_srgb)
            layout = replace(layout, security=sec)
        return layout

    def print_raster(self, rgb: np.ndarray, ppm: float) -> np.ndarray:
        """Dot gain, then the print's scale and offset on the paper (paper stays white)."""
        if self.dot_gain_px > 0:
            rgb = cv2.erode(rgb, np.ones((3, 3), np.uint8), iterations=self.dot_gain_px)
        if self.scale != 1.0 or self.shift_mm != (0.0, 0.0):
            h, w = rgb.shape[:2]
            s = self.scale
            m = np.array([[s, 0.0, (1 - s) * w / 2 + self.shift_mm[0] * ppm],
                          [0.0, s, (1 - s) * h / 2 + self.shift_mm[1] * ppm]])
            rgb = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
        return rgb


@dataclass(frozen=True)
class Device:
    """A scanner's own optical scale (image px per nominal px) across and along the feed."""

    scale_across: float = 1.0
    scale_along: float = 1.0


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

    def blank(self, layout: BallotLayout, blur: float, fade: float,
              run: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """This factory's own print run replaces the preset's print variation (``run``
        is the preset's run index and is ignored here)."""
        key = (layout.layout_hash, blur, fade)
        if key in self._blanks:
            self._blanks.move_to_end(key)
            return self._blanks[key]
        rgb = render_layout(self.print_run.inks(layout), self.params.dpi)
        rgb = self.print_run.print_raster(rgb, self.ppm)
        if fade < 1.0:
            rgb = cv2.addWeighted(rgb, fade, np.full_like(rgb, 255), 1.0 - fade, 0.0)
        if blur > 0:
            rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
        rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
        entry = (rgba, _small_darkness(rgba))
        self._blanks[key] = entry
        if len(self._blanks) > BLANK_CACHE_SIZE:
            self._blanks.popitem(last=False)
        return entry

    def _scan(self, rng: np.random.Generator, src: np.ndarray, dark_small: np.ndarray,
              p: sc.ScannerParams, effects: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                                      sc.Orientation]:
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
        a = self._finish(rng, printed, p, effects, orient.side.value, q)
        b_side = "back" if orient.side is sc.Side.FRONT else "front"
        b = self._finish(rng, other, p, effects, b_side, q)
        return (a, b, orient) if orient.side is sc.Side.FRONT else (b, a, orient)

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
        front, back, orient = self._scan(rng, src, dark_small, p, effects)
        truth: dict[str, Any] = {
            "sheet": index, "genuine": True, "kind": kind.value, "contest": layout.contest,
            "language": lang.value, "orientation": orient.label, "targets": [],
            "effects": effects}
        return SimSheet(front, back, truth)

    def calibration_set(self, per_kind: int) -> Iterator[tuple[str, SimSheet]]:
        """``per_kind`` blank ballots of each kind this station votes on, languages alternating."""
        index = 0
        for kind, contest in self._kinds():
            for i in range(per_kind):
                lang = (Language.KY, Language.RU)[i % 2]
                yield f"{kind.value}-{i:02d}", self.blank_sheet(index, kind, contest, lang)
                index += 1
