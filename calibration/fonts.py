"""The fonts shipped with PCOS-KG.

DejaVu Sans and DejaVu Sans Bold, subset to Latin, Cyrillic (including the
Kyrgyz letters ө ү ң) and common punctuation. They ship inside the package, so
rendering never depends on a system font. Licence: ``fonts/LICENSE-DejaVu.txt``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"


def font_path(bold: bool) -> Path:
    return BOLD if bold else REGULAR


@cache
def pil_font(bold: bool, size_px: int) -> ImageFont.FreeTypeFont:
    """A FreeType font at an integer pixel size (cached: fonts are immutable)."""
    return ImageFont.truetype(str(font_path(bold)), size=max(1, size_px))
