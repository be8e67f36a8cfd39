"""The paper's own edges: a fit-to-page print and a double feed, told from the pixels.

The scanner images the sheet on a dark backing, so the paper's edges are
visible. Rays are cast through the mesh, in sheet millimetres, from inside
the ballot outwards until the backing starts:

* across the sheet, between ladder rows: the paper width in *layout* mm is
  210 / s, where s is the scale the ballot was printed at. A genuine ballot
  gives s = 1; "fit to page" gives 0.93-0.97. The scanner's own optical
  scale cancels out, because both the ladders and the paper go through it.
* beyond the head and the tail: a line of points 3 mm past each end of the
  ballot should all see the backing. A second sheet fed with the ballot shows
  its paper there instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from election.layout import LADDER_PITCH_MM, LADDER_Y0_MM
from vision.mesh import Mesh
from vision.sampling import sample_points

STEP_MM = 0.25
RUN_MM = 1.0  # backing must last this long along a ray


END_GAP_MM = 2.0  # the scanner images at least ~3 mm of backing past each end


@dataclass(frozen=True)
class PaperExtent:
    print_scale: float | None  # 210 / measured paper width in layout mm (None: edges not seen)
    rows_measured: int
    head_backing: float | None  # share of points past the head that see the backing
    tail_backing: float | None  # the same past the tail (None: not enough points visible)


def _edge_along(green: np.ndarray, mesh: Mesh, xs: np.ndarray, ys: np.ndarray,
                backing: float) -> float | None:
    """Distance (mm) along a ray to where the backing starts.

    ``None``: the ray left the image through its sides before finding the
    backing (the edge is simply not visible). ``inf``: the ray reached the
    image's head or tail still on paper, i.e. the paper runs on past the image.
    """
    pts = mesh.to_image(xs, ys)
    vals = sample_points(green, pts, radius=1)
    run = max(1, int(RUN_MM / STEP_MM))
    dark = np.nan_to_num(vals, nan=255.0) < backing
    outside = np.isnan(vals)
    # First index starting a run of `run` dark samples.
    if len(dark) >= run:
        window = np.convolve(dark.astype(int), np.ones(run, int), mode="valid") == run
        starts = np.flatnonzero(window)
    else:
        starts = np.array([], int)
    first_out = int(np.argmax(outside)) if outside.any() else len(vals)
    if starts.size and starts[0] < first_out:
        return float(starts[0]) * STEP_MM
    if first_out < len(vals):
        x, y = pts[first_out]
        h, w = green.shape[:2]
        return float("inf") if (y < 2 or y > h - 3) and 2 <= x <= w - 3 else None
    return None


def measure(green: np.ndarray, mesh: Mesh, paper: float, paper_w_mm: float,
            paper_h_mm: float) -> PaperExtent:
    """Print scale from the side edges and paper length from the head and tail edges.

    Where both side edges are visible on a row, the width gives the scale
    (independent of where the print sits on the paper); otherwise each visible
    edge gives it from its distance to the ballot's centre line.
    """
    backing = 0.42 * paper
    rows = mesh.rows
    half = paper_w_mm / 2
    inner = half - 12.5  # ladder centre to centre line, layout mm
    widths: list[float] = []
    singles: list[float] = []
    for k in np.round(np.linspace(1, rows - 3, 9)) + 0.5:  # between marks
        y = LADDER_Y0_MM + k * LADDER_PITCH_MM
        left_x = np.arange(12.5, -40.0, -STEP_MM)
        right_x = np.arange(paper_w_mm - 12.5, paper_w_mm + 40.0, STEP_MM)
        dl = _edge_along(green, mesh, left_x, np.full_like(left_x, y), backing)
        dr = _edge_along(green, mesh, right_x, np.full_like(right_x, y), backing)
        ok_l = dl is not None and np.isfinite(dl)
        ok_r = dr is not None and np.isfinite(dr)
        if ok_l and ok_r:
            widths.append(2 * inner + dl + dr)  # type: ignore[operator]
        for d, ok in ((dl, ok_l), (dr, ok_r)):
            if ok:
                singles.append(half / (inner + d))  # type: ignore[operator]
    if len(widths) >= 3:
        scale: float | None = paper_w_mm / float(np.median(widths))
    elif len(singles) >= 3:
        scale = float(np.median(singles))
    else:
        scale = None

    head = _backing_share(green, mesh, -END_GAP_MM / scale if scale else -END_GAP_MM,
                          paper_w_mm, backing)
    tail_y = paper_h_mm + (END_GAP_MM / scale if scale else END_GAP_MM)
    if scale:
        # A print shrunk about the sheet centre leaves wider margins: go past the paper.
        tail_y = paper_h_mm / 2 + (paper_h_mm / 2 + END_GAP_MM) / scale
        head_y = paper_h_mm / 2 - (paper_h_mm / 2 + END_GAP_MM) / scale
        head = _backing_share(green, mesh, head_y, paper_w_mm, backing)
    tail = _backing_share(green, mesh, tail_y, paper_w_mm, backing)
    return PaperExtent(scale, len(widths), head, tail)


def _backing_share(green: np.ndarray, mesh: Mesh, y_mm: float, paper_w_mm: float,
                   backing: float) -> float | None:
    xs = np.linspace(20.0, paper_w_mm - 20.0, 35)
    vals = sample_points(green, mesh.to_image(xs, np.full_like(xs, y_mm)), radius=1)
    seen = vals[~np.isnan(vals)]
    if seen.size < 10:
        return None
    return float(np.mean(seen < backing))
