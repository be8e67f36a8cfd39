"""Lay out a printed report as a 576-dot-wide 1-bit raster from typed blocks.

A report is a sequence of blocks (:class:`Title`, :class:`Heading`,
:class:`Line`, :class:`KeyValue`, :class:`Table`, :class:`Separator`,
:class:`QRCode`, :class:`SmallPrint`, :class:`Banner`, :class:`Spacer`);
:func:`layout` stacks them top to bottom. Text is drawn with the shipped
DejaVu fonts (``calibration/fonts``) without anti-aliasing (a thermal head has
no grey), so Kyrgyz and Russian print alike and the same blocks always give
the same dots, hence the same ESC/POS bytes.

Long text wraps at spaces; a token wider than the paper (a hash) breaks between
characters. Sizes are in dots (8 dots = 1 mm on a 203 dpi head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqrcode
from PIL import Image, ImageDraw, ImageFont

from calibration.fonts import pil_font
from election.errors import PcosError
from firmware.escpos import DOTS_PER_LINE

MARGIN_DOTS = 8
TEXT_WIDTH_DOTS = DOTS_PER_LINE - 2 * MARGIN_DOTS
TITLE_PX = 32
HEADING_PX = 26
BODY_PX = 24
SMALL_PX = 18
LINE_GAP_DOTS = 4
QR_QUIET_MODULES = 4


class LayoutError(PcosError):
    """A block cannot be laid out on 576 dots (a QR code too large, a bad size)."""


@dataclass(frozen=True)
class Title:
    text: str


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Line:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    """Rows of (label, figure): the label wraps on the left, the figure is right-aligned."""

    rows: tuple[tuple[str, str], ...]
    header: tuple[str, str] | None = None


@dataclass(frozen=True)
class Separator:
    dashed: bool = False


@dataclass(frozen=True)
class QRCode:
    """A QR code of ``text`` (alphanumeric mode when it fits that alphabet), centred."""

    text: str
    caption: str | None = None
    error: str = "M"


@dataclass(frozen=True)
class SmallPrint:
    text: str


@dataclass(frozen=True)
class Banner:
    """White text on a black band, e.g. the TEST mark."""

    text: str


@dataclass(frozen=True)
class Spacer:
    dots: int


Block = (Title | Heading | Line | KeyValue | Table | Separator | QRCode | SmallPrint | Banner
         | Spacer)


# --- text ------------------------------------------------------------------------------------


def _font(bold: bool, size_px: int) -> ImageFont.FreeTypeFont:
    return pil_font(bold, size_px)


def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    return float(font.getlength(text))


def wrap(text: str, font: ImageFont.FreeTypeFont, width_dots: int) -> list[str]:
    """``text`` broken into lines no wider than ``width_dots`` (at spaces, else anywhere)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = word if not current else f"{current} {word}"
            if _width(font, candidate) <= width_dots:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            while _width(font, word) > width_dots:  # a token wider than the paper
                cut = len(word)
                while cut > 1 and _width(font, word[:cut]) > width_dots:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return int(ascent + descent)


def _text_rows(lines: Sequence[str], font: ImageFont.FreeTypeFont, align: str = "left",
               x0: int = MARGIN_DOTS, width: int = TEXT_WIDTH_DOTS) -> np.ndarray:
    """Draw ``lines`` one under another; returns a bool image 576 wide (True = black)."""
    step = _line_height(font) + LINE_GAP_DOTS
    canvas = Image.new("1", (DOTS_PER_LINE, max(1, step * len(lines))), 1)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    for i, text in enumerate(lines):
        w = _width(font, text)
        if align == "center":
            x = x0 + (width - w) / 2
        elif align == "right":
            x = x0 + width - w
        else:
            x = x0
        draw.text((round(x), i * step), text, font=font, fill=0)
    return ~np.asarray(canvas, dtype=bool)


def _blank(rows: int) -> np.ndarray:
    return np.zeros((rows, DOTS_PER_LINE), dtype=bool)


# --- blocks ----------------------------------------------------------------------------------


