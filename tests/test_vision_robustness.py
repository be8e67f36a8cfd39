"""The reader never raises and never accepts what is not a readable ballot.

Whatever it is handed (wrong shapes, wrong dtypes, empty or non-array
objects, blank, black or noisy images, pieces of a ballot), ``interpret``
returns a :class:`SheetInterpretation`; anything that is not a whole genuine
ballot comes back ``rejected`` with a typed reason. A genuine sheet reads the
same whichever side holds the ballot and whatever the array's memory layout,
and cropping or darkening it either leaves the reading unchanged or gets it
rejected: never a silently different reading.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.render_raster import render_layout
from election import ballot_code
from election.ballot_code import BallotCode
from election.default import default_election
from election.hashing import election_hash
from election.layout import CODE_CELL_W_MM, CODE_X_MM, LADDER_CENTRE_X_MM, LAYOUT_VERSION
from election.model import BallotKind, Language
from election.reject import RejectReason
from simulator.scanner import preset
from simulator.sheets import SheetFactory, SimSheet, default_station
from vision.config import ReaderConfig
from vision.interpret import Reader
from vision.result import Outcome, SheetInterpretation

GARBAGE_REASONS = {RejectReason.IMAGE_INVALID, RejectReason.NOT_A_BALLOT,
                   RejectReason.REGISTRATION}
PIECE_REASONS = GARBAGE_REASONS | {RejectReason.CODE_INVALID}
SCAN_HW = (1756, 1732)  # a 297 mm sheet at 200 DPI, as the simulator scans it

SETTINGS = settings(derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def reader() -> Reader:
    e = default_election()
    return Reader(ReaderConfig(e, default_station(e), templates=render_layout))


@pytest.fixture(scope="module")
def sheets() -> list[SimSheet]:
    """Genuine realistic sheets: a party list (front/180) and a district ballot (back)."""
    e = default_election()
    out = []
    for kind, seed, index in (("party-list", 1, 0), ("district", 1, 1)):
        f = SheetFactory(e, default_station(e), preset("realistic"), seed=seed, kind=kind)
        out.append(f.sheet(index))
    return out


def _read(reader: Reader, front: Any, back: Any) -> SheetInterpretation:
    res = reader.interpret(front, back)
    assert isinstance(res, SheetInterpretation)
    if res.outcome is Outcome.REJECTED:
        assert isinstance(res.reason, RejectReason)
    else:
        assert res.reason is None
    return res


def _marks(res: SheetInterpretation) -> list[tuple[str, str, str]]:
    return [(t.contest, t.option, t.mark.value) for t in res.targets]


def _ballot_side(reader: Reader, sheet: SimSheet) -> tuple[np.ndarray, np.ndarray,
                                                           SheetInterpretation]:
    ref = _read(reader, sheet.front, sheet.back)
    assert ref.outcome is Outcome.ACCEPTED, (ref.reason, ref.detail)
    if ref.side == "front":
        return sheet.front, sheet.back, ref
    return sheet.back, sheet.front, ref


# --------------------------------------------------------------- arbitrary input
DTYPES = (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16,
          np.float32, np.float64, np.bool_, np.complex64, np.object_)
CONTENTS = ("zeros", "full", "grey", "noise", "grey-noise", "blocks", "gradient", "rects",
            "smooth-noise")


def _content(hw: tuple[int, int], content: str, seed: int) -> np.ndarray:
    """An (H, W, 3) uint8 image of some kind of non-ballot content."""
    rng = np.random.default_rng(seed)
    h, w = hw
    shape = (h, w, 3)
    if content == "zeros":
        return np.zeros(shape, np.uint8)
    if content == "full":
        return np.full(shape, 255, np.uint8)
    if content == "grey":
        return np.full(shape, int(rng.integers(0, 256)), np.uint8)
    if content == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if content == "grey-noise":
        return np.repeat(rng.integers(0, 256, (h, w, 1), dtype=np.uint8), 3, axis=2)
    if content == "blocks":  # random black/white cells of a random size
        k = int(rng.integers(2, 40))
        cells = rng.integers(0, 2, (h // k + 1, w // k + 1, 1), dtype=np.uint8) * 255
        return np.repeat(np.repeat(np.repeat(cells, k, 0), k, 1), 3, 2)[:h, :w].copy()
    if content == "gradient":
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        return np.broadcast_to(ramp, shape).astype(np.uint8).copy()
    if content == "rects":  # dark rectangles of every size, scattered
        img = np.full(shape, 235, np.uint8)
        for _ in range(int(rng.integers(1, 400))):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            img[y : y + int(rng.integers(2, 40)), x : x + int(rng.integers(2, 60))] = (
                rng.integers(0, 120, 3, dtype=np.uint8))
        return img
    small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(small, 16, 0), 16, 1)[:h, :w])


def _valid_code_cells() -> np.ndarray:
    """The 76 cells of a genuine party-list code for the default election."""
    prefix = int(election_hash(default_election())[:8], 16)
    code = BallotCode(BallotKind.PARTY_LIST, Language.RU, 0, LAYOUT_VERSION, prefix)
    return np.array(ballot_code.encode(code), bool)


def _ladders(hw: tuple[int, int], pitch: int, start: str, code: str, seed: int) -> np.ndarray:
    """Paper with mark-like bars down both edges (a timing-mark ladder, maybe a start mark)
    and code cells on the first and last rows, random or genuine: ballot-shaped garbage
    that gets as far as the code, the layout's mark count or the security band."""
    rng = np.random.default_rng(seed)
    h, w = hw
    img = np.full((h, w, 3), 240, np.uint8)
    ys = list(range(40, h - 40, pitch))
    xl, xr = 86.0, w - 86.0  # ladder centres
    for k, y in enumerate(ys):
        tall = (start == "top" and k == 0) or (start == "bottom" and k == len(ys) - 1)
        mh = 28 if tall else 12
        for x in (xl, xr):
            img[y - mh // 2 : y + mh // 2, round(x) - 16 : round(x) + 16] = 10
    px_per_mm = (xr - xl) / (LADDER_CENTRE_X_MM[1] - LADDER_CENTRE_X_MM[0])
    cell = CODE_CELL_W_MM * px_per_mm
    x0 = xl + (CODE_X_MM - LADDER_CENTRE_X_MM[0]) * px_per_mm
    for y in (ys[0], ys[-1]) if ys else ():
        cells = _valid_code_cells() if code == "valid" else rng.integers(0, 2, 76).astype(bool)
        for i in np.flatnonzero(cells):
            img[y - 8 : y + 8, round(x0 + cell * i) : round(x0 + cell * (i + 1))] = 0
    return img


def _invalid(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    """An array that is not an (H, W, 3) uint8 image of an allowed size."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype is np.object_:
        return base.astype(object)
    return base.astype(dtype)


seeds = st.integers(0, 2**32 - 1)
sizes = st.one_of(st.tuples(st.integers(400, 900), st.integers(400, 900)),
                  st.tuples(st.integers(400, 2500), st.integers(400, 600)),
                  st.just(SCAN_HW))
images = st.builds(_content, sizes, st.sampled_from(CONTENTS), seeds)
ballot_sizes = st.one_of(sizes, st.tuples(st.integers(400, 2400), st.integers(1580, 1760)))
ballot_like = st.builds(_ladders, ballot_sizes, st.one_of(st.integers(44, 50), st.integers(25, 70)),
                        st.sampled_from(["none", "top", "bottom"]),
                        st.sampled_from(["random", "valid"]), seeds)
small_shapes = st.one_of(
    st.just(()),
    st.tuples(st.integers(0, 30)),
    st.tuples(st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 5)),
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
)
invalid_arrays = st.one_of(
    st.builds(_invalid, small_shapes, st.sampled_from(DTYPES), seeds),
    st.builds(_invalid, st.tuples(st.integers(400, 700), st.integers(400, 700),
                                  st.sampled_from([0, 1, 2, 4, 5])), st.sampled_from(DTYPES),
              seeds),
    st.builds(_invalid, st.tuples(st.integers(400, 700), st.integers(400, 700)),
              st.sampled_from(DTYPES), seeds),
    st.builds(_invalid, st.tuples(st.integers(400, 700), st.integers(400, 700), st.just(3)),
              st.sampled_from(DTYPES[1:]), seeds),
    st.builds(_invalid, st.tuples(st.sampled_from([399, 12001]), st.integers(400, 500),
                                  st.just(3)), st.just(np.uint8), seeds),
)
non_arrays = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5),
    st.binary(max_size=8), st.lists(st.lists(st.integers(0, 255), max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just([[[0, 0, 0]] * 500] * 500), st.just(np.uint8(7)), st.just(np.array(3)),
)
not_images = st.one_of(invalid_arrays, invalid_arrays, non_arrays)


@settings(SETTINGS, max_examples=300)
@given(bad=not_images, other=st.one_of(not_images, images), bad_first=st.booleans())
def test_anything_but_an_image_is_image_invalid(reader: Reader, bad: Any, other: Any,
                                                bad_first: bool) -> None:
    front, back = (bad, other) if bad_first else (other, bad)
    res = _read(reader, front, back)
    assert res.outcome is Outcome.REJECTED
    assert res.reason is RejectReason.IMAGE_INVALID, (res.reason, res.detail)


@settings(SETTINGS, max_examples=300)
@given(front=images, back=images)
def test_arbitrary_images_are_rejected_with_a_typed_reason(reader: Reader, front: np.ndarray,
                                                           back: np.ndarray) -> None:
    res = _read(reader, front, back)
    assert res.outcome is Outcome.REJECTED
    assert res.reason in GARBAGE_REASONS, (res.reason, res.detail)


@settings(SETTINGS, max_examples=80)
@given(img=images)
def test_same_image_on_both_sides_is_rejected(reader: Reader, img: np.ndarray) -> None:
    res = _read(reader, img, img)
    assert res.outcome is Outcome.REJECTED
    assert res.reason in GARBAGE_REASONS, (res.reason, res.detail)


@settings(SETTINGS, max_examples=200)
@given(front=st.one_of(ballot_like, images), back=st.one_of(ballot_like, images))
def test_ballot_shaped_garbage_is_rejected(reader: Reader, front: np.ndarray,
                                           back: np.ndarray) -> None:
    """Ladders of marks and random code cells get further into the pipeline: still rejected,
    and never by a crash of the reader (``internal-error``)."""
    res = _read(reader, front, back)
    assert res.outcome is Outcome.REJECTED, res
    assert res.reason is not RejectReason.INTERNAL_ERROR, res.detail


@pytest.mark.parametrize("shape", [(12000, 400, 3), (400, 12000, 3), (3000, 3000, 3)])
@pytest.mark.parametrize("value", [0, 255])
def test_largest_allowed_images(reader: Reader, shape: tuple[int, ...], value: int) -> None:
    img = np.full(shape, value, np.uint8)
    res = _read(reader, img, img)
    assert res.outcome is Outcome.REJECTED and res.reason is RejectReason.NOT_A_BALLOT


@pytest.mark.parametrize("shape", [(12001, 400, 3), (400, 12001, 3), (399, 1000, 3),
                                   (0, 1000, 3), (1000, 0, 3), (0, 0, 3)])
def test_sizes_out_of_range_are_image_invalid(reader: Reader, shape: tuple[int, ...]) -> None:
    img = np.full(shape, 255, np.uint8)
    res = _read(reader, img, np.full((800, 600, 3), 255, np.uint8))
    assert res.reason is RejectReason.IMAGE_INVALID


@pytest.mark.parametrize("kind", ["black", "white", "noise", "grey-noise"])
def test_scanner_sized_blank_and_noise_images(reader: Reader, kind: str) -> None:
    rng = np.random.default_rng(7)
    if kind == "black":
        img = np.zeros((*SCAN_HW, 3), np.uint8)
    elif kind == "white":
        img = np.full((*SCAN_HW, 3), 255, np.uint8)
    elif kind == "noise":
        img = rng.integers(0, 256, (*SCAN_HW, 3), dtype=np.uint8)
    else:
        img = np.repeat(rng.integers(0, 256, (*SCAN_HW, 1), dtype=np.uint8), 3, axis=2)
    res = _read(reader, img, img.copy())
    assert res.outcome is Outcome.REJECTED and res.reason is RejectReason.NOT_A_BALLOT


def test_one_valid_side_does_not_rescue_an_invalid_one(reader: Reader,
                                                       sheets: list[SimSheet]) -> None:
    sh = sheets[0]
    for bad in (None, sh.back.astype(np.float32), sh.back[..., :2], sh.back[..., 0],
                np.zeros((0, 0, 3), np.uint8)):
        for front, back in ((sh.front, bad), (bad, sh.back)):
            assert _read(reader, front, back).reason is RejectReason.IMAGE_INVALID


def test_dtype_variants_of_a_genuine_sheet_are_image_invalid(reader: Reader,
                                                              sheets: list[SimSheet]) -> None:
    sh = sheets[1]
    for f, b in ((sh.front.astype(np.uint16) * 257, sh.back.astype(np.uint16) * 257),
                 (sh.front / 255.0, sh.back / 255.0), (sh.front > 127, sh.back > 127),
                 (sh.front.astype(object), sh.back.astype(object)),
                 (sh.front[:450, :450].tolist(), sh.back[:450, :450].tolist())):
        assert _read(reader, f, b).reason is RejectReason.IMAGE_INVALID


# ------------------------------------------------------------- genuine sheets
def test_swapped_sides_read_the_same(reader: Reader, sheets: list[SimSheet]) -> None:
    for sh in sheets:
        a = _read(reader, sh.front, sh.back)
        b = _read(reader, sh.back, sh.front)
        assert a.outcome is Outcome.ACCEPTED and b.outcome is Outcome.ACCEPTED
        assert {a.side, b.side} == {"front", "back"}
        assert a.orientation and b.orientation
        assert a.orientation.split("/")[1] == b.orientation.split("/")[1]
        assert _marks(a) == _marks(b) and a.contests == b.contests
        assert (a.kind, a.contest, a.district) == (b.kind, b.contest, b.district)


def test_memory_layouts_read_the_same(reader: Reader, sheets: list[SimSheet]) -> None:
    """Views, Fortran order, read-only and padded-stride arrays are the same image."""
    sh = sheets[0]
    ref = _read(reader, sh.front, sh.back)

    def strided(a: np.ndarray) -> np.ndarray:
        big = np.zeros((a.shape[0], a.shape[1] + 9, 3), np.uint8)
        big[:, 5 : 5 + a.shape[1]] = a
        return big[:, 5 : 5 + a.shape[1]]

    def readonly(a: np.ndarray) -> np.ndarray:
        b = a.copy()
        b.flags.writeable = False
        return b

    for variant in (np.asfortranarray, strided, readonly,
                    lambda a: a[..., ::-1][..., ::-1], lambda a: a[::-1][::-1]):
        res = _read(reader, variant(sh.front), variant(sh.back))
        assert res.outcome is ref.outcome and _marks(res) == _marks(ref)


def test_ballot_on_both_sides_is_a_double_feed(reader: Reader, sheets: list[SimSheet]) -> None:
    for sh in sheets:
        ballot, _, _ = _ballot_side(reader, sh)
        res = _read(reader, ballot, ballot.copy())
        assert res.reason is RejectReason.DOUBLE_FEED


@pytest.mark.parametrize("piece", ["top", "bottom", "left", "right", "top-70", "bottom-70"])
def test_a_piece_of_a_ballot_is_rejected(reader: Reader, sheets: list[SimSheet],
                                         piece: str) -> None:
    for sh in sheets:
        ballot, other, _ = _ballot_side(reader, sh)
        h, w = ballot.shape[:2]
        cuts: dict[str, Any] = {"top": np.s_[: h // 2], "bottom": np.s_[h // 2 :],
                                "left": np.s_[:, : w // 2], "right": np.s_[:, w // 2 :],
                                "top-70": np.s_[: int(0.7 * h)],
                                "bottom-70": np.s_[int(0.3 * h) :]}
        cut = cuts[piece]
        for front, back in ((ballot[cut], other[cut]), (other[cut], ballot[cut])):
            res = _read(reader, front, back)
            assert res.outcome is Outcome.REJECTED
            assert res.reason in PIECE_REASONS, (res.reason, res.detail)


def test_transformed_ballots_are_rejected(reader: Reader, sheets: list[SimSheet]) -> None:
    """Mirror images, negatives, a 90° turn and grey copies are never read, and each gets
    the reason that explains it."""
    for sh in sheets:
        ballot, other, _ = _ballot_side(reader, sh)
        turned = np.ascontiguousarray(ballot.transpose(1, 0, 2))
        cases = [
            (ballot[:, ::-1], other, {RejectReason.REGISTRATION, RejectReason.CODE_INVALID}),
            (ballot[::-1], other, {RejectReason.REGISTRATION, RejectReason.CODE_INVALID}),
            (255 - ballot, other, {RejectReason.NOT_A_BALLOT}),
            # a 90° turn with its (equally turned) blank side: no ladder along the long sides
            (turned, np.ascontiguousarray(other.transpose(1, 0, 2)), {RejectReason.NOT_A_BALLOT}),
            (np.repeat(ballot[..., 1:2], 3, axis=2), other, {RejectReason.SECURITY_MISSING}),
        ]
        for img, back, reasons in cases:
            res = _read(reader, img, back)
            assert res.outcome is Outcome.REJECTED, res.detail
            assert res.reason in reasons, (res.reason, res.detail)


@settings(SETTINGS, max_examples=60)
@given(which=st.integers(0, 1), top=st.integers(0, 300), bottom=st.integers(0, 300),
       left=st.integers(0, 120), right=st.integers(0, 120))
def test_cropping_never_changes_a_reading_silently(reader: Reader, sheets: list[SimSheet],
                                                   which: int, top: int, bottom: int,
                                                   left: int, right: int) -> None:
    ballot, other, ref = _ballot_side(reader, sheets[which])
    h, w = ballot.shape[:2]
    cut = np.s_[top : h - bottom, left : w - right]
    res = _read(reader, ballot[cut], other[cut])
    if res.outcome is not Outcome.REJECTED:
        assert _marks(res) == _marks(ref)
        assert res.contests == ref.contests


@settings(SETTINGS, max_examples=30)
@given(which=st.integers(0, 1), gain=st.floats(0.3, 1.0), offset=st.integers(0, 60))
def test_dimming_never_changes_a_reading_silently(reader: Reader, sheets: list[SimSheet],
                                                  which: int, gain: float, offset: int) -> None:
    ballot, other, ref = _ballot_side(reader, sheets[which])
    dim = np.clip(ballot.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    res = _read(reader, dim, other)
    if res.outcome is not Outcome.REJECTED:
        assert _marks(res) == _marks(ref)


def test_a_frame_without_its_printed_body_is_not_read_as_blank(reader: Reader,
                                                               sheets: list[SimSheet]) -> None:
    """Ladders, code, security band and stripes kept; every box, label and mark erased."""
    for sh in sheets:
        debug: dict[str, Any] = {}
        ref = reader.interpret(sh.front, sh.back, debug)
        assert ref.outcome is Outcome.ACCEPTED
        img, mesh, layout = debug["image"].copy(), debug["mesh"], debug["layout"]
        other = sh.back if ref.side == "front" else sh.front
        body = mesh.to_image(np.array([18.0, 192.0, 192.0, 18.0]),
                             np.array([30.0, 30.0, layout.paper_h_mm - 15, layout.paper_h_mm - 15]))
        paper = np.percentile(img[::8, ::8].reshape(-1, 3), 90, axis=0)
        cv2.fillPoly(img, [np.rint(body).astype(np.int32)], [int(v) for v in paper])
        res = _read(reader, img, other)
        assert res.outcome is Outcome.REJECTED, res.contests
        assert res.reason is RejectReason.NOT_A_BALLOT, res.detail
