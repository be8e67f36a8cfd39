"""ESC/POS encoder and strict decoder (firmware/escpos.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import escpos
from firmware.escpos import EscPosError


def _image(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width)) < 0.4


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(1, 300), width=st.integers(1, 576),
       band=st.integers(1, 128))
def test_raster_round_trip(seed: int, height: int, width: int, band: int) -> None:
    image = _image(seed, height, width)
    roll = escpos.decode(escpos.init() + escpos.raster(image, band_rows=band))
    printed = roll.image()
    assert printed.shape == (height, escpos.DOTS_PER_LINE)
    assert np.array_equal(printed[:, :width], image)
    assert not printed[:, width:].any()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 50_000), max_size=12))
def test_incremental_feed_in_any_chunks_equals_whole(seed: int, cuts: list[int]) -> None:
    images = [_image(seed, 70, 576), _image(seed + 1, 33, 200)]
    stream = escpos.job(images, feed_after_dots=300, band_rows=16)
    decoder = escpos.Decoder()
    roll = escpos.Roll()
    bounds = sorted({0, len(stream), *(c % len(stream) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        roll.apply(decoder.feed(stream[a:b]))
    decoder.finish()
    assert escpos.same_paper(roll.pieces(), images)
    assert roll.cuts == [70 + 300, 70 + 300 + 33 + 300]


def test_feeds_cuts_and_line_spacing() -> None:
    stream = (escpos.init() + escpos.feed_lines(2) + bytes((0x1B, 0x33, 10)) + escpos.feed_lines(3)
              + bytes((escpos.LF,)) + bytes((0x1B, 0x32)) + escpos.feed_lines(1)
              + escpos.cut(partial=True, feed_dots_first=40) + escpos.feed_dots(600)
              + escpos.cut())
    roll = escpos.decode(stream)
    first = 2 * 30 + 3 * 10 + 10 + 30 + 40
    assert roll.cuts == [first, first + 600]
    assert roll.height == first + 600 and not roll.image().any()
    cmds = list(escpos.commands(stream))
    assert [type(c).__name__ for c in cmds].count("Cut") == 2
    assert [c.partial for c in cmds if isinstance(c, escpos.Cut)] == [True, False]


def test_double_width_and_height_modes_are_scaled() -> None:
    bits = np.zeros((2, 8), dtype=bool)
    bits[0, 0] = True
    data = np.packbits(bits, axis=1).tobytes()
    stream = bytes((0x1D, 0x76, 0x30, 3, 1, 0, 2, 0)) + data
    printed = escpos.decode(stream).image()
    assert printed.shape == (4, 576)
    assert printed[:2, :2].all() and printed.sum() == 4


def test_status_requests_are_commands_not_paper() -> None:
    cmds = list(escpos.commands(escpos.status_request(2) + escpos.status_request(4)))
    assert [(type(c).__name__, c.n) for c in cmds if isinstance(c, escpos.StatusRequest)] == [
        ("StatusRequest", 2), ("StatusRequest", 4)]
    assert escpos.decode(escpos.status_request(1)).height == 0


@pytest.mark.parametrize(("stream", "message"), [
    (b"Hello", "byte 0: text byte 0x48"),
    (escpos.init() + b"\x1b\x21\x00", "byte 2: unknown command ESC 0x21"),
    (b"\x1d\x28\x6b", "unknown command GS 0x28"),
    (b"\x1d\x56\x07", "GS V with unknown mode 7"),
    (b"\x1d\x76\x30\x00\x49\x00\x01\x00" + bytes(73), "584 dots wide"),
    (b"\x1d\x76\x30\x01\x25\x00\x01\x00" + bytes(37), "592 dots wide"),
    (b"\x1d\x76\x30\x00\x00\x00\x01\x00", "empty raster"),
    (b"\x1d\x76\x30\x07\x01\x00\x01\x00\x00", "unknown mode 7"),
    (b"\x1d\x76\x31", "GS v 0x31 is not GS v 0"),
    (b"\x1d\x76\x30\x00\x01\x00\x00\x09" + bytes(2304), "2304 rows"),
    (b"\x10\x05\x01", "unknown command DLE 0x05"),
    (b"\x10\x04\x09", "DLE EOT with unknown status 9"),
    (b"\x07", "unknown control byte 0x07"),
    (escpos.init() + b"\x1d\x76\x30\x00\x02\x00\x02\x00\xff", "stream ends inside a command"),
    (b"\x1b", "stream ends inside a command"),
])
def test_decoder_refuses_garbage(stream: bytes, message: str) -> None:
    with pytest.raises(EscPosError, match=message):
        escpos.decode(stream)


def test_a_broken_decoder_stays_broken() -> None:
    decoder = escpos.Decoder()
    with pytest.raises(EscPosError):
        decoder.feed(b"\x1b\x00")
    with pytest.raises(EscPosError, match="earlier error"):
        decoder.feed(escpos.init())


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_typed_error(data: bytes) -> None:
    try:
        roll = escpos.decode(data)
    except EscPosError:
        return
    assert roll.image().shape[1] == escpos.DOTS_PER_LINE


def test_encoder_refuses_what_the_head_cannot_print() -> None:
    with pytest.raises(EscPosError, match="577 dots wide"):
        escpos.raster(np.zeros((1, 577), dtype=bool))
    with pytest.raises(EscPosError, match="boolean"):
        escpos.raster(np.zeros((1, 8), dtype=np.uint8))
    with pytest.raises(EscPosError):
        escpos.feed_lines(256)
    with pytest.raises(EscPosError):
        escpos.cut(feed_dots_first=300)


def test_same_paper_notices_one_dot() -> None:
    image = _image(5, 40, 576)
    roll = escpos.decode(escpos.job([image]))
    assert escpos.same_paper(roll.pieces(), [image])
    other = image.copy()
    other[17, 300] ^= True
    assert not escpos.same_paper(roll.pieces(), [other])
    assert not escpos.same_paper(roll.pieces(), [image, image])
