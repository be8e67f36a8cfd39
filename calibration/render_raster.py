"""Layout -> colour raster (RGB, uint8) at any DPI.

Conventions every other module relies on:

* pixel (row i, column j) covers the sheet area [j, j+1) x [i, i+1) in units of
  1/ppm mm, where ppm = dpi / 25.4; the image is ``round(w_mm * ppm)`` wide;
* rectangles (boxes, timing marks, code cells, stripes, security lines, rules)
  are drawn with exact area coverage, so their edges sit where the layout says
  to a fraction of a pixel;
* a target's border is drawn *inside* its box rectangle;
* paper is pure white; the simulator adds paper tint, the reader never assumes it.

Text is drawn first with FreeType anti-aliasing, then geometry on top (the two
never overlap in a layout). The same layout and DPI always give the same bytes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from calibration.fonts import pil_font
from election.geometry import Rect, px_per_mm
from election.layout import BallotLayout, TextBox

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
MIN_TEXT_SCALE = 0.55
SMALL_RECT_PX = 4096  # fill_rect blends rectangles up to this many pixels in one pass


def image_size(layout: BallotLayout, dpi: float) -> tuple[int, int]:
    """(height, width) in pixels of a layout rendered at ``dpi``."""
    ppm = px_per_mm(dpi)
    return round(layout.paper_h_mm * ppm), round(layout.paper_w_mm * ppm)


def _coverage(a: float, b: float, n: int) -> tuple[int, np.ndarray]:
    """First index and per-pixel coverage of the interval [a, b) on a 0..n pixel axis.

    Interior pixels are fully covered; only the two edge pixels are fractional.
    """
    lo = max(0, math.floor(a))
    hi = min(n, math.ceil(b))
    if hi <= lo:
        return lo, np.zeros(0, np.float32)
    cov = np.ones(hi - lo, np.float32)
    cov[0] = min(b, lo + 1) - max(a, lo)
    cov[-1] = min(b, hi) - max(a, hi - 1)
    if hi - lo == 1:
        cov[0] = min(b, lo + 1) - max(a, lo)
    return lo, np.clip(cov, 0.0, 1.0)


def fill_rect(img: np.ndarray, rect: Rect, ppm: float, colour: tuple[int, int, int]) -> None:
    """Composite a solid rectangle with exact area coverage (anti-aliased edges)."""
    h, w = img.shape[:2]
    x0, cx = _coverage(rect.x_mm * ppm, rect.right_mm * ppm, w)
    y0, cy = _coverage(rect.y_mm * ppm, rect.bottom_mm * ppm, h)
    if cx.size == 0 or cy.size == 0:
        return
    region = img[y0 : y0 + cy.size, x0 : x0 + cx.size]
    # A large rectangle: solid core in one assignment, edges blended below. A small one
    # is blended whole (the core's coverage is exactly 1, which blends to ``colour``, so
    # the pixels are the same; one numpy pass costs less than five on a few pixels).
    if cx.size > 2 and cy.size > 2 and cx.size * cy.size > SMALL_RECT_PX:
        region[1:-1, 1:-1] = colour
        for sl in ((slice(0, 1), slice(None)), (slice(-1, None), slice(None)),
                   (slice(1, -1), slice(0, 1)), (slice(1, -1), slice(-1, None))):
            alpha = (cy[sl[0]][:, None] * cx[sl[1]][None, :])[..., None]
            part = region[sl]
            part[...] = np.rint(part * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha)
        return
    alpha = (cy[:, None] * cx[None, :])[..., None]
    region[...] = np.rint(region * (1.0 - alpha) + np.asarray(colour, np.float32) * alpha)


def _draw_text(draw: ImageDraw.ImageDraw, tb: TextBox, ppm: float) -> None:
    if not tb.text:
        return
    size_px = max(4, round(tb.size_mm * ppm))
    font = pil_font(tb.bold, size_px)
    width_px = tb.rect.w_mm * ppm
    length = font.getlength(tb.text)
    text = tb.text
    if length > width_px:
        scaled = max(int(size_px * width_px / length), int(size_px * MIN_TEXT_SCALE), 4)
        font = pil_font(tb.bold, scaled)
        while font.getlength(text) > width_px and len(text) > 1:
            text = text[:-2].rstrip() + "…"
        length = font.getlength(text)
    if tb.align == "right":
        x = tb.rect.right_mm * ppm - length
    elif tb.align == "center":
        x = tb.rect.cx_mm * ppm - length / 2
    else:
        x = tb.rect.x_mm * ppm
    # Vertically centre the cap height (ascender) in the box.
    ascent, _descent = font.getmetrics()
    cap = ascent * 0.72
    baseline = tb.rect.cy_mm * ppm + cap / 2
    draw.text((round(x), round(baseline)), text, font=font, fill=0, anchor="ls")


def render_layout(layout: BallotLayout, dpi: float = 200.0) -> np.ndarray:
    """Render a ballot to an RGB ``uint8`` array of shape (H, W, 3)."""
    ppm = px_per_mm(dpi)
    h, w = image_size(layout, dpi)
    # Text is black on white: draw it on a grey canvas (a third of the data), then
    # widen to RGB for the coloured geometry.
    page = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(page)
    for tb in layout.texts:
        _draw_text(draw, tb, ppm)
    img = cv2.cvtColor(np.asarray(page), cv2.COLOR_GRAY2RGB)  # grey replicated, as np.repeat

    for rule in layout.rules:
        fill_rect(img, rule.rect, ppm, (rule.grey,) * 3)
    for stripe in layout.stripes:
        fill_rect(img, stripe.rect, ppm, stripe.srgb)
    for mark in (*layout.timing.left, *layout.timing.right):
        fill_rect(img, mark, ppm, BLACK)
    for copy in range(len(layout.code.copies)):
        for rect in layout.code.black_rects(copy):
            fill_rect(img, rect, ppm, BLACK)
    for rect in layout.security.line_rects():
        fill_rect(img, rect, ppm, layout.security.srgb)
    border = layout.box_border_mm
    for t in layout.targets:
        fill_rect(img, t.box, ppm, BLACK)
        fill_rect(img, t.box.inset(border), ppm, WHITE)
    return img
