"""Real print: how a printing house's run differs from the renderer's raster.

A printing house never prints the raster pixel for pixel. Each print run has:

* **dot gain**: printed lines come out 0-2 px (at 200 DPI, 0-0.25 mm) wider
  than the raster, each edge moving out by half of it, on the black and the
  spot-colour plates alike (lines get heavier, the security hatching's gaps
  narrow);
* **toner density**: the ink film is a little lighter or heavier overall;
* **offset and scale** of the print on the paper (the sheet is cut and fed
  with a tolerance): the paper edges move against the print;
* **misregistration** between the black plate and the spot-colour plate
  (stripes, security band, tints): the colour is shifted against the black;
* **wrong ink** (a faulty batch): the stripe or the security band printed in
  another spot colour than the design's (:meth:`PrintRun.inks`).

This is the one print-run model of the simulator: the accuracy decks draw
``print_runs`` runs per seed from the scanner preset (:func:`draw_run`), and
device calibration (``simulator.calibration_set``) prints its blank and marked
ballots from one fixed run, so both benches meet the same print.

The run is applied once to a blank ballot (cached per run). The voter marks
the printed boxes, so ink patches are moved with the print
(:meth:`PrintRun.place`).

Plates are separated from the rendered RGB by a simple model that is exact
for the renderer's inks: reflectance ``r_c = (1 - K) * (1 - a_c)``, with the
black amount ``K = 1 - max_c r_c`` and the colour absorbance
``a_c = 1 - r_c / max_c r_c`` (0 for neutral print, black included).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from election.layout import BallotLayout, SecurityFeature, Stripe

DOT_GAIN_REF_DPI = 200.0  # dot gain is stated in px at 200 DPI


@dataclass(frozen=True)
class PrintRun:
    dot_gain_px: float = 0.0  # line-width growth at 200 DPI (0.127 mm per px)
    toner: float = 1.0  # ink film density factor
    offset_mm: tuple[float, float] = (0.0, 0.0)  # print against paper (x, y)
    scale: float = 1.0  # print size against the layout, about the sheet centre
    misregistration_mm: tuple[float, float] = (0.0, 0.0)  # colour plate against black
    stripe_srgb: tuple[int, int, int] | None = None  # stripe ink used instead of the design's
    security_srgb: tuple[int, int, int] | None = None  # security-band ink used instead

    @property
    def identity(self) -> bool:
        return self == PrintRun()

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "dot_gain_px": round(self.dot_gain_px, 3), "toner": round(self.toner, 3),
            "offset_mm": [round(v, 3) for v in self.offset_mm], "scale": round(self.scale, 5),
            "misregistration_mm": [round(v, 3) for v in self.misregistration_mm]}
        if self.stripe_srgb is not None:
            doc["stripe_srgb"] = list(self.stripe_srgb)
        if self.security_srgb is not None:
            doc["security_srgb"] = list(self.security_srgb)
        return doc

    def inks(self, layout: BallotLayout) -> BallotLayout:
        """The layout as this run prints it: its stripe and security inks (the design's
        unless the batch used another ink). Render this, then :func:`apply_run`."""
        if self.stripe_srgb is not None and layout.stripes:
            layout = replace(layout, stripes=tuple(Stripe(s.rect, self.stripe_srgb)
                                                   for s in layout.stripes))
        if self.security_srgb is not None:
            sec: SecurityFeature = replace(layout.security, srgb=self.security_srgb)
            layout = replace(layout, security=sec)
        return layout

    def matrix(self, hw: tuple[int, int], ppm: float) -> np.ndarray:
        """2x3 affine: layout px -> paper px (scale about the centre, then offset)."""
        h, w = hw
        cx, cy = w / 2, h / 2
        s = self.scale
        dx, dy = self.offset_mm[0] * ppm, self.offset_mm[1] * ppm
        return np.array([[s, 0, cx - s * cx + dx], [0, s, cy - s * cy + dy]], np.float64)

    def place(self, y0: int, x0: int, hw: tuple[int, int], ppm: float) -> tuple[int, int]:
        """Where an ink patch drawn at layout px (y0, x0) lands on the paper (rounded)."""
        m = self.matrix(hw, ppm)
        return (round(m[1, 1] * y0 + m[1, 2]), round(m[0, 0] * x0 + m[0, 2]))


@dataclass(frozen=True)
class Device:
    """A scanner's own optical scale (image px per nominal px) across and along the feed:
    what device calibration measures. 1, 1: the scanner preset's own per-sheet draw."""

    scale_across: float = 1.0
    scale_along: float = 1.0


