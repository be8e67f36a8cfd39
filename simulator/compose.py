"""Put a voter's marks and stray traces on a ballot, and record ground truth.

Every vote mark is measured alone in the zones of ``election.marking``; a mark
that lands between the truth bands, or spills into another target's zones, is
drawn again (up to a limit, then with a plain cross). Traces are placed so they
never touch any target's zones, except erased pencil, which sits on an
unmarked box and stays below the faint level by construction. A final pass
measures the whole ink layer once more and checks every class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from election.layout import CONTENT_X_MM, BallotLayout, Target
from election.marking import (
    TruthClass,
    ZoneCoverage,
    ZoneWindow,
    coverage,
    truth_class,
    zone_window,
)
from simulator.ink import INSTRUMENTS, InkLayer, InkPatch
from simulator.marks import Shape, Trace, Variant, VoterStyle, draw_trace, draw_vote_mark

MAX_ATTEMPTS = 12
TRACE_WEIGHTS: dict[Trace, float] = {
    Trace.HESITATION_DOT: 0.30,
    Trace.STRAY_MARK: 0.15,
    Trace.WRITING: 0.15,
    Trace.ERASED: 0.15,
    Trace.SMUDGE: 0.25,
}


@dataclass(frozen=True)
class TargetTruth:
    contest: str
    option: str
    intent: bool
    cls: TruthClass
    variant: Variant | None
    cover: ZoneCoverage

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"contest": self.contest, "option": self.option,
                                  "intent": self.intent, "class": self.cls.value}
        if self.variant is not None:
            out["variant"] = self.variant.value
        return out


@dataclass
class MarkedBallot:
    ink: InkLayer
    truth: tuple[TargetTruth, ...]
    traces: tuple[Trace, ...]


@cache
def _windows(layout_hash: str, boxes: tuple[tuple[str, tuple[float, float, float, float]], ...],
             ppm: float) -> dict[str, ZoneWindow]:
    from election.geometry import Rect

    return {tid: zone_window(Rect(*b), ppm) for tid, b in boxes}


def zone_windows(layout: BallotLayout, ppm: float) -> dict[str, ZoneWindow]:
    boxes = tuple((t.id, (t.box.x_mm, t.box.y_mm, t.box.w_mm, t.box.h_mm))
                  for t in layout.targets)
    return _windows(layout.layout_hash, boxes, round(ppm, 6))


def _meets(patch: InkPatch, win: ZoneWindow) -> bool:
    h, w = win.shape
    return (patch.y0 < win.y0 + h and win.y0 < patch.y1 and patch.x0 < win.x0 + w
            and win.x0 < patch.x1)


def _patch_cover(patch: InkPatch, win: ZoneWindow) -> ZoneCoverage | None:
    """Coverage of a single patch in a window, or None if they do not meet."""
    if not _meets(patch, win):
        return None
    h, w = win.shape
    ya, yb = max(win.y0, patch.y0), min(win.y0 + h, patch.y1)
    xa, xb = max(win.x0, patch.x0), min(win.x0 + w, patch.x1)
    if ya >= yb or xa >= xb:
        return None
    dark = np.zeros((h, w), np.float32)
    dark[ya - win.y0 : yb - win.y0, xa - win.x0 : xb - win.x0] = patch.darkness()[
        ya - patch.y0 : yb - patch.y0, xa - patch.x0 : xb - patch.x0]
    return coverage(dark, win)


def _clean(cov: ZoneCoverage | None) -> bool:
    return cov is None or truth_class(False, cov) is TruthClass.NONE


def _wanted(variant: Variant, style: VoterStyle) -> TruthClass:
    if variant is Variant.NORMAL and style.shape is not Shape.CIRCLE_AROUND:
        return TruthClass.DEFINITE
    return TruthClass.MARGINAL


FALLBACK = VoterStyle(INSTRUMENTS["ballpoint-blue"], 0.35, 0.85, Shape.CROSS, 1.0, 0.1, 0.0)


def _place_mark(rng: np.random.Generator, style: VoterStyle, target: Target, variant: Variant,
                windows: dict[str, ZoneWindow], ppm: float) -> tuple[InkPatch, TruthClass,
                                                                     ZoneCoverage, Variant]:
    """Draw the voter's mark until it lands in its intended truth band and spills into no
    other target's zones. If the voter's style cannot get there, the voter makes a plain,
    well-placed cross (a real voter would, too: marks that no band describes are not made)."""
    want = _wanted(variant, style)
    own = windows[target.id]
    for attempt in range(MAX_ATTEMPTS + 8):
        s, v, goal = style, variant, want
        if attempt >= MAX_ATTEMPTS:
            s, v, goal = FALLBACK, Variant.NORMAL, TruthClass.DEFINITE
        patch = draw_vote_mark(rng, s, target.box, v, ppm)
        cov = _patch_cover(patch, own)
        if cov is None or truth_class(True, cov) is not goal:
            continue
        if all(_clean(_patch_cover(patch, w)) for tid, w in windows.items() if tid != target.id):
            return patch, goal, cov, v
    raise RuntimeError(f"could not place a readable mark on {target.id}")


def _trace_spot(rng: np.random.Generator, trace: Trace, layout: BallotLayout,
                unmarked: list[Target]) -> tuple[float, float]:
    if trace is Trace.ERASED and unmarked:
        t = unmarked[int(rng.integers(len(unmarked)))]
        return t.box.cx_mm + rng.normal(0, 0.3), t.box.cy_mm + rng.normal(0, 0.3)
    if trace is Trace.HESITATION_DOT:
        t = layout.targets[int(rng.integers(len(layout.targets)))]
        if rng.random() < 0.5:  # on the printed border, where the pen came to rest
            edge = int(rng.integers(4))
            u = rng.uniform(0.1, 0.9) * t.box.w_mm
            inset = layout.box_border_mm / 2
            x = (t.box.x_mm + u, t.box.right_mm - inset, t.box.x_mm + u, t.box.x_mm + inset)[edge]
            y = (t.box.y_mm + inset, t.box.y_mm + u, t.box.bottom_mm - inset, t.box.y_mm + u)[edge]
            return x, y
        return t.box.x_mm - rng.uniform(3.0, 8.0), t.box.cy_mm + rng.normal(0, 1.0)
    x = rng.uniform(CONTENT_X_MM[0] + 5, CONTENT_X_MM[1] - 5)
    y = rng.uniform(35.0, layout.paper_h_mm - 20.0)
    return x, y


def compose(rng: np.random.Generator, layout: BallotLayout,
            marks: tuple[tuple[str, str, Variant], ...], style: VoterStyle,
            traces: tuple[Trace, ...], ppm: float) -> MarkedBallot:
    """Draw ``marks`` (contest, option, variant) and ``traces`` on a layout's sheet."""
    windows = zone_windows(layout, ppm)
    by_id = {t.id: t for t in layout.targets}
    layer = InkLayer()
    placed: dict[str, tuple[TruthClass, Variant, ZoneCoverage]] = {}
    for contest, option, variant in marks:
        target = by_id[f"{contest}/{option}"]
        patch, cls, cov, drawn = _place_mark(rng, style, target, variant, windows, ppm)
        layer.add(patch)
        placed[target.id] = (cls, drawn, cov)

    unmarked = [t for t in layout.targets if t.id not in placed]
    kept: list[Trace] = []
    for trace in traces:
        for _ in range(6):
            spot = _trace_spot(rng, trace, layout, unmarked)
            patch = draw_trace(rng, trace, style, spot, ppm)
            if all(_clean(_patch_cover(patch, w)) for w in windows.values()):
                layer.add(patch)
                kept.append(trace)
                break

    truth = _measure(layout, windows, layer, placed)
    if truth is None and kept:  # a trace changed a class after all: leave the traces off
        layer = InkLayer([p for p in layer.patches[: len(placed)]])
        kept = []
        truth = _measure(layout, windows, layer, placed)
    if truth is None:
        raise RuntimeError("marks interfere with each other")
    return MarkedBallot(layer, truth, tuple(kept))


def _measure(layout: BallotLayout, windows: dict[str, ZoneWindow], layer: InkLayer,
             placed: dict[str, tuple[TruthClass, Variant, ZoneCoverage]]
             ) -> tuple[TargetTruth, ...] | None:
    """Truth of every target from the whole ink layer, or None if a class disagrees."""
    truth = []
    for t in layout.targets:
        win = windows[t.id]
        touched = any(_meets(p, win) for p in layer.patches)
        cov = (coverage(layer.darkness_in(win.y0, win.x0, *win.shape), win) if touched
               else ZoneCoverage(0.0, 0.0, 0.0))
        intent = t.id in placed
        cls = truth_class(intent, cov)
        if cls is None or (intent and cls is not placed[t.id][0]):
            return None
        truth.append(TargetTruth(t.contest, t.option, intent, cls,
                                 placed[t.id][1] if intent else None, cov))
    return tuple(truth)
