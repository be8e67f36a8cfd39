"""Ballot layout: a pure function from (election, kind, contest, language) to geometry in mm.

Registration features and why
-----------------------------
A sheet-fed scanner rotates, shifts and scales the page, and its feed rollers
stretch it unevenly along the feed (±2 %). An affine model of the whole page
cannot follow uneven stretch, so, as VxScan does, every ballot carries two
*ladders* of timing marks, one near each long edge, one mark every 6 mm. The
reader finds each ladder as a chain of equally spaced dark rectangles and maps
a sheet position (x, y) to the image by interpolating between the two marks
of each ladder that bracket y, then along the line joining the two ladders.
That piecewise-bilinear mesh follows rotation (±5°), translation, scale
(0.97–1.03), uneven feed stretch and a slight trapezoid. The reader requires
the exact mark count and never invents a missing mark.

The first mark of each ladder (the head of the ballot) is a *start mark*,
twice as tall as the others, so a 180° turn is seen at once; the ballot code's
guard patterns confirm it. The stripes, the code, the security band and every
target are placed relative to the ladders, never to the paper edge.

Ballot code
-----------
A row of 76 cells (``election.ballot_code``) centred on the first timing-mark
row, and a second copy on the last row, so a scribble or a fold on one copy
does not stop the ballot. A human-readable line under the top copy repeats it.

Security feature ("protective paint")
-------------------------------------
A band of fine vertical lines, period 1.0 mm, printed in a pale orange spot
ink (the ``ProtectivePaint`` separation in the PDF). It models the special
ink of the real ballots: the scanner checks both its chroma and its 1 mm
periodic structure at a known place. A photocopier loses it twice over: a
grey copy has no chroma, and a copier's background suppression drops pale
tints to white, so the line pattern vanishes too.

Preference numbers
------------------
Each of the 54 squares has its number printed *outside* the box, to its left,
2.5 mm clear of the box border. The reader scores ink only inside the box and
in a thin ring around it, against the blank template, so a printed digit is
never taken for ink.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from election import ballot_code, ballot_text
from election.errors import PcosError
from election.geometry import Rect
from election.hashing import election_hash
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    CandidateContest,
    Election,
    Language,
)

LAYOUT_VERSION = 1

PAPER_W_MM = 210.0
PAPER_LENGTHS_MM = (148.0, 210.0, 297.0)

# Side stripes (kind colour), outermost.
STRIPE_X_MM = (3.0, 202.0)
STRIPE_W_MM = 5.0
STRIPE_MARGIN_Y_MM = 3.0
STRIPE_SRGB: dict[BallotKind, tuple[int, int, int] | None] = {
    BallotKind.PARTY_LIST: None,
    BallotKind.DISTRICT: (110, 160, 225),  # blue
    BallotKind.LOCAL: (240, 160, 200),  # pink
}

# Timing-mark ladders.
MARK_W_MM = 4.0
MARK_H_MM = 1.5
START_MARK_H_MM = 3.5
LADDER_LEFT_X_MM = 10.5  # left edge of the left ladder's marks
LADDER_RIGHT_X_MM = PAPER_W_MM - LADDER_LEFT_X_MM - MARK_W_MM
LADDER_Y0_MM = 8.0  # centre of the start mark
LADDER_PITCH_MM = 6.0
LADDER_BOTTOM_MARGIN_MM = 7.0  # last mark centre at least this far from the bottom edge
LADDER_CENTRE_X_MM = (LADDER_LEFT_X_MM + MARK_W_MM / 2, LADDER_RIGHT_X_MM + MARK_W_MM / 2)

# Paper between the ladder and the content: the reader's white reference.
PAPER_REFERENCE_X_MM = (16.0, PAPER_W_MM - 16.0)

# Content.
CONTENT_X_MM = (18.0, 192.0)
BOX_MM = 5.0
BOX_BORDER_MM = 0.3
BOX_X_MM = 182.0
LABEL_RIGHT_MM = 176.0

# Ballot code.
CODE_CELL_W_MM = 1.9
CODE_CELL_H_MM = 2.5
CODE_X_MM = (PAPER_W_MM - ballot_code.CELLS * CODE_CELL_W_MM) / 2

# Security band.
SECURITY_RECT = Rect(150.0, 12.5, 40.0, 6.0)
SECURITY_PERIOD_MM = 1.0
SECURITY_LINE_MM = 0.5
SECURITY_SRGB = (245, 200, 130)

# Party-list body.
PARTY_ROW_TOP_MM = 36.0
PARTY_ROW_PITCH_MM = 8.0
GRID_COLUMNS = 9
GRID_COL_PITCH_MM = 19.0
GRID_X0_MM = 20.5
GRID_BOX_OFFSET_MM = 8.0
GRID_ROW_PITCH_MM = 10.5

# Candidate body.
CANDIDATE_ROW_TOP_MM = 36.0
CANDIDATE_ROW_PITCH_MM = 9.0


class LayoutError(PcosError):
    """The ballot cannot be laid out (unknown contest, too many options...)."""


@dataclass(frozen=True)
class Stripe:
    rect: Rect
    srgb: tuple[int, int, int]


@dataclass(frozen=True)
class TimingMarks:
    left: tuple[Rect, ...]
    right: tuple[Rect, ...]

    @property
    def count(self) -> int:
        return len(self.left)

    def row_y_mm(self, k: int) -> float:
        return LADDER_Y0_MM + k * LADDER_PITCH_MM


@dataclass(frozen=True)
class CodeBand:
    cells: tuple[int, ...]
    copies: tuple[Rect, ...]  # the band of each copy; cell i starts at x + i * cell_w
    cell_w_mm: float
    cell_h_mm: float
    text: str

    def cell_rect(self, copy: int, i: int) -> Rect:
        band = self.copies[copy]
        return Rect(band.x_mm + i * self.cell_w_mm, band.y_mm, self.cell_w_mm, self.cell_h_mm)

    def black_rects(self, copy: int) -> list[Rect]:
        """One rectangle per run of black cells: what is printed, without seams."""
        rects: list[Rect] = []
        start = None
        for i, bit in enumerate((*self.cells, 0)):
            if bit and start is None:
                start = i
            elif not bit and start is not None:
                first = self.cell_rect(copy, start)
                rects.append(Rect(first.x_mm, first.y_mm, (i - start) * self.cell_w_mm,
                                  first.h_mm))
                start = None
        return rects


@dataclass(frozen=True)
class SecurityFeature:
    rect: Rect
    period_mm: float
    line_mm: float
    srgb: tuple[int, int, int]

    def line_rects(self) -> list[Rect]:
        """The printed lines, each centred in its period."""
        n = round(self.rect.w_mm / self.period_mm)
        pad = (self.period_mm - self.line_mm) / 2
        return [Rect(self.rect.x_mm + k * self.period_mm + pad, self.rect.y_mm, self.line_mm,
                     self.rect.h_mm) for k in range(n)]


@dataclass(frozen=True)
class Target:
    """A voting square. ``box`` is the outer edge of its printed border."""

    contest: str
    option: str
    box: Rect
    label: str

    @property
    def id(self) -> str:
        return f"{self.contest}/{self.option}"


@dataclass(frozen=True)
class TextBox:
    """Text to fit inside ``rect``: the renderer shrinks it, never the box."""

    rect: Rect
    text: str
    size_mm: float
    bold: bool = False
    align: str = "left"  # left | right | center


@dataclass(frozen=True)
class Rule:
    """A thin printed line (separators, frames)."""

    x0_mm: float
    y0_mm: float
    x1_mm: float
    y1_mm: float
    width_mm: float
    grey: int = 0

    @property
    def rect(self) -> Rect:
        """The horizontal or vertical rule as the rectangle it prints."""
        half = self.width_mm / 2
        return Rect(min(self.x0_mm, self.x1_mm) - (half if self.x0_mm == self.x1_mm else 0),
                    min(self.y0_mm, self.y1_mm) - (half if self.y0_mm == self.y1_mm else 0),
                    abs(self.x1_mm - self.x0_mm) or self.width_mm,
                    abs(self.y1_mm - self.y0_mm) or self.width_mm)


@dataclass(frozen=True)
class BallotLayout:
    layout_version: int
    election_hash: str
    kind: BallotKind
    contest: str  # "party-list" or the candidate contest id
    contest_number: int
    language: Language
    paper_w_mm: float
    paper_h_mm: float
    stripes: tuple[Stripe, ...]
    timing: TimingMarks
    code: CodeBand
    security: SecurityFeature
    targets: tuple[Target, ...]
    texts: tuple[TextBox, ...]
    rules: tuple[Rule, ...]
    box_border_mm: float = BOX_BORDER_MM

    @property
    def stripe_srgb(self) -> tuple[int, int, int] | None:
        return STRIPE_SRGB[self.kind]

    def target(self, contest: str, option: str) -> Target:
        for t in self.targets:
            if t.contest == contest and t.option == option:
                return t
        raise KeyError(f"{contest}/{option}")

    def to_json(self) -> dict[str, Any]:
        return {
            "layout_version": self.layout_version,
            "election_hash": self.election_hash,
            "kind": self.kind.value,
            "contest": self.contest,
            "contest_number": self.contest_number,
            "language": self.language.value,
            "paper": {"w_mm": self.paper_w_mm, "h_mm": self.paper_h_mm},
            "stripes": [{**s.rect.to_json(), "srgb": list(s.srgb)} for s in self.stripes],
            "timing_marks": {
                "pitch_mm": LADDER_PITCH_MM,
                "start_mark": "top",
                "left": [r.to_json() for r in self.timing.left],
                "right": [r.to_json() for r in self.timing.right],
            },
            "code": {
                "cells": "".join(str(b) for b in self.code.cells),
                "cell_w_mm": self.code.cell_w_mm,
                "cell_h_mm": self.code.cell_h_mm,
                "copies": [c.to_json() for c in self.code.copies],
                "text": self.code.text,
            },
            "security": {
                **self.security.rect.to_json(),
                "period_mm": self.security.period_mm,
                "line_mm": self.security.line_mm,
                "srgb": list(self.security.srgb),
            },
            "targets": [
                {"id": t.id, "contest": t.contest, "option": t.option, "label": t.label,
                 **t.box.to_json()}
                for t in self.targets
            ],
            "texts": [
                {**tb.rect.to_json(), "text": tb.text, "size_mm": tb.size_mm, "bold": tb.bold,
                 "align": tb.align}
                for tb in self.texts
            ],
            "rules": [
                {"x0_mm": r.x0_mm, "y0_mm": r.y0_mm, "x1_mm": r.x1_mm, "y1_mm": r.y1_mm,
                 "width_mm": r.width_mm, "grey": r.grey}
                for r in self.rules
            ],
        }

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")

    @cached_property
    def layout_hash(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()


# --------------------------------------------------------------------------- helpers


def ladder_count(paper_h_mm: float) -> int:
    usable = paper_h_mm - LADDER_Y0_MM - LADDER_BOTTOM_MARGIN_MM
    return int(usable // LADDER_PITCH_MM) + 1


def _timing_marks(paper_h_mm: float) -> TimingMarks:
    left, right = [], []
    for k in range(ladder_count(paper_h_mm)):
        h = START_MARK_H_MM if k == 0 else MARK_H_MM
        cy = LADDER_Y0_MM + k * LADDER_PITCH_MM
        left.append(Rect(LADDER_LEFT_X_MM, cy - h / 2, MARK_W_MM, h))
        right.append(Rect(LADDER_RIGHT_X_MM, cy - h / 2, MARK_W_MM, h))
    return TimingMarks(tuple(left), tuple(right))


def _code_band(code: ballot_code.BallotCode, timing: TimingMarks, text: str) -> CodeBand:
    cells = ballot_code.encode(code)
    w = ballot_code.CELLS * CODE_CELL_W_MM
    copies = tuple(
        Rect(CODE_X_MM, timing.row_y_mm(k) - CODE_CELL_H_MM / 2, w, CODE_CELL_H_MM)
        for k in (0, timing.count - 1)
    )
    return CodeBand(cells, copies, CODE_CELL_W_MM, CODE_CELL_H_MM, text)


def _box(y_top_mm: float, x_mm: float = BOX_X_MM) -> Rect:
    return Rect(x_mm, y_top_mm, BOX_MM, BOX_MM)


def _party_list_body(election: Election, lang: Language) -> tuple[list[Target], list[TextBox],
                                                                   list[Rule]]:
    contest = election.party_list
    targets: list[Target] = []
    texts: list[TextBox] = [
        TextBox(Rect(CONTENT_X_MM[0], 30.5, 174.0, 4.5), ballot_text.PART1_HEADING.get(lang), 2.6,
                bold=True),
    ]
    rules: list[Rule] = []
    rows: list[tuple[str, str, str]] = [
        (p.id, f"{i}.", p.name.get(lang)) for i, p in enumerate(contest.parties, start=1)
    ]
    if contest.against_all:
        rows.append((AGAINST_ALL, "", ballot_text.AGAINST_ALL.get(lang)))
    for i, (option, number, name) in enumerate(rows):
        top = PARTY_ROW_TOP_MM + i * PARTY_ROW_PITCH_MM
        box = _box(top + (PARTY_ROW_PITCH_MM - BOX_MM) / 2)
        targets.append(Target(PARTY_LIST_CONTEST, option, box, f"{number} {name}".strip()))
        texts.append(TextBox(Rect(CONTENT_X_MM[0], top + 1.5, 7.0, 5.0), number, 3.4, bold=True,
                             align="right"))
        texts.append(TextBox(Rect(27.0, top + 1.5, LABEL_RIGHT_MM - 27.0, 5.0), name, 3.6,
                             bold=True))
        rules.append(Rule(CONTENT_X_MM[0], top + PARTY_ROW_PITCH_MM, LABEL_RIGHT_MM,
                          top + PARTY_ROW_PITCH_MM, 0.15, grey=150))
    part2_top = PARTY_ROW_TOP_MM + len(rows) * PARTY_ROW_PITCH_MM + 2.0
    texts.append(TextBox(Rect(CONTENT_X_MM[0], part2_top, 174.0, 4.5),
                         ballot_text.PART2_HEADING.get(lang), 2.6, bold=True))
    texts.append(TextBox(Rect(CONTENT_X_MM[0], part2_top + 4.5, 174.0, 3.5),
                         ballot_text.PART2_NOTE.get(lang), 2.2))
    grid_top = part2_top + 11.0
    for n in range(1, contest.preference_squares + 1):
        row, col = divmod(n - 1, GRID_COLUMNS)
        x = GRID_X0_MM + col * GRID_COL_PITCH_MM
        y = grid_top + row * GRID_ROW_PITCH_MM
        box = _box(y, x + GRID_BOX_OFFSET_MM)
        targets.append(Target(PREFERENCE_CONTEST, str(n), box, str(n)))
        texts.append(TextBox(Rect(x, y, GRID_BOX_OFFSET_MM - 2.5, BOX_MM), str(n), 3.6, bold=True,
                             align="right"))
    return targets, texts, rules


def _candidate_body(contest: CandidateContest, lang: Language) -> tuple[list[Target],
                                                                        list[TextBox], list[Rule]]:
    targets: list[Target] = []
    texts = [TextBox(Rect(CONTENT_X_MM[0], 30.5, 174.0, 4.5),
                     ballot_text.CANDIDATE_HEADING.get(lang), 2.6, bold=True)]
    rules: list[Rule] = []
    rows: list[tuple[str, str, str]] = []
    for c in contest.candidates:
        who = c.nominated_by.get(lang) if c.nominated_by else ballot_text.SELF_NOMINATED.get(lang)
        rows.append((c.id, c.name.full(lang), who))
    if contest.against_all:
        rows.append((AGAINST_ALL, ballot_text.AGAINST_ALL.get(lang), ""))
    for i, (option, name, sub) in enumerate(rows):
        top = CANDIDATE_ROW_TOP_MM + i * CANDIDATE_ROW_PITCH_MM
        box = _box(top + (CANDIDATE_ROW_PITCH_MM - BOX_MM) / 2)
        targets.append(Target(contest.id, option, box, name))
        name_h = 4.6 if sub else 6.0
        texts.append(TextBox(Rect(CONTENT_X_MM[0], top + 0.8, LABEL_RIGHT_MM - CONTENT_X_MM[0],
                                  name_h), name, 3.4, bold=True))
        if sub:
            texts.append(TextBox(Rect(CONTENT_X_MM[0], top + 5.3, LABEL_RIGHT_MM - CONTENT_X_MM[0],
                                      3.2), sub, 2.4))
        rules.append(Rule(CONTENT_X_MM[0], top + CANDIDATE_ROW_PITCH_MM, LABEL_RIGHT_MM,
                          top + CANDIDATE_ROW_PITCH_MM, 0.15, grey=150))
    return targets, texts, rules


def _paper_length(kind: BallotKind, n_rows: int) -> float:
    if kind is BallotKind.PARTY_LIST:
        return 297.0
    for h in PAPER_LENGTHS_MM:
        last_row_centre = LADDER_Y0_MM + (ladder_count(h) - 1) * LADDER_PITCH_MM
        if CANDIDATE_ROW_TOP_MM + n_rows * CANDIDATE_ROW_PITCH_MM <= last_row_centre - 6.0:
            return h
    raise LayoutError(f"{n_rows} options do not fit on the longest ballot")


def _candidate_contest(election: Election, kind: BallotKind,
                       contest: int | str) -> CandidateContest:
    try:
        if kind is BallotKind.DISTRICT:
            return election.district(int(contest))
        return election.council(contest)
    except (KeyError, ValueError) as exc:
        raise LayoutError(f"no {kind.value} contest {contest!r} in this election") from exc


# --------------------------------------------------------------------------- entry point


def ballot_layout(election: Election, kind: BallotKind, contest: int | str | None = None,
                  language: Language = Language.KY) -> BallotLayout:
    """Lay out one ballot. ``contest`` is the district number or council id/number."""
    lang = language
    if kind is BallotKind.PARTY_LIST:
        contest_id, number = PARTY_LIST_CONTEST, 0
        targets, texts, rules = _party_list_body(election, lang)
        subtitle = ballot_text.SUBTITLE[kind].get(lang)
        paper_h = _paper_length(kind, len(targets))
    else:
        if contest is None:
            raise LayoutError(f"a {kind.value} ballot needs a district or council")
        cc = _candidate_contest(election, kind, contest)
        contest_id, number = cc.id, cc.number
        targets, texts, rules = _candidate_body(cc, lang)
        subtitle = ballot_text.SUBTITLE[kind].get(lang).format(number=cc.number,
                                                               name=cc.name.get(lang))
        paper_h = _paper_length(kind, len(targets))

    e_hash = election_hash(election)
    timing = _timing_marks(paper_h)
    code = ballot_code.BallotCode(kind, lang, number, LAYOUT_VERSION, int(e_hash[:8], 16))
    code_text = (f"{election.election_id} · {ballot_text.KIND_SHORT[kind]}{number:02d} · "
                 f"{lang.value} · v{LAYOUT_VERSION} · {e_hash[:8]}")
    band = _code_band(code, timing, code_text)

    header = [
        TextBox(Rect(CONTENT_X_MM[0], 10.2, 120.0, 2.2), code_text, 1.8),
        TextBox(Rect(CONTENT_X_MM[0], 13.0, 128.0, 5.5), ballot_text.TITLE.get(lang), 5.0,
                bold=True),
        TextBox(Rect(CONTENT_X_MM[0], 19.0, 128.0, 4.0), election.name.get(lang), 2.8),
        TextBox(Rect(CONTENT_X_MM[0], 23.5, 174.0, 5.0), subtitle, 3.4, bold=True),
    ]
    footer_y = LADDER_Y0_MM + (timing.count - 1) * LADDER_PITCH_MM - 5.5
    footer = [TextBox(Rect(CONTENT_X_MM[0], footer_y, 174.0, 2.6), ballot_text.FOOTER.get(lang),
                      2.0, align="center")]

    colour = STRIPE_SRGB[kind]
    stripes: tuple[Stripe, ...] = ()
    if colour is not None:
        stripes = tuple(
            Stripe(Rect(x, STRIPE_MARGIN_Y_MM, STRIPE_W_MM, paper_h - 2 * STRIPE_MARGIN_Y_MM),
                   colour)
            for x in STRIPE_X_MM
        )
    return BallotLayout(
        layout_version=LAYOUT_VERSION,
        election_hash=e_hash,
        kind=kind,
        contest=contest_id,
        contest_number=number,
        language=lang,
        paper_w_mm=PAPER_W_MM,
        paper_h_mm=paper_h,
        stripes=stripes,
        timing=timing,
        code=band,
        security=SecurityFeature(SECURITY_RECT, SECURITY_PERIOD_MM, SECURITY_LINE_MM,
                                 SECURITY_SRGB),
        targets=tuple(targets),
        texts=tuple(header + texts + footer),
        rules=tuple(rules),
    )
