"""Logic-and-accuracy test decks: which sheets, with which marks, and what they must count.

A test deck for one polling station is a list of :class:`DeckSheet` in feed
order, a pure function of the election and the station (:func:`build_deck`).
It exercises every box on every ballot the station takes, so that a device
that swaps two options, never sees one box (a dead box) or reads the grid
shifted shows it at once in its counts:

* **Distinct counts.** Every option of every contest (the parties and
  against-all of part 1, every candidate and against-all of a district or
  local ballot) gets a different, non-zero number of single-mark ballots.
  The baseline is ballot order: option *i* (0-based) gets *i + 1* ballots.
  A party that must carry more preference cases than its baseline gets more,
  and every later option is moved up to stay distinct and increasing.
  A withdrawn candidate gets its *i + 1* ballots too, but under the rules
  they count as ``withdrawn`` ballots, not as votes: its option line is 0 and
  the contest's ``withdrawn`` line carries the count instead.
* **Preference grid.** Distinct counts for all 54 squares would need
  1 + 2 + ... + 54 = 1,485 valid party ballots, far beyond a deck anyone would
  print and feed. Instead every square gets exactly one valid preference, each
  for a party whose list reaches it (spread over the parties), so every
  (party, position) key of the tally is different: a dead square removes its
  key, a swapped or shifted square moves a count to a key that should be 0.
* **Every rule case** (:class:`DeckCase`): blanks, overvotes (including a
  sheet with every box marked), a preference beyond the list, two squares, a
  withdrawn position, a square without a party vote (blank part 1) and with
  against-all, votes for a withdrawn candidate and a withdrawn candidate
  marked with another. A case that the station's ballots cannot hold (no
  withdrawn candidate on its district ballot, no list shorter than the grid)
  is listed in :attr:`TestDeck.skipped` with the reason.
* **One fake of each kind** the simulator makes (:class:`simulator.fakes.Fake`),
  each expected back with its reject reason.

Expected results (:func:`expected_results`) are computed from each sheet's
*intended* selections by :func:`election.rules.judge_ballot` and counted by
:class:`election.tally.Tally` — the pure validity rules, never a reader. The
simulated scans (:func:`write_scans`) and the PDF (:func:`render_deck`, drawn by
:mod:`calibration.marked_pdf`) draw exactly those selections.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from calibration.marked_pdf import DeckPage, MarkShape, PageStyle, VectorMark, render_deck_pdf
from calibration.testdeck_verify import EXPECTED_FORMAT
from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import election_hash
from election.layout import BallotLayout, ballot_layout
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    CandidateContest,
    Election,
    Language,
    Party,
    Station,
    council_contest_id,
    district_contest_id,
)
from election.rules import BallotOutcome, judge_ballot, rule_set
from election.tally import Tally, TallyBuilder
from simulator.fakes import EXPECTED_REASON, Fake, other_election, random_word, wrong_stripe_layout
from simulator.ink import INSTRUMENTS
from simulator.marks import Shape, Variant, VoterStyle
from simulator.scanner import ScannerParams, preset
from simulator.sheets import GivenBallot, GivenSheet, SheetFactory
from simulator.writer import ImageFormat, WriteSummary, prepare_dir, write_sheets

EXPECTED_FORMAT_VERSION = 1
COUNTS_FROM = ("election.rules.judge_ballot over each sheet's intended selections, counted by "
               "election.tally; never read from any image or reader")


class DeckCase(StrEnum):
    """Why a sheet is in the deck. Every sheet has exactly one case."""

    VOTE = "vote"  # one mark on one option: the distinct counts
    VALID_PREFERENCE = "valid-preference"  # a party and one square within its list
    PREFERENCE_BEYOND_LIST = "preference-beyond-list"  # a square past the party's list
    PREFERENCE_TWO_SQUARES = "preference-two-squares"  # a party and two squares
    PREFERENCE_WITHDRAWN_POSITION = "preference-withdrawn-position"
    PREFERENCE_WITHOUT_PARTY_VOTE = "preference-without-party-vote"  # blank part 1 + a square
    PREFERENCE_WITH_AGAINST_ALL = "preference-with-against-all"  # against-all + a square
    BLANK = "blank"
    OVERVOTE = "overvote"  # two marks
    ALL_BOXES = "all-boxes"  # every box of the ballot marked: an overvote
    WITHDRAWN_CANDIDATE = "withdrawn-candidate"  # one mark, on a withdrawn candidate
    WITHDRAWN_PLUS_OTHER = "withdrawn-plus-other"  # a withdrawn and an active candidate
    FAKE = "fake"  # not a good ballot: must be returned with a reason


# Cases every deck must hold when the station's ballots can hold them.
PARTY_LIST_CASES = (DeckCase.VOTE, DeckCase.VALID_PREFERENCE, DeckCase.PREFERENCE_BEYOND_LIST,
                    DeckCase.PREFERENCE_TWO_SQUARES, DeckCase.PREFERENCE_WITHDRAWN_POSITION,
                    DeckCase.PREFERENCE_WITHOUT_PARTY_VOTE, DeckCase.PREFERENCE_WITH_AGAINST_ALL,
                    DeckCase.BLANK, DeckCase.OVERVOTE, DeckCase.ALL_BOXES)
CANDIDATE_CASES = (DeckCase.VOTE, DeckCase.BLANK, DeckCase.OVERVOTE, DeckCase.ALL_BOXES,
                   DeckCase.WITHDRAWN_CANDIDATE, DeckCase.WITHDRAWN_PLUS_OTHER)

Selections = tuple[tuple[str, tuple[str, ...]], ...]  # ((contest id, sorted option ids), ...)


@dataclass(frozen=True)
class DeckBallot:
    """A printed ballot of the deck and the boxes marked on it."""

    kind: BallotKind
    contest: str  # contest id: party-list, district-NN, council-<id>
    layout_contest: int | str | None  # what election.layout.ballot_layout takes
    language: Language
    selections: Selections

    def selection_sets(self) -> dict[str, frozenset[str]]:
        return {c: frozenset(opts) for c, opts in self.selections if opts}

    @property
    def marks(self) -> tuple[tuple[str, str], ...]:
        """(contest id, option id) of every marked box, in ballot order of the selections."""
        return tuple((c, o) for c, opts in self.selections for o in opts)

    def describe(self) -> str:
        parts = [f"{c}: {'+'.join(opts)}" for c, opts in self.selections if opts]
        return "; ".join(parts) if parts else "no marks"


@dataclass(frozen=True)
class DeckSheet:
    """One entry of the deck, in feed order. A double feed is two physical sheets."""

    index: int
    case: DeckCase
    ballot: DeckBallot | None  # None for a blank sheet or a random document
    shape: MarkShape = MarkShape.CROSS
    fake: Fake | None = None
    second: DeckBallot | None = None  # the lower ballot of a double feed
    note: str = ""

    @property
    def physical_sheets(self) -> int:
        return 2 if self.second is not None else 1

    @property
    def expected_reason(self) -> str | None:
        return EXPECTED_REASON[self.fake].value if self.fake is not None else None

    def label(self) -> str:
        what = self.ballot.describe() if self.ballot is not None else "no ballot"
        head = f"{self.index + 1:04d} {self.case.value}"
        if self.fake is not None:
            head += f" [{self.fake.value} -> {self.expected_reason}]"
        return f"{head}: {what}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class TestDeck:
    """A station's test deck: sheets in feed order, and the cases it could not hold."""

    __test__ = False  # not a pytest class

    election: Election
    station: Station
    sheets: tuple[DeckSheet, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)  # case -> why not in this deck

    @property
    def physical_sheets(self) -> int:
        return sum(s.physical_sheets for s in self.sheets)

    def cases(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for s in self.sheets:
            out.setdefault(s.case.value, []).append(s.index)
        return out

    def genuine(self) -> Iterator[DeckSheet]:
        return (s for s in self.sheets if s.fake is None)


# --------------------------------------------------------------------------- planning


def _sel(*pairs: tuple[str, Iterable[str]]) -> Selections:
    return tuple((c, tuple(sorted(opts, key=_option_key))) for c, opts in pairs)


def _option_key(option: str) -> tuple[int, str]:
    return (int(option), "") if option.isdigit() else (0, option)


def _distinct_counts(options: tuple[str, ...], demand: Mapping[str, int]) -> dict[str, int]:
    """Ballot order i -> i + 1, raised to each option's demand, kept strictly increasing."""
    counts: dict[str, int] = {}
    previous = 0
    for i, option in enumerate(options):
        counts[option] = max(i + 1, demand.get(option, 0), previous + 1)
        previous = counts[option]
    return counts


@dataclass
class _PartyPlan:
    """Preference cases riding on party votes: party -> list of (case, squares)."""

    rides: dict[str, list[tuple[DeckCase, tuple[int, ...]]]]
    skipped: dict[str, str]


def _valid_position(party: Party, square: int) -> bool:
    return square <= party.list_length and square not in party.withdrawn_positions


def _plan_preferences(election: Election) -> _PartyPlan:
    pl = election.party_list
    parties = pl.parties
    baseline = {p.id: i + 1 for i, p in enumerate(parties)}
    rides: dict[str, list[tuple[DeckCase, tuple[int, ...]]]] = {p.id: [] for p in parties}
    skipped: dict[str, str] = {}

    def room(pid: str) -> int:
        return baseline[pid] - len(rides[pid])

    def pick(eligible: list[Party]) -> Party:
        # The party with most room left; ties go to the later one (larger baseline).
        return max(eligible, key=lambda p: (room(p.id), baseline[p.id]))

    for square in range(1, pl.preference_squares + 1):
        eligible = [p for p in parties if _valid_position(p, square)]
        if not eligible:
            skipped[f"{DeckCase.VALID_PREFERENCE.value} square {square}"] = (
                f"no list reaches square {square} at a position that has not withdrawn")
            continue
        rides[pick(eligible).id].append((DeckCase.VALID_PREFERENCE, (square,)))

    short = [p for p in parties if p.list_length < pl.preference_squares]
    if short:
        p = pick(short)
        rides[p.id].append((DeckCase.PREFERENCE_BEYOND_LIST, (p.list_length + 1,)))
    else:
        skipped[DeckCase.PREFERENCE_BEYOND_LIST.value] = (
            "every list is as long as the preference grid")
    two = [p for p in parties if _valid_position(p, 1) and _valid_position(p, 2)]
    if two and pl.preference_squares >= 2:
        p = pick(two)
        rides[p.id].append((DeckCase.PREFERENCE_TWO_SQUARES, (1, 2)))
    else:
        skipped[DeckCase.PREFERENCE_TWO_SQUARES.value] = "no list with positions 1 and 2"
    withdrawn = [p for p in parties
                 if any(w <= pl.preference_squares for w in p.withdrawn_positions)]
    if withdrawn:
        p = pick(withdrawn)
        rides[p.id].append((DeckCase.PREFERENCE_WITHDRAWN_POSITION,
                            (min(p.withdrawn_positions),)))
    else:
        skipped[DeckCase.PREFERENCE_WITHDRAWN_POSITION.value] = (
            "no list has a withdrawn position within the grid")
    return _PartyPlan(rides, skipped)


def _languages(station: Station, kind: BallotKind) -> tuple[Language, ...]:
    """The languages this station received ballots of this kind in (both if none listed)."""
    langs = tuple(sorted({b.language for b in station.ballots if b.kind is kind and b.count},
                         key=lambda lang: lang.value))
    return langs or (Language.KY, Language.RU)


class _Deck:
    """Accumulates sheets in feed order; languages and mark shapes alternate per sheet."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.sheets: list[DeckSheet] = []
        self._per_kind: Counter[BallotKind] = Counter()

    def ballot(self, kind: BallotKind, contest: str, layout_contest: int | str | None,
               selections: Selections) -> DeckBallot:
        langs = _languages(self.station, kind)
        lang = langs[self._per_kind[kind] % len(langs)]
        self._per_kind[kind] += 1
        return DeckBallot(kind, contest, layout_contest, lang, selections)

    def add(self, case: DeckCase, ballot: DeckBallot | None, fake: Fake | None = None,
            second: DeckBallot | None = None, note: str = "") -> None:
        i = len(self.sheets)
        # Every fourth sheet is filled in, the others crossed: the device must read both.
        shape = MarkShape.FILL if i % 4 == 3 else MarkShape.CROSS
        self.sheets.append(DeckSheet(i, case, ballot, shape, fake, second, note))


def _party_list_sheets(deck: _Deck, election: Election, skipped: dict[str, str]) -> None:
    pl = election.party_list
    plan = _plan_preferences(election)
    skipped.update(plan.skipped)
    options = pl.option_ids
    counts = _distinct_counts(options, {pid: len(r) for pid, r in plan.rides.items()})
    squares = pl.preference_squares

    def add(case: DeckCase, part1: Iterable[str], prefs: Iterable[int] = ()) -> None:
        sel = _sel((PARTY_LIST_CONTEST, part1), (PREFERENCE_CONTEST, (str(n) for n in prefs)))
        deck.add(case, deck.ballot(BallotKind.PARTY_LIST, PARTY_LIST_CONTEST, None, sel))

    for option in options:
        rides = plan.rides.get(option, []) if option != AGAINST_ALL else []
        for case, prefs in rides:
            add(case, (option,), prefs)
        plain = counts[option] - len(rides)
        if option == AGAINST_ALL and squares:
            add(DeckCase.PREFERENCE_WITH_AGAINST_ALL, (option,), (squares,))
            plain -= 1
        for _ in range(plain):
            add(DeckCase.VOTE, (option,))
    add(DeckCase.BLANK, ())
    if squares:
        add(DeckCase.PREFERENCE_WITHOUT_PARTY_VOTE, (), (1,))
    else:
        skipped[DeckCase.PREFERENCE_WITHOUT_PARTY_VOTE.value] = "no preference grid"
        skipped[DeckCase.PREFERENCE_WITH_AGAINST_ALL.value] = "no preference grid"
    if len(options) >= 2:
        add(DeckCase.OVERVOTE, options[:2])
    add(DeckCase.ALL_BOXES, options, range(1, squares + 1))


def _candidate_sheets(deck: _Deck, contest: CandidateContest,
                      layout_contest: int | str, skipped: dict[str, str]) -> None:
    options = contest.option_ids
    counts = _distinct_counts(options, {})
    withdrawn = [c.id for c in contest.candidates if c.withdrawn]
    active = [o for o in options if o not in withdrawn]

    def add(case: DeckCase, marked: Iterable[str]) -> None:
        sel = _sel((contest.id, marked))
        deck.add(case, deck.ballot(contest.kind, contest.id, layout_contest, sel))

    for option in options:
        case = DeckCase.WITHDRAWN_CANDIDATE if option in withdrawn else DeckCase.VOTE
        for _ in range(counts[option]):
            add(case, (option,))
    add(DeckCase.BLANK, ())
    if len(active) >= 2:
        add(DeckCase.OVERVOTE, active[:2])
    add(DeckCase.ALL_BOXES, options)
    if withdrawn and active:
        add(DeckCase.WITHDRAWN_PLUS_OTHER, (withdrawn[0], active[0]))
    else:
        why = f"{contest.id} has no withdrawn candidate"
        skipped[f"{DeckCase.WITHDRAWN_CANDIDATE.value} {contest.id}"] = why
        skipped[f"{DeckCase.WITHDRAWN_PLUS_OTHER.value} {contest.id}"] = why


def _station_contests(election: Election, station: Station
                      ) -> list[tuple[CandidateContest, int | str]]:
    out: list[tuple[CandidateContest, int | str]] = []
    if station.district is not None:
        out.append((election.contest(district_contest_id(station.district)), station.district))
    if station.council is not None:
        c = election.contest(council_contest_id(station.council))
        out.append((c, c.id))
    return out


def _fake_sheets(deck: _Deck, election: Election, station: Station) -> None:
    """One sheet of each fake kind, each a ballot marked for one option (or no ballot)."""
    pl = election.party_list
    first = pl.option_ids[0]
    own = _station_contests(election, station)

    def party_ballot() -> DeckBallot:
        return deck.ballot(BallotKind.PARTY_LIST, PARTY_LIST_CONTEST, None,
                           _sel((PARTY_LIST_CONTEST, (first,))))

    for fake in Fake:
        if fake is Fake.FOREIGN_CONTEST:
            foreign = _foreign_contest(election, station)
            if foreign is None:
                continue
            contest, layout_contest = foreign
            ballot = deck.ballot(contest.kind, contest.id, layout_contest,
                                 _sel((contest.id, contest.option_ids[:1])))
            deck.add(DeckCase.FAKE, ballot, fake, note=f"a genuine {contest.id} ballot")
        elif fake in (Fake.BLANK_SHEET, Fake.RANDOM_DOCUMENT):
            deck.add(DeckCase.FAKE, None, fake)
        elif fake is Fake.DOUBLE_FEED:
            if own:
                contest, layout_contest = own[0]
                second = deck.ballot(contest.kind, contest.id, layout_contest,
                                     _sel((contest.id, contest.option_ids[:1])))
            else:
                second = party_ballot()
            deck.add(DeckCase.FAKE, party_ballot(), fake, second,
                     note="feed both sheets together, the second trailing the first")
        elif fake is Fake.WRONG_STRIPE and own:
            contest, layout_contest = own[0]
            ballot = deck.ballot(contest.kind, contest.id, layout_contest,
                                 _sel((contest.id, contest.option_ids[:1])))
            deck.add(DeckCase.FAKE, ballot, fake)
        else:
            deck.add(DeckCase.FAKE, party_ballot(), fake)


def _foreign_contest(election: Election, station: Station
                     ) -> tuple[CandidateContest, int | str] | None:
    """The first district (else council) ballot that is not voted on at this station."""
    for d in election.districts:
        if d.number != station.district:
            return d, d.number
    for c in election.councils:
        if station.council is None or c.id != council_contest_id(station.council):
            return c, c.id
    return None


def build_deck(election: Election, station: Station) -> TestDeck:
    """The station's test deck: party list, then district, then local ballots, then fakes.

    Pure: the same election and station always give the same deck.
    """
    deck = _Deck(station)
    skipped: dict[str, str] = {}
    _party_list_sheets(deck, election, skipped)
    for contest, layout_contest in _station_contests(election, station):
        _candidate_sheets(deck, contest, layout_contest, skipped)
    _fake_sheets(deck, election, station)
    if _foreign_contest(election, station) is None:
        skipped[Fake.FOREIGN_CONTEST.value] = "the election has no other district or council"
    return TestDeck(election, station, tuple(deck.sheets), skipped)


def find_station(election: Election, number: str) -> Station:
    try:
        return election.station(str(number))
    except KeyError:
        raise PcosError(f"no station {number} in election {election.election_id}") from None


# --------------------------------------------------------------------------- expected results


def outcome(election: Election, ballot: DeckBallot) -> BallotOutcome:
    """What ``ballot`` counts for under the election's rules (``election.rules``)."""
    return judge_ballot(election, ballot.kind, ballot.contest, ballot.selection_sets(),
                        rule_set(election.rules))


def expected_tally(deck: TestDeck) -> Tally:
    """The tally of the deck's genuine sheets, from the rules alone."""
    builder = TallyBuilder.empty(deck.election, deck.station.contest_ids())
    for s in deck.genuine():
        assert s.ballot is not None
        builder.add(outcome(deck.election, s.ballot))
    tally = builder.build()
    tally.check()
    return tally


def expected_returned(deck: TestDeck) -> dict[str, int]:
    """Sheets the device must return, by reject reason (a double feed returns once)."""
    out: Counter[str] = Counter()
    for s in deck.sheets:
        if s.expected_reason is not None:
            out[s.expected_reason] += 1
    return dict(sorted(out.items()))


def _ballot_json(b: DeckBallot | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"kind": b.kind.value, "contest": b.contest, "language": b.language.value,
            "selections": {c: list(opts) for c, opts in b.selections}}


def expected_results(deck: TestDeck, seed: int | None = None) -> dict[str, Any]:
    """The expected results document (``expected.json``)."""
    e = deck.election
    sheets = []
    for s in deck.sheets:
        entry: dict[str, Any] = {"index": s.index, "case": s.case.value,
                                 "fake": s.fake.value if s.fake else None,
                                 "expected_reason": s.expected_reason,
                                 "shape": s.shape.value, "physical_sheets": s.physical_sheets,
                                 "ballot": _ballot_json(s.ballot), "label": s.label()}
        if s.second is not None:
            entry["second"] = _ballot_json(s.second)
        if s.fake is None and s.ballot is not None:
            entry["expected"] = outcome(e, s.ballot).to_json()
        sheets.append(entry)
    return {
        "format": EXPECTED_FORMAT,
        "format_version": EXPECTED_FORMAT_VERSION,
        "counts_from": COUNTS_FROM,
        "election": {"id": e.election_id, "election_hash": election_hash(e), "rules": e.rules},
        "station": deck.station.number,
        "seed": seed,
        "deck_sheets": len(deck.sheets),
        "physical_sheets": deck.physical_sheets,
        "tally": expected_tally(deck).to_json(),
        "returned": expected_returned(deck),
        "cases": deck.cases(),
        "skipped": dict(sorted(deck.skipped.items())),
        "sheets": sheets,
    }


def write_expected(doc: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    data = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    write_atomically(Path(path), data.encode("utf-8"))


# --------------------------------------------------------------------------- simulated scans


def deck_style(sheet: DeckSheet) -> VoterStyle:
    """A clean, definite pen for the deck: blue or black ballpoint, crossed or filled."""
    inst = INSTRUMENTS["ballpoint-blue" if sheet.index % 2 == 0 else "ballpoint-black"]
    shape = Shape.FILL if sheet.shape is MarkShape.FILL else Shape.CROSS
    return VoterStyle(inst, 0.4, 0.9, shape, 1.0, 0.1, 0.0)


def _given(ballot: DeckBallot, sheet: DeckSheet) -> GivenBallot:
    marks = tuple((c, o, Variant.NORMAL) for c, o in ballot.marks)
    return GivenBallot(ballot.kind, ballot.layout_contest, ballot.language, marks,
                       deck_style(sheet), sheet.case.value)


def given_sheet(sheet: DeckSheet) -> GivenSheet:
    """The simulator's description of a deck sheet."""
    return GivenSheet(_given(sheet.ballot, sheet) if sheet.ballot is not None else None,
                      sheet.fake,
                      _given(sheet.second, sheet) if sheet.second is not None else None)


def scan_factory(deck: TestDeck, params: ScannerParams, seed: int) -> SheetFactory:
    """The simulator that scans this deck (the station's own ballots, no random fakes)."""
    return SheetFactory(deck.election, deck.station, params, seed=seed)


def write_scans(deck: TestDeck, out_dir: str | os.PathLike[str], params: ScannerParams,
                seed: int, preset_name: str | None = None, fmt: ImageFormat = ImageFormat.PNG,
                progress: Callable[[int], None] | None = None) -> WriteSummary:
    """Simulated scans of the deck, as ``pcos sim sheets`` writes them.

    Deck sheet *i* becomes ``NNNNNN-front/back.png`` with index *i* (a double
    feed is one fed pair of images), with its truth line; the manifest records
    the deck's generator and station.
    """
    factory = scan_factory(deck, params, seed)
    specs = [given_sheet(s) for s in deck.sheets]
    return write_sheets(factory, len(specs), out_dir, fmt=fmt, preset_name=preset_name,
                        progress=progress, make=lambda i: factory.given_sheet(i, specs[i]),
                        manifest_extra={"generator": "pcos testdeck make", "kind": "test-deck"})


# --------------------------------------------------------------------------- the PDF


def _layout(deck: TestDeck, ballot: DeckBallot, fake: Fake | None) -> BallotLayout:
    election = other_election(deck.election) if fake is Fake.OTHER_ELECTION else deck.election
    layout = ballot_layout(election, ballot.kind, ballot.layout_contest, ballot.language)
    return wrong_stripe_layout(layout) if fake is Fake.WRONG_STRIPE else layout


def _vector_marks(layout: BallotLayout, ballot: DeckBallot, shape: MarkShape
                  ) -> tuple[VectorMark, ...]:
    boxes = {t.id: t.box for t in layout.targets}
    return tuple(VectorMark(boxes[f"{c}/{o}"], shape) for c, o in ballot.marks)


def _document_lines(index: int) -> tuple[str, ...]:
    rng = np.random.default_rng([2021, index])
    words = [random_word(rng) for _ in range(400)]
    lines = [" ".join(words[:4]).upper()]
    for i in range(4, len(words), 9):
        lines.append(" ".join(words[i:i + 9]))
    return tuple(lines)


_STYLE = {Fake.PHOTOCOPY: PageStyle.GREY_COPY, Fake.FIT_TO_PAGE: PageStyle.FIT_TO_PAGE}


def deck_pages(deck: TestDeck) -> list[DeckPage]:
    """Every physical sheet of the deck as a PDF page, in feed order."""
    pages = []
    for s in deck.sheets:
        label = s.label()
        if s.ballot is None:
            lines = _document_lines(s.index) if s.fake is Fake.RANDOM_DOCUMENT else ()
            pages.append(DeckPage(label, None, text_lines=lines))
            continue
        layout = _layout(deck, s.ballot, s.fake)
        style = _STYLE.get(s.fake, PageStyle.NORMAL) if s.fake else PageStyle.NORMAL
        pages.append(DeckPage(label + (" [upper sheet]" if s.second else ""), layout,
                              _vector_marks(layout, s.ballot, s.shape), style))
        if s.second is not None:
            layout2 = _layout(deck, s.second, None)
            pages.append(DeckPage(f"{s.index + 1:04d} double-feed [lower sheet]: "
                                  f"{s.second.describe()}", layout2,
                                  _vector_marks(layout2, s.second, s.shape)))
    return pages


def cover_lines(deck: TestDeck, expected: Mapping[str, Any]) -> list[str]:
    """What the cover page lists: how to feed the deck, and what it must count."""
    e = deck.election
    lines = [f"Election {e.election_id} · hash {expected['election']['election_hash'][:16]} · "
             f"rules {e.rules}",
             f"Station {deck.station.number} · {len(deck.sheets)} deck sheets, "
             f"{deck.physical_sheets} pages to feed (a double feed is two pages fed together)",
             "Feed every page in order with the device in TEST mode, then run "
             "`pcos testdeck verify` on its test report.",
             "Expected counts come from the validity rules applied to the intended marks, "
             "not from any reader.", ""]
    lines.append("Cases (deck sheet numbers):")
    for case, idx in deck.cases().items():
        nums = ", ".join(str(i + 1) for i in idx[:12]) + (" ..." if len(idx) > 12 else "")
        lines.append(f"  {case}: {len(idx)} ({nums})")
    for contest, doc in expected["tally"]["contests"].items():
        lines.append("")
        lines.append(f"{contest}: {doc['ballots']} ballots, blank {doc['blank']}, overvote "
                     f"{doc['overvote']}, withdrawn {doc['withdrawn']}")
        for option, n in doc["options"].items():
            lines.append(f"  {option}: {n}")
        if "preference_statuses" in doc:
            lines.append("  preferences: " + ", ".join(
                f"{k} {v}" for k, v in doc["preference_statuses"].items() if v))
    lines.append("")
    lines.append("Returned by the device: " + ", ".join(
        f"{k} {v}" for k, v in expected["returned"].items()))
    for case, why in expected["skipped"].items():
        lines.append(f"Not in this deck: {case} ({why})")
    return lines


def render_deck(deck: TestDeck, expected: Mapping[str, Any]) -> bytes:
    """The print-ready PDF of the marked deck: cover, then one page per physical sheet."""
    title = f"PCOS-KG test deck · station {deck.station.number}"
    return render_deck_pdf(deck_pages(deck), title, cover_lines(deck, expected),
                           subject=f"election={deck.election.election_id}; "
                                   f"station={deck.station.number}; format=test-deck")


# --------------------------------------------------------------------------- making a deck


DECK_PDF = "deck.pdf"
EXPECTED_JSON = "expected.json"
SCANS_DIR = "scans"


@dataclass(frozen=True)
class MadeDeck:
    out_dir: Path
    deck: TestDeck
    pdf_pages: int
    scans: WriteSummary | None

    def line(self) -> str:
        scans = f"; scans: {self.scans.line()}" if self.scans else ""
        return (f"{len(self.deck.sheets)} deck sheets ({self.deck.physical_sheets} pages + "
                f"cover) for station {self.deck.station.number}{scans}")


def make_deck(election: Election, station: Station, out_dir: str | os.PathLike[str],
              seed: int = 0, params: ScannerParams | None = None,
              preset_name: str | None = "realistic", scans: bool = True,
              progress: Callable[[int], None] | None = None,
              fmt: ImageFormat = ImageFormat.PNG) -> MadeDeck:
    """Write ``deck.pdf``, ``expected.json`` and (unless ``scans`` is False) ``scans/``."""
    out = Path(out_dir)
    prepare_dir(out)
    deck = build_deck(election, station)
    expected = expected_results(deck, seed)
    write_expected(expected, out / EXPECTED_JSON)
    pdf = render_deck(deck, expected)
    write_atomically(out / DECK_PDF, pdf)
    summary = None
    if scans:
        summary = write_scans(deck, out / SCANS_DIR, params or preset("realistic"), seed,
                              preset_name, fmt=fmt, progress=progress)
    return MadeDeck(out, deck, deck.physical_sheets + 1, summary)
