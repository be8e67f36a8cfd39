"""The DEC's spoiled-ballot exchange at a station of the national day.

A voter whose genuine ballot the scanner keeps returning (``MAX_READER_RETURNS`` tries:
a voter wrote across the timing ladder, ...) hands it to the precinct election
commission (DEC). As at a Kyrgyz polling station, the commission cancels it (it goes
into the spoiled-ballot envelope and onto the protocol's ``ballots_spoiled`` line) and
issues a fresh ballot of the same kind; the voter marks the same choices again and
feeds the new paper. A replacement that is itself returned is exchanged again, at most
``MAX_EXCHANGES`` times per voter; after that the sheet really never reaches a box.

Fakes and test ballots are never exchanged (a fake is no ballot the commission
issued; the test deck is the operator's). The rule is a pure function of the sheet id
(:func:`replacement_sheet_id`): the replacement's index is the original's plus
``EXCHANGE_INDEX_BASE`` per exchange, outside every plan's range, so the replacement is
a new sheet of its own random stream, the same in any process for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from election.model import BallotKind, Language, Station
from simulator.ink import INSTRUMENTS
from simulator.marks import Shape, Variant, VoterStyle
from simulator.national.intent import parse_sheet_id, sheet_id
from simulator.sheets import GivenBallot, GivenSheet

MAX_EXCHANGES = 2  # spoiled-ballot exchanges per voter's ballot; then the voter keeps it
EXCHANGE_INDEX_BASE = 10_000_000  # a replacement's index: the original's + this per exchange
EXCHANGE_STREAM = 0xDEC  # seeds the replacement voter's pen stroke details


def exchanges_of(sid: str) -> int:
    """How many exchanges lie behind sheet ``sid`` (0: the voter's first ballot)."""
    return parse_sheet_id(sid)[1] // EXCHANGE_INDEX_BASE


def original_of(sid: str) -> str:
    """The voter's first ballot behind ``sid`` (itself if never exchanged)."""
    station, index, kind, test = parse_sheet_id(sid)
    return sheet_id(station, index % EXCHANGE_INDEX_BASE, kind, test)


def replacement_sheet_id(sid: str, genuine: bool) -> str | None:
    """The fresh ballot the DEC issues for ``sid`` once the voter gave up on it, or None:
    a fake or a test ballot is not exchanged, nor a ballot already exchanged
    ``MAX_EXCHANGES`` times."""
    station, index, kind, test = parse_sheet_id(sid)
    if not genuine or test:
        return None
    done, first = divmod(index, EXCHANGE_INDEX_BASE)
    if done >= MAX_EXCHANGES:
        return None
    return sheet_id(station, first + (done + 1) * EXCHANGE_INDEX_BASE, kind)


def layout_contest(station: Station, kind: BallotKind) -> int | str | None:
    """The layout's contest argument of a ``kind`` ballot at ``station`` (as the factory's)."""
    if kind is BallotKind.DISTRICT:
        return station.district
    if kind is BallotKind.LOCAL:
        return station.council
    return None


def replacement_spec(station: Station, truth: dict[str, Any], seed: int,
                     index: int) -> GivenSheet:
    """The replacement paper of a spoiled genuine sheet whose simulator truth is ``truth``:
    the same ballot (kind, contest, language) with the voter's intended marks again, each
    with its variant (a faint or tiny mark is made faint or tiny again; whether it comes
    out definite or marginal is the new paper's own truth). The voter's pen and mark shape
    stay; the stroke details (width, size, jitter, slant) are drawn afresh from
    ``[seed, index, EXCHANGE_STREAM]``. Stray traces (the writing that spoiled the first
    paper, dots, smudges) are not repeated: a given ballot carries none."""
    kind = BallotKind(truth["kind"])
    marks = tuple((t["contest"], t["option"], Variant(t.get("variant") or Variant.NORMAL))
                  for t in truth["targets"] if t["intent"])
    rng = np.random.default_rng([seed, index, EXCHANGE_STREAM])
    drawn = VoterStyle.random(rng)
    pen = INSTRUMENTS.get(truth["style"]["instrument"], drawn.instrument)
    style = VoterStyle(pen, float(rng.uniform(*pen.width_mm)), float(rng.uniform(*pen.opacity)),
                       Shape(truth["style"]["shape"]), drawn.size, drawn.jitter_mm,
                       drawn.slant_deg)
    return GivenSheet(GivenBallot(kind, layout_contest(station, kind),
                                  Language(truth["language"]), marks, style,
                                  behaviour=f"exchanged:{truth['behaviour']}"))


@dataclass
class DecDesk:
    """The commission's table at one station: the spoiled-ballot exchange.

    ``genuine(sid)``: whether a fed sheet is a ballot the commission issued (the
    simulated world knows; the reader never asks); ``issue(old, new)``: makes the new
    paper (images: its spec; intents: the same intended reading); ``now()``: the
    simulated time for the incident."""

    genuine: Callable[[str], bool]
    issue: Callable[[str, str], None]
    now: Callable[[], float]
    incidents: list[dict[str, Any]]
    spoiled: list[str] = field(default_factory=list)

    def exchange(self, world: Any, taken: list[str]) -> list[str]:
        """The voter gave up on ``taken`` (just put in ``world.returned``): each genuine
        ballot goes to the spoiled envelope and its replacement to the head of the queue
        (the voter feeds it next). Returns the replacements."""
        new: list[str] = []
        for sid in taken:
            repl = replacement_sheet_id(sid, self.genuine(sid))
            if repl is None:
                continue
            world.returned.remove(sid)
            self.spoiled.append(sid)
            self.issue(sid, repl)
            new.append(repl)
            self.incidents.append({"kind": "ballot-exchanged", "t_s": self.now(),
                                   "sheet": sid, "replacement": repl})
        if new:
            world.queue[:0] = new
            world.save()
        return new
