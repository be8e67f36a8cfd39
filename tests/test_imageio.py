"""Scanner image files: round trips, pixel formats, and every way a file can be bad.

Bad files (missing, empty, truncated, corrupt, another format, absurd size)
must raise :class:`ImageFileError` naming the file, and nothing else: in
particular never a Pillow or OpenCV exception, and never a half-decoded image.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from election.errors import PcosError
from vision.imageio import (
    MAX_PIXELS,
    ImageFileError,
    decode_image,
    encode_image,
    load_image,
    save_image,
    sniff_format,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on corrupt metadata

SETTINGS = settings(derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _rgb(h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colour image (compresses like a scan, unlike pure noise)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.GaussianBlur(img, (0, 0), 2.0))


def _pil_bytes(arr: np.ndarray, fmt: str, mode: str | None = None, **kw: Any) -> bytes:
    im = Image.fromarray(arr)
    if mode is not None:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _tifffile_bytes(arr: np.ndarray, **kw: Any) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _assert_names(exc: pytest.ExceptionInfo[ImageFileError], path: Path) -> None:
    assert isinstance(exc.value, PcosError)
    assert str(path) in str(exc.value)
    assert exc.value.path == str(path)


# --------------------------------------------------------------- round trips
@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff", ".PNG", ".TIF"])
def test_lossless_round_trip(tmp_path: Path, ext: str) -> None:
    img = _rgb()
    p = save_image(tmp_path / f"scan{ext}", img)
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == img.shape and out.flags.c_contiguous
    assert np.array_equal(out, img)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_round_trip(tmp_path: Path, ext: str) -> None:
    img = _rgb()
    out = load_image(save_image(tmp_path / f"scan{ext}", img))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img.astype(int)).mean() < 3.0


def test_channels_are_rgb_not_bgr(tmp_path: Path) -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 200  # pure red
    for ext in (".png", ".tiff", ".jpg"):
        out = load_image(save_image(tmp_path / f"red{ext}", img))
        assert out[..., 0].mean() > 150 and out[..., 2].mean() < 50, ext
    # A file written by another program in RGB order reads the same.
    out = load_image(_write(tmp_path / "pil.png", _pil_bytes(img, "PNG")))
    assert np.array_equal(out, img)


def test_grey_save_reads_back_as_three_equal_channels(tmp_path: Path) -> None:
    grey = _rgb()[..., 1].copy()
    out = load_image(save_image(tmp_path / "g.png", grey))
    assert out.shape == (*grey.shape, 3)
    assert all(np.array_equal(out[..., c], grey) for c in range(3))


def test_encode_and_decode_bytes() -> None:
    img = _rgb()
    assert np.array_equal(decode_image(encode_image(img, ".png")), img)
    assert sniff_format(encode_image(img, ".tiff")) == "TIFF"
    assert sniff_format(encode_image(img, ".jpg")) == "JPEG"
    assert sniff_format(b"GIF89a") is None


# ------------------------------------------------------ formats of other writers
def _variants() -> dict[str, tuple[bytes, np.ndarray]]:
    """Files as other programs write them, with the RGB array each must decode to."""
    img = _rgb(seed=3)
    grey = img[..., 1].copy()
    g3 = np.repeat(grey[..., None], 3, axis=2)
    rng = np.random.default_rng(5)
    g16 = rng.integers(0, 65536, grey.shape, dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, img.shape, dtype=np.uint16)
    rgba = np.concatenate([img, rng.integers(0, 256, (*grey.shape, 1), dtype=np.uint8)], axis=2)
    out: dict[str, tuple[bytes, np.ndarray]] = {
        "pil-png": (_pil_bytes(img, "PNG"), img),
        "pil-tiff-raw": (_pil_bytes(img, "TIFF"), img),
        "pil-tiff-lzw": (_pil_bytes(img, "TIFF", compression="tiff_lzw"), img),
        "pil-tiff-deflate": (_pil_bytes(img, "TIFF", compression="tiff_deflate"), img),
        "pil-tiff-packbits": (_pil_bytes(img, "TIFF", compression="packbits"), img),
        "tifffile-strips": (_tifffile_bytes(img, photometric="rgb", rowsperstrip=8), img),
        "tifffile-tiles": (_tifffile_bytes(img, photometric="rgb", tile=(32, 32)), img),
        "tifffile-zlib": (_tifffile_bytes(img, photometric="rgb", compression="zlib"), img),
        "cv2-png": (cv2.imencode(".png", img[..., ::-1].copy())[1].tobytes(), img),
        "cv2-tiff": (cv2.imencode(".tiff", img[..., ::-1].copy())[1].tobytes(), img),
        "grey-png": (_pil_bytes(grey, "PNG"), g3),
        "grey-tiff": (_pil_bytes(grey, "TIFF"), g3),
        "grey16-png": (cv2.imencode(".png", g16)[1].tobytes(),
                       np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, axis=2)),
        "grey16-tiff": (_tifffile_bytes(g16),
                        np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, axis=2)),
        "rgb16-png": (cv2.imencode(".png", rgb16[..., ::-1].copy())[1].tobytes(),
                      (rgb16 >> 8).astype(np.uint8)),
        "rgb16-tiff": (_tifffile_bytes(rgb16, photometric="rgb"), (rgb16 >> 8).astype(np.uint8)),
        "rgba-png": (_pil_bytes(rgba, "PNG"), img),
        "rgba-tiff": (_pil_bytes(rgba, "TIFF"), img),
        "grey-alpha-png": (_pil_bytes(rgba, "PNG", mode="LA"),
                           np.repeat(np.asarray(Image.fromarray(rgba).convert("L"))[..., None],
                                     3, axis=2)),
        "bilevel-png": (_pil_bytes((grey > 128).astype(np.uint8) * 255, "PNG", mode="1"),
                        np.repeat(((grey > 128) * 255).astype(np.uint8)[..., None], 3, axis=2)),
    }
    pal = Image.fromarray(img).quantize(16)
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    out["palette-png"] = (buf.getvalue(), np.asarray(pal.convert("RGB")))
    return out


@pytest.mark.parametrize("name", sorted(_variants()))
def test_pixel_formats_of_other_writers(tmp_path: Path, name: str) -> None:
    data, expected = _variants()[name]
    out = load_image(_write(tmp_path / "scan.img", data))
    assert out.dtype == np.uint8 and out.shape == expected.shape
    assert np.array_equal(out, expected)


def test_grey_and_cmyk_jpeg(tmp_path: Path) -> None:
    img = _rgb()
    grey = load_image(_write(tmp_path / "g.jpg", _pil_bytes(img[..., 1].copy(), "JPEG")))
    assert grey.shape == img.shape and np.array_equal(grey[..., 0], grey[..., 2])
    cmyk = load_image(_write(tmp_path / "c.jpg", _pil_bytes(img, "JPEG", mode="CMYK")))
    assert cmyk.shape == img.shape and np.abs(cmyk.astype(int) - img).mean() < 6


def test_multi_page_tiff_reads_the_first_page(tmp_path: Path) -> None:
    a, b = _rgb(seed=1), _rgb(seed=2)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "TIFF", save_all=True, append_images=[Image.fromarray(b)])
    assert np.array_equal(load_image(_write(tmp_path / "duplex.tif", buf.getvalue())), a)


def test_float_samples_are_refused(tmp_path: Path) -> None:
    p = _write(tmp_path / "f.tif", _tifffile_bytes(np.zeros((20, 20), np.float32)))
    with pytest.raises(ImageFileError, match="unsupported pixel format") as exc:
        load_image(p)
    _assert_names(exc, p)


# ------------------------------------------------------------------ bad files
def _samples() -> dict[str, bytes]:
    img = _rgb(120, 90, seed=9)
    return {
        "png": encode_image(img, ".png"),
        "jpg": encode_image(img, ".jpg"),
        "jpg-progressive": _pil_bytes(img, "JPEG", progressive=True),
        "tiff-lzw": encode_image(img, ".tiff"),
        "tiff-raw": _pil_bytes(img, "TIFF"),
        "tiff-tiles": _tifffile_bytes(img, photometric="rgb", tile=(32, 32)),
        "tiff-zlib": _tifffile_bytes(img, photometric="rgb", compression="zlib"),
    }


@pytest.mark.parametrize("name", sorted(_samples()))
@pytest.mark.parametrize("keep", [0.05, 0.3, 0.5, 0.9, 0.99, -2, -1])
def test_truncated_files(tmp_path: Path, name: str, keep: float) -> None:
    data = _samples()[name]
    n = int(len(data) * keep) if keep > 0 else len(data) + int(keep)
    p = _write(tmp_path / f"cut.{name.split('-')[0]}", data[:n])
    with pytest.raises(ImageFileError) as exc:
        load_image(p)
    _assert_names(exc, p)
    assert any(w in exc.value.problem for w in ("truncated", "corrupt")), exc.value.problem


def test_every_cut_of_a_tiled_tiff_is_refused() -> None:
    """The last tiles' padding is not needed to decode: only the extent check sees the cut."""
    data = _samples()["tiff-tiles"]
    for n in range(len(data) - 600, len(data)):
        with pytest.raises(ImageFileError, match="truncated"):
            decode_image(data[:n], "cut.tif")