def _two_columns(left: str, right: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """``left`` wrapped in the space ``right`` leaves; ``right`` on the first line's right."""
    right_w = int(np.ceil(_width(font, right)))
    gap = 12
    if right_w + gap + 80 > TEXT_WIDTH_DOTS:  # a long value: its own lines below the key
        key = _text_rows(wrap(left, font, TEXT_WIDTH_DOTS), font)
        value_font = _font(False, SMALL_PX)
        value = _text_rows(wrap(right, value_font, TEXT_WIDTH_DOTS - 24), value_font,
                           x0=MARGIN_DOTS + 24, width=TEXT_WIDTH_DOTS - 24)
        return np.concatenate([key, value])
    lines = wrap(left, font, TEXT_WIDTH_DOTS - right_w - gap)
    img = _text_rows(lines, font, width=TEXT_WIDTH_DOTS - right_w - gap)
    figure = _text_rows([right], font, align="right")
    img[:figure.shape[0]] |= figure
    return img


def _separator(dashed: bool) -> np.ndarray:
    img = _blank(12)
    row = np.zeros(DOTS_PER_LINE, dtype=bool)
    row[MARGIN_DOTS:DOTS_PER_LINE - MARGIN_DOTS] = True
    if dashed:
        row &= (np.arange(DOTS_PER_LINE) // 8) % 2 == 0
    img[5:7] = row
    return img


_ALNUM = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_matrix(text: str, error: str = "M") -> np.ndarray:
    """The QR modules of ``text`` (bool, True = dark), without the quiet zone."""
    mode = "alphanumeric" if set(text) <= _ALNUM else "binary"
    try:
        code = pyqrcode.create(text, error=error, mode=mode)
    except (ValueError, TypeError) as exc:
        raise LayoutError(f"QR code of {len(text)} characters: {exc}") from exc
    return np.array(code.code, dtype=bool)


def qr_module_dots(modules: int) -> int:
    """The largest whole module size that fits the code and its quiet zone on the paper."""
    size = DOTS_PER_LINE // (modules + 2 * QR_QUIET_MODULES)
    if size < 2:
        raise LayoutError(f"a QR code of {modules} modules does not fit {DOTS_PER_LINE} dots")
    return min(size, 8)


def _qr(block: QRCode) -> np.ndarray:
    matrix = qr_matrix(block.text, block.error)
    dots = qr_module_dots(matrix.shape[0])
    big = np.kron(matrix, np.ones((dots, dots), dtype=bool))
    quiet = QR_QUIET_MODULES * dots
    img = _blank(big.shape[0] + 2 * quiet)
    x0 = (DOTS_PER_LINE - big.shape[1]) // 2
    img[quiet:quiet + big.shape[0], x0:x0 + big.shape[1]] = big
    if block.caption:
        font = _font(False, SMALL_PX)
        img = np.concatenate([img, _text_rows(wrap(block.caption, font, TEXT_WIDTH_DOTS), font,
                                              align="center")])
    return img


def _banner(text: str) -> np.ndarray:
    font = _font(True, TITLE_PX)
    inner = _text_rows(wrap(text, font, TEXT_WIDTH_DOTS - 16), font, align="center")
    band = np.concatenate([_blank(8), inner, _blank(4)])
    band[:, MARGIN_DOTS:DOTS_PER_LINE - MARGIN_DOTS] ^= True
    return band


def render_block(block: Block) -> np.ndarray:
    """One block as a bool image 576 dots wide."""
    if isinstance(block, Title):
        font = _font(True, TITLE_PX)
        return _text_rows(wrap(block.text, font, TEXT_WIDTH_DOTS), font, align="center")
    if isinstance(block, Heading):
        font = _font(True, HEADING_PX)
        return np.concatenate([_blank(6), _text_rows(wrap(block.text, font, TEXT_WIDTH_DOTS),
                                                     font)])
    if isinstance(block, Line):
        font = _font(block.bold, BODY_PX)
        return _text_rows(wrap(block.text, font, TEXT_WIDTH_DOTS), font)
    if isinstance(block, KeyValue):
        return _two_columns(block.key, block.value, _font(block.bold, BODY_PX))
    if isinstance(block, Table):
        parts = []
        if block.header is not None:
            parts.append(_two_columns(*block.header, _font(True, BODY_PX)))
            parts.append(_separator(dashed=True))
        parts += [_two_columns(label, figure, _font(False, BODY_PX))
                  for label, figure in block.rows]
        return np.concatenate(parts) if parts else _blank(0)
    if isinstance(block, Separator):
        return _separator(block.dashed)
    if isinstance(block, QRCode):
        return _qr(block)
    if isinstance(block, SmallPrint):
        font = _font(False, SMALL_PX)
        return _text_rows(wrap(block.text, font, TEXT_WIDTH_DOTS), font)
    if isinstance(block, Banner):
        return _banner(block.text)
    if isinstance(block, Spacer):
        if block.dots < 0:
            raise LayoutError(f"spacer of {block.dots} dots")
        return _blank(block.dots)
    raise LayoutError(f"unknown block {type(block).__name__}")


def layout(blocks: Sequence[Block]) -> np.ndarray:
    """The report: every block stacked, 576 dots wide, bool (True = black)."""
    parts = [render_block(b) for b in blocks]
    if not parts:
        return _blank(0)
    return np.concatenate(parts, axis=0)
