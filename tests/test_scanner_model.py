"""The scanner model (``simulator.scanner``): the images every reader test is graded on.

Protects:
* the presets exist, are complete parameter sets, and an unknown name is a
  clear user error;
* a sheet's feed geometry is a pure function of the rng;
* ``warp_sheet`` puts each sheet point where its ``FeedGeometry`` says
  (``matrix`` then the feed-speed profile ``transport_row``), to a fraction of
  a pixel, in every preset and both feed directions, with no seam where the
  feed speed changes between bands;
* sensor noise is zero-mean, of the requested size, and reproducible;
* the photometric helpers keep shapes and dtypes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from election.default import default_election
from election.errors import PcosError
from election.geometry import px_per_mm
from election.model import BallotKind, Language
from simulator import scanner as sc
from simulator.scanner import FeedGeometry, NoiseBank, ScannerParams, preset
from simulator.sheets import SheetFactory, default_station

SHEET_HW = (2339, 1654)  # A4 at 200 DPI, sheet pixels
PPM = px_per_mm(200.0)
DOTS = [(x, y) for x in (90, 480, 827, 1210, 1560) for y in (70, 420, 910, 1170, 1530, 2010, 2270)]
BORDER = (52, 54, 58, 0)
GEOMETRY_CASES = [(name, seed, rotated) for name in ("clean", "realistic", "harsh")
                  for seed in (0, 1) for rotated in (False, True)]


# --------------------------------------------------------------------------- helpers


def _dotted_sheet() -> np.ndarray:
    """White RGBA sheet with 5x5 px black dots centred on ``DOTS``."""
    sheet = np.full((*SHEET_HW, 4), 255, np.uint8)
    for x, y in DOTS:
        sheet[y - 2 : y + 3, x - 2 : x + 3, :3] = 0
    return sheet


def _predicted(geo: FeedGeometry, x: float, y: float) -> tuple[float, float]:
    """Image (col, row) of sheet pixel (x, y), from the geometry's fields alone:
    ``matrix`` gives the transport position; image row r shows transport row
    ``transport_row(r)`` (piecewise linear, increasing), so invert it."""
    t = geo.matrix @ np.array([x, y, 1.0])
    tx, ty = t[0] / t[2], t[1] / t[2]
    assert np.all(np.diff(geo.offsets) > 0)
    row = float(np.interp(ty, geo.offsets, geo.knots))
    assert abs(float(geo.transport_row(np.array([row]))[0]) - ty) < 1e-6
    return float(tx), row


def _centroid(dark: np.ndarray, col: float, row: float, half: int = 8) -> tuple[float, float]:
    """Darkness-weighted centre of the window around (col, row)."""
    c0, r0 = round(col), round(row)
    win = dark[r0 - half : r0 + half + 1, c0 - half : c0 + half + 1]
    ys, xs = np.mgrid[r0 - half : r0 + half + 1, c0 - half : c0 + half + 1]
    total = float(win.sum())
    assert total > 0, f"no dot near ({col:.1f}, {row:.1f})"
    return float((win * xs).sum() / total), float((win * ys).sum() / total)


def _geometry(name: str, seed: int, rotated: bool) -> FeedGeometry:
    return sc.draw_geometry(np.random.default_rng(seed), preset(name), SHEET_HW, rotated)


def _smooth_sheet(period_px: float = 60.0, amplitude: float = 100.0) -> np.ndarray:
    """A smooth (sinusoidal) grey ramp down the sheet: steep enough that a band seam of a
    fraction of a row shows as a jump in the second difference."""
    y = np.arange(SHEET_HW[0], dtype=np.float64)
    grey = np.rint(128 + amplitude * np.sin(2 * np.pi * y / period_px)).astype(np.uint8)
    sheet = np.empty((*SHEET_HW, 4), np.uint8)
    sheet[..., :3] = grey[:, None, None]
    sheet[..., 3] = 255
    return sheet


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", ["clean", "realistic", "harsh"])
def test_every_preset_exists_and_is_a_parameter_set(name: str) -> None:
    """The three documented presets, each a full ScannerParams at 200 DPI."""
    p = preset(name)
    assert isinstance(p, ScannerParams)
    assert p is sc.PRESETS[name]
    assert p.dpi == 200.0
    lo, hi = p.scale
    assert 0.9 < lo <= 1.0 <= hi < 1.1


def test_presets_order_by_severity() -> None:
    """clean is gentler than realistic, and realistic than harsh, on the main distortions."""
    c, r, h = preset("clean"), preset("realistic"), preset("harsh")
    for field in ("rotation_deg", "shift_mm", "stretch", "noise_sigma", "jpeg_probability"):
        assert getattr(c, field) <= getattr(r, field) <= getattr(h, field), field
    assert r.rotation_deg == 3.0  # the issue's +-3 degrees in realistic
    assert r.stretch == 0.02


def test_unknown_preset_is_a_user_error_naming_the_known_ones() -> None:
    """``preset("nope")`` raises PcosError (one-line CLI error) that lists the choices."""
    with pytest.raises(PcosError) as info:
        preset("nope")
    text = str(info.value)
    assert "nope" in text
    for name in ("clean", "realistic", "harsh"):
        assert name in text


def test_with_changes_one_field() -> None:
    """``with_`` makes a modified copy and leaves the preset alone."""
    p = preset("realistic")
    q = p.with_(noise_sigma=0.0)
    assert q.noise_sigma == 0.0 and p.noise_sigma == 2.5
    assert q.rotation_deg == p.rotation_deg


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("rotated", [False, True])
def test_draw_geometry_is_deterministic_per_rng_seed(rotated: bool) -> None:
    """Same seed, same geometry; another seed, another geometry."""
    p = preset("realistic")
    a = sc.draw_geometry(np.random.default_rng(42), p, SHEET_HW, rotated)
    b = sc.draw_geometry(np.random.default_rng(42), p, SHEET_HW, rotated)
    c = sc.draw_geometry(np.random.default_rng(43), p, SHEET_HW, rotated)
    for field in ("matrix", "knots", "offsets"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (a.image_h, a.image_w) == (b.image_h, b.image_w)
    assert not np.array_equal(a.matrix, c.matrix)


@pytest.mark.parametrize(("name", "seed", "rotated"), GEOMETRY_CASES)
def test_geometry_shape_of_the_image(name: str, seed: int, rotated: bool) -> None:
    """The image is the scan window wide; the speed profile starts at 0 and is increasing;
    the whole sheet lies inside the image along the feed, with backing past both ends."""
    p = preset(name)
    geo = _geometry(name, seed, rotated)
    assert geo.image_w == round(p.window_w_mm * PPM)
    assert geo.knots[0] == 0 and geo.offsets[0] == 0
    assert geo.knots[-1] == pytest.approx(geo.image_h)
    assert np.all(np.diff(geo.knots) > 0) and np.all(np.diff(geo.offsets) > 0)
    h, w = SHEET_HW
    rows = [_predicted(geo, x, y)[1] for x in (0, w - 1) for y in (0, h - 1)]
    margin_mm = min(min(rows), geo.image_h - 1 - max(rows)) / PPM
    assert margin_mm >= 2.0, f"only {margin_mm:.2f} mm of backing past an end"


@pytest.mark.parametrize(("name", "seed", "rotated"), GEOMETRY_CASES)
def test_warp_puts_sheet_points_where_the_geometry_says(name: str, seed: int,
                                                        rotated: bool) -> None:
    """Dots at known sheet pixels land within 1 px (in practice ~0.03 px) of the
    prediction from ``matrix`` and ``transport_row``; a tail-first feed turns the sheet."""
    geo = _geometry(name, seed, rotated)
    out = sc.warp_sheet(_dotted_sheet(), geo, BORDER)
    assert out.shape == (geo.image_h, geo.image_w, 4) and out.dtype == np.uint8
    dark = 255.0 - out[..., 1].astype(np.float64)
    found = {}
    for x, y in DOTS:
        px, py = _predicted(geo, x, y)
        cx, cy = _centroid(dark, px, py)
        assert math.hypot(cx - px, cy - py) < 1.0, (x, y, (px, py), (cx, cy))
        found[(x, y)] = (cx, cy)
    top, bottom = found[(827, 70)], found[(827, 2270)]
    left, right = found[(90, 1170)], found[(1560, 1170)]
    if rotated:
        assert top[1] > bottom[1] and left[0] > right[0]
    else:
        assert top[1] < bottom[1] and left[0] < right[0]


@pytest.mark.parametrize(("name", "seed", "rotated"),
                         [c for c in GEOMETRY_CASES if c[0] != "clean"])
def test_warp_has_no_seam_between_feed_speed_bands(name: str, seed: int, rotated: bool) -> None:
    """A smooth ramp stays smooth: the second difference down the image (across the band
    joins, where the feed speed changes) stays within rounding of the smooth value.
    (Measured: 3 grey levels at most; a seam of 0.3 row gives 5-6, of 1 row 12-13.)"""
    geo = _geometry(name, seed, rotated)
    out = sc.warp_sheet(_smooth_sheet(), geo, (0, 0, 0, 0))
    grey = out[..., 1].astype(np.int32)
    inside = cv2.erode((out[..., 3] == 255).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    d2 = np.abs(grey[2:] - 2 * grey[1:-1] + grey[:-2])
    valid = inside[2:] & inside[1:-1] & inside[:-2]
    assert valid.sum() > 0.7 * valid.size * (SHEET_HW[0] * SHEET_HW[1]) / (
        geo.image_h * geo.image_w)
    worst = int(np.where(valid, d2, 0).max())
    assert worst <= 4, f"second difference {worst} grey levels"
    joins = [round(k) for k in geo.knots[1:-1]]
    assert joins, "the preset has more than one feed-speed band"


def test_scaled_geometry_maps_points_consistently() -> None:
    """``FeedGeometry.scaled(f)`` (the quarter-size bleed-through side) is the same map on a
    grid f times coarser: a point's prediction scales by f."""
    geo = _geometry("realistic", 3, False)
    f = 0.25
    small = geo.scaled(f, (geo.image_h // 4, geo.image_w // 4))
    for x, y in DOTS[::4]:
        px, py = _predicted(geo, x, y)
        sx, sy = _predicted(small, x * f, y * f)
        assert sx == pytest.approx(px * f, abs=1e-6)
        assert sy == pytest.approx(py * f, abs=1e-6)


# --------------------------------------------------------------------------- noise


def _grey(hw: tuple[int, int] = (600, 700)) -> np.ndarray:
    return np.full((*hw, 3), 128, np.uint8)


@pytest.mark.parametrize("sigma", [1.0, 2.5, 6.0])
def test_noise_is_zero_mean_with_roughly_the_requested_sigma(sigma: float) -> None:
    """On mid-grey (no clipping) the added noise averages 0 and has about ``sigma`` s.d.
    per channel (luma noise plus 35 % chroma noise: ~1.06 sigma)."""
    img = _grey()
    NoiseBank(sigma, seed=1).apply(img, np.random.default_rng(5))
    diff = img.astype(np.float64) - 128.0
    assert abs(diff.mean()) < 0.05 * sigma
    for ch in range(3):
        assert 0.9 * sigma < diff[..., ch].std() < 1.25 * sigma


def test_noise_is_deterministic_per_rng() -> None:
    """The same rng state gives the same noise; another rng state gives other noise."""
    def noisy(bank: NoiseBank, rng_seed: int) -> np.ndarray:
        return bank.apply(_grey(), np.random.default_rng(rng_seed))

    first, second = NoiseBank(2.5, seed=0), NoiseBank(2.5, seed=0)
    a = noisy(first, 11)
    b = noisy(second, 11)
    noisy(second, 99)
    c = noisy(second, 11)  # a bank that has been used in between
    d = noisy(first, 12)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)


def test_noise_applies_in_place_and_zero_sigma_is_a_no_op() -> None:
    """``apply`` returns the array it was given; sigma 0 leaves it untouched."""
    img = _grey()
    assert NoiseBank(2.5).apply(img, np.random.default_rng(0)) is img
    clean = _grey()
    NoiseBank(0.0).apply(clean, np.random.default_rng(0))
    np.testing.assert_array_equal(clean, _grey())


def test_noise_does_not_depend_on_earlier_images() -> None:
    """Noise is a function of (bank seed, rng, image size) only."""
    fresh = NoiseBank(2.5, seed=0)
    used = NoiseBank(2.5, seed=0)
    used.apply(np.full((3500, 200, 3), 128, np.uint8), np.random.default_rng(9))
    a = fresh.apply(_grey((500, 500)), np.random.default_rng(1))
    b = used.apply(_grey((500, 500)), np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def test_sheet_images_do_not_depend_on_the_order_sheets_are_made() -> None:
    """The simulator's determinism promise, across a long double feed."""
    e = default_election()

    def factory() -> SheetFactory:
        return SheetFactory(e, default_station(e), preset("realistic"), seed=4,
                            kind="party-list", fake_rate=1.0)

    first = factory().sheet(0)
    later = factory()
    long_feed = later.sheet(4)
    assert long_feed.truth["fake"] == "double-feed" and long_feed.front.shape[0] > 3336
    again = later.sheet(0)
    np.testing.assert_array_equal(first.front, again.front)
    np.testing.assert_array_equal(first.back, again.back)


# --------------------------------------------------------------------------- photometry


@pytest.mark.parametrize("hw", [(2339, 1654), (37, 50), (8, 8), (1, 1), (1755, 1732)])
def test_gain_field_shape_and_dtype(hw: tuple[int, int]) -> None:
    """An RGBA uint8 multiplier of exactly the requested size, alpha 1.0 (255), paper-ish
    RGB within the preset's paper range and illumination/cast spread."""
    p = preset("realistic")
    g = sc.gain_field(np.random.default_rng(4), p, hw)
    assert g.shape == (*hw, 4)
    assert g.dtype == np.uint8
    assert np.all(g[..., 3] == 255)
    assert g[..., :3].min() > 180


def test_gain_field_is_deterministic_per_rng() -> None:
    p = preset("realistic")
    a = sc.gain_field(np.random.default_rng(4), p, (300, 200))
    b = sc.gain_field(np.random.default_rng(4), p, (300, 200))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 90), w=st.integers(1, 90), seed=st.integers(0, 2**16))
