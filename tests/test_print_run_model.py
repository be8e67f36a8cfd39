"""The print-run model's fast path (table lookups, in-place planes) gives exactly the
pixels of the model written out in float32 numpy, for any raster and run."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.print_run import DOT_GAIN_REF_DPI, PrintRun, apply_run


def _spread(plane: np.ndarray, px: float) -> np.ndarray:
    """Grey dilation by a fractional radius, as first written (fresh arrays throughout)."""
    if px <= 0:
        return plane
    lo = int(np.floor(px))
    frac = px - lo
    out = plane
    if lo > 0:
        out = cv2.dilate(plane, np.ones((2 * lo + 1, 2 * lo + 1), np.uint8))
    if frac > 1e-3:
        hi = cv2.dilate(plane, np.ones((2 * lo + 3, 2 * lo + 3), np.uint8))
        out = cv2.addWeighted(out, 1.0 - frac, hi, frac, 0.0)
    return out


def reference(rgb: np.ndarray, run: PrintRun, ppm: float) -> np.ndarray:
    """The model as first written: full-size float32 planes, one numpy step at a time."""
    refl = rgb.astype(np.float32) / 255.0
    top = np.maximum(np.maximum(refl[..., 0], refl[..., 1]), refl[..., 2])
    k = 1.0 - top
    a = (top[..., None] - refl) / np.maximum(top, 1e-3)[..., None]
    gain = 0.5 * run.dot_gain_px * ppm / (DOT_GAIN_REF_DPI / 25.4)
    k = _spread(k.copy(), gain)
    a = _spread(a.copy(), gain)
    mx, my = run.misregistration_mm
    if mx or my:
        shift = np.array([[1, 0, mx * ppm], [0, 1, my * ppm]], np.float64)
        a = cv2.warpAffine(a, shift, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    k = np.clip(k * run.toner, 0.0, 1.0)
    a = np.clip(a * run.toner, 0.0, 1.0)
    out = (1.0 - k)[..., None] * (1.0 - a)
    printed = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    if run.offset_mm != (0.0, 0.0) or run.scale != 1.0:
        h, w = printed.shape[:2]
        printed = cv2.warpAffine(printed, run.matrix((h, w), ppm), (w, h),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(255, 255, 255))
    return printed


def raster(seed: int, h: int, w: int) -> np.ndarray:
    """White paper with black and grey print, coloured blocks and random colour noise."""
    rng = np.random.default_rng(seed)
    rgb = np.full((h, w, 3), 255, np.uint8)
    rgb[h // 5 : h // 3, :] = 0
    rgb[:, w // 2 : w // 2 + 3] = 128
    rgb[h // 2 :, : w // 3] = (220, 40, 60)
    noisy = rng.random((h, w)) < 0.2
    rgb[noisy] = rng.integers(0, 256, (int(noisy.sum()), 3), dtype=np.uint8)
    return rgb


runs = st.builds(
    PrintRun,
    dot_gain_px=st.sampled_from([0.0, 0.004, 0.37, 1.0, 1.42, 2.0, 3.3]),
    toner=st.floats(0.8, 1.25),
    offset_mm=st.tuples(st.floats(-1, 1), st.floats(-1, 1)),
    scale=st.sampled_from([1.0, 0.9978, 1.0006]),
    misregistration_mm=st.tuples(st.sampled_from([0.0, 0.068, -0.3]),
                                 st.sampled_from([0.0, -0.088, 0.25])),
)


@settings(max_examples=40, deadline=None)
@given(run=runs, seed=st.integers(0, 2**16), h=st.integers(1, 61), w=st.integers(1, 67))
def test_apply_run_equals_the_float_model_bit_for_bit(run: PrintRun, seed: int, h: int,
                                                      w: int) -> None:
    rgb = raster(seed, h, w)
    ppm = 200 / 25.4
    got = apply_run(rgb, run, ppm)
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    assert np.array_equal(got, reference(rgb, run, ppm))


def test_every_uint8_colour_gives_the_models_plates() -> None:
    """All 2^24 colours would be slow; every (top, channel) pair is covered instead."""
    top, r = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8),
                         indexing="ij")
    rgb = np.stack([top, r, np.minimum(top, r)], axis=-1)  # channel 0 is the largest
    run = PrintRun(toner=1.07)
    assert np.array_equal(apply_run(rgb, run, 200 / 25.4), reference(rgb, run, 200 / 25.4))
