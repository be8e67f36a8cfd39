"""The ground-truth rule for marks, pinned at each band edge (README, election/marking.py).

Synthetic darkness maps over a real target's zone window: a chosen share of the
interior (or ring) is set to a chosen darkness, and the class must follow the
documented numbers — independently of how the simulator draws marks.
"""

from __future__ import annotations

import numpy as np
import pytest

from election.geometry import Rect, px_per_mm
from election.marking import TruthClass, ZoneWindow, coverage, truth_class, zone_window

PPM = px_per_mm(200)
BOX = Rect(100.0, 50.0, 5.0, 5.0)


@pytest.fixture(scope="module")
def win() -> ZoneWindow:
    return zone_window(BOX, PPM)


def _paint(win: ZoneWindow, zone: np.ndarray, share: float, darkness: float,
           base: np.ndarray | None = None) -> np.ndarray:
    """Darkness map with the first ``share`` of the zone's pixels set to ``darkness``."""
    dark = np.zeros(win.shape, np.float32) if base is None else base.copy()
    idx = np.flatnonzero(zone.ravel())
    k = round(share * idx.size)
    flat = dark.ravel()
    flat[idx[:k]] = np.maximum(flat[idx[:k]], darkness)
    return flat.reshape(win.shape)


def test_zones_have_the_documented_size(win: ZoneWindow) -> None:
    side_px = (5.0 - 2 * 0.65) * PPM  # interior: box inset by 0.65 mm
    assert win.interior.sum() == pytest.approx(side_px**2, rel=0.08)
    ring_px = ((5.0 + 2 * 1.35) ** 2 - (5.0 + 2 * 0.35) ** 2) * PPM**2
    assert win.ring.sum() == pytest.approx(ring_px, rel=0.06)
    assert not (win.interior & win.ring).any()


@pytest.mark.parametrize(("share", "darkness", "expected"), [
    (0.081, 0.45, TruthClass.DEFINITE),   # 8 % of the interior at strong ink
    (0.30, 0.46, TruthClass.DEFINITE),
    (0.075, 0.45, None),                  # just under 8 %: not definite, and too much for tiny
    (0.30, 0.44, TruthClass.DEFINITE),    # no strong ink, but 30 % light ink: a light fill
    (0.16, 0.22, TruthClass.DEFINITE),    # light pencil crossing the box: >= 15 % at 0.20
    (0.12, 0.44, None),                   # 12 % light ink, none strong: in a gap
    (0.10, 0.22, None),                   # light ink 5-15 %: in a gap
    (0.02, 0.60, TruthClass.MARGINAL),    # tiny: 1.5-3.5 % at ink level
    (0.034, 0.60, TruthClass.MARGINAL),
    (0.012, 0.60, None),                  # under the tiny band
    (0.04, 0.60, None),                   # over the tiny band, under definite
    (0.20, 0.15, TruthClass.MARGINAL),    # faint: >= 12 % at 0.12, nothing at 0.30
    (0.10, 0.15, None),                   # too little faint ink
])
def test_intended_marks_follow_the_bands(win: ZoneWindow, share: float, darkness: float,
                                         expected: TruthClass | None) -> None:
    cov = coverage(_paint(win, win.interior, share, darkness), win)
    assert truth_class(True, cov) is expected, cov


def test_a_mark_mostly_outside_is_marginal(win: ZoneWindow) -> None:
    around = _paint(win, win.ring, 0.06, 0.6)
    assert truth_class(True, coverage(around, win)) is TruthClass.MARGINAL
    inside_too = _paint(win, win.interior, 0.045, 0.6, around)  # 4.5 %: no band takes it
    assert truth_class(True, coverage(inside_too, win)) is None
    weak_ring = _paint(win, win.ring, 0.06, 0.40)  # ring ink not strong
    assert truth_class(True, coverage(weak_ring, win)) is None


@pytest.mark.parametrize(("zone", "share", "darkness", "expected"), [
    ("interior", 0.0, 0.0, TruthClass.NONE),
    ("interior", 0.002, 0.60, TruthClass.NONE),   # under 0.3 % at ink level
    ("interior", 0.005, 0.60, None),
    ("interior", 0.015, 0.15, TruthClass.NONE),   # under 2 % faint
    ("interior", 0.03, 0.15, None),
    ("interior", 0.50, 0.10, TruthClass.NONE),    # a smudge under the faint level
    ("ring", 0.004, 0.60, TruthClass.NONE),
    ("ring", 0.008, 0.60, None),
])
def test_unintended_targets_must_stay_clean(win: ZoneWindow, zone: str, share: float,
                                            darkness: float,
                                            expected: TruthClass | None) -> None:
    mask = win.interior if zone == "interior" else win.ring
    cov = coverage(_paint(win, mask, share, darkness), win)
    assert truth_class(False, cov) is expected, cov
