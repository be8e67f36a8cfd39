"""ESC/POS for an 80 mm thermal printer (576 dots a line): an encoder and a strict decoder.

The device prints every report as raster images, never as printer-font text, so
that Kyrgyz letters (ө ү ң) print with our own fonts whatever code pages the
printer knows. The encoder emits only this subset of ESC/POS:

========================  =====================  ==========================================
bytes                     name                   meaning
========================  =====================  ==========================================
``ESC @``                 initialise             reset the printer
``GS v 0 m xL xH yL yH``  raster bit image       ``x`` bytes a row, ``y`` rows, then data
``ESC J n``               feed ``n`` dots        paper moves ``n`` dot rows
``ESC d n``               feed ``n`` lines       ``n`` × the line spacing
``ESC 2`` / ``ESC 3 n``   line spacing           default (30 dots) / ``n`` dots
``LF``                    line feed              one line (nothing is buffered as text)
``GS V m`` [``n``]        cut                    full (0, 48) / partial (1, 49); with feed
                                                 first (65, 66 + ``n`` dots)
``DLE EOT n``             real-time status       n = 1..4; the printer answers one byte
========================  =====================  ==========================================

The decoder (:class:`Decoder`, :func:`decode`) accepts exactly this subset and
turns a byte stream back into the paper roll: a 1-bit image 576 dots wide and
the rows where the knife cut. Anything else (text bytes, unknown commands, a
raster wider than the head, a truncated command) raises :class:`EscPosError`
naming the byte offset, so a test can tell "the printer received what we meant"
from "the printer received garbage". A raster is 1 bit a dot, most significant
bit leftmost, 1 = black (burnt).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from election.errors import PcosError

DOTS_PER_LINE = 576
BYTES_PER_LINE = DOTS_PER_LINE // 8
DOTS_PER_MM = 8  # 203 dpi
DEFAULT_LINE_SPACING_DOTS = 30
DEFAULT_BAND_ROWS = 256  # rows per GS v 0 command: small enough for a printer's buffer
MAX_RASTER_ROWS = 2303  # the largest yL/yH many printers accept in one GS v 0

ESC, GS, DLE, EOT, LF = 0x1B, 0x1D, 0x10, 0x04, 0x0A


class EscPosError(PcosError):
    """An ESC/POS byte stream is malformed or uses a command this printer does not know."""


# --- encoder ---------------------------------------------------------------------------------


def init() -> bytes:
    """``ESC @``: reset the printer to its defaults."""
    return bytes((ESC, 0x40))


def feed_dots(dots: int) -> bytes:
    """``ESC J n``: feed ``dots`` dot rows (split into several commands past 255)."""
    if dots < 0:
        raise EscPosError(f"feed of {dots} dots: must be >= 0")
    out = bytearray()
    while dots > 0:
        n = min(dots, 255)
        out += bytes((ESC, 0x4A, n))
        dots -= n
    return bytes(out)


def feed_lines(lines: int) -> bytes:
    """``ESC d n``: feed ``lines`` lines of the current line spacing."""
    if not 0 <= lines <= 255:
        raise EscPosError(f"feed of {lines} lines: must be 0..255")
    return bytes((ESC, 0x64, lines))


def cut(partial: bool = False, feed_dots_first: int = 0) -> bytes:
    """``GS V``: cut the paper, after feeding ``feed_dots_first`` dots when given."""
    if feed_dots_first:
        if not 0 < feed_dots_first <= 255:
            raise EscPosError(f"cut feed of {feed_dots_first} dots: must be 1..255")
        return bytes((GS, 0x56, 66 if partial else 65, feed_dots_first))
    return bytes((GS, 0x56, 1 if partial else 0))


def status_request(n: int) -> bytes:
    """``DLE EOT n``: ask for status byte ``n`` (1 printer, 2 offline, 3 error, 4 paper)."""
    if n not in (1, 2, 3, 4):
        raise EscPosError(f"status request {n}: must be 1..4")
    return bytes((DLE, EOT, n))


def _as_bits(image: np.ndarray) -> np.ndarray:
    bits = np.asarray(image)
    if bits.ndim != 2:
        raise EscPosError(f"raster must be a 2-D image, got shape {bits.shape}")
    if bits.dtype != np.bool_:
        raise EscPosError(f"raster must be boolean (True = black), got {bits.dtype}")
    if bits.shape[1] > DOTS_PER_LINE:
        raise EscPosError(f"raster is {bits.shape[1]} dots wide; the head has {DOTS_PER_LINE}")
    return bits


def raster(image: np.ndarray, band_rows: int = DEFAULT_BAND_ROWS) -> bytes:
    """``GS v 0`` commands printing ``image`` (bool, True = black), ``band_rows`` at a time.

    Each row is padded with white to a whole number of bytes. An image with no
    rows prints nothing.
    """
    bits = _as_bits(image)
    if not 1 <= band_rows <= MAX_RASTER_ROWS:
        raise EscPosError(f"band of {band_rows} rows: must be 1..{MAX_RASTER_ROWS}")
    height, width = bits.shape
    width_bytes = (width + 7) // 8
    packed = np.packbits(bits, axis=1, bitorder="big")[:, :width_bytes]
    out = bytearray()
    for top in range(0, height, band_rows):
        band = packed[top:top + band_rows]
        rows = band.shape[0]
        out += bytes((GS, 0x76, 0x30, 0, width_bytes & 0xFF, width_bytes >> 8,
                      rows & 0xFF, rows >> 8))
        out += band.tobytes()
    return bytes(out)


def job(images: Sequence[np.ndarray], feed_after_dots: int = 96, partial_cut: bool = False,
        band_rows: int = DEFAULT_BAND_ROWS) -> bytes:
    """A whole print job: initialise, then each image followed by a feed and a cut."""
    out = bytearray(init())
    for image in images:
        out += raster(image, band_rows)
        out += feed_dots(feed_after_dots)
        out += cut(partial_cut)
    return bytes(out)


# --- decoder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    offset: int


@dataclass(frozen=True)
class Raster:
    """One ``GS v 0`` band, already scaled, ``width`` ≤ 576 dots (bool, True = black)."""

    offset: int
    image: np.ndarray = field(compare=False, repr=False)


@dataclass(frozen=True)
class Feed:
    offset: int
    dots: int


@dataclass(frozen=True)
class Cut:
    offset: int
    partial: bool


@dataclass(frozen=True)
class StatusRequest:
    offset: int
    n: int


Command = Init | Raster | Feed | Cut | StatusRequest


class Decoder:
    """An incremental ESC/POS parser: :meth:`feed` bytes as they arrive, get whole commands.

    Bytes of an incomplete command wait for the next :meth:`feed`. After an
    :class:`EscPosError` the decoder is broken (a real printer would print
    garbage from there on) and refuses further input.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream offset of _buffer[0]
        self._line_spacing_dots = DEFAULT_LINE_SPACING_DOTS
        self._failed: EscPosError | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet form a whole command."""
        return len(self._buffer)

    @property
    def failed(self) -> EscPosError | None:
        return self._failed

    def feed(self, data: bytes) -> list[Command]:
        if self._failed is not None:
            raise EscPosError(f"decoder stopped after an earlier error: {self._failed}")
        self._buffer += data
        commands: list[Command] = []
        try:
            while self._buffer:
                parsed = self._parse_one()
                if parsed is None:
                    break
                used, produced = parsed
                del self._buffer[:used]
                self._offset += used
                commands.extend(produced)
        except EscPosError as exc:
            self._failed = exc
            raise
        return commands

    def finish(self) -> None:
        """Raise :class:`EscPosError` if the stream ended inside a command."""
        if self._buffer:
            raise EscPosError(f"byte {self._offset}: stream ends inside a command "
                              f"(0x{self._buffer[0]:02x}, {len(self._buffer)} bytes left)")

    def _need(self, n: int) -> bool:
        return len(self._buffer) >= n

    def _parse_one(self) -> tuple[int, list[Command]] | None:
        """(bytes used, the commands they make) or None if the command is incomplete."""
        buf, at = self._buffer, self._offset
        head = buf[0]
        if head == LF:
            return 1, [Feed(at, self._line_spacing_dots)]
        if head == ESC:
            if not self._need(2):
                return None
            op = buf[1]
            if op == 0x40:  # ESC @
                self._line_spacing_dots = DEFAULT_LINE_SPACING_DOTS
                return 2, [Init(at)]
            if op == 0x32:  # ESC 2
                self._line_spacing_dots = DEFAULT_LINE_SPACING_DOTS
                return 2, []
            if op in (0x33, 0x4A, 0x64):  # ESC 3 n, ESC J n, ESC d n
                if not self._need(3):
                    return None
                n = buf[2]
                if op == 0x33:
                    self._line_spacing_dots = n
                    return 3, []
                if op == 0x4A:
                    return 3, [Feed(at, n)]
                return 3, [Feed(at, n * self._line_spacing_dots)]
            raise EscPosError(f"byte {at}: unknown command ESC 0x{op:02x}")
        if head == GS:
            if not self._need(2):
                return None
            op = buf[1]
            if op == 0x56:  # GS V
                if not self._need(3):
                    return None
                m = buf[2]
                if m in (0, 48):
                    return 3, [Cut(at, partial=False)]
                if m in (1, 49):
                    return 3, [Cut(at, partial=True)]
                if m in (65, 66):
                    if not self._need(4):
                        return None
                    # Feed-then-cut: the feed and the cut as two commands.
                    return 4, [Feed(at, buf[3]), Cut(at, partial=(m == 66))]
                raise EscPosError(f"byte {at}: GS V with unknown mode {m}")
            if op == 0x76:  # GS v 0
                if self._need(3) and buf[2] != 0x30:
                    raise EscPosError(f"byte {at}: GS v 0x{buf[2]:02x} is not GS v 0")
                if not self._need(8):
                    return None
                mode = buf[3]
                if mode not in (0, 1, 2, 3, 48, 49, 50, 51):
                    raise EscPosError(f"byte {at}: GS v 0 with unknown mode {mode}")
                width_bytes = buf[4] | (buf[5] << 8)
                rows = buf[6] | (buf[7] << 8)
                scale_x = 2 if mode & 1 else 1
                scale_y = 2 if mode & 2 else 1
                if width_bytes == 0 or rows == 0:
                    raise EscPosError(f"byte {at}: GS v 0 with an empty raster "
                                      f"({width_bytes} bytes x {rows} rows)")
                if width_bytes * 8 * scale_x > DOTS_PER_LINE:
                    raise EscPosError(f"byte {at}: GS v 0 raster {width_bytes * 8 * scale_x} "
                                      f"dots wide; the head has {DOTS_PER_LINE}")
                if rows > MAX_RASTER_ROWS:
                    raise EscPosError(f"byte {at}: GS v 0 raster of {rows} rows; at most "
                                      f"{MAX_RASTER_ROWS} in one command")
                size = 8 + width_bytes * rows
                if not self._need(size):
                    return None
                data = np.frombuffer(bytes(buf[8:size]), dtype=np.uint8)
                bits = np.unpackbits(data.reshape(rows, width_bytes), axis=1,
                                     bitorder="big").astype(bool)
                if scale_x > 1:
                    bits = np.repeat(bits, scale_x, axis=1)
                if scale_y > 1:
                    bits = np.repeat(bits, scale_y, axis=0)
                return size, [Raster(at, bits)]
            raise EscPosError(f"byte {at}: unknown command GS 0x{op:02x}")
        if head == DLE:
            if not self._need(3):
                return None
            if buf[1] != EOT:
                raise EscPosError(f"byte {at}: unknown command DLE 0x{buf[1]:02x}")
            n = buf[2]
            if n not in (1, 2, 3, 4):
                raise EscPosError(f"byte {at}: DLE EOT with unknown status {n}")
            return 3, [StatusRequest(at, n)]
        if 0x20 <= head < 0x7F or head >= 0x80:
            raise EscPosError(f"byte {at}: text byte 0x{head:02x}; this device prints raster "
                              "images only")
        raise EscPosError(f"byte {at}: unknown control byte 0x{head:02x}")


def commands(stream: bytes) -> Iterator[Command]:
    """Every command of a complete stream, in order. Raises :class:`EscPosError`."""
    decoder = Decoder()
    yield from decoder.feed(stream)
    decoder.finish()


@dataclass
class Roll:
    """The paper that came out of the printer: printed rows and where the knife cut.

    Mutable, local to one printer (or one :func:`decode`); :meth:`image` gives a
    copy. Rows are 576 dots wide, True = black.
    """

    _rows: list[np.ndarray] = field(default_factory=list)
    _height: int = 0
    cuts: list[int] = field(default_factory=list)  # row index of each cut, in order

    def apply(self, cmds: Sequence[Command]) -> None:
        for c in cmds:
            if isinstance(c, Raster):
                band = np.zeros((c.image.shape[0], DOTS_PER_LINE), dtype=bool)
                band[:, :c.image.shape[1]] = c.image
                self._rows.append(band)
                self._height += band.shape[0]
            elif isinstance(c, Feed):
                if c.dots:
                    self._rows.append(np.zeros((c.dots, DOTS_PER_LINE), dtype=bool))
                    self._height += c.dots
            elif isinstance(c, Cut):
                self.cuts.append(self._height)

    @property
    def height(self) -> int:
        return self._height

    def image(self) -> np.ndarray:
        if not self._rows:
            return np.zeros((0, DOTS_PER_LINE), dtype=bool)
        return np.concatenate(self._rows, axis=0)

    def pieces(self) -> list[np.ndarray]:
        """The roll cut into pieces (paper after the last cut is the last piece if any)."""
        img = self.image()
        bounds = [0, *self.cuts]
        out = [img[a:b] for a, b in itertools.pairwise(bounds)]
        if self._height > bounds[-1]:
            out.append(img[bounds[-1]:])
        return out


def decode(stream: bytes) -> Roll:
    """The roll a complete ESC/POS stream prints. Raises :class:`EscPosError` on any bad byte."""
    decoder = Decoder()
    roll = Roll()
    roll.apply(decoder.feed(stream))
    decoder.finish()
    return roll


def trim_white(image: np.ndarray) -> np.ndarray:
    """``image`` without its all-white rows at the top and bottom."""
    inked = np.flatnonzero(image.any(axis=1))
    if inked.size == 0:
        return image[:0]
    return image[inked[0]:inked[-1] + 1]


def to_grey(image: np.ndarray) -> np.ndarray:
    """A uint8 picture of a 1-bit raster: 0 for a burnt dot, 255 for paper."""
    return np.where(image, 0, 255).astype(np.uint8)


def same_paper(pieces: Sequence[np.ndarray], images: Sequence[np.ndarray]) -> bool:
    """True when each cut piece is exactly its image (padded to 576 dots), then white paper.

    The check a test makes between what a printer printed and what was meant.
    """
    if len(pieces) != len(images):
        return False
    for piece, image in zip(pieces, images, strict=True):
        h, w = image.shape
        if piece.shape[0] < h or not np.array_equal(piece[:h, :w], image):
            return False
        if piece[:h, w:].any() or piece[h:].any():
            return False
    return True
