"""Hand-made marks: voter styles, mark shapes and non-vote traces.

Every voter has one :class:`VoterStyle` (instrument, stroke width, pressure,
shape, size, placement jitter, slant) and uses it for all of their marks, as
the OMR literature observes. A mark is drawn as strokes in *box units*
(box centre at 0, box edge at ±1), then placed on the sheet in pixels.

Vote marks come in four variants: ``normal`` (meant to be read as definite),
and three deliberately marginal ones: ``faint``, ``tiny`` and ``outside``.
The sheet composer measures every drawn mark with ``election.marking`` and
redraws any mark that lands between the ground-truth bands.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from election.geometry import Rect
from election.marking import ink_darkness
from simulator.ink import INSTRUMENT_WEIGHTS, INSTRUMENTS, InkPatch, Instrument

SUPERSAMPLE = 4
_SHIFT = 3  # cv2 fixed-point bits for sub-pixel stroke positions


class Shape(StrEnum):
    TICK = "tick"
    CROSS = "cross"
    FILL = "fill"
    PARTIAL_FILL = "partial-fill"
    LINE = "line"
    CIRCLE_IN = "circle-in"
    CIRCLE_AROUND = "circle-around"
    DOT = "dot"


SHAPE_WEIGHTS: dict[Shape, float] = {
    Shape.TICK: 0.33,
    Shape.CROSS: 0.30,
    Shape.FILL: 0.08,
    Shape.PARTIAL_FILL: 0.06,
    Shape.LINE: 0.08,
    Shape.CIRCLE_IN: 0.08,
    Shape.CIRCLE_AROUND: 0.02,
    Shape.DOT: 0.05,
}


class Variant(StrEnum):
    NORMAL = "normal"
    FAINT = "faint"
    TINY = "tiny"
    OUTSIDE = "outside"


class Trace(StrEnum):
    HESITATION_DOT = "hesitation-dot"
    STRAY_MARK = "stray-mark"
    WRITING = "writing"
    ERASED = "erased-pencil"
    SMUDGE = "smudge"


@dataclass(frozen=True)
class VoterStyle:
    instrument: Instrument
    width_mm: float
    opacity: float
    shape: Shape
    size: float  # scale of the mark relative to the box
    jitter_mm: float  # s.d. of the mark centre around the box centre
    slant_deg: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> VoterStyle:
        names = list(INSTRUMENT_WEIGHTS)
        p = np.array([INSTRUMENT_WEIGHTS[n] for n in names])
        inst = INSTRUMENTS[names[int(rng.choice(len(names), p=p / p.sum()))]]
        shapes = list(SHAPE_WEIGHTS)
        sp = np.array([SHAPE_WEIGHTS[s] for s in shapes])
        return cls(
            instrument=inst,
            width_mm=float(rng.uniform(*inst.width_mm)),
            opacity=float(rng.uniform(*inst.opacity)),
            shape=shapes[int(rng.choice(len(shapes), p=sp / sp.sum()))],
            size=float(rng.uniform(0.85, 1.25)),
            jitter_mm=float(rng.uniform(0.08, 0.45)),
            slant_deg=float(rng.normal(0.0, 8.0)),
        )

    def with_shape(self, shape: Shape) -> VoterStyle:
        return VoterStyle(self.instrument, self.width_mm, self.opacity, shape, self.size,
                          self.jitter_mm, self.slant_deg)


# --------------------------------------------------------------------------- strokes

Stroke = np.ndarray  # (N, 2) points in box units (x right, y down)


def _wobble(points: list[tuple[float, float]], rng: np.random.Generator, amp: float,
            per_seg: int = 10) -> Stroke:
    """Densify a polyline and add a smooth hand tremor perpendicular to it."""
    pts = np.asarray(points, np.float64)
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        t = np.linspace(0, 1, per_seg + 1)[1:, None]
        out.extend(a + (b - a) * t)
    arr = np.asarray(out)
    walk = np.cumsum(rng.normal(0, amp, arr.shape), axis=0)
    walk -= np.linspace(0, 1, len(arr))[:, None] * walk[-1]  # keep the end points
    return arr + walk * 0.5


def _ellipse(rng: np.random.Generator, rx: float, ry: float, turns: float = 1.08) -> Stroke:
    start = rng.uniform(0, 2 * math.pi)
    t = np.linspace(start, start + 2 * math.pi * turns, 64)
    r = 1.0 + np.cumsum(rng.normal(0, 0.01, t.size))
    return np.stack([rx * r * np.cos(t), ry * r * np.sin(t)], axis=1)


def _zigzag(rng: np.random.Generator, x0: float, x1: float, y0: float, y1: float,
            step: float) -> Stroke:
    ys = np.arange(y0, y1 + 1e-9, step)
    pts: list[tuple[float, float]] = []
    for i, y in enumerate(ys):
        xa, xb = (x0, x1) if i % 2 == 0 else (x1, x0)
        pts.append((xa + rng.normal(0, 0.04), y))
        pts.append((xb + rng.normal(0, 0.04), y + step * 0.5))
    return _wobble(pts, rng, 0.006, per_seg=4)


def shape_strokes(shape: Shape, rng: np.random.Generator, stroke_box: float) -> list[Stroke]:
    """Strokes of a shape in box units; ``stroke_box`` is the stroke width in box units."""
    n = rng.normal
    if shape is Shape.TICK:
        return [_wobble([(-0.62 + n(0, 0.06), 0.0 + n(0, 0.08)), (-0.18 + n(0, 0.05), 0.55),
                         (0.78 + n(0, 0.06), -0.78 + n(0, 0.08))], rng, 0.01)]
    if shape is Shape.CROSS:
        a = 0.72 + n(0, 0.05)
        return [_wobble([(-a, -a), (a, a)], rng, 0.01), _wobble([(a, -a), (-a, a)], rng, 0.01)]
    if shape is Shape.FILL:
        return [_zigzag(rng, -0.82, 0.82, -0.82, 0.82, max(stroke_box * 0.9, 0.08))]
    if shape is Shape.PARTIAL_FILL:
        h = rng.uniform(0.7, 1.1)
        top = rng.uniform(-0.8, 0.8 - h)
        return [_zigzag(rng, -0.75, 0.75, top, top + h, max(stroke_box * 1.1, 0.1))]
    if shape is Shape.LINE:
        y0, y1 = n(0, 0.22), n(0, 0.22)
        return [_wobble([(-0.95, y0), (0.95, y1)], rng, 0.01)]
    if shape is Shape.CIRCLE_IN:
        return [_ellipse(rng, 0.6 + n(0, 0.04), 0.6 + n(0, 0.04))]
    if shape is Shape.CIRCLE_AROUND:
        return [_ellipse(rng, 1.42 + n(0, 0.03), 1.40 + n(0, 0.03))]
    # DOT: a small spiral filled by its own stroke width.
    t = np.linspace(0, 5 * math.pi, 40)
    r = np.linspace(0.02, 0.38, t.size)
    return [np.stack([r * np.cos(t), r * np.sin(t)], axis=1)]


def _transform(strokes: list[Stroke], scale: float, rot_deg: float, cx_mm: float,
               cy_mm: float, half_box_mm: float) -> list[np.ndarray]:
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    rot = np.array([[c, -s], [s, c]])
    return [(st * scale) @ rot.T * half_box_mm + np.array([cx_mm, cy_mm]) for st in strokes]


def rasterise(strokes_mm: list[np.ndarray], width_mm: float, ppm: float,
              margin_px: int = 4) -> tuple[int, int, np.ndarray]:
    """Coverage (float32 0..1) of strokes on the page pixel grid: (y0, x0, mask)."""
    allpts = np.concatenate(strokes_mm) * ppm
    half = width_mm * ppm / 2 + margin_px
    x0 = math.floor(allpts[:, 0].min() - half)
    y0 = math.floor(allpts[:, 1].min() - half)
    x1 = math.ceil(allpts[:, 0].max() + half)
    y1 = math.ceil(allpts[:, 1].max() + half)
    ss = SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    thick = max(1, round(width_mm * ppm * ss))
    scale = ss * (1 << _SHIFT)
    polys = [np.rint((st * ppm - np.array([x0, y0])) * scale).astype(np.int32)
             for st in strokes_mm]
    cv2.polylines(canvas, polys, False, 255, thickness=thick, lineType=cv2.LINE_AA,
                  shift=_SHIFT)
    mask = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return y0, x0, mask.astype(np.float32) / 255.0


def _texture(mask: np.ndarray, rng: np.random.Generator, inst: Instrument,
             opacity: float) -> np.ndarray:
    """Pressure gradient, grain and ink bleed applied to a stroke mask."""
    h, w = mask.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = (gx * math.cos(ang) + gy * math.sin(ang)) / max(h, w)
    pressure = 1.0 + rng.uniform(-0.12, 0.12) * (ramp - ramp.mean())
    grain = 1.0 - inst.grain * rng.random((h, w), dtype=np.float32)
    alpha = mask * (opacity * pressure * grain).astype(np.float32)
    if inst.bleed_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), inst.bleed_px)
    return np.clip(alpha, 0.0, 1.0)


# --------------------------------------------------------------------------- vote marks


def _tiny_strokes(rng: np.random.Generator, shape: Shape, width_mm: float,
                  half_mm: float) -> list[Stroke]:
    """A deliberately small mark: ink area about 0.25-0.42 mm^2 (1.8-3.1 % of the interior)."""
    area = float(rng.uniform(0.25, 0.42))
    if shape is Shape.DOT or width_mm >= 0.7:
        r = max(0.05, math.sqrt(area / math.pi) - width_mm / 2)
        t = np.linspace(0, 4 * math.pi, 24)
        rr = np.linspace(0.01, r, t.size) / half_mm
        return [np.stack([rr * np.cos(t), rr * np.sin(t)], axis=1)]
    length = max(0.2, area / width_mm - width_mm)
    ang = rng.uniform(-0.6, 0.6) + (math.pi / 4 if shape is Shape.TICK else 0.0)
    d = np.array([math.cos(ang), math.sin(ang)]) * length / 2 / half_mm
    return [np.array([-d, d])]


def draw_vote_mark(rng: np.random.Generator, style: VoterStyle, box: Rect, variant: Variant,
                   ppm: float) -> InkPatch:
    """One mark for ``box`` in the voter's style, in the requested variant."""
    half = box.w_mm / 2
    inst = style.instrument
    shape, size, opacity = style.shape, style.size, style.opacity
    dx = float(np.clip(rng.normal(0, style.jitter_mm), -1.0, 1.0))
    dy = float(np.clip(rng.normal(0, style.jitter_mm), -0.8, 0.8))
    width = style.width_mm
    if variant is Variant.FAINT:
        # Barely pressed, so broad and very pale: a drying pen that hardly leaves a
        # trace (darkness under LIGHT_LEVEL: a plainly visible light mark is definite).
        opacity = float(rng.uniform(0.15, 0.19)) / inst.darkness()
        width = max(width, float(rng.uniform(0.45, 0.7)))
        if shape is Shape.CIRCLE_AROUND:
            shape = Shape.CROSS
    if variant is Variant.TINY:
        strokes = _tiny_strokes(rng, shape, style.width_mm, half)
        size = 1.0
        dx, dy = dx * 0.6, dy * 0.6
    else:
        if shape is Shape.CIRCLE_AROUND:
            dx, dy = dx * 0.3, dy * 0.3  # a circle around a box is drawn around it
        strokes = shape_strokes(shape, rng, width / half)
    if variant is Variant.OUTSIDE and shape in (Shape.LINE, Shape.DOT):
        shape = Shape.TICK  # a line or dot beside a box is not a mark "around" it
        strokes = shape_strokes(shape, rng, width / half)
    if variant is Variant.OUTSIDE and shape is not Shape.CIRCLE_AROUND:
        # Mostly outside: the near edge of the mark pokes just past the box edge.
        extent = max(float(np.abs(st[:, 0]).max()) for st in strokes) * size * half
        side = 1.0 if rng.random() < 0.5 else -1.0
        dx = side * (extent + style.width_mm / 2 + float(rng.uniform(1.3, 2.4)))
        dy = float(rng.normal(0, 0.2))
    placed = _transform(strokes, size, style.slant_deg + rng.normal(0, 3), box.cx_mm + dx,
                        box.cy_mm + dy, half)
    y0, x0, mask = rasterise(placed, style.width_mm, ppm)
    return InkPatch(y0, x0, _texture(mask, rng, inst, min(opacity, 1.0)), inst.rgb)


