"""Find the two timing-mark ladders of a ballot in one scanned image.

Only two strips of the image are examined, one along each long side: the
ladders lie there in every feed orientation (a 180° turn swaps them). The
strips are read at every other row (marks are 12 px tall at 200 DPI, and
the strided read halves the memory traffic, which dominates). In each strip,
dark blobs of a timing mark's size and shape are collected (``findContours``
on a threshold at half the paper white), the straightest
line through most of them is found by a small Hough search over slopes up to
±6°, and the longest run of marks along it with a regular pitch is kept. The
reader never invents a mark: a missing mark breaks the run and the caller
rejects the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from election.layout import LADDER_PITCH_MM, MARK_H_MM, MARK_W_MM, START_MARK_H_MM

STRIP_MM = 45.0
WINDOW_MM = 220.0  # the scan window STRIP_MM was sized for
MAX_SLOPE = 0.105
# A second, wider look for sheets fed crooked (up to ±10°), taken only when the first
# finds no usable ladders, so straight sheets pay nothing for it.
WIDE_STRIP_MM = 72.0
WIDE_MAX_SLOPE = 0.18
MIN_RUN = 8  # fewer regular marks than this on a side: no ladder there


@dataclass(frozen=True)
class Blob:
    x: float  # centre, image px
    y: float
    w: float  # bounding box, px
    h: float
    start: bool  # shaped like the (taller) start mark


@dataclass(frozen=True)
class Run:
    """Marks of one ladder in image order (top to bottom), with the start mark flagged."""

    points: np.ndarray  # (n, 2) float64 (x, y) centres
    start: np.ndarray  # (n,) bool
    slope: float  # dx/dy of the ladder line
    extras: int  # blobs on the line that are not part of the run
    beyond: int = 0  # marks of another regular run on the line past either end of this one
    on_grid: bool = False  # ... and the gap to it is a whole number of pitches
    other: np.ndarray | None = None  # (m, 2) points of that run, with ``other_start`` flags
    other_start: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.points)

    def pitch_px(self) -> float:
        return float(np.median(np.linalg.norm(np.diff(self.points, axis=0), axis=1)))


@dataclass(frozen=True)
class SideLadders:
    """What one image shows of a ballot's ladders (image-left and image-right strips)."""

    left: Run | None
    right: Run | None
    paper: float  # paper white (green channel) estimated in the strips

    @property
    def ballot_like(self) -> bool:
        return (self.left is not None and self.right is not None
                and min(self.left.n, self.right.n) >= MIN_RUN)


ROW_STEP = 2  # strips are read at every other row
MARK_LEVEL = 0.58  # threshold, as a share of the paper white


def paper_level(strip: np.ndarray) -> float:
    sample = strip[::4, ::6].ravel()
    if not sample.size:
        return 0.0
    q = int(0.92 * (sample.size - 1))
    return float(np.partition(sample, q)[q])


