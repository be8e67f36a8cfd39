"""The paper's own edges: a fit-to-page print and a double feed, told from the pixels.

The scanner images the sheet on a dark or grey backing, so the paper's edges
are visible. Brightness is the *brightest* channel: paper is bright in every
channel, a neutral backing in none, and a coloured stripe (even darkened by a
gamma of 1.8 or more) stays bright in its own colour, so it is never taken for
the backing. Rays are cast through the mesh, in sheet millimetres, from inside
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


END_GAP_MM = 2.5  # the scanner images at least ~3 mm of backing past each end; 2.0 left ~1 mm
# after a 1 mm print offset on the paper, and genuine ballots were returned as double feeds

# Backing threshold as a share of the paper white: between backing and paper, nearer
# the backing (a grey backing is ~0.53 of the paper; 0.76 caught uneven paper).
BACKING_LEVELS = {"dark": 0.42, "grey": 0.66, "white": 0.42}


def backing_level(backing: str) -> float:
    return BACKING_LEVELS[str(backing)]


def _bright(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Brightest channel at each point (NaN outside the image)."""
    vals = sample_points(img, pts, radius=0)
    return vals.max(axis=-1) if img.ndim == 3 else vals


@dataclass(frozen=True)
class PaperExtent:
    print_scale: float | None  # 210 / measured paper width in layout mm (None: edges not seen)
    rows_measured: int
    head_backing: float | None  # share of points past the head that see the backing
    tail_backing: float | None  # the same past the tail (None: not enough points visible)


def _edges_along(img: np.ndarray, mesh: Mesh, xs: np.ndarray, ys: np.ndarray,
                 backing: float) -> list[float | None]:
    """For each ray (a row of ``xs``/``ys``, in mm, walking outwards): the distance in mm
    to where the backing starts.

    ``None``: the ray left the image through its sides before finding the
    backing (the edge is simply not visible). ``inf``: the ray reached the
    image's head or tail still on paper, i.e. the paper runs on past the image.
    """
    pts = mesh.to_image(xs, ys)  # (R, S, 2)
    vals = _bright(img, pts)  # (R, S)
    run = max(1, int(RUN_MM / STEP_MM))
    outside = np.isnan(vals)
    dark = (np.nan_to_num(vals, nan=255.0) < backing).astype(np.int32)
    c = np.concatenate([np.zeros((dark.shape[0], 1), np.int32), np.cumsum(dark, axis=1)], axis=1)
    window = (c[:, run:] - c[:, :-run]) == run  # (R, S - run + 1): a dark run starts here
    h, w = img.shape[:2]
    out: list[float | None] = []
    for r in range(vals.shape[0]):
        starts = np.flatnonzero(window[r])
        first_out = int(np.argmax(outside[r])) if outside[r].any() else vals.shape[1]
        if starts.size and starts[0] < first_out:
            out.append(float(starts[0]) * STEP_MM)
        elif first_out < vals.shape[1]:
            x, y = pts[r, first_out]
            out.append(float("inf") if (y < 2 or y > h - 3) and 2 <= x <= w - 3 else None)
        else:
            out.append(None)
    return out


def measure(img: np.ndarray, mesh: Mesh, paper: float, paper_w_mm: float,
            paper_h_mm: float, level: float = BACKING_LEVELS["dark"]) -> PaperExtent:
    """Print scale from the side edges, and what lies past the head and the tail.

    Where both side edges are visible on a row, the width gives the scale
    (independent of where the print sits on the paper); otherwise each visible
    edge gives it from its distance to the ballot's centre line.
    """
    backing = level * paper
    half = paper_w_mm / 2
    inner = half - 12.5  # ladder centre to centre line, layout mm
    ks = np.round(np.linspace(1, mesh.rows - 3, 7)) + 0.5  # between marks
    ys = LADDER_Y0_MM + ks * LADDER_PITCH_MM
    steps = np.arange(0.0, 37.5, STEP_MM)
    left_x = np.broadcast_to(12.5 - steps, (len(ys), steps.size))
    right_x = np.broadcast_to(paper_w_mm - 12.5 + steps, (len(ys), steps.size))
    yy = np.broadcast_to(ys[:, None], left_x.shape)
    found = _edges_along(img, mesh, np.concatenate([left_x, right_x]),
                         np.concatenate([yy, yy]), backing)
    dls, drs = found[: len(ys)], found[len(ys) :]
    widths: list[float] = []
    singles: list[float] = []
    for dl, dr in zip(dls, drs, strict=True):
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
    # Past each end: a print shrunk about the sheet centre leaves wider margins.
    f = scale or 1.0
    head = _backing_share(img, mesh, paper_h_mm / 2 - (paper_h_mm / 2 + END_GAP_MM) / f,
                          paper_w_mm, backing)
    tail = _backing_share(img, mesh, paper_h_mm / 2 + (paper_h_mm / 2 + END_GAP_MM) / f,
                          paper_w_mm, backing)
    return PaperExtent(scale, len(widths), head, tail)


def _backing_share(img: np.ndarray, mesh: Mesh, y_mm: float, paper_w_mm: float,
                   backing: float) -> float | None:
    xs = np.linspace(20.0, paper_w_mm - 20.0, 35)
    vals = _bright(img, mesh.to_image(xs, np.full_like(xs, y_mm)))
    seen = vals[~np.isnan(vals)]
    if seen.size < 10:
        return None
    return float(np.mean(seen < backing))
