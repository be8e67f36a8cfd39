"""The fast PNG path (``vision.png_fast``) gives exactly libpng's pixels, or steps aside.

PNG files are built here byte by byte with a chosen filter on every row (None,
Sub, Up, Average, Paeth), so each reconstruction rule is exercised on its
own and mixed; the reference decoders are OpenCV's libpng and Pillow.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vision import png_fast
from vision.imageio import ImageFileError, decode_scan

SETTINGS = settings(derandomize=True, deadline=None, database=None, max_examples=40)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    a, b, c = (x.astype(np.int16) for x in (a, b, c))
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)).astype(np.uint8)


def _filter_row(kind: int, row: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    left = np.concatenate([np.zeros(bpp, np.uint8), row[:-bpp]])
    upleft = np.concatenate([np.zeros(bpp, np.uint8), prior[:-bpp]])
    if kind == 0:
        pred = np.zeros_like(row)
    elif kind == 1:
        pred = left
    elif kind == 2:
        pred = prior
    elif kind == 3:
        pred = ((left.astype(np.uint16) + prior) // 2).astype(np.uint8)
    else:
        pred = _paeth(left, prior, upleft)
    return (row - pred).astype(np.uint8)


def make_png(img: np.ndarray, filters: list[int], idat_size: int = 8192,
             depth: int = 8) -> bytes:
    """An RGB (H, W, 3) or grey (H, W) uint8 image as PNG bytes, row y filtered with
    ``filters[y % len(filters)]``, the zlib stream split into IDAT chunks."""
    grey = img.ndim == 2
    h, w = img.shape[:2]
    bpp = 1 if grey else 3
    flat = img.reshape(h, w * bpp)
    prior = np.zeros(w * bpp, np.uint8)
    raw = bytearray()
    for y in range(h):
        kind = filters[y % len(filters)]
        raw.append(kind)
        raw += _filter_row(kind, flat[y], prior, bpp).tobytes()
        prior = flat[y]
    stream = zlib.compress(bytes(raw), 6)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 0 if grey else 2, 0, 0, 0)
    idat = b"".join(_chunk(b"IDAT", stream[i : i + idat_size])
                    for i in range(0, len(stream), idat_size))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


def _cv2_rgb(data: bytes) -> np.ndarray:
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    assert out is not None
    return np.asarray(out, np.uint8)


def _image(seed: int, h: int, w: int, grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w) if grey else (h, w, 3)
    smooth = np.cumsum(rng.integers(-3, 4, shape), axis=1) + 200  # scan-like gradients
    return np.clip(smooth + rng.integers(0, 256, shape) * (rng.random(shape) < 0.05),
                   0, 255).astype(np.uint8)


def test_imagecodecs_is_installed() -> None:
    assert png_fast.available()


@pytest.mark.parametrize("filters", [[0], [1], [2], [0, 1, 2], [2, 2, 1, 0, 2]])
def test_rgb_matches_libpng_and_pillow(filters: list[int]) -> None:
    img = _image(1, 37, 53)
    data = make_png(img, filters, idat_size=500)
    fast = png_fast.decode_png(data)
    assert fast is not None and fast[1] is False
    assert fast[0].shape == (37, 53, 3) and fast[0].flags["C_CONTIGUOUS"]
    assert np.array_equal(fast[0], _cv2_rgb(data))
    assert np.array_equal(fast[0], np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert np.array_equal(fast[0], img)


@pytest.mark.parametrize("filters", [[0], [1], [2], [1, 2, 0]])
def test_grey_matches_pillow(filters: list[int]) -> None:
    img = _image(2, 29, 41, grey=True)
    data = make_png(img, filters)
    fast = png_fast.decode_png(data)
    assert fast is not None and fast[1] is True
    assert np.array_equal(fast[0], np.repeat(img[:, :, None], 3, axis=2))
    scan = decode_scan(data)
    assert scan.grey and np.array_equal(scan.rgb, fast[0])


@pytest.mark.parametrize("filters", [[3], [4], [2, 4], [0, 3, 1], [2] * 40 + [4]])
def test_average_and_paeth_step_aside_and_decode_scan_still_exact(filters: list[int]) -> None:
    """Seen in the first rows (a partial inflate) or only after a full one (row 40)."""
    img = _image(3, 53, 47)
    data = make_png(img, filters)
    assert png_fast.decode_png(data) is None
    assert np.array_equal(decode_scan(data).rgb, img)


@pytest.mark.parametrize("flag", ["NONE", "SUB", "UP", "AVG", "PAETH", "ALL"])
def test_opencv_written_files_decode_identically(flag: str) -> None:
    img = _image(4, 64, 80)
    value = getattr(cv2, f"IMWRITE_PNG_FILTER_{flag}", None) if flag != "ALL" else \
        cv2.IMWRITE_PNG_ALL_FILTERS
    params = [] if value is None else [cv2.IMWRITE_PNG_FILTER, int(value)]
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    assert ok
    data = buf.tobytes()
    assert np.array_equal(decode_scan(data).rgb, _cv2_rgb(data))
    assert np.array_equal(decode_scan(data).rgb, img)


def test_other_pixel_formats_step_aside() -> None:
    rgb = _image(5, 20, 24)
    cases = {
        "RGBA": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
        "P": Image.fromarray(rgb).convert("P"),
        "I;16": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    for mode, im in cases.items():
        out = io.BytesIO()
        im.save(out, format="PNG")
        data = out.getvalue()
        assert png_fast.decode_png(data) is None, mode
        expect = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) if mode != "I;16" \
            else np.repeat(rgb[..., :1], 3, axis=2)
        assert np.array_equal(decode_scan(data).rgb, expect), mode
    interlaced = make_png(rgb, [0])
    ihdr = bytearray(interlaced[16:29])
    ihdr[12] = 1  # Adam7: not this decoder's
    body = b"IHDR" + bytes(ihdr)
    patched = (interlaced[:8] + struct.pack(">I", 13) + body
               + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + interlaced[33:])
    assert png_fast.decode_png(patched) is None


def test_corrupt_stream_with_good_crcs_is_a_typed_error() -> None:
    data = bytearray(make_png(_image(6, 40, 40), [2], idat_size=1 << 20))
    # Flip bytes inside the zlib stream and recompute the IDAT CRC: only inflating notices.
    start = data.index(b"IDAT")
    length = struct.unpack(">I", data[start - 4 : start])[0]
    for i in range(start + 20, start + 40):
        data[i] ^= 0x5A
    data[start + 4 + length : start + 8 + length] = struct.pack(
        ">I", zlib.crc32(bytes(data[start : start + 4 + length])) & 0xFFFFFFFF)
    with pytest.raises(png_fast.PngDataError):
        png_fast.decode_png(bytes(data))
    with pytest.raises(ImageFileError, match=r"bad\.png: corrupt or truncated PNG"):
        decode_scan(bytes(data), "bad.png")


def test_stream_shorter_than_the_header_says_is_a_typed_error() -> None:
    img = _image(7, 30, 30)
    full = make_png(img, [2])
    short = make_png(img[:20], [2])  # 20 rows of data under a 30-row header
    ihdr = full[8:33]
    data = short[:8] + ihdr + short[33:]
    with pytest.raises(png_fast.PngDataError, match="needs"):
        png_fast.decode_png(data)
    with pytest.raises(ImageFileError, match=r"short\.png: corrupt or truncated PNG"):
        decode_scan(data, "short.png")


@SETTINGS
@given(h=st.integers(1, 12), w=st.integers(1, 12), grey=st.booleans(),
       filters=st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=5),
       seed=st.integers(0, 2**16))
def test_any_small_image_any_cheap_filters(h: int, w: int, grey: bool, filters: list[int],
                                           seed: int) -> None:
    img = np.random.default_rng(seed).integers(0, 256, (h, w) if grey else (h, w, 3),
                                               dtype=np.uint8)
    data = make_png(img, filters, idat_size=7)
    fast = png_fast.decode_png(data)
    assert fast is not None
    want = np.repeat(img[:, :, None], 3, axis=2) if grey else img
    assert np.array_equal(fast[0], want) and fast[1] is grey
    assert np.array_equal(decode_scan(data).rgb, want)


@SETTINGS
@given(data=st.binary(max_size=300), cut=st.integers(0, 300))
def test_crc32_is_zlibs(data: bytes, cut: int) -> None:
    view = memoryview(data)[min(cut, len(data)):]
    assert png_fast.crc32(view) & 0xFFFFFFFF == zlib.crc32(view)


# --------------------------------------------------------------------------- the encoder


@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), grey=st.booleans(), seed=st.integers(0, 99))
def test_encoded_png_reads_back_exactly_in_every_decoder(h: int, w: int, grey: bool,
                                                         seed: int) -> None:
    """``encode_png`` is lossless: libpng, Pillow and the fast decoder give back the very
    pixels, RGB or grey, any size (the first row, a single row or column)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    data = png_fast.encode_png(img)
    assert data is not None
    flag = cv2.IMREAD_UNCHANGED
    by_libpng = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    assert np.array_equal(by_libpng if grey else cv2.cvtColor(by_libpng, cv2.COLOR_BGR2RGB),
                          img)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    fast = png_fast.decode_png(data)
    assert fast is not None and fast[1] is grey
    assert np.array_equal(fast[0], np.repeat(img[..., None], 3, axis=2) if grey else img)