def test_refuses_when_pillow_is_told_to_accept_truncated_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    p = save_image(tmp_path / "ok.tiff", _rgb())
    with pytest.raises(ImageFileError, match="LOAD_TRUNCATED_IMAGES"):
        load_image(p)


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.png"
    with pytest.raises(ImageFileError, match="missing") as exc:
        load_image(p)
    _assert_names(exc, p)


def test_directory(tmp_path: Path) -> None:
    p = tmp_path / "dir.png"
    p.mkdir()
    with pytest.raises(ImageFileError, match="directory") as exc:
        load_image(p)
    _assert_names(exc, p)


def test_zero_byte_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "empty.png", b"")
    with pytest.raises(ImageFileError, match="empty") as exc:
        load_image(p)
    _assert_names(exc, p)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    p = save_image(tmp_path / "locked.png", _rgb())
    p.chmod(0)
    try:
        with pytest.raises(ImageFileError, match="unreadable") as exc:
            load_image(p)
        _assert_names(exc, p)
    finally:
        p.chmod(0o600)


def test_text_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "notes.png", b"front=sheet-0001.png\nback=sheet-0001b.png\n")
    with pytest.raises(ImageFileError, match="text file") as exc:
        load_image(p)
    _assert_names(exc, p)


def test_random_bytes_with_a_png_name(tmp_path: Path) -> None:
    p = _write(tmp_path / "scan.png", np.random.default_rng(1).bytes(5000))
    with pytest.raises(ImageFileError, match="unsupported format") as exc:
        load_image(p)
    _assert_names(exc, p)


