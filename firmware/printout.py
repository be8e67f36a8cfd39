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
from typing import Any

import numpy as np
import pyqrcode
import pyqrcode.builder
import pyqrcode.tables
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
        fast = _fast_qr(text, error, mode)
        if fast is not None:
            return fast
        code = pyqrcode.create(text, error=error, mode=mode)
    except (ValueError, TypeError) as exc:
        raise LayoutError(f"QR code of {len(text)} characters: {exc}") from exc
    return np.array(code.code, dtype=bool)


# --- pyqrcode's code, with its mask placement and choice in numpy -----------------------------
#
# pyqrcode builds all eight masked matrices and scores them with pure-Python loops
# (~0.1 s a code). ``_MaskedBuilder`` places the same data bits in the same cell order,
# applies the same masks and scores them by the same four rules as pyqrcode 1.2 does
# (its rule 3 counts an 11-module pattern in rows and columns; its rule 4 truncates the
# same way), so the chosen mask and every module are pyqrcode's own (tested against
# ``pyqrcode.create`` on many texts).


def _data_cells(m: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the free cells in pyqrcode's zig-zag fill order."""
    size = len(m)
    rows: list[int] = []
    cols: list[int] = []
    up = True
    for column in range(size - 1, 0, -2):
        if column <= 6:  # the vertical timing pattern: move over by one
            column -= 1
        for row in (range(size - 1, -1, -1) if up else range(size)):
            for col in (column, column - 1):
                if m[row][col] == " ":
                    rows.append(row)
                    cols.append(col)
        up = not up
    return np.array(rows, np.intp), np.array(cols, np.intp)


def _run_penalty(lines: np.ndarray) -> int:
    """Rule 1: every run of 5+ equal modules along a line scores 3 + (length - 5)."""
    n_lines, n = lines.shape
    padded = np.full((n_lines, n + 1), 2, np.int8)  # a sentinel ends every line
    padded[:, :n] = lines
    flat = padded.ravel()
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    lengths = np.diff(np.concatenate([[0], edges, [flat.size]]))
    long_runs = lengths[lengths >= 5]
    return int((long_runs - 2).sum())


_RULE3 = np.array([[0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1], [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0]],
                  np.int8)


def _mask_score(m: np.ndarray) -> int:
    """pyqrcode's total penalty of one masked matrix (int8 0/1)."""
    size = m.shape[0]
    score = _run_penalty(m) + _run_penalty(m.T)
    a = m[:-1, :-1]
    score += 3 * int(((a == m[1:, :-1]) & (a == m[:-1, 1:]) & (a == m[1:, 1:])).sum())
    for lines in (m, m.T):
        if size >= _RULE3.shape[1]:
            windows = np.lib.stride_tricks.sliding_window_view(lines, _RULE3.shape[1], axis=1)
            hits = (windows[:, :, None, :] == _RULE3[None, None]).all(axis=3)
            score += 40 * int(hits.sum())
    percent = (int(m.sum()) / size ** 2) * 100 - 50
    return score + int((abs(int(percent)) / 5) * 10)


class _MaskedBuilder(pyqrcode.builder.QRCodeBuilder):
    """pyqrcode's builder with :meth:`make_code` in numpy; ``matrix`` holds the result."""

    matrix: np.ndarray

    def make_code(self) -> None:
        tables = pyqrcode.tables
        size = tables.version_size[self.version]
        template: list[list[Any]] = [[" "] * size for _ in range(size)]
        self.add_detection_pattern(template)
        self.add_position_pattern(template)
        self.add_version_pattern(template)
        bits = np.frombuffer(self.buffer.getvalue().encode("ascii"), np.uint8) - ord("0")
        cells: tuple[np.ndarray, np.ndarray] | None = None
        best: tuple[int, np.ndarray] | None = None
        for n, pattern in enumerate(tables.mask_patterns):
            m = [row[:] for row in template]
            self.add_type_pattern(m, tables.type_bits[self.error][n])
            if cells is None:
                cells = _data_cells(m)
                data = np.zeros(len(cells[0]), np.int8)
                used = min(len(bits), len(data))
                data[:used] = bits[:used]  # remainder bits are 0
            grid = np.array([[0 if v == " " else int(v) for v in row] for row in m], np.int8)
            grid[cells] = data ^ pattern(cells[0], cells[1]).astype(np.int8)
            score = _mask_score(grid)
            if best is None or score < best[0]:  # the first of equal scores, as pyqrcode
                best = (score, grid)
        assert best is not None
        self.matrix = best[1].astype(bool)
        self.code = self.matrix


def _fast_qr(text: str, error: str, mode: str) -> np.ndarray | None:
    """``pyqrcode.create(text, error=error, mode=mode).code`` for ASCII text, faster;
    None where pyqrcode's own path should decide (other text, unknown options)."""
    tables = pyqrcode.tables
    if not text or not text.isascii() or error not in tables.error_level \
            or mode not in tables.modes:
        return None
    level, mode_num = tables.error_level[error], tables.modes[mode]
    data = text.encode("ascii")  # what pyqrcode encodes an ASCII str to (ISO-8859-1)
    for version in range(1, 41):
        if tables.data_capacity[version][level][mode_num] >= len(data):
            return _MaskedBuilder(data, version, mode, level).matrix
    return None


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
