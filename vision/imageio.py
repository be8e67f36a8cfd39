"""Scanner image files in and out: PNG, TIFF and JPEG, as RGB ``uint8`` arrays.

Scans arrive as files (a scanner's output folder, a test deck, a bug report),
and a file can be anything: missing, empty, cut short by a full disk or an
interrupted copy, another format under a ballot's name, or a crafted
"decompression bomb". The reader must never count a half-decoded image, and
the command line must never die on a traceback, so every problem becomes one
typed error, :class:`ImageFileError`, whose message names the file and says
what is wrong with it.

The format is taken from the leading bytes, not the name. Before any
decoding, the file's structure is checked explicitly, because decoders do
not always notice missing data: every PNG chunk must be complete and match
its CRC up to ``IEND``; a JPEG must end with its end-of-image marker; every
TIFF strip or tile must lie inside the file. The header's dimensions are
checked before pixels are allocated. Scanner PNGs (8-bit grey or RGB, row
filters None/Sub/Up) decode through :mod:`vision.png_fast` (libdeflate, about
2.5x faster than libpng); other 8-bit RGB PNGs through OpenCV's libpng; the
rest, and anything either refuses, through Pillow, restricted
to the three formats, which raises on truncated data as long as
``ImageFile.LOAD_TRUNCATED_IMAGES`` is False (it is checked, never set);
OpenCV's decoders, by contrast, return nothing or a partly grey image without
saying why. The pixel format is then normalised: grey to three channels,
16-bit samples to 8-bit (the high byte), alpha dropped, palette and CMYK
converted to RGB.

Writing goes through OpenCV's encoders (fast for large overlays) into a
temporary file that is then renamed over the target, so a crash never leaves
a truncated image under the final name.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile

from election.errors import PcosError
from election.fileio import write_atomically
from vision import png_fast

MAX_PIXELS = 80_000_000  # 600 DPI on A3 is ~70 Mpx; a 200 DPI ballot is ~4 Mpx
MAX_SIDE_PX = 32_768
MAX_FILE_BYTES = 512 * 1024 * 1024
JPEG_QUALITY = 95
PNG_COMPRESSION = 3  # zlib level: small files, still fast to write

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Leading bytes of the formats a scanner may write, and of a few it should not.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (_PNG_SIGNATURE, "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_FOREIGN: tuple[tuple[bytes, str], ...] = (
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"%PDF", "PDF"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"RIFF", "RIFF (WebP?)"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
)
_PIL_FORMATS = ("PNG", "JPEG", "TIFF")  # no other Pillow parser ever sees the bytes

_EXTENSIONS = {".png": ".png", ".tif": ".tiff", ".tiff": ".tiff", ".jpg": ".jpg",
               ".jpeg": ".jpg"}


class ImageFileError(PcosError):
    """An image file cannot be read or written. The message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