@pytest.mark.parametrize("fmt,name", [("GIF", "GIF"), ("BMP", "BMP"), ("PDF", "PDF"),
                                      ("WEBP", "RIFF")])
def test_other_image_formats_are_named(tmp_path: Path, fmt: str, name: str) -> None:
    p = _write(tmp_path / "scan.png", _pil_bytes(_rgb(), fmt))
    with pytest.raises(ImageFileError, match=f"unsupported format: a {name}") as exc:
        load_image(p)
    _assert_names(exc, p)


def _png_with_size(w: int, h: int) -> bytes:
    """A real 1x1 PNG whose header claims w x h (a decompression bomb's calling card)."""
    data = bytearray(_pil_bytes(np.zeros((1, 1, 3), np.uint8), "PNG"))
    ihdr = bytearray(data[12:29])  # type + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", w, h)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("w,h", [(40_000, 100), (100, 40_000), (20_000, 20_000),
                                 (60_000, 60_000)])
def test_absurd_dimensions_are_refused_before_decoding(tmp_path: Path, w: int, h: int) -> None:
    p = _write(tmp_path / "bomb.png", _png_with_size(w, h))
    with pytest.raises(ImageFileError, match="absurd dimensions") as exc:
        load_image(p)
    _assert_names(exc, p)
    assert w * h > MAX_PIXELS or max(w, h) > 32_768


