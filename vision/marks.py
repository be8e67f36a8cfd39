"""Score every voting target against the blank ballot, and classify it.

For each target the reader resamples a small upright patch of the scan (the
box, its ring, and a ``search_px`` margin) in the blank template's own pixel
grid, through the mesh. The box border's edge profiles are matched to the
template's within ±``search_px`` to correct the last pixel or two of
registration error. *New ink* is then the darkness of the scan above the
darkness of the template at the same pixel, so printed digits and box
borders never count. Scores are the shares of the interior and ring zones
(``election.marking``) covered by new ink; thresholds are applied apart.

Darkness is what a person sees: each colour channel is divided by the paper
white of that channel around the box, and the darkest channel counts
(``election.marking``), so a red, green, purple or pale blue pen and grey
pencil count by how dark they look, not by how dark they are in green. The
paper white is measured on each patch, channel by channel, and clamped to
within 15 % of the sheet's paper level, so neither a fully marked box nor a
dark sheet can move it far.

Real print is heavier or lighter than the renderer's raster (dot gain,
toner). New ink is therefore measured against the blank template *dilated*
by ``DOT_GAIN_TOLERANCE_MM`` (2 px at 200 DPI): lines printed up to 2 px
wider than the raster (each edge 1 px out), plus optics blur, never read as
ink around a border or digit.
The interior zone starts 0.35 mm inside a box's border, so marks keep their
whole interior.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from election.geometry import px_per_mm
from election.layout import BallotLayout
from election.marking import FAINT_LEVEL, INK_LEVEL, LIGHT_LEVEL, zone_window
from vision.config import TemplateSource, Thresholds
from vision.mesh import Mesh
from vision.result import Mark, TargetReading, TargetScores


@dataclass(frozen=True)
class LayoutTemplate:
    """Every target of one layout in one common window frame, stacked for vector work.

    Windows of different targets differ by a pixel at most (fractional box
    positions); all are padded to the largest, with zone masks padded False.
    """

    layout_hash: str
    ids: tuple[tuple[str, str], ...]  # (contest, option) per target
    origin: np.ndarray  # (N, 2) template px (x0, y0) of each window
    dark: np.ndarray  # (N, h, w) template darkness
    dark_tol: np.ndarray  # (N, h, w) the same, dilated by the dot-gain tolerance
    interior: np.ndarray  # (N, h, w) bool
    ring: np.ndarray  # (N, h, w) bool
    col_edges: np.ndarray  # (N, w - 1) derivative of the template's column profile
    row_edges: np.ndarray  # (N, h - 1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.dark.shape[1], self.dark.shape[2]

    # Per-template constants of ``score_targets``, computed once per layout rather than
    # once per sheet (the same numpy expressions, so the same values).
    @cached_property
    def n_interior(self) -> np.ndarray:
        return self.interior.sum(axis=(1, 2))

    @cached_property
    def n_ring(self) -> np.ndarray:
        return self.ring.sum(axis=(1, 2))

    @cached_property
    def border(self) -> np.ndarray:
        return self.dark > 0.5

    @cached_property
    def border_dark(self) -> np.ndarray:
        return (self.dark * self.border).sum(axis=(1, 2))

    @cached_property
    def ring_sides(self) -> RingSides:
        """The ring's four sides and the zone widths (for ``_bands``)."""
        return RingSides.of(self.interior, self.ring)


DOT_GAIN_TOLERANCE_MM = 0.30
BLUR_TOLERANCE_MM = 0.15


