"""The ballot code (``election.ballot_code``): what a scanner trusts to pick the ballot style.

Protects:
* every field value the format can carry survives ``encode`` -> ``decode``;
* a corrupted reading is rejected instead of decoding to another ballot: any
  1-, 2- or 3-cell error (the CRC's promise), a code read backwards (the
  guards' promise), a sequence of the wrong length;
* values that do not fit their field are refused on encode, never truncated;
* the cells each layout prints decode to that layout's own identity.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from election import ballot_code
from election.ballot_code import BallotCode, BallotCodeError, decode, encode
from election.default import default_election
from election.hashing import election_hash
from election.layout import LAYOUT_VERSION, ballot_layout
from election.model import BallotKind, Election, Language

ELECTION: Election = default_election()
HASH_PREFIX = int(election_hash(ELECTION)[:8], 16)
HASHES = (0, 1, 0xFFFFFFFF, 0x80000000, 0x12345678, HASH_PREFIX)
N_CELLS = ballot_code.CELLS
SETTINGS = settings(derandomize=True, deadline=None, database=None, max_examples=300)

codes = st.builds(
    BallotCode,
    kind=st.sampled_from(list(BallotKind)),
    language=st.sampled_from(list(Language)),
    contest_number=st.integers(0, 255),
    layout_version=st.integers(0, 15),
    election_hash_prefix=st.integers(0, 2**32 - 1),
)


def _flipped(cells: tuple[int, ...], positions: set[int] | tuple[int, ...]) -> list[int]:
    """The cells with the given positions inverted (black <-> white)."""
    out = list(cells)
    for i in positions:
        out[i] ^= 1
    return out


def _default_party_code() -> tuple[int, ...]:
    return encode(BallotCode(BallotKind.PARTY_LIST, Language.KY, 0, LAYOUT_VERSION, HASH_PREFIX))


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(BallotKind))
def test_round_trip_every_contest_and_layout_version(kind: BallotKind, language: Language) -> None:
    """Every contest number 0..255 and layout version 0..15 decodes back unchanged
    (hashes cycle through the extremes and the default election's)."""
    for i, (contest, version) in enumerate(itertools.product(range(256), range(16))):
        code = BallotCode(kind, language, contest, version, HASHES[i % len(HASHES)])
        cells = encode(code)
        assert len(cells) == N_CELLS
        assert set(cells) <= {0, 1}
        assert decode(cells) == code


@SETTINGS
@given(codes)
def test_round_trip_any_code(code: BallotCode) -> None:
    """Any representable code (any 32-bit hash) decodes back unchanged, from a list too."""
    cells = encode(code)
    assert decode(cells) == code
    assert decode(list(cells)) == code
    assert code.hash_hex() == f"{code.election_hash_prefix:08x}"


def test_guards_frame_every_code() -> None:
    """The start and stop guards are where the reader expects them."""
    cells = _default_party_code()
    assert cells[:4] == ballot_code.START_GUARD
    assert cells[-4:] == ballot_code.STOP_GUARD


# --------------------------------------------------------------------------- corruption


@SETTINGS
@given(codes, st.sets(st.integers(0, N_CELLS - 1), min_size=1, max_size=3))
def test_any_one_two_or_three_cell_error_is_rejected(code: BallotCode, flips: set[int]) -> None:
    """A scribble or a crease that inverts up to 3 cells never decodes (to anything)."""
    with pytest.raises(BallotCodeError):
        decode(_flipped(encode(code), flips))


@pytest.mark.parametrize("weight", [1, 2])
def test_every_one_and_two_cell_error_is_rejected_exhaustively(weight: int) -> None:
    """All 76 single and 2,850 double cell errors of the default party-list code."""
    cells = _default_party_code()
    for flips in itertools.combinations(range(N_CELLS), weight):
        with pytest.raises(BallotCodeError):
            decode(_flipped(cells, flips))


@SETTINGS
@given(codes)
def test_reversed_code_is_rejected(code: BallotCode) -> None:
    """A code read right-to-left (a 180° feed misjudged) is never taken for a code."""
    with pytest.raises(BallotCodeError, match="guard"):
        decode(tuple(reversed(encode(code))))


@SETTINGS
@given(codes, st.integers(0, 2 * N_CELLS).filter(lambda n: n != N_CELLS))
def test_wrong_length_is_rejected(code: BallotCode, length: int) -> None:
    """Too few or too many cells (a cell missed or doubled) is rejected, whatever they hold."""
    cells = list(encode(code))
    padded = (cells * 3)[:length]
    with pytest.raises(BallotCodeError, match="cells"):
        decode(padded)


@pytest.mark.parametrize("edit", ["drop-first", "drop-last", "extra-0", "extra-1", "empty"])
def test_one_cell_too_many_or_too_few_is_rejected(edit: str) -> None:
    """The simplest length errors around a genuine code."""
    cells = list(_default_party_code())
    variants = {"drop-first": cells[1:], "drop-last": cells[:-1], "extra-0": [*cells, 0],
                "extra-1": [1, *cells], "empty": []}
    with pytest.raises(BallotCodeError):
        decode(variants[edit])


def test_bursts_up_to_16_cells_are_rejected() -> None:
    """The documented burst guarantee: the burst straddling payload and check."""
    cells = _default_party_code()
    burst = (50, 54, 57, 62)  # first and last inverted, span 13 cells
    assert burst[-1] - burst[0] + 1 <= 16
    with pytest.raises(BallotCodeError):
        decode(_flipped(cells, burst))


def test_every_burst_of_up_to_16_cells_is_rejected() -> None:
    """Every start position x every length 1..16 x seeded inner patterns (first and last
    cell of a burst always flipped, the inside random)."""
    cells = _default_party_code()
    rng = np.random.default_rng(16)
    n = ballot_code.CELLS
    for length in range(1, 17):
        for start in range(0, n - length + 1):
            for _ in range(3 if length > 2 else 1):
                inner = [start + 1 + i for i in range(max(0, length - 2)) if rng.random() < 0.5]
                flips = sorted({start, start + length - 1, *inner})
                with pytest.raises(BallotCodeError):
                    decode(_flipped(cells, tuple(flips)))


@pytest.mark.parametrize("bits", [
    # a valid CRC over a payload whose format/kind/language fields are out of range
    {"format": 2},
    {"kind": 3},
    {"language": 2},
    {"language": 3},
])
def test_valid_crc_with_impossible_fields_is_rejected(bits: dict[str, int]) -> None:
    """Cells with a correct check value but an unknown format, kind or language are refused."""
    fields = {"format": 1, "kind": 0, "language": 0} | bits
    payload = (ballot_code._to_bits(fields["format"], 4) + ballot_code._to_bits(fields["kind"], 2)
               + ballot_code._to_bits(fields["language"], 2) + [0] * 44)
    check = ballot_code._to_bits(ballot_code.crc16_bits(payload), 16)
    cells = (*ballot_code.START_GUARD, *payload, *check, *ballot_code.STOP_GUARD)
    with pytest.raises(BallotCodeError):
        decode(cells)


def test_crc_matches_the_named_standard() -> None:
    """On byte-aligned input the bitwise CRC is CRC-16/CCITT-FALSE: "123456789" -> 0x29B1."""
    bits = [(byte >> (7 - i)) & 1 for byte in b"123456789" for i in range(8)]
    assert ballot_code.crc16_bits(bits) == 0x29B1


# --------------------------------------------------------------------------- field overflow


@pytest.mark.parametrize(("contest", "version"), [(-1, 1), (256, 1), (1000, 1), (0, -1),
                                                  (0, 16), (0, 99)])
def test_encode_refuses_contest_or_version_overflow(contest: int, version: int) -> None:
    """A contest number beyond 8 bits or a layout version beyond 4 bits is refused."""
    with pytest.raises(BallotCodeError):
        encode(BallotCode(BallotKind.DISTRICT, Language.KY, contest, version, HASH_PREFIX))


@pytest.mark.parametrize("prefix", [2**32 + 5, -1])
def test_encode_refuses_hash_prefix_overflow(prefix: int) -> None:
    """The 32-bit election hash field: a value that does not fit is refused, not truncated."""
    with pytest.raises(BallotCodeError):
        encode(BallotCode(BallotKind.PARTY_LIST, Language.RU, 0, 1, prefix))


# --------------------------------------------------------------------------- printed layouts


def _layout_cases() -> list[tuple[BallotKind, int | str | None, Language]]:
    cases: list[tuple[BallotKind, int | str | None, Language]] = []
    for lang in Language:
        cases.append((BallotKind.PARTY_LIST, None, lang))
        cases += [(BallotKind.DISTRICT, n, lang) for n in (1, 36)]
        cases += [(BallotKind.LOCAL, c.id, lang) for c in ELECTION.councils]
    return cases


@pytest.mark.parametrize(("kind", "contest", "language"), _layout_cases(),
                         ids=lambda v: str(getattr(v, "value", v)))
def test_printed_cells_decode_to_the_layouts_identity(kind: BallotKind, contest: int | str | None,
                                                      language: Language) -> None:
    """The cells a ballot carries (both copies) name its own kind, contest, language,
    layout version and election: what the reader uses to choose the layout."""
    layout = ballot_layout(ELECTION, kind, contest, language)
    code = decode(layout.code.cells)
    assert code.kind is layout.kind is kind
    assert code.language is language
    assert code.contest_number == layout.contest_number
    assert code.layout_version == layout.layout_version == LAYOUT_VERSION
    assert code.hash_hex() == layout.election_hash[:8] == election_hash(ELECTION)[:8]
    if kind is BallotKind.PARTY_LIST:
        assert code.contest_number == 0
    elif kind is BallotKind.DISTRICT:
        assert code.contest_number == contest
    else:
        assert code.contest_number == ELECTION.council(str(contest)).number
    assert len(layout.code.copies) == 2
    assert code.hash_hex() in layout.code.text
