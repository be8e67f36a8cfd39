"""Score every voting target against the blank ballot, and classify it.

For each target the reader resamples a small upright patch of the scan (the
box, its ring, and a ``search_px`` margin) in the blank template's own pixel
grid, through the mesh. The box border's edge profiles are matched to the
template's within ±``search_px`` to correct the last pixel or two of
registration error. *New ink* is then the darkness of the scan above the
darkness of the template at the same pixel, so printed digits and box
borders never count. Scores are the shares of the interior and ring zones
(``election.marking``) covered by new ink; thresholds are applied apart.

The paper white used to turn grey levels into darkness is measured on each
patch and clamped to within 15 % of the sheet's paper level, so neither a
fully marked box nor a dark sheet can move it far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from election.geometry import px_per_mm
from election.layout import BallotLayout
from election.marking import FAINT_LEVEL, INK_LEVEL, ZoneWindow, zone_window
from vision.config import TemplateSource, Thresholds
from vision.mesh import Mesh
from vision.result import Mark, TargetReading, TargetScores


@dataclass(frozen=True)
class TargetTemplate:
    contest: str
    option: str
    window: ZoneWindow
    dark: np.ndarray  # template darkness over the window (float32)
    col_edges: np.ndarray  # derivative of the template's column profile
    row_edges: np.ndarray


@dataclass(frozen=True)
class LayoutTemplate:
    layout_hash: str
    targets: tuple[TargetTemplate, ...]


def _edges(profile: np.ndarray) -> np.ndarray:
    return np.diff(profile, axis=-1)


def build_template(layout: BallotLayout, source: TemplateSource, dpi: float) -> LayoutTemplate:
    ppm = px_per_mm(dpi)
    rgb = source(layout, dpi)
    dark = 1.0 - rgb[..., 1].astype(np.float32) / 255.0
    out = []
    for t in layout.targets:
        win = zone_window(t.box, ppm)
        h, w = win.shape
        d = dark[win.y0 : win.y0 + h, win.x0 : win.x0 + w]
        out.append(TargetTemplate(t.contest, t.option, win, d, _edges(d.sum(axis=0)),
                                  _edges(d.sum(axis=1))))
    return LayoutTemplate(layout.layout_hash, tuple(out))


class TemplateCache:
    """Blank templates by layout hash (a station sees only a handful of layouts)."""

    def __init__(self, source: TemplateSource, dpi: float, size: int = 12) -> None:
        self.source, self.dpi, self.size = source, dpi, size
        self._items: dict[str, LayoutTemplate] = {}

    def get(self, layout: BallotLayout) -> LayoutTemplate:
        key = layout.layout_hash
        if key not in self._items:
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = build_template(layout, self.source, self.dpi)
        return self._items[key]


def _best_shift(scan_edges: np.ndarray, tmpl_edges: np.ndarray, m: int) -> int:
    """Shift in [-m, m] that best lines up the template's border edges with the scan's."""
    n = tmpl_edges.size
    scores = [float(np.dot(tmpl_edges, scan_edges[m + s : m + s + n])) for s in range(-m, m + 1)]
    return int(np.argmax(scores)) - m


def classify(s: TargetScores, th: Thresholds) -> Mark:
    if s.fill >= th.definite:
        return Mark.MARKED
    if s.fill >= th.marginal or s.faint >= th.faint or s.ring >= th.ring:
        return Mark.MARGINAL
    return Mark.UNMARKED


def score_targets(green: np.ndarray, mesh: Mesh, template: LayoutTemplate, paper: float,
                  th: Thresholds, search_px: int, dpi: float,
                  debug: dict[str, Any] | None = None) -> tuple[TargetReading, ...]:
    ppm = px_per_mm(dpi)
    m = search_px
    lo, hi = 0.85 * paper, min(255.0, 1.15 * paper)
    readings = []
    for t in template.targets:
        win = t.window
        h, w = win.shape
        # Patch pixel (i, j) <-> template pixel (y0 - m + i, x0 - m + j); centres at +0.5.
        a = mesh.affine_at((win.x0 - m + 0.5) / ppm, (win.y0 - m + 0.5) / ppm, ppm)
        patch = cv2.warpAffine(green, a, (w + 2 * m, h + 2 * m),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        local = float(np.clip(np.percentile(patch, 90), lo, hi))
        dark = np.clip(1.0 - patch.astype(np.float32) / local, 0.0, 1.0)
        dx = _best_shift(_edges(dark[m : m + h].sum(axis=0)), t.col_edges, m)
        dy = _best_shift(_edges(dark[:, m : m + w].sum(axis=1)), t.row_edges, m)
        aligned = dark[m + dy : m + dy + h, m + dx : m + dx + w]
        new = aligned - t.dark
        inside = new[win.interior]
        around = new[win.ring]
        scores = TargetScores(
            fill=float(np.count_nonzero(inside >= INK_LEVEL)) / inside.size,
            faint=float(np.count_nonzero(inside >= FAINT_LEVEL)) / inside.size,
            ring=float(np.count_nonzero(around >= INK_LEVEL)) / around.size,
        )
        centre = a @ np.array([w / 2 + m + dx, h / 2 + m + dy, 1.0])
        readings.append(TargetReading(t.contest, t.option, scores, classify(scores, th),
                                      (float(centre[0]), float(centre[1])), (dx, dy)))
        if debug is not None:
            debug.setdefault("patches", []).append((t.contest, t.option, aligned, new))
    return tuple(readings)