def draw_run(rng: np.random.Generator, dot_gain_px: tuple[float, float],
             toner: tuple[float, float], offset_mm: float, scale: tuple[float, float],
             misregistration_mm: float) -> PrintRun:
    return PrintRun(
        dot_gain_px=float(rng.uniform(*dot_gain_px)),
        toner=float(rng.uniform(*toner)),
        offset_mm=(float(rng.uniform(-offset_mm, offset_mm)),
                   float(rng.uniform(-offset_mm, offset_mm))),
        scale=float(rng.uniform(*scale)),
        misregistration_mm=(float(rng.uniform(-misregistration_mm, misregistration_mm)),
                            float(rng.uniform(-misregistration_mm, misregistration_mm))),
    )


def _spread(plane: np.ndarray, px: float) -> np.ndarray:
    """Grey dilation of an absorbance plane by a fractional radius (blend of two radii).
    May return ``plane`` itself or overwrite a fresh dilation in place; never writes
    to ``plane``."""
    if px <= 0:
        return plane
    lo = int(np.floor(px))
    frac = px - lo
    out = plane
    if lo > 0:
        out = cv2.dilate(plane, np.ones((2 * lo + 1, 2 * lo + 1), np.uint8))
    if frac > 1e-3:
        hi = cv2.dilate(plane, np.ones((2 * lo + 3, 2 * lo + 3), np.uint8))
        # blended into the fresh dilation's own buffer (elementwise: the same values)
        out = cv2.addWeighted(out, 1.0 - frac, hi, frac, 0.0, dst=hi)
    return out


# The plates of every uint8 colour, as the float32 arithmetic of the model gives them:
# reflectance of a level (``rgb.astype(float32) / 255``), the black plate for the
# brightest channel's level, and the colour plate of a channel's level ``r`` under the
# brightest level ``top``: ``(top - r) / max(top, 1e-3)``. Looking them up gives the
# same float32 values as computing them per pixel, without full-size float temporaries.
_LEVEL = np.arange(256, dtype=np.float32) / 255.0
_BLACK = 1.0 - _LEVEL
_COLOUR = (_LEVEL[:, None] - _LEVEL[None, :]) / np.maximum(_LEVEL, 1e-3)[:, None]
for _table in (_LEVEL, _BLACK, _COLOUR):
    _table.setflags(write=False)


def plates(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The black plate ``K`` (h, w) and the colour plate ``a`` (h, w, 3), float32, of a
    uint8 RGB raster. Neutral pixels (black included) have no colour: ``a`` is 0 there,
    and only the few coloured pixels (stripes, security band, tints) are looked up."""
    rgb = np.ascontiguousarray(rgb)
    top = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    low = np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    k = cv2.LUT(top, _BLACK)
    a = np.zeros(rgb.shape, np.float32)
    coloured = np.flatnonzero(top != low)
    if coloured.size:
        a.reshape(-1, 3)[coloured] = _COLOUR[top.reshape(-1)[coloured, None],
                                             rgb.reshape(-1, 3)[coloured]]
    return k, a


def apply_run(rgb: np.ndarray, run: PrintRun, ppm: float) -> np.ndarray:
    """The blank ballot ``rgb`` (uint8, layout px) as this print run puts it on paper."""
    if run.identity:
        return rgb
    # Black plate 1 - max_c r_c; colour plate per channel (top - r_c) / top, 0 for neutral
    # print, black included (where top is 0 there is no colour to speak of).
    k, a = plates(rgb)
    gain = 0.5 * run.dot_gain_px * ppm / (DOT_GAIN_REF_DPI / 25.4)  # per edge
    k = _spread(k, gain)
    a = _spread(a, gain)
    mx, my = run.misregistration_mm
    if mx or my:
        shift = np.array([[1, 0, mx * ppm], [0, 1, my * ppm]], np.float64)
        a = cv2.warpAffine(a, shift, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    # Toner, then reflectance (1 - K)(1 - a), in place (k and a are this call's own
    # planes; float32, the same operations as ``np.clip(x * toner, 0, 1)``), quantised
    # to uint8 with rounding half to even, as ``np.rint``.
    np.multiply(k, run.toner, out=k)
    np.clip(k, 0.0, 1.0, out=k)
    np.subtract(1.0, k, out=k)
    np.multiply(a, run.toner, out=a)
    np.clip(a, 0.0, 1.0, out=a)
    np.subtract(1.0, a, out=a)
    np.multiply(a, k[..., None], out=a)
    printed = cv2.convertScaleAbs(a, alpha=255.0)
    if run.offset_mm != (0.0, 0.0) or run.scale != 1.0:
        h, w = printed.shape[:2]
        printed = cv2.warpAffine(printed, run.matrix((h, w), ppm), (w, h),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(255, 255, 255))
    return printed
