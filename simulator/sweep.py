"""A sweep deck: marks at every coverage and darkness, drawn once, never redrawn.

The simulator's ordinary decks draw marks *inside* the ground-truth bands
(a mark between bands is drawn again), so by construction they never test the
reader where the bands leave gaps. The sweep deck does the opposite: every
target of a party-list ballot gets one mark whose darkness and coverage are
set on a grid spanning the whole range, from an invisible trace to a solid
fill, in scribbled strokes of pencil grain. Each mark's coverage is measured
on the ideal ink (``election.marking.coverage``, the zones the reader uses)
and reported next to the reader's verdict, so a person sees where
``marginal`` begins and ends. There is no ground truth to grade against here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.render_raster import render_layout
from election.geometry import px_per_mm
from election.layout import BallotLayout
from election.marking import ZoneCoverage, coverage, zone_window
from simulator import scanner as sc
from simulator.ink import InkPatch, composite

DARKNESS = (0.06, 0.10, 0.14, 0.18, 0.22, 0.27, 0.33, 0.45, 0.65, 0.85)
COVERAGE = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25, 0.4, 0.6, 0.9)
GREY_INK = (70, 70, 76)  # pencil-like: the same darkness in every channel


@dataclass(frozen=True)
class SweepMark:
    target: str
    darkness: float
    coverage_goal: float
    cover: ZoneCoverage  # measured on the ideal ink


def _strokes_patch(rng: np.random.Generator, layout: BallotLayout, target_index: int,
                   darkness: float, goal: float, ppm: float) -> InkPatch | None:
    """Parallel strokes across the box interior until ``goal`` of it is covered."""
    t = layout.targets[target_index]
    win = zone_window(t.box, ppm)
    h, w = win.shape
    inside = win.interior
    n_in = int(inside.sum())
    if goal <= 0 or n_in == 0:
        return None
    mask = np.zeros((h, w), np.uint8)
    ang = rng.uniform(-0.6, 0.6)
    ys, xs = np.nonzero(inside)
    cy, cx = ys.mean(), xs.mean()
    width = max(1, round(0.35 * ppm))
    offsets = rng.permutation(np.arange(-h, h, width))
    for off in offsets:
        if np.count_nonzero(mask[inside]) >= goal * n_in:
            break
        dx, dy = math.cos(ang) * w, math.sin(ang) * w
        px, py = cx - math.sin(ang) * off, cy + math.cos(ang) * off
        cv2.line(mask, (round(px - dx), round(py - dy)), (round(px + dx), round(py + dy)), 255,
                 width)
    # Shorten the strokes (from their far end) so the covered share lands on the goal.
    covered = np.flatnonzero(mask[inside])
    excess = covered.size - round(goal * n_in)
    if excess > 0:
        idx = np.argwhere(inside)[covered]
        along = idx[:, 1] * math.cos(ang) + idx[:, 0] * math.sin(ang)
        drop = idx[np.argsort(along)[-excess:]]
        mask[drop[:, 0], drop[:, 1]] = 0
    mask[~inside] = 0  # the sweep measures the interior; ring and border stay clean
    grain = 1.0 - 0.12 * rng.random((h, w), dtype=np.float32)
    absorb = 1.0 - min(GREY_INK) / 255.0
    alpha = (mask > 0) * np.float32(darkness / absorb) * grain
    return InkPatch(win.y0, win.x0, np.clip(alpha, 0, 1).astype(np.float32), GREY_INK)


def sweep_sheets(layout: BallotLayout, params: sc.ScannerParams, seed: int, count: int
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, list[SweepMark]]]:
    """``count`` scanned sheets of ``layout`` covering the darkness x coverage grid."""
    ppm = px_per_mm(params.dpi)
    blank = cv2.cvtColor(cv2.GaussianBlur(render_layout(layout, params.dpi), (0, 0), 0.7),
                         cv2.COLOR_RGB2RGBA)
    grid = [(d, c) for d in DARKNESS for c in COVERAGE]
    noise = sc.NoiseBank(params.noise_sigma, seed=seed)
    k = 0
    for i in range(count):
        rng = np.random.default_rng([seed, 0x5EE9, i])
        src = cv2.multiply(blank, sc.gain_field(rng, params, blank.shape[:2]), scale=1 / 255)
        marks = []
        for j, t in enumerate(layout.targets):
            d, c = grid[k % len(grid)]
            k += 1
            patch = _strokes_patch(rng, layout, j, d, c, ppm)
            win = zone_window(t.box, ppm)
            dark = np.zeros(win.shape, np.float32)
            if patch is not None:
                composite(src, patch, 0.7)
                dark = patch.darkness()
            marks.append(SweepMark(t.id, d, c, coverage(dark, win)))
        orient = sc.ORIENTATIONS[int(rng.integers(len(sc.ORIENTATIONS)))]
        geo = sc.draw_geometry(rng, params, src.shape[:2], orient.rotated)
        printed = cv2.cvtColor(sc.warp_sheet(src, geo, (*params.backing_rgb, 0)),
                               cv2.COLOR_RGBA2RGB)
        other = np.full_like(printed, 236)  # the unprinted side
        noise.apply(printed, rng)
        front, back = (printed, other) if orient.side is sc.Side.FRONT else (other, printed)
        yield front, back, marks
