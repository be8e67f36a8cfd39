"""What counts as a mark: the measuring zones around a voting square and the ink levels.

Both the simulator's ground truth and the scanner's reader measure marks in
the same zones, so the rule that makes a mark *definite* is stated once, here.

Zones, relative to the outer edge of the printed box (the layout's ``box``):

* **interior**: the box inset by ``INTERIOR_INSET_MM`` (border 0.3 mm plus
  0.35 mm clearance), about 3.7 mm square;
* **ring**: the band from ``RING_INNER_MM`` to ``RING_OUTER_MM`` outside the box
  edge. It catches a circle drawn *around* the box and marks that lie mostly
  outside it;
* between them, a dead band over the printed border: ink there (a pen resting on
  the border) is neither inside nor around.

Ink levels are *darkness* as a person sees it: 1 - reflectance in the
*darkest* colour channel, each channel relative to the paper around the box
(``visual_darkness``). Darkness never comes from one fixed channel: a red or
green pen, a pale blue pen and grey pencil are all dark in some channel, as
they are to the eye.

* ``INK_LEVEL`` (0.30): a pixel at least this dark is ink;
* ``FAINT_LEVEL`` (0.12): at least this dark is a faint trace (light pencil,
  very light pressure). Erased pencil and smudges stay below it;
* ``LIGHT_LEVEL`` (0.20): clearly visible light ink (light pencil, a pale pen).
  Light ink that fills or crosses a box is a mark, however pale its strokes;
* ``STRONG_LEVEL`` (0.45), ground truth only: ink clearly darker than the
  reader's ink level, so that blur and noise cannot pull it under.

Coverage = share of a zone's pixels at or above a level. The ground-truth
classes, applied by the simulator to the ideal ink layer before any scanner
effect, are:

* ``definite``: the voter meant the mark and at least 8 % of the interior is
  covered by strong ink (darkness ≥ 0.45), or at least 15 % by light ink
  (darkness ≥ 0.20: a light pencil filling or crossing the box);
* ``marginal``: the voter meant it but it is deliberately tiny (interior ink
  coverage 1.5–3.5 %), faint (ink coverage < 0.5 % with faint coverage ≥ 12 %)
  or mostly outside (interior ink < 2.5 % with ≥ 5 % of the ring covered by
  strong ink), and under 5 % of the interior is light ink;
* ``none``: no intent; any non-vote trace keeps interior ink ≤ 0.003, faint
  ≤ 0.02 and ring ink ≤ 0.005.

A simulated mark that would fall between these bands is drawn again, so every
target's truth is unambiguous; real marks in those gaps exist, and the reader
reports them as marginal or marked, which ground truth could not arbitrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from election.geometry import Rect

INTERIOR_INSET_MM = 0.65
RING_INNER_MM = 0.35
RING_OUTER_MM = 1.35

INK_LEVEL = 0.30
FAINT_LEVEL = 0.12
LIGHT_LEVEL = 0.20
STRONG_LEVEL = 0.45

# Ground-truth bands (simulator).
DEFINITE_MIN_STRONG = 0.08
DEFINITE_MIN_LIGHT = 0.15  # at LIGHT_LEVEL: light pencil or a pale pen filling or crossing
MARGINAL_MAX_LIGHT = 0.05
TINY_INK = (0.015, 0.035)
FAINT_MAX_INK = 0.005
FAINT_MIN_FAINT = 0.12
OUTSIDE_MAX_INK = 0.025
OUTSIDE_MIN_RING = 0.05  # at STRONG_LEVEL
NONE_MAX_INK = 0.003
NONE_MAX_FAINT = 0.02
NONE_MAX_RING = 0.005


class TruthClass(StrEnum):
    DEFINITE = "definite"
    MARGINAL = "marginal"
    NONE = "none"


@dataclass(frozen=True)
class ZoneCoverage:
    """Coverage of the measuring zones of one target (each a share in [0, 1])."""

    ink: float  # interior pixels >= INK_LEVEL
    faint: float  # interior pixels >= FAINT_LEVEL
    ring: float  # ring pixels >= INK_LEVEL
    strong: float = 0.0  # interior pixels >= STRONG_LEVEL (ground truth only)
    light: float = 0.0  # interior pixels >= LIGHT_LEVEL
    ring_strong: float = 0.0  # ring pixels >= STRONG_LEVEL (ground truth only)


def interior_rect(box: Rect) -> Rect:
    return box.inset(INTERIOR_INSET_MM)


def ring_outer_rect(box: Rect) -> Rect:
    return box.inset(-RING_OUTER_MM)


def ring_inner_rect(box: Rect) -> Rect:
    return box.inset(-RING_INNER_MM)


def truth_class(intent: bool, cov: ZoneCoverage) -> TruthClass | None:
    """The ground-truth class, or None when the coverage falls in a gap between bands."""
    if not intent:
        ok = cov.ink <= NONE_MAX_INK and cov.faint <= NONE_MAX_FAINT and cov.ring <= NONE_MAX_RING
        return TruthClass.NONE if ok else None
    if cov.strong >= DEFINITE_MIN_STRONG or cov.light >= DEFINITE_MIN_LIGHT:
        return TruthClass.DEFINITE
    if cov.light >= MARGINAL_MAX_LIGHT:
        return None
    tiny = TINY_INK[0] <= cov.ink <= TINY_INK[1]
    faint = cov.ink < FAINT_MAX_INK and cov.faint >= FAINT_MIN_FAINT
    outside = cov.ink < OUTSIDE_MAX_INK and cov.ring_strong >= OUTSIDE_MIN_RING
    if tiny or faint or outside:
        return TruthClass.MARGINAL
    return None


@dataclass(frozen=True)
class ZoneWindow:
    """Pixel window around one target (the ring's outer rectangle) and its zone masks.

    Pixel (i, j) of a page belongs to a zone when its centre lies inside the zone.
    """

    y0: int
    x0: int
    interior: np.ndarray  # bool, window-sized
    ring: np.ndarray  # bool, window-sized

    @property
    def shape(self) -> tuple[int, int]:
        return self.interior.shape


def _centres_in(lo_mm: float, hi_mm: float, start_px: int, n: int, ppm: float) -> np.ndarray:
    centres = (np.arange(start_px, start_px + n) + 0.5) / ppm
    return (centres >= lo_mm) & (centres < hi_mm)


def zone_window(box: Rect, ppm: float) -> ZoneWindow:
    outer = ring_outer_rect(box)
    y0, x0 = int(np.floor(outer.y_mm * ppm)), int(np.floor(outer.x_mm * ppm))
    y1, x1 = int(np.ceil(outer.bottom_mm * ppm)), int(np.ceil(outer.right_mm * ppm))
    h, w = y1 - y0, x1 - x0

    def mask(r: Rect) -> np.ndarray:
        ys = _centres_in(r.y_mm, r.bottom_mm, y0, h, ppm)
        xs = _centres_in(r.x_mm, r.right_mm, x0, w, ppm)
        return ys[:, None] & xs[None, :]

    interior = mask(interior_rect(box))
    ring = mask(outer) & ~mask(ring_inner_rect(box))
    return ZoneWindow(y0, x0, interior, ring)


def coverage(darkness: np.ndarray, window: ZoneWindow) -> ZoneCoverage:
    """Zone coverage from a window-sized darkness array (0 = paper, 1 = black)."""
    inside = darkness[window.interior]
    around = darkness[window.ring]
    return ZoneCoverage(
        ink=float(np.count_nonzero(inside >= INK_LEVEL)) / max(1, inside.size),
        faint=float(np.count_nonzero(inside >= FAINT_LEVEL)) / max(1, inside.size),
        ring=float(np.count_nonzero(around >= INK_LEVEL)) / max(1, around.size),
        strong=float(np.count_nonzero(inside >= STRONG_LEVEL)) / max(1, inside.size),
        ring_strong=float(np.count_nonzero(around >= STRONG_LEVEL)) / max(1, around.size),
        light=float(np.count_nonzero(inside >= LIGHT_LEVEL)) / max(1, inside.size),
    )


def ink_darkness(rgb: tuple[int, int, int]) -> float:
    """Darkness of an ink at full strength on white paper, as a person sees it: in its
    darkest channel (a red pen is dark in green and blue, a pale blue one in red)."""
    return 1.0 - min(rgb) / 255.0