def build_template(layout: BallotLayout, source: TemplateSource, dpi: float) -> LayoutTemplate:
    ppm = px_per_mm(dpi)
    rgb = source(layout, dpi)
    page_dark = 1.0 - rgb.min(axis=2).astype(np.float32) / 255.0
    windows = [zone_window(t.box, ppm) for t in layout.targets]
    h = max(wi.shape[0] for wi in windows)
    w = max(wi.shape[1] for wi in windows)
    n = len(windows)
    dark = np.zeros((n, h, w), np.float32)
    interior = np.zeros((n, h, w), bool)
    ring = np.zeros((n, h, w), bool)
    for i, wi in enumerate(windows):
        dark[i] = page_dark[wi.y0 : wi.y0 + h, wi.x0 : wi.x0 + w]
        interior[i, : wi.shape[0], : wi.shape[1]] = wi.interior
        ring[i, : wi.shape[0], : wi.shape[1]] = wi.ring
    # A source that already holds the real print (device calibration) says how much
    # growth is left to allow for; the renderer's raster gets the full dot-gain tolerance.
    tolerance = getattr(source, "dot_gain_tolerance_mm", None)
    tol_mm = tolerance(layout) if callable(tolerance) else None
    r = max(1, round((DOT_GAIN_TOLERANCE_MM if tol_mm is None else tol_mm) * ppm))
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    # ... and the blur tail beyond the dilated edge (a scanner's optics soften every edge).
    sigma = BLUR_TOLERANCE_MM * ppm
    dark_tol = (np.stack([np.maximum(grown, cv2.GaussianBlur(grown, (0, 0), sigma))
                          for grown in (cv2.dilate(d, kernel) for d in dark)])
                if n else dark.copy())
    return LayoutTemplate(
        layout.layout_hash,
        tuple((t.contest, t.option) for t in layout.targets),
        np.array([(wi.x0, wi.y0) for wi in windows], np.float64),
        dark, dark_tol, interior, ring,
        np.diff(dark.sum(axis=1), axis=1), np.diff(dark.sum(axis=2), axis=1),
    )


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


def _best_shifts(scan_edges: np.ndarray, tmpl_edges: np.ndarray, m: int) -> np.ndarray:
    """Per target, the shift in [-m, m] lining up the template's border edges with the scan's."""
    n = tmpl_edges.shape[1]
    windows = np.lib.stride_tricks.sliding_window_view(scan_edges, n, axis=1)  # (N, 2m+1, n)
    scores = np.einsum("ksn,kn->ks", windows[:, : 2 * m + 1], tmpl_edges)
    return np.argmax(scores, axis=1) - m


def _bands(new: np.ndarray, interior: np.ndarray, ring: np.ndarray,
           level: float = 0.06, sides: RingSides | None = None) -> np.ndarray:
    """(N, h, w) True on the rows and columns that a straight band of darkness crosses from
    one side of the ring to the other, through the whole interior: a scanner streak, a fold
    or a shadow across the sheet, not light ink on this box. Such a row is, on average,
    at least ``level`` dark across the interior *and* across the ring on each side of it
    (left and right for a row, above and below for a column), each side apart: a band
    runs across the whole sheet, so it darkens both. A voter's light mark stays inside the
    box or crosses a row at a slant, in a few pixels; a light fill that spills past the
    box on one side (a pencil shading the box and a little beyond it) darkens one side of
    the ring only, and is ink, not a band."""
    ink = np.maximum(new, 0.0)
    z = sides or RingSides.of(interior, ring)

    def dark(mask: np.ndarray, axis: int, width: np.ndarray) -> np.ndarray:
        return (width > 0) & ((ink * mask).sum(axis=axis) >= level * np.maximum(width, 1))

    rows = (dark(interior, 2, z.in_rows) & dark(z.left, 2, z.left_rows)
            & dark(z.right, 2, z.right_rows))  # (N, h)
    cols = (dark(interior, 1, z.in_cols) & dark(z.top, 1, z.top_cols)
            & dark(z.bottom, 1, z.bottom_cols))  # (N, w)
    return rows[:, :, None] | cols[:, None, :]