def test_apply_gain_is_the_multiply_by_the_full_field(h: int, w: int, seed: int) -> None:
    """The gain applied from the field's rows (every 8th image row per call) is exactly
    ``cv2.multiply`` by the full-size field, for any size (rows not a multiple of 8,
    fewer than 8 rows)."""
    p = preset("harsh")
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    field = sc.gain_field(np.random.default_rng(seed), p, (h, w))
    rows = sc.gain_rows(np.random.default_rng(seed), p, (h, w))
    assert rows.shape == ((h + 7) // 8, w, 4)
    np.testing.assert_array_equal(np.repeat(rows, 8, axis=0)[:h], field)
    want = cv2.multiply(img, field, scale=1 / 255)
    np.testing.assert_array_equal(sc.apply_gain(img, rows), want)


@pytest.mark.parametrize("hw", [(2339, 1654), (1654, 1654)])
def test_apply_gain_on_ballot_sized_sheets(hw: tuple[int, int]) -> None:
    img = np.random.default_rng(2).integers(0, 256, (*hw, 4), dtype=np.uint8)
    p = preset("realistic")
    want = cv2.multiply(img, sc.gain_field(np.random.default_rng(5), p, hw), scale=1 / 255)
    got = sc.apply_gain(img, sc.gain_rows(np.random.default_rng(5), p, hw))
    np.testing.assert_array_equal(got, want)


def test_gain_field_matches_the_full_size_nearest_resize() -> None:
    """gain_field as it was defined (resize to 1/8, then a nearest resize to full size)."""
    p = preset("realistic")
    for hw in [(2339, 1654), (1654, 1654), (37, 50), (1, 1)]:
        rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
        got = sc.gain_field(rng_a, p, hw)
        # the reference: the same draws, then the two resizes of the original definition
        lo, hi = np.array(p.paper_rgb[0], np.float32), np.array(p.paper_rgb[1], np.float32)
        paper = lo + (hi - lo) * np.float32(rng_b.random())
        cast = 1.0 + rng_b.normal(0.0, p.colour_cast, 3).astype(np.float32)
        coarse = 1.0 + rng_b.uniform(-p.illumination, p.illumination, (4, 3, 1)).astype(
            np.float32)
        base = np.clip(paper * cast, 0, 255)
        field4 = np.concatenate([coarse * base, np.full((4, 3, 1), 255, np.float32)], axis=2)
        tiny = np.clip(field4, 0, 255).astype(np.uint8)
        h8, w8 = max(1, (hw[0] + 7) // 8), max(1, (hw[1] + 7) // 8)
        eighth = cv2.resize(tiny, (w8, h8), interpolation=cv2.INTER_LINEAR)
        want = cv2.resize(eighth, (w8 * 8, h8 * 8), interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(got, want[: hw[0], : hw[1]])


@pytest.mark.parametrize("shape", [(400, 300, 3), (401, 299, 3), (64, 64)])
@pytest.mark.parametrize("quality", [45, 82, 95])
def test_jpeg_roundtrip_keeps_shape_and_dtype(shape: tuple[int, ...], quality: int) -> None:
    """A JPEG round trip returns an image of the same shape and dtype, close to the input."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 3)
    out = sc.jpeg_roundtrip(base, quality)
    assert out.shape == base.shape
    assert out.dtype == np.uint8
    assert np.abs(out.astype(int) - base).mean() < 6


@pytest.mark.parametrize("shape", [(400, 300, 3), (401, 299, 3)])
@pytest.mark.parametrize("quality", [45, 82, 95])
def test_rgb_jpeg_roundtrip_is_the_bgr_roundtrip_pixel_for_pixel(shape: tuple[int, ...],
                                                                  quality: int) -> None:
    """The RGB path (libjpeg-turbo through imagecodecs, no channel swaps) gives exactly
    the pixels of OpenCV's round trip of the BGR image: the simulator's sheets do not
    change with the faster path."""
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 2)
    base[:40, :60] = (200, 30, 40)  # a red patch: the channels must not swap
    ref = cv2.cvtColor(sc.jpeg_roundtrip(cv2.cvtColor(base, cv2.COLOR_RGB2BGR), quality),
                       cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(sc.jpeg_roundtrip_rgb(base, quality), ref)


def test_orientation_labels_round_trip() -> None:
    """The four feed orientations have distinct labels that parse back."""
    labels = [o.label for o in sc.ORIENTATIONS]
    assert sorted(labels) == ["back/0", "back/180", "front/0", "front/180"]
    for o in sc.ORIENTATIONS:
        assert sc.Orientation.parse(o.label) == o


def test_bleed_through_ghost_is_kept_with_its_blank() -> None:
    """The other side's ghost (the print darkness, blurred) is computed once per cached
    blank and is exactly the blur of that darkness; a one-off (writable) darkness is
    blurred afresh, not cached."""
    e = default_election()
    f = SheetFactory(e, default_station(e), preset("realistic"), seed=4, kind="party-list")
    layout = f.layout(BallotKind.PARTY_LIST, None, Language.KY)
    _blank, dark = f.blank(layout, 0.6, 1.0)
    assert not dark.flags.writeable
    ghost = f._ghost(dark)
    np.testing.assert_array_equal(ghost, cv2.GaussianBlur(dark, (0, 0), 1.2))
    assert f._ghost(dark) is ghost
    _blank, dark_again = f.blank(layout, 0.6, 1.0)
    assert dark_again is dark and f._ghost(dark_again) is ghost
    one_off = dark.copy()
    fresh = f._ghost(one_off)
    assert fresh is not ghost
    np.testing.assert_array_equal(fresh, ghost)
