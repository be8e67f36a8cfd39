"""The layout's registration features hold at the limits the layout issue names.

Rotation up to ±5°, translation, scale 0.97-1.03, uneven stretch of ±2 % along
the feed, and a 180° turn: a ballot with known marks is placed with exactly
those distortions (no noise, so only geometry is tested) and must read the same.
A scan window wide enough for a 5° skew is used (240 mm): the window is the
scanner's business, the features are the layout's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from calibration.render_raster import render_layout
from election.default import default_election
from election.layout import ballot_layout
from election.model import BallotKind, Language
from firmware.reader_setup import make_reader
from simulator import scanner as sc
from simulator.sheets import default_station
from vision.result import Mark, Outcome

PPM = 200 / 25.4
BACKING = (52, 54, 58, 0)


def _fill(img: np.ndarray, box, colour=(30, 52, 150)) -> None:  # type: ignore[no-untyped-def]
    x0, y0 = int(box.x_mm * PPM) + 6, int(box.y_mm * PPM) + 6
    x1, y1 = int(box.right_mm * PPM) - 6, int(box.bottom_mm * PPM) - 6
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)


def _geometry(shape: tuple[int, int], rot: float, scale: float, stretch: float,
              rotated: bool, shift_mm: float = 5.0, trap: float = 0.002) -> sc.FeedGeometry:
    sh, sw = shape
    window_w = round(240 * PPM)
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    half_len = (abs(s) * sw + abs(c) * sh) * scale / 2
    overscan = 6 * PPM
    # Translation across the feed and a slight trapezoid, at the preset's limits.
    m = sc._homography(sw, sh, PPM, rot, scale, (trap, -trap), (shift_mm * PPM, 0.0), rotated,
                       window_w, overscan + half_len)
    transport_h = int(2 * half_len + 2 * overscan)
    # Feed speed alternating fast/slow by `stretch` in 6 bands: uneven along the sheet.
    speeds = 1.0 + stretch * np.array([1, -1, 1, -1, 1, -1], np.float64)
    image_h = round(transport_h / speeds.mean())
    knots = np.linspace(0, image_h, len(speeds) + 1)
    offsets = np.concatenate([[0.0], np.cumsum(np.diff(knots) * speeds)])
    offsets *= transport_h / offsets[-1]
    return sc.FeedGeometry(m, knots, offsets, image_h, window_w)


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    e = default_election()
    station = default_station(e)
    layout = ballot_layout(e, BallotKind.PARTY_LIST, None, Language.RU)
    page = render_layout(layout, 200)
    marked = {layout.targets[8].id, layout.targets[22 + 11].id}  # party 9, square 12
    for t in layout.targets:
        if t.id in marked:
            _fill(page, t.box)
    return make_reader(e, station), cv2.cvtColor(page, cv2.COLOR_RGB2RGBA), marked


@pytest.mark.parametrize("rot", [-5.0, 5.0])
@pytest.mark.parametrize("scale", [0.97, 1.03])
@pytest.mark.parametrize("rotated", [False, True])
def test_reads_at_the_registration_limits(setup, rot: float, scale: float,  # type: ignore[no-untyped-def]
                                          rotated: bool) -> None:
    reader, src, marked = setup
    geo = _geometry(src.shape[:2], rot, scale, 0.02, rotated,
                    shift_mm=5.0 if rot > 0 else -5.0)
    printed = cv2.cvtColor(sc.warp_sheet(src, geo, BACKING), cv2.COLOR_RGBA2RGB)
    blank = np.full_like(printed, 240)
    res = reader.interpret(printed, blank)
    assert res.outcome is Outcome.ACCEPTED, (res.reason, res.detail)
    assert res.orientation == f"front/{180 if rotated else 0}"
    read = {f"{t.contest}/{t.option}" for t in res.targets if t.mark is Mark.MARKED}
    assert read == marked
    assert not any(t.mark is Mark.MARGINAL for t in res.targets)
    assert res.contests["party-list"] == {"status": "valid", "choice": "P09"}
    assert res.contests["preference"]["position"] == 12


def test_a_fit_to_page_print_is_rejected_for_its_scale(setup) -> None:  # type: ignore[no-untyped-def]
    """The same ballot printed at 95 % on the same paper, scanned at the ordinary scale."""
    from election.reject import RejectReason
    from simulator.fakes import fit_to_page

    reader, src, _ = setup
    shrunk = cv2.cvtColor(fit_to_page(cv2.cvtColor(src, cv2.COLOR_RGBA2RGB),
                                      np.random.default_rng(1)), cv2.COLOR_RGB2RGBA)
    for optical in (0.97, 1.0, 1.03):  # the scanner's own scale must not matter
        geo = _geometry(shrunk.shape[:2], 1.0, optical, 0.01, False)
        printed = cv2.cvtColor(sc.warp_sheet(shrunk, geo, BACKING), cv2.COLOR_RGBA2RGB)
        res = reader.interpret(printed, np.full_like(printed, 240))
        assert res.reason is RejectReason.SCALE, (optical, res.reason, res.detail)