@dataclass(frozen=True)
class RingSides:
    """The ring split into its four sides (for ``_bands``), each (N, h, w) bool, and the
    widths of each zone across rows (interior, left, right) and across columns (interior,
    top, bottom). A ring pixel is on the left when it lies left of every interior column,
    and so on; the corners belong to two sides."""

    left: np.ndarray
    right: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    in_rows: np.ndarray
    left_rows: np.ndarray
    right_rows: np.ndarray
    in_cols: np.ndarray
    top_cols: np.ndarray
    bottom_cols: np.ndarray

    @classmethod
    def of(cls, interior: np.ndarray, ring: np.ndarray) -> RingSides:
        h, w = interior.shape[1:]
        cols_in = interior.any(axis=1)  # (N, w)
        rows_in = interior.any(axis=2)  # (N, h)
        c0 = np.argmax(cols_in, axis=1)[:, None, None]
        c1 = (w - 1 - np.argmax(cols_in[:, ::-1], axis=1))[:, None, None]
        r0 = np.argmax(rows_in, axis=1)[:, None, None]
        r1 = (h - 1 - np.argmax(rows_in[:, ::-1], axis=1))[:, None, None]
        yy, xx = np.mgrid[:h, :w]
        left, right = ring & (xx < c0), ring & (xx > c1)
        top, bottom = ring & (yy < r0), ring & (yy > r1)
        return cls(left, right, top, bottom, interior.sum(axis=2), left.sum(axis=2),
                   right.sum(axis=2), interior.sum(axis=1), top.sum(axis=1),
                   bottom.sum(axis=1))


def classify(s: TargetScores, th: Thresholds) -> Mark:
    if s.fill >= th.definite or s.light >= th.light or s.light - s.fill >= th.light_only:
        return Mark.MARKED
    if s.fill >= th.marginal or s.faint >= th.faint or s.ring >= th.ring:
        return Mark.MARGINAL
    return Mark.UNMARKED


def linear_lut(gamma: float) -> np.ndarray | None:
    """uint8 table undoing a device tone curve ``image = reflectance ** gamma``."""
    if abs(gamma - 1.0) < 1e-6:
        return None
    return np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** (1.0 / gamma)), 0,
                   255).astype(np.uint8)