def find_blobs(strip: np.ndarray, x_offset: int, ppm: float, paper: float) -> list[Blob]:
    """Mark-shaped dark blobs in one strip (green channel, every ``ROW_STEP``-th row),
    in full-resolution image coordinates."""
    if paper < 40:
        return []
    # Marks are black; 0.58 of the paper white still finds them when toner has faded
    # to mid-grey, and stays well under the side stripes (about 0.65 of paper in green).
    _, binary = cv2.threshold(strip, MARK_LEVEL * paper, 255, cv2.THRESH_BINARY_INV)
    # An opening removes pen strokes thinner than ~0.8 mm that touch or cross a mark
    # (marks are 1.5 mm tall), so writing near the ladder does not hide a mark.
    k = max(3, round(0.85 * ppm) | 1)
    kernel = np.ones((max(1, k // ROW_STEP) | 1, k), np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    w_lo, w_hi = 0.70 * MARK_W_MM * ppm, 1.30 * MARK_W_MM * ppm
    h_lo, h_hi = 0.55 * MARK_H_MM * ppm, 2.5 * ppm
    s_lo, s_hi = 2.6 * ppm, 1.32 * START_MARK_H_MM * ppm
    min_area = 0.45 * MARK_W_MM * MARK_H_MM * ppm * ppm / ROW_STEP
    blobs: list[Blob] = []
    for c in contours:
        x, y, w, hr = cv2.boundingRect(c)
        h = hr * ROW_STEP
        if not (w_lo <= w <= w_hi) or h < h_lo or h > s_hi:
            continue
        area = cv2.contourArea(c)
        if area < min_area or area < 0.55 * w * hr:
            continue
        start = s_lo <= h <= s_hi
        if not start and h > h_hi:
            continue
        # Centre in OpenCV pixel coordinates (pixel centres at integers).
        # Row r of the strip is image row ROW_STEP * r; a run of hr strip rows covers
        # image rows ROW_STEP*y .. ROW_STEP*(y+hr-1), centred at ROW_STEP*(y + (hr-1)/2).
        cy = ROW_STEP * (y + (hr - 1) / 2)
        blobs.append(Blob(x + (w - 1) / 2 + x_offset, cy, float(w), float(h), start))
    return blobs


def _best_line(xs: np.ndarray, ys: np.ndarray, tol: float,
               max_slope: float = MAX_SLOPE) -> tuple[float, float, np.ndarray]:
    """Slope/intercept of x = a + b*y through the most blobs, and the inlier mask."""
    slopes = np.linspace(-max_slope, max_slope, 2 * round(21 * max_slope / MAX_SLOPE) + 1)
    u = xs[None, :] - slopes[:, None] * ys[None, :]  # (S, n)
    gaps = u[:, :, None] - u[:, None, :]  # (S, n, n)
    close = np.abs(gaps, out=gaps) < tol
    counts = np.count_nonzero(close, axis=2)
    s_i, b_i = np.unravel_index(int(np.argmax(counts)), counts.shape)
    inl = close[s_i, b_i]
    a_fit, b_fit = float(u[s_i, b_i]), float(slopes[s_i])
    if inl.sum() >= 3:
        b_fit, a_fit = np.polyfit(ys[inl], xs[inl], 1)
        inl = np.abs(xs - (a_fit + b_fit * ys)) < tol
    return float(a_fit), float(b_fit), inl


def _longest_regular_run(ys: np.ndarray, pitch_lo: float, pitch_hi: float) -> list[int]:
    """Indices (into the sorted ys) of the longest chain with every gap within the pitch range."""
    n = len(ys)
    best_len = np.ones(n, int)
    prev = np.full(n, -1)
    for j in range(n):
        for i in range(j - 1, -1, -1):
            gap = ys[j] - ys[i]
            if gap > pitch_hi:
                break
            if gap >= pitch_lo and best_len[i] + 1 > best_len[j]:
                best_len[j], prev[j] = best_len[i] + 1, i
    end = int(np.argmax(best_len))
    chain = []
    while end >= 0:
        chain.append(end)
        end = int(prev[end])
    return chain[::-1]


MAX_BLOBS = 160  # a strip with more mark-like blobs is text or noise, not a ladder


def find_run(blobs: list[Blob], ppm: float, scale_range: tuple[float, float],
             max_slope: float = MAX_SLOPE) -> Run | None:
    if len(blobs) < 3 or len(blobs) > MAX_BLOBS:
        return None
    xs = np.array([b.x for b in blobs])
    ys = np.array([b.y for b in blobs])
    _a, b, inl = _best_line(xs, ys, 1.2 * ppm, max_slope)
    idx = np.flatnonzero(inl)
    idx = idx[np.argsort(ys[idx])]
    if len(idx) < 3:
        return None
    # Gaps along the line; the pitch range covers optical scale and feed stretch.
    along = ys[idx] * np.sqrt(1 + b * b)
    # Generous: a fit-to-page print scanned small must still form one run (and then be
    # rejected for its scale, not misread as two sheets); regularity is checked below.
    nominal = LADDER_PITCH_MM * ppm
    lo, hi = nominal * scale_range[0] * 0.90, nominal * scale_range[1] * 1.10
    run = _longest_regular_run(along, lo, hi)
    if len(run) < 2:
        return None
    chosen = idx[run]
    # The run must also be self-consistent: every gap within 12 % of its median.
    gaps = np.diff(along[run])
    med = float(np.median(gaps))
    if np.any(np.abs(gaps - med) > 0.12 * med):
        return None
    pts = np.stack([xs[chosen], ys[chosen]], axis=1)
    start = np.array([blobs[i].start for i in chosen])
    other, on_grid = _beyond(along, run, lo, hi, med)
    o_idx = idx[other]
    return Run(pts, start, b, int(len(idx) - len(run)), len(other), on_grid,
               np.stack([xs[o_idx], ys[o_idx]], axis=1) if len(other) else None,
               np.array([blobs[i].start for i in o_idx]) if len(other) else None)


def _beyond(along: np.ndarray, run: list[int], lo: float, hi: float,
            pitch: float) -> tuple[np.ndarray, bool]:
    """The longest regular run of the line's other marks past either end of the run,
    and whether the gap to it is a whole number of pitches (the same ladder after a
    missing mark could be; another sheet's ladder usually is not)."""
    rest = np.setdiff1d(np.arange(len(along)), run)
    if rest.size == 0:
        return rest, False
    other = rest[_longest_regular_run(along[rest], lo, hi)]
    first, last = along[run[0]], along[run[-1]]
    if along[other[0]] > last:
        gap = along[other[0]] - last
    elif along[other[-1]] < first:
        gap = first - along[other[-1]]
    else:
        return rest[:0], False  # interleaved with the run: stray blobs, not a sheet
    steps = gap / pitch
    return other, bool(round(steps) >= 2 and abs(steps - round(steps)) < 0.2)


def strips(img: np.ndarray, ppm: float, strip_mm: float = STRIP_MM
           ) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
    """Green-channel strips along the image's left and right edges, with their x offsets."""
    w = img.shape[1]
    # 45 mm covers ±5° skew and ±5 mm shift in a 220 mm scan window; a wider window
    # leaves more room to wander, so the strips widen by half the extra width.
    extra = max(0, w - round(WINDOW_MM * ppm)) // 2
    sw = min(w // 2, round(strip_mm * ppm) + extra)
    left = np.ascontiguousarray(img[::ROW_STEP, :sw, 1])
    right = np.ascontiguousarray(img[::ROW_STEP, w - sw :, 1])
    return (left, 0), (right, w - sw)


MARK_SOLID = 0.85  # share of a mark's rectangle that must be dark to confirm it in place


def mend(run: Run | None, strip: np.ndarray, x_offset: int, ppm: float,
         paper: float) -> Run | None:
    """Join the two pieces of a ladder split by one mark that failed the shape test.

    Handwriting that touches a mark changes its blob's outline, not the mark:
    when exactly one mark is missing between two pieces on the same grid, the
    predicted spot is examined, and the mark is accepted only if a solid,
    mark-sized dark rectangle is really there. An erased or torn mark is not,
    and the ladder stays broken (the reader never invents a mark).
    """
    if run is None or run.other is None or not run.on_grid or run.other_start is None:
        return run
    before = run.other[-1, 1] < run.points[0, 1]
    a, b = (run.other[-1], run.points[0]) if before else (run.points[-1], run.other[0])
    pitch = run.pitch_px()
    if abs(np.linalg.norm(b - a) / pitch - 2.0) > 0.2:
        return run  # more than one mark missing
    cx, cy = (a + b) / 2
    half_w, half_h = 0.4 * MARK_W_MM * ppm, 0.35 * MARK_H_MM * ppm
    x0, x1 = round(cx - half_w - x_offset), round(cx + half_w - x_offset) + 1
    y0 = round((cy - half_h) / ROW_STEP)
    y1 = round((cy + half_h) / ROW_STEP) + 1
    if x0 < 0 or y0 < 0 or x1 > strip.shape[1] or y1 > strip.shape[0]:
        return run
    if np.mean(strip[y0:y1, x0:x1] < MARK_LEVEL * paper) < MARK_SOLID:
        return run
    mid = np.array([[cx, cy]])
    pieces = (run.other, mid, run.points) if before else (run.points, mid, run.other)
    flags = ((run.other_start, [False], run.start) if before
             else (run.start, [False], run.other_start))
    return Run(np.concatenate(pieces), np.concatenate([np.asarray(f, bool) for f in flags]),
               run.slope, run.extras - len(run.other))


def scan_side(img: np.ndarray, ppm: float, scale_range: tuple[float, float],
              wide: bool = False) -> SideLadders:
    """Both ladders of one image; ``wide``: the second look for a crooked sheet."""
    (ls, lx), (rs, rx) = strips(img, ppm, WIDE_STRIP_MM if wide else STRIP_MM)
    slope = WIDE_MAX_SLOPE if wide else MAX_SLOPE
    paper = max(paper_level(ls), paper_level(rs))
    left = mend(find_run(find_blobs(ls, lx, ppm, paper), ppm, scale_range, slope),
                ls, lx, ppm, paper)
    right = mend(find_run(find_blobs(rs, rx, ppm, paper), ppm, scale_range, slope),
                 rs, rx, ppm, paper)
    return SideLadders(left, right, paper)