# --------------------------------------------------------------------------- traces


def _catmull_rom(ctrl: np.ndarray, per_seg: int = 6) -> np.ndarray:
    """A smooth curve through control points (what a moving pen tip draws)."""
    p = np.vstack([ctrl[:1], ctrl, ctrl[-1:]])
    t = np.linspace(0, 1, per_seg, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(ctrl[-1:])
    return np.vstack(out)


# Cursive letter skeletons in unit boxes (x right, y up; 1 = x-height), each entering
# at the baseline on the left and leaving at the baseline on the right.
_LETTERS: tuple[tuple[tuple[float, float], ...], ...] = (
    ((0.0, 0.0), (0.35, 0.9), (0.55, 0.95), (0.7, 0.2), (1.0, 0.05)),  # n-like hump
    ((0.0, 0.0), (0.75, 0.85), (0.45, 1.0), (0.15, 0.5), (0.45, 0.05), (0.8, 0.6),
     (0.8, 0.1), (1.0, 0.05)),  # a/o-like loop
    ((0.0, 0.0), (0.3, 0.9), (0.35, 0.1), (0.65, 0.9), (0.7, 0.1), (1.0, 0.05)),  # u/ш-like
    ((0.0, 0.0), (0.45, 1.9), (0.3, 2.05), (0.35, 0.1), (1.0, 0.05)),  # l-like ascender
    ((0.0, 0.0), (0.5, 0.9), (0.55, -0.8), (0.35, -0.85), (0.6, 0.0), (1.0, 0.05)),  # у-like
    ((0.0, 0.0), (0.6, 0.95), (0.2, 0.7), (0.5, 0.1), (1.0, 0.05)),  # e/c-like
)


def _handwriting(rng: np.random.Generator, length_mm: float) -> list[np.ndarray]:
    """Cursive-looking words: letter skeletons joined within a word, the pen lifted
    between words, with slant and tremor (mm, baseline at y = 0, text to the right)."""
    x_height = float(rng.uniform(1.5, 2.3))
    slant = float(rng.normal(0.25, 0.08))
    words: list[np.ndarray] = []
    x = 0.0
    while x < length_mm:
        ctrl: list[tuple[float, float]] = []
        for _ in range(int(rng.integers(2, 7))):
            letter = _LETTERS[int(rng.integers(len(_LETTERS)))]
            width = x_height * float(rng.uniform(0.7, 1.05))
            for ux, uy in letter[(1 if ctrl else 0):]:
                ctrl.append((x + ux * width, -uy * x_height))
            x += width
        arr = np.asarray(ctrl, np.float64)
        arr[:, 0] += -arr[:, 1] * slant  # italic slant: up is to the right
        arr += rng.normal(0, 0.05, arr.shape)
        words.append(_catmull_rom(arr))
        x += float(rng.uniform(1.2, 2.2))  # space between words
    return words


def draw_trace(rng: np.random.Generator, trace: Trace, style: VoterStyle, at_mm: tuple[float,
               float], ppm: float) -> InkPatch:
    """A non-vote trace centred near ``at_mm`` (placement is the composer's job)."""
    inst = style.instrument
    cx, cy = at_mm
    if trace is Trace.HESITATION_DOT:
        r = float(rng.uniform(0.25, 0.38))
        y0, x0, mask = rasterise([np.array([[cx - 0.01, cy], [cx + 0.01, cy]])], 2 * r, ppm)
        return InkPatch(y0, x0, _texture(mask, rng, inst, style.opacity), inst.rgb)
    if trace is Trace.STRAY_MARK:
        ang = rng.uniform(0, math.pi)
        length = rng.uniform(2.0, 7.0)
        d = np.array([math.cos(ang), math.sin(ang)]) * length / 2
        pts = _wobble([(cx - d[0], cy - d[1]), (cx + d[0], cy + d[1])], rng, 0.02)
        y0, x0, mask = rasterise([pts], style.width_mm, ppm)
        return InkPatch(y0, x0, _texture(mask, rng, inst, style.opacity), inst.rgb)
    if trace is Trace.WRITING:
        words = [w + np.array([cx, cy]) for w in _handwriting(rng, float(rng.uniform(8, 22)))]
        y0, x0, mask = rasterise(words, style.width_mm * 0.9, ppm)
        return InkPatch(y0, x0, _texture(mask, rng, inst, style.opacity), inst.rgb)
    if trace is Trace.ERASED:
        pencil = INSTRUMENTS["pencil"]
        strokes = shape_strokes(Shape.CROSS if rng.random() < 0.5 else Shape.TICK, rng, 0.2)
        placed = _transform(strokes, rng.uniform(0.8, 1.2), rng.normal(0, 8), cx, cy, 2.5)
        y0, x0, mask = rasterise(placed, 0.5, ppm)
        darkness = float(rng.uniform(0.03, 0.06))
        opacity = darkness / pencil.darkness()
        alpha = _texture(mask, rng, pencil, opacity)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.2)  # rubbed
        return InkPatch(y0, x0, alpha, pencil.rgb)
    # SMUDGE: a soft greasy blob, grey-brown, never darker than 0.07.
    rx, ry = rng.uniform(1.5, 6.0), rng.uniform(1.0, 4.0)
    h, w = int(ry * 2.6 * ppm), int(rx * 2.6 * ppm)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-(((gx - w / 2) / (rx * ppm)) ** 2 + ((gy - h / 2) / (ry * ppm)) ** 2))
    blob *= 1.0 - 0.3 * rng.random((h, w), dtype=np.float32)
    peak = float(rng.uniform(0.03, 0.07))
    rgb = (120, 110, 100)
    alpha = (blob * peak / ink_darkness(rgb)).astype(np.float32)
    return InkPatch(int(cy * ppm - h / 2), int(cx * ppm - w / 2), alpha, rgb)