def score_targets(rgb: np.ndarray, mesh: Mesh, template: LayoutTemplate, paper: float,
                  th: Thresholds, search_px: int, dpi: float,
                  debug: dict[str, Any] | None = None,
                  gamma: float = 1.0) -> tuple[TargetReading, ...]:
    ppm = px_per_mm(dpi)
    m = search_px
    n = len(template.ids)
    h, w = template.shape
    hp, wp = h + 2 * m, w + 2 * m
    # Patch pixel (i, j) <-> template pixel (y0 - m + i, x0 - m + j); pixel centres at +0.5.
    ox = (template.origin[:, 0] - m + 0.5) / ppm
    oy = (template.origin[:, 1] - m + 0.5) / ppm
    d = 1.0
    pts = mesh.to_image(np.stack([ox, ox + d, ox], 1), np.stack([oy, oy, oy + d], 1))  # (N,3,2)
    ex = (pts[:, 1] - pts[:, 0]) / (d * ppm)
    ey = (pts[:, 2] - pts[:, 0]) / (d * ppm)
    # Warp each patch from a small crop of the image around it (all three channels:
    # darkness is taken in the darkest channel after each is divided by its paper white).
    stack = np.empty((n, hp, wp, 3), np.uint8)
    corners = pts[:, 0, None, :] + (np.array([0, wp, 0, wp])[None, :, None] * ex[:, None, :]
                                      + np.array([0, 0, hp, hp])[None, :, None] * ey[:, None, :])
    lo = np.floor(corners.min(axis=1)).astype(int) - 2
    hi = np.ceil(corners.max(axis=1)).astype(int) + 3
    H, W = rgb.shape[:2]
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [W, H])
    # Each patch's affine map from its crop, all built at once: [[ex, ey, p0 - crop origin]].
    maps = np.stack([ex, ey, pts[:, 0] - lo], axis=2)  # (N, 2, 3)
    for k, ((x0, y0), (x1, y1)) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if x1 - x0 < 2 or y1 - y0 < 2:
            stack[k] = 0  # outside the image: reads as fully dark, never as "unmarked"
            continue
        crop = rgb[y0:y1, x0:x1]
        cv2.warpAffine(crop, maps[k], (wp, hp), dst=stack[k],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_REPLICATE)
    # Darkness as a person sees it: the channels are balanced to the paper white of the
    # sheet (the same gains for every box: a colour cast is a property of the sheet),
    # and the darkest balanced channel is kept, in uint8 (OpenCV, no float copies).
    sample = stack[:, ::4, ::4].reshape(-1, 3)
    q = int(0.9 * (sample.shape[0] - 1))
    white = np.partition(sample, q, axis=0)[q].astype(np.float64)  # (3,) paper per channel
    gains = white[1] / np.maximum(white, 1.0)
    flat = stack.reshape(n * hp, wp, 3)
    balance = (float(gains[0]), 1.0, float(gains[2]), 0.0)
    planes = cv2.split(cv2.multiply(flat, balance))  # type: ignore[call-overload]
    seen = cv2.min(cv2.min(planes[0], planes[1]), planes[2]).reshape(n, hp, wp)
    lut = linear_lut(gamma)
    if lut is not None:  # darkness is a share of reflectance: undo the device's tone curve
        seen = cv2.LUT(seen, lut)
        paper = float(lut[int(np.clip(round(paper), 0, 255))])
    # Paper white around each box: a high percentile of a sparse sample, clamped.
    local_sample = seen[:, ::3, ::3].reshape(n, -1)
    q = int(0.9 * (local_sample.shape[1] - 1))
    local = np.partition(local_sample, q, axis=1)[:, q].astype(np.float32)
    local = np.clip(local, 0.85 * paper, min(255.0, 1.15 * paper))
    dark = np.clip(1.0 - seen.astype(np.float32) / local[:, None, None], 0.0, 1.0)
    dx = _best_shifts(np.diff(dark[:, m : m + h].sum(axis=1), axis=1), template.col_edges, m)
    dy = _best_shifts(np.diff(dark[:, :, m : m + w].sum(axis=2), axis=1), template.row_edges, m)
    windows = np.lib.stride_tricks.sliding_window_view(dark, (h, w), axis=(1, 2))
    aligned = windows[np.arange(n), m + dy, m + dx]  # (N, h, w)
    new = aligned - template.dark_tol
    ink, faint, light = new >= INK_LEVEL, new >= FAINT_LEVEL, new >= LIGHT_LEVEL
    n_in = template.n_interior
    n_ring = template.n_ring
    fill = (ink & template.interior).sum(axis=(1, 2)) / n_in
    faint_share = (faint & template.interior).sum(axis=(1, 2)) / n_in
    light_in = light & template.interior & ~_bands(new, template.interior, template.ring,
                                                    sides=template.ring_sides)
    light_share = light_in.sum(axis=(1, 2)) / n_in
    ring = (ink & template.ring).sum(axis=(1, 2)) / n_ring
    printed = ((aligned * template.border).sum(axis=(1, 2))
               / np.maximum(template.border_dark, 1e-6))
    centre = pts[:, 0] + ex * (w / 2 + m + dx)[:, None] + ey * (h / 2 + m + dy)[:, None]
    readings = []
    for k, (contest, option) in enumerate(template.ids):
        scores = TargetScores(float(fill[k]), float(faint_share[k]), float(ring[k]),
                              float(printed[k]), float(light_share[k]))
        readings.append(TargetReading(contest, option, scores, classify(scores, th),
                                      (float(centre[k, 0]), float(centre[k, 1])),
                                      (int(dx[k]), int(dy[k]))))
    if debug is not None:
        debug["patches"] = [(c, o, aligned[k], new[k]) for k, (c, o) in enumerate(template.ids)]
    return tuple(readings)
