"""Writing instruments and the ink layer of one sheet.

Ink is modelled as a subtractive layer: an opacity ``alpha`` in [0, 1] per
pixel and an ink colour. Over paper of colour P the result is
``P * (1 - alpha * (1 - ink / 255))`` per channel, so ink over print stays
dark and overlapping strokes darken, as on paper.

Patches are small (a mark is ~100 x 100 px at 200 DPI); the layer keeps them
as a list and never allocates a page-sized array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from election.marking import ink_darkness


@dataclass(frozen=True)
class Instrument:
    """A pen or pencil: colour, stroke width, opacity (pressure) and texture."""

    name: str
    rgb: tuple[int, int, int]
    width_mm: tuple[float, float]
    opacity: tuple[float, float]
    grain: float  # strength of high-frequency texture (pencil graphite, ballpoint skips)
    bleed_px: float  # ink spread on paper (Gaussian sigma, px at 200 DPI)

    def darkness(self, alpha: float = 1.0) -> float:
        """Darkness of this ink at opacity ``alpha``, as a person sees it (darkest channel)."""
        return alpha * ink_darkness(self.rgb)


INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument("ballpoint-blue", (30, 52, 150), (0.28, 0.42), (0.70, 0.92), 0.18, 0.35),
        Instrument("ballpoint-black", (35, 35, 42), (0.28, 0.42), (0.68, 0.90), 0.18, 0.35),
        Instrument("gel-blue", (20, 45, 175), (0.40, 0.60), (0.85, 0.97), 0.06, 0.45),
        Instrument("gel-black", (22, 22, 28), (0.40, 0.60), (0.85, 0.97), 0.06, 0.45),
        Instrument("felt-tip", (25, 25, 45), (0.70, 1.20), (0.88, 0.98), 0.04, 0.7),
        # Pencil across its pressure range: from a light touch (darkness ~0.2-0.27,
        # a light grey a person still sees plainly) to a hard press.
        Instrument("pencil", (60, 60, 66), (0.35, 0.60), (0.35, 0.95), 0.30, 0.25),
        # Pens voters bring: coloured ballpoints and a pale blue gel/roller.
        Instrument("ballpoint-red", (190, 35, 40), (0.28, 0.42), (0.70, 0.92), 0.18, 0.35),
        Instrument("ballpoint-green", (30, 120, 60), (0.28, 0.42), (0.70, 0.92), 0.18, 0.35),
        Instrument("ballpoint-purple", (95, 40, 140), (0.28, 0.42), (0.70, 0.92), 0.18, 0.35),
        Instrument("pale-blue", (120, 165, 235), (0.40, 0.60), (0.85, 0.97), 0.06, 0.45),
    )
}

# How often voters use each instrument (polling stations provide ballpoints).
INSTRUMENT_WEIGHTS: dict[str, float] = {
    "ballpoint-blue": 0.45,
    "ballpoint-black": 0.12,
    "gel-blue": 0.10,
    "gel-black": 0.05,
    "felt-tip": 0.08,
    "pencil": 0.10,
    "ballpoint-red": 0.03,
    "ballpoint-green": 0.02,
    "ballpoint-purple": 0.03,
    "pale-blue": 0.02,
}


@dataclass
class InkPatch:
    """Opacity ``alpha`` (float32, HxW) placed with its top-left pixel at (y0, x0)."""

    y0: int
    x0: int
    alpha: np.ndarray
    rgb: tuple[int, int, int]

    @property
    def y1(self) -> int:
        return self.y0 + self.alpha.shape[0]

    @property
    def x1(self) -> int:
        return self.x0 + self.alpha.shape[1]

    def darkness(self) -> np.ndarray:
        """Darkness of this patch on white paper, as a person sees it (darkest channel)."""
        return self.alpha * np.float32(ink_darkness(self.rgb))


@dataclass
class InkLayer:
    patches: list[InkPatch] = field(default_factory=list)

    def add(self, patch: InkPatch) -> None:
        self.patches.append(patch)

    def darkness_in(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """Combined darkness of every patch over a window (multiplicative transmittance)."""
        trans = np.ones((h, w), np.float32)
        for p in self.patches:
            ya, yb = max(y0, p.y0), min(y0 + h, p.y1)
            xa, xb = max(x0, p.x0), min(x0 + w, p.x1)
            if ya >= yb or xa >= xb:
                continue
            d = p.darkness()[ya - p.y0 : yb - p.y0, xa - p.x0 : xb - p.x0]
            trans[ya - y0 : yb - y0, xa - x0 : xb - x0] *= 1.0 - d
        return 1.0 - trans


def composite(page: np.ndarray, patch: InkPatch, blur_px: float = 0.0) -> None:
    """Lay a patch onto an RGB or RGBA uint8 page in place (optionally optics-blurred)."""
    alpha = patch.alpha
    if blur_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur_px)
    h, w = page.shape[:2]
    ya, yb = max(0, patch.y0), min(h, patch.y1)
    xa, xb = max(0, patch.x0), min(w, patch.x1)
    if ya >= yb or xa >= xb:
        return
    a = alpha[ya - patch.y0 : yb - patch.y0, xa - patch.x0 : xb - patch.x0, None]
    absorb = 1.0 - np.asarray(patch.rgb, np.float32) / 255.0
    region = page[ya:yb, xa:xb, :3]
    region[...] = np.rint(region * (1.0 - a * absorb)).astype(np.uint8)