def test_zero_dimensions_are_corrupt(tmp_path: Path) -> None:
    p = _write(tmp_path / "zero.png", _png_with_size(0, 10))
    with pytest.raises(ImageFileError) as exc:
        load_image(p)
    _assert_names(exc, p)


def test_a_corrupt_png_crc_is_refused(tmp_path: Path) -> None:
    data = bytearray(encode_image(_rgb(), ".png"))
    data[60] ^= 0xFF  # inside the first IDAT
    p = _write(tmp_path / "crc.png", bytes(data))
    with pytest.raises(ImageFileError, match="corrupt") as exc:
        load_image(p)
    _assert_names(exc, p)


# ------------------------------------------------------------------- writing
def test_save_errors_name_the_file(tmp_path: Path) -> None:
    img = _rgb()
    cases = [
        (tmp_path / "x.gif", img, "unsupported extension"),
        (tmp_path / "x", img, "unsupported extension"),
        (tmp_path / "x.png", img.astype(np.float32), "dtype"),
        (tmp_path / "x.png", np.zeros((5, 5, 4), np.uint8), "channel"),
        (tmp_path / "x.png", np.zeros((0, 5, 3), np.uint8), "empty"),
        (tmp_path / "x.png", [[1, 2], [3, 4]], "not an image array"),
        (tmp_path / "afile" / "x.png", img, "cannot write"),
    ]
    (tmp_path / "afile").write_text("a regular file, not a directory")
    for path, arr, problem in cases:
        with pytest.raises(ImageFileError, match=problem) as exc:
            save_image(path, arr)  # type: ignore[arg-type]
        _assert_names(exc, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temporary left


def test_save_replaces_atomically(tmp_path: Path) -> None:
    p = tmp_path / "same.png"
    save_image(p, _rgb(seed=1))
    save_image(p, _rgb(seed=2))
    assert np.array_equal(load_image(p), _rgb(seed=2))
    assert [q.name for q in tmp_path.iterdir()] == ["same.png"]


# ------------------------------------------------------------------- fuzzing
@functools.cache
def _seed_files() -> tuple[bytes, ...]:
    return tuple(_samples().values()) + tuple(d for d, _ in _variants().values())


PREFIXES = (b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0", b"II*\x00",
            b"MM\x00*", b"II*\x00\x08\x00\x00\x00", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes behind a real signature, or a real file mutated, cut or spliced."""
    how = draw(st.sampled_from(["random", "mutate", "cut", "splice"]))
    if how == "random":
        return draw(st.sampled_from(PREFIXES)) + draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from(_seed_files())))
    if how == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at]) + draw(st.binary(max_size=64)) + bytes(
            data[at + draw(st.integers(0, 64)) :])
    for _ in range(draw(st.integers(1, 8))):
        # Mostly the header and the first blocks, where the structure is.
        i = draw(st.one_of(st.integers(0, min(400, len(data) - 1)),
                           st.integers(0, len(data) - 1)))
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(SETTINGS, max_examples=1000)
@given(data=file_bytes(), ext=st.sampled_from([".png", ".jpg", ".tif", ".bin"]))
def test_any_bytes_give_an_image_or_an_image_file_error(fuzz_dir: Path, data: bytes,
                                                        ext: str) -> None:
    p = fuzz_dir / f"scan{ext}"
    p.write_bytes(data)
    try:
        img = load_image(p)
    except ImageFileError as exc:
        assert str(p) in str(exc)
        return
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[2] == 3 and img.size > 0