def sniff_format(data: bytes) -> str | None:
    """``"PNG"``, ``"JPEG"`` or ``"TIFF"`` from the file's leading bytes; None otherwise."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def _describe_foreign(data: bytes) -> str:
    for magic, name in _FOREIGN:
        if data.startswith(magic):
            return f"unsupported format: a {name} file, not PNG, TIFF or JPEG"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in data[:256]):
        return "unsupported format: a text file, not PNG, TIFF or JPEG"
    return f"unsupported format: not PNG, TIFF or JPEG (starts with {data[:8].hex(' ')})"


def _read_bytes(p: Path) -> bytes:
    try:
        if not p.exists():
            raise ImageFileError(p, "missing: no such file")
        if p.is_dir():
            raise ImageFileError(p, "is a directory, not an image file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageFileError(p, f"file too large ({size} bytes; at most {MAX_FILE_BYTES})")
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageFileError(p, f"unreadable: {exc.strerror or exc}") from exc
    if not data:
        raise ImageFileError(p, "empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageFileError(p, f"file too large (more than {MAX_FILE_BYTES} bytes)")
    return data


_JPEG_EOI = b"\xff\xd9"


def _check_png_chunks(p: Path, data: bytes) -> None:
    """Walk a PNG's chunks: each must fit in the file and match its CRC, up to ``IEND``.

    This catches a file cut short even where the decoder would not notice
    (only ``IEND`` missing), and a flipped bit anywhere, which the decoder
    may not notice either.
    """
    pos = len(_PNG_SIGNATURE)
    view = memoryview(data)  # CRCs over views: no copy of the image data
    while True:
        if pos + 8 > len(data):
            raise ImageFileError(p, f"truncated PNG file: ends at byte {len(data)} "
                                    "inside a chunk header, before IEND")
        length, raw_kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ImageFileError(p, f"truncated PNG file: the {_chunk_name(raw_kind)} chunk "
                                    f"at byte {pos} needs {end} bytes, the file has {len(data)}")
        crc = struct.unpack_from(">I", data, end - 4)[0]
        if png_fast.crc32(view[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            raise ImageFileError(p, f"corrupt PNG file: CRC mismatch in the "
                                    f"{_chunk_name(raw_kind)} chunk at byte {pos}")
        if raw_kind == b"IEND":
            return
        pos = end


def _chunk_name(raw_kind: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw_kind)


def _check_end(p: Path, fmt: str, data: bytes) -> None:
    """Refuse a PNG or JPEG cut short (or a PNG damaged), even where the decoder would not
    notice. A JPEG must end with the end-of-image marker (trailing zero padding allowed).
    TIFF has no end marker or checksum: see :func:`_check_tiff_extent`.
    """
    if fmt == "PNG":
        _check_png_chunks(p, data)
    if fmt == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(_JPEG_EOI):
        raise ImageFileError(p, "truncated JPEG file: no end-of-image marker")


_TIFF_STRIPS = ((273, 279), (324, 325))  # (offsets, byte counts): strips, then tiles


def _check_tiff_extent(p: Path, im: Image.Image, size: int) -> None:
    """Refuse a TIFF whose strips or tiles reach past the end of the file.

    The decoder notices most missing data, but not all (e.g. the padding of a
    tiled image's last tiles), so the extent of every block is checked.
    """
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return
    for off_tag, count_tag in _TIFF_STRIPS:
        offsets, counts = tags.get(off_tag), tags.get(count_tag)
        if offsets is None:
            continue
        offs = offsets if isinstance(offsets, tuple) else (offsets,)
        cnts = counts if isinstance(counts, tuple) else (counts,)
        if counts is None or len(offs) != len(cnts):
            raise ImageFileError(p, "corrupt TIFF file: image data offsets without byte counts")
        end = max(int(o) + int(c) for o, c in zip(offs, cnts, strict=True))
        if end > size:
            raise ImageFileError(p, f"truncated TIFF file: image data runs to byte {end}, "
                                    f"the file has {size}")


def _check_size(p: Path, fmt: str, w: int, h: int) -> None:
    if w <= 0 or h <= 0:
        raise ImageFileError(p, f"corrupt {fmt}: image size {w}x{h} px")
    if w > MAX_SIDE_PX or h > MAX_SIDE_PX or w * h > MAX_PIXELS:
        raise ImageFileError(p, f"absurd dimensions {w}x{h} px (at most {MAX_SIDE_PX} px a side "
                                f"and {MAX_PIXELS // 1_000_000} Mpx): refusing to decode")


def _to_rgb8(p: Path, im: Image.Image) -> np.ndarray:
    """The decoded image as an (H, W, 3) uint8 array, whatever its pixel format."""
    mode = im.mode
    if mode == "RGB":
        arr = np.asarray(im)
    elif mode in ("L", "LA", "La"):
        arr = np.asarray(im.getchannel(0))
    elif mode.startswith("I;16") or mode == "I":
        wide = np.asarray(im)
        if wide.size and (int(wide.min()) < 0 or int(wide.max()) > 0xFFFF):
            raise ImageFileError(p, f"unsupported pixel format {mode}: samples wider than 16 bits")
        arr = (wide.astype(np.uint32) >> 8).astype(np.uint8)
    elif mode in ("1", "P", "PA", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"):
        arr = np.asarray(im.convert("L" if mode == "1" else "RGB"))
    else:
        raise ImageFileError(p, f"unsupported pixel format {mode}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageFileError(p, f"wrong channel count: decoded to {arr.shape} {arr.dtype} "
                                f"(mode {mode}), expected (H, W, 3) uint8")
    return np.array(arr, dtype=np.uint8, order="C", copy=True)


@dataclass(frozen=True)
class Scan:
    """A decoded scanner file: the RGB pixels, the resolution the file states (PNG
    pHYs, TIFF XResolution, JPEG JFIF density; None if it states none) and whether
    the file itself is greyscale (one channel)."""

    rgb: np.ndarray
    dpi: float | None
    grey: bool


def _file_dpi(im: Image.Image) -> float | None:
    dpi: Any = im.info.get("dpi")
    if dpi is None:
        return None
    try:
        x = float(dpi[0]) if isinstance(dpi, tuple | list) else float(dpi)
    except (TypeError, ValueError, IndexError):
        return None
    # PNG stores px per metre: 200 DPI reads back as 199.9949; JFIF density 0 or 1
    # means "aspect ratio only".
    return round(x, 1) if math.isfinite(x) and x > 1.5 else None


def _decode_png_rgb8(data: bytes, w: int, h: int) -> np.ndarray | None:
    """An 8-bit RGB PNG (the scanner's usual file) through libpng in OpenCV: about 40 %
    less CPU than Pillow's decoder. Its chunks were checked already; anything unexpected
    returns None and Pillow's path decides."""
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if arr is None or arr.dtype != np.uint8 or arr.shape != (h, w, 3):
        return None
    return arr


def decode_image(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> np.ndarray:
    """Decode PNG, TIFF or JPEG bytes to an (H, W, 3) RGB uint8 array.

    ``path`` only names the source in error messages. Raises :class:`ImageFileError`
    and nothing else for any bytes.
    """
    return decode_scan(data, path).rgb


def decode_scan(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> Scan:
    """:func:`decode_image` with the file's stated DPI and channel count."""
    p = Path(path)
    if not data:
        raise ImageFileError(p, "empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None and len(data) < 8:
        raise ImageFileError(p, f"not an image: only {len(data)} bytes")
    if fmt is None:
        raise ImageFileError(p, _describe_foreign(data))
    _check_end(p, fmt, data)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched Pillow to accept partial images: refuse rather than read half a scan.
        raise ImageFileError(p, "cannot check for truncation: PIL.ImageFile."
                                "LOAD_TRUNCATED_IMAGES is set in this process")
    try:
        with Image.open(io.BytesIO(data), formats=_PIL_FORMATS) as im:
            w, h = im.size
            _check_size(p, fmt, w, h)
            if fmt == "TIFF":
                _check_tiff_extent(p, im, len(data))
            if fmt == "PNG" and im.mode in ("RGB", "L"):
                try:
                    quick = png_fast.decode_png(data)
                except png_fast.PngDataError as exc:
                    raise ImageFileError(p, f"corrupt or truncated PNG file: {exc}") from exc
                if quick is not None and quick[0].shape == (h, w, 3):
                    return Scan(quick[0], _file_dpi(im), quick[1])
            if fmt == "PNG" and im.mode == "RGB":
                fast = _decode_png_rgb8(data, w, h)
                if fast is not None:
                    return Scan(fast, _file_dpi(im), False)
            im.load()
            grey = im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L")
            return Scan(_to_rgb8(p, im), _file_dpi(im), grey)
    except ImageFileError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageFileError(p, f"absurd dimensions: {exc}") from exc
    except MemoryError as exc:
        raise ImageFileError(p, f"{fmt} image too large to decode in memory") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageFileError(p, f"corrupt or truncated {fmt} file: its header cannot be "
                                "parsed") from exc
    except Exception as exc:  # decoders of untrusted bytes raise anything; none may escape
        text = str(exc).strip() or type(exc).__name__
        if "truncat" in text.lower() or isinstance(exc, EOFError):
            problem = f"truncated {fmt} file ({text})"
        else:
            problem = f"corrupt or unsupported {fmt} file ({type(exc).__name__}: {text})"
        raise ImageFileError(p, problem[:500]) from exc


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG, TIFF or JPEG scan as an (H, W, 3) RGB uint8 array (first page of a TIFF).

    The format is taken from the file's content, not its name. Any problem
    (missing, unreadable, empty, truncated, corrupt, another format, absurd
    size) raises :class:`ImageFileError` naming the file.
    """
    p = Path(path)
    return decode_image(_read_bytes(p), p)


def load_image_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, bytes]:
    """:func:`load_image`, and the file's bytes as read (one read of the file)."""
    p = Path(path)
    data = _read_bytes(p)
    return decode_image(data, p), data


def load_scan(path: str | os.PathLike[str]) -> Scan:
    """:func:`load_image` with the file's stated DPI and whether it is greyscale."""
    p = Path(path)
    return decode_scan(_read_bytes(p), p)


def _png_with_dpi(data: bytes, dpi: float) -> bytes:
    """Insert a pHYs chunk (pixels per metre) right after IHDR."""
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _jpeg_with_dpi(data: bytes, dpi: float) -> bytes:
    """Set the JFIF APP0 density (dots per inch) of an encoder's output."""
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00":
        return data
    d = max(1, min(0xFFFF, round(dpi)))
    return data[:13] + struct.pack(">BHH", 1, d, d) + data[18:]


def _check_array(p: Path, rgb: Any) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise ImageFileError(p, f"cannot write {type(rgb).__name__}: not an image array")
    if rgb.dtype != np.uint8:
        raise ImageFileError(p, f"cannot write dtype {rgb.dtype}: expected uint8")
    if not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise ImageFileError(p, f"wrong channel count: cannot write shape {rgb.shape}, "
                                "expected (H, W, 3) RGB or (H, W) grey")
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise ImageFileError(p, f"cannot write an empty image ({w}x{h} px)")
    return rgb


def encode_image(rgb: np.ndarray, ext: str, jpeg_quality: int = JPEG_QUALITY,
                 dpi: float | None = None) -> bytes:
    """Encode an (H, W, 3) RGB or (H, W) grey uint8 array (``ext``: .png, .tiff or .jpg),
    stating ``dpi`` in the file when given (as a scanner does)."""
    arr = _check_array(Path(f"<image{ext}>"), rgb)
    if dpi is not None and ext == ".tiff":
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(out, format="TIFF",
                                                        compression="tiff_lzw",
                                                        dpi=(float(dpi), float(dpi)))
        return out.getvalue()
    bgr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    params: list[int] = []
    if ext == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    except cv2.error as exc:
        raise ImageFileError(Path(f"<image{ext}>"), f"cannot encode: {exc}") from exc
    if not ok:
        raise ImageFileError(Path(f"<image{ext}>"), "cannot encode")
    return stamp_dpi(bytes(buf.tobytes()), ext, dpi)


def stamp_dpi(data: bytes, ext: str, dpi: float | None) -> bytes:
    """State ``dpi`` in an encoder's PNG (pHYs) or JPEG (JFIF) output; others unchanged."""
    if dpi is not None and ext == ".png":
        return _png_with_dpi(data, dpi)
    if dpi is not None and ext == ".jpg":
        return _jpeg_with_dpi(data, dpi)
    return data


def save_image(path: str | os.PathLike[str], rgb: np.ndarray,
               jpeg_quality: int = JPEG_QUALITY, dpi: float | None = None) -> Path:
    """Write an RGB (or grey) uint8 image; the format follows the extension.

    ``.png``, ``.tif``/``.tiff`` (LZW) and ``.jpg``/``.jpeg``. The file is
    written under a temporary name and renamed, so it is complete or absent.
    Returns the path. Raises :class:`ImageFileError` naming the file.
    """
    p = Path(path)
    ext = _EXTENSIONS.get(p.suffix.lower())
    if ext is None:
        raise ImageFileError(p, f"unsupported extension {p.suffix!r}: use .png, .tif, .tiff, "
                                ".jpg or .jpeg")
    _check_array(p, rgb)
    try:
        data = encode_image(rgb, ext, jpeg_quality, dpi)
    except ImageFileError as exc:
        raise ImageFileError(p, exc.problem) from exc
    try:
        write_atomically(p, data)
    except PcosError as exc:
        raise ImageFileError(p, f"cannot write: {exc}") from exc
    return p