def test_encoder_takes_a_single_channel_plane_and_non_contiguous_views() -> None:
    img = np.random.default_rng(3).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    view = img[::2, 5:45]
    data = png_fast.encode_png(view)
    assert data is not None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), view)
    plane = img[..., :1]
    data = png_fast.encode_png(plane)
    assert data is not None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), img[..., 0])


@pytest.mark.parametrize("img", [np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4), np.uint16),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros(5, np.uint8)])
def test_encoder_steps_aside_for_what_it_does_not_write(img: np.ndarray) -> None:
    """RGBA, 16-bit, empty and 1-D arrays: None, and the caller encodes another way."""
    assert png_fast.encode_png(img) is None


def test_encoded_scan_size_is_no_larger_than_libpng_level_1() -> None:
    """A smooth scan-like image: the Up-filtered libdeflate file is not bigger than
    OpenCV's level-1 file (the speed is a figure of ``pcos bench``, not asserted here)."""
    yy, xx = np.mgrid[0:300, 0:200]
    rng = np.random.default_rng(5)
    img = np.stack([(yy + xx) % 256, (2 * yy) % 256, np.full_like(yy, 230)], axis=2)
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    data = png_fast.encode_png(img)
    ok, ref = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert data is not None and ok
    assert len(data) <= len(ref.tobytes())
