"""The machine-readable ballot code: 68 data+check bits between two guard patterns.

The code is a row of square-ish cells printed twice on every ballot, centred on
the first and the last timing-mark row (see ``election.layout``). A black cell
is a 1. The reader locates the cells through the timing-mark mesh, so the code
needs no finder pattern of its own; the guards only confirm the reading
direction (``START`` reversed is not ``STOP``), which makes the code readable in
every feed orientation.

Payload (most significant bit first)::

    format 4 | kind 2 | language 2 | contest 8 | layout version 4 | election hash 32 | CRC-16 16

The check value is CRC-16 (polynomial 0x1021, initial value 0xFFFF) computed
bit by bit over exactly the 52 payload bits, so payload and check form one
contiguous CRC codeword in the order they are printed. It therefore detects
every 1-, 2- and 3-bit error and every burst of up to 16 cells, including
bursts that straddle payload and check, so a scribble or a crease across the
code gives a typed "code corrupt" reject instead of a wrong ballot style.
"""

from __future__ import annotations

from dataclasses import dataclass

from election.model import BallotKind, Language

CODE_FORMAT = 1
START_GUARD = (1, 0, 1, 1)
STOP_GUARD = (1, 1, 1, 0)
PAYLOAD_BITS = 52
CHECK_BITS = 16
CELLS = len(START_GUARD) + PAYLOAD_BITS + CHECK_BITS + len(STOP_GUARD)  # 76

_KINDS = (BallotKind.PARTY_LIST, BallotKind.DISTRICT, BallotKind.LOCAL)
_LANGS = (Language.KY, Language.RU)


class BallotCodeError(ValueError):
    """The cells do not form a valid ballot code (guards, CRC or field values)."""


@dataclass(frozen=True)
class BallotCode:
    kind: BallotKind
    language: Language
    contest_number: int  # 0 for the party list; district number; council number
    layout_version: int
    election_hash_prefix: int  # first 32 bits of the election hash

    def hash_hex(self) -> str:
        return f"{self.election_hash_prefix:08x}"


def crc16_bits(bits: list[int] | tuple[int, ...]) -> int:
    """CRC-16 (poly 0x1021, init 0xFFFF, MSB first) over a sequence of bits."""
    crc = 0xFFFF
    for b in bits:
        top = ((crc >> 15) & 1) ^ (b & 1)
        crc = (crc << 1) & 0xFFFF
        if top:
            crc ^= 0x1021
    return crc


def _to_bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _from_bits(bits: list[int] | tuple[int, ...]) -> int:
    value = 0
    for b in bits:
        value = (value << 1) | (b & 1)
    return value


def encode(code: BallotCode) -> tuple[int, ...]:
    """The 76 cells (1 = black) from left to right in reading orientation."""
    if not 0 <= code.contest_number < 256:
        raise BallotCodeError(f"contest number {code.contest_number} does not fit 8 bits")
    if not 0 <= code.layout_version < 16:
        raise BallotCodeError(f"layout version {code.layout_version} does not fit 4 bits")
    if not 0 <= code.election_hash_prefix < 2**32:
        raise BallotCodeError(f"election hash prefix {code.election_hash_prefix} does not fit "
                              "32 bits")
    payload = (
        _to_bits(CODE_FORMAT, 4)
        + _to_bits(_KINDS.index(code.kind), 2)
        + _to_bits(_LANGS.index(code.language), 2)
        + _to_bits(code.contest_number, 8)
        + _to_bits(code.layout_version, 4)
        + _to_bits(code.election_hash_prefix, 32)
    )
    check = _to_bits(crc16_bits(payload), CHECK_BITS)
    return (*START_GUARD, *payload, *check, *STOP_GUARD)


def decode(cells: tuple[int, ...] | list[int]) -> BallotCode:
    """Decode cells read in reading orientation; raise BallotCodeError if invalid."""
    cells = list(cells)
    if len(cells) != CELLS:
        raise BallotCodeError(f"expected {CELLS} cells, got {len(cells)}")
    n0 = len(START_GUARD)
    if tuple(cells[:n0]) != START_GUARD or tuple(cells[-len(STOP_GUARD):]) != STOP_GUARD:
        raise BallotCodeError("guard pattern not found")
    payload = cells[n0 : n0 + PAYLOAD_BITS]
    check = cells[n0 + PAYLOAD_BITS : n0 + PAYLOAD_BITS + CHECK_BITS]
    if crc16_bits(payload) != _from_bits(check):
        raise BallotCodeError("check value mismatch")
    fmt = _from_bits(payload[0:4])
    if fmt != CODE_FORMAT:
        raise BallotCodeError(f"unknown code format {fmt}")
    kind_i = _from_bits(payload[4:6])
    lang_i = _from_bits(payload[6:8])
    if kind_i >= len(_KINDS) or lang_i >= len(_LANGS):
        raise BallotCodeError("kind or language field out of range")
    return BallotCode(
        kind=_KINDS[kind_i],
        language=_LANGS[lang_i],
        contest_number=_from_bits(payload[8:16]),
        layout_version=_from_bits(payload[16:20]),
        election_hash_prefix=_from_bits(payload[20:52]),
    )
