"""A fast decoder (and encoder) for the PNG files scanners (and this project's simulator)
write.

Decoding two 6.7 MB PNGs was about 90 % of ``pcos scan``'s CPU per sheet
(OpenCV's libpng: ~80 ms a side). Almost all of that is inflating the zlib
stream and undoing the row filters. Scanner PNGs are 8-bit RGB or grey,
not interlaced, and use the cheap row filters (OpenCV writes every row with
*Up*). For exactly those files this module inflates the ``IDAT`` data in one
call with libdeflate (from ``imagecodecs``; the output size is known from the
header, so no buffer is grown) and undoes *None*, *Sub* and *Up* rows with
numpy, about 2.5x faster than libpng. The result is pixel for pixel what
libpng gives (tested against OpenCV and Pillow on every filter, depth and
colour type).

Anything else (16-bit, palette, alpha, interlaced, the *Average* or *Paeth*
filter, a missing ``imagecodecs``) returns None, and the caller decodes with
OpenCV or Pillow as before. Image data that does not inflate, or holds fewer
bytes than the header needs, raises :class:`PngDataError` (libpng says "not
enough image data" and returns nothing; Pillow can fill the rest in silently).
The caller has already checked every chunk's length and CRC.

:func:`encode_png` writes such files: every row with the *Up* filter (one numpy
subtraction), deflated in one call by libdeflate at level 1. On a 1,744 x 1,732
RGB scan that is ~30 ms against OpenCV's ~160 ms (libpng at level 1 with its
adaptive filter choice), and the file is a little smaller. The device keeps its
retained sheet images this way.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from collections.abc import Callable
from typing import Any, cast

import numpy as np


def _load_codecs() -> Any:
    """``imagecodecs``, or None where it is not installed (every PNG then takes the
    OpenCV path)."""
    try:
        return importlib.import_module("imagecodecs")
    except ImportError:  # pragma: no cover - imagecodecs is an install requirement
        return None


_codecs: Any = _load_codecs()

#: CRC-32 as PNG and zlib define it: zlib-ng's SIMD version (about 15x faster on a
#: 7 MB scan) where imagecodecs is installed, else the standard library's.
crc32: Callable[[Any], int] = (_codecs.zlibng_crc32 if _codecs is not None
                               and hasattr(_codecs, "zlibng_crc32") else zlib.crc32)

_SIGNATURE_LEN = 8
_FILTER_NONE, _FILTER_SUB, _FILTER_UP = 0, 1, 2
_CHANNELS = {0: 1, 2: 3}  # colour type -> samples per pixel (grey, RGB)


class PngDataError(ValueError):
    """The image data of a PNG this decoder handles is broken (it does not inflate, or
    holds fewer bytes than the header's size needs). The caller turns it into its typed
    file error: the stream is plain DEFLATE, which libdeflate decodes whenever it is valid."""


def available() -> bool:
    """Whether the fast path can run in this process (``imagecodecs`` importable)."""
    return _codecs is not None


def _chunks(data: bytes) -> tuple[bytes, list[memoryview]] | None:
    """The IHDR body and the IDAT bodies, walking the (already CRC-checked) chunks."""
    view = memoryview(data)
    pos = _SIGNATURE_LEN
    ihdr: bytes | None = None
    idat: list[memoryview] = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = view[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = bytes(body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None or len(ihdr) != 13 or not idat:
        return None
    return ihdr, idat


_PEEK_ROWS = 32


def _costly_filters_ahead(first_idat: memoryview, rows: int, stride: int) -> bool:
    """Whether any of the first ``rows`` rows uses the Average or Paeth filter, from a
    partial inflate of the first IDAT chunk (a few kB): files written with adaptive
    filtering use them on most rows, so they go to libpng without inflating twice.
    A stream that does not even start to inflate is left to the full decode to report."""
    try:
        head = zlib.decompressobj().decompress(first_idat, rows * (stride + 1))
    except zlib.error:
        return False
    kinds = head[:: stride + 1]
    return any(k > _FILTER_UP for k in kinds)


def decode_png(data: bytes) -> tuple[np.ndarray, bool] | None:
    """(pixels as an (H, W, 3) uint8 RGB array, whether the file is greyscale) for an
    8-bit grey or RGB non-interlaced PNG filtered with None/Sub/Up rows; None otherwise
    (the caller then decodes it another way). Raises :class:`PngDataError` when such a
    file's image data is broken. Grey files come back as three equal
    channels, as the other decoders' output is normalised."""
    if _codecs is None:
        return None
    parsed = _chunks(data)
    if parsed is None:
        return None
    ihdr, idat = parsed
    w, h, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = _CHANNELS.get(colour)
    if (channels is None or depth != 8 or compression != 0 or filtering != 0
            or interlace != 0 or w == 0 or h == 0):
        return None
    stride = w * channels
    size = h * (stride + 1)
    if _costly_filters_ahead(idat[0], min(h, _PEEK_ROWS), stride):
        return None  # an adaptive-filter file: libpng's job, without a wasted inflate
    # numpy buffers, not bytes: malloc reuses them between sheets (~4 ms a side saved)
    stream = cast(bytes, idat[0] if len(idat) == 1 else
                  np.concatenate([np.frombuffer(chunk, np.uint8) for chunk in idat]))
    try:
        raw = _codecs.deflate_decode(stream, out=np.empty(size, np.uint8))
    except Exception as exc:  # a DeflateError naming libdeflate's verdict
        raise PngDataError(f"the image data does not inflate ({exc})") from exc
    if len(raw) != size:
        raise PngDataError(f"the image data holds {len(raw)} bytes, the {w}x{h} image "
                           f"needs {size}")
    rows = np.asarray(raw, np.uint8).reshape(h, stride + 1)
    kinds = rows[:, 0]
    if int(kinds.max()) > _FILTER_UP:
        return None  # Average or Paeth rows: libpng does these faster than numpy
    body = rows[:, 1:]
    out = np.empty((h, stride), np.uint8)
    prev: np.ndarray | None = None
    for y, k in enumerate(kinds.tolist()):
        if k == _FILTER_UP and prev is not None:
            np.add(prev, body[y], out=out[y])
        elif k == _FILTER_SUB:
            np.cumsum(body[y].reshape(w, channels), axis=0, dtype=np.uint8,
                      out=out[y].reshape(w, channels))
        else:  # None, or Up on the first row (the row above counts as zeros)
            out[y] = body[y]
        prev = out[y]
    if channels == 1:
        return np.repeat(out.reshape(h, w, 1), 3, axis=2), True
    return out.reshape(h, w, 3), False


ENCODE_LEVEL = 1  # libdeflate level: its level 1 already compresses better than zlib's


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC-32 of type and body."""
    crc = zlib.crc32(kind)
    crc = (_codecs.zlibng_crc32(body, crc) if _codecs is not None
           and hasattr(_codecs, "zlibng_crc32") else zlib.crc32(body, crc))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc & 0xFFFFFFFF)


def encode_png(img: np.ndarray, level: int = ENCODE_LEVEL) -> bytes | None:
    """The PNG file of an 8-bit RGB ``(H, W, 3)`` or grey ``(H, W)`` / ``(H, W, 1)`` image:
    non-interlaced, every row *Up*-filtered, one ``IDAT`` chunk deflated by libdeflate.
    Lossless: any PNG decoder gives back exactly ``img``. None where this path does not
    apply (another shape or dtype, an empty image, no ``imagecodecs``); the caller then
    encodes another way."""
    if _codecs is None or img.dtype != np.uint8 or img.size == 0:
        return None
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        h, w = img.shape
        colour, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] == 3:
        h, w = img.shape[:2]
        colour, channels = 2, 3
    else:
        return None
    stride = w * channels
    rows = img.reshape(h, stride)
    raw = np.empty((h, stride + 1), np.uint8)
    raw[:, 0] = _FILTER_UP
    raw[0, 1:] = rows[0]  # the row above the first counts as zeros
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # uint8 wraps: Up's modulo 256
    stream = bytes(_codecs.deflate_encode(raw, level=level))  # zlib-wrapped (raw=False)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr), _chunk(b"IDAT", stream),
                     _chunk(b"IEND", b"")))
