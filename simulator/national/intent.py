"""What each voter meant, without pixels, and the ground truth of the ballot boxes.

With ``--images none`` every voter's ballot is drawn with the shares and behaviours of
the voter model the image simulator marks ballots with (:class:`simulator.voters.VoterModel`:
2021's party shares, blanks, overvotes, preferences, candidate contests; vectorised here,
the same fields) and judged by the
election's rules (:func:`election.rules.judge_ballot`). :class:`IntentReader` is the
simulator's implementation of the firmware's ``SheetReader`` interface: it returns
that intended reading for the sheet the (tiny) image carries, so the firmware's
whole counting path (policy, pending/cast records on both media, audit log, tally
recount) runs as for a real reading, only the pixels are skipped.

The ground truth of a station (:func:`box_truth`) is recomputed here from the
sheets physically in the ballot boxes of the simulated world (``SimWorld.box``),
never from anything the device stored or sent.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    Election,
    Station,
)
from election.reject import RejectReason
from election.rules import BallotOutcome, judge_ballot
from election.tally import Tally, TallyBuilder
from firmware.hal.imaging import DuplexImages
from simulator.devices import sheet_of_tiny
from simulator.voters import VoterModel
from vision.result import Outcome, SheetInterpretation

# a sheet id's kind letter (built once: these run twice per sheet of the national day)
_KIND_LETTER = {BallotKind.PARTY_LIST: "p", BallotKind.DISTRICT: "d", BallotKind.LOCAL: "l"}
_KIND_OF_LETTER = {letter: kind for kind, letter in _KIND_LETTER.items()}


def sheet_id(station: str, index: int, kind: BallotKind, test: bool = False) -> str:
    """``<station>/<index>/<kind>`` (``T`` before the index for a test ballot). Fits the
    tiny image (at most 16 bytes) for every station number of the default election."""
    return f"{station}/{'T' if test else ''}{index}{_KIND_LETTER[kind]}"


def parse_sheet_id(sid: str) -> tuple[str, int, BallotKind, bool]:
    station, rest = sid.split("/", 1)
    test = rest.startswith("T")
    rest = rest[1:] if test else rest
    kind = _KIND_OF_LETTER[rest[-1]]
    return station, int(rest[:-1]), kind, test


@dataclass
class Intents:
    """The intended outcome of every sheet of one station.

    :meth:`prepare` draws the given sheets of one ballot kind at once (a seeded numpy
    stream per station, kind and test flag, so the same day gives the same voters in
    any process), following :class:`~simulator.voters.VoterModel`'s shares and
    behaviours; each distinct set of marks is judged once by the election's rules.
    """

    election: Election
    station: Station
    seed: int
    model: VoterModel = field(default_factory=VoterModel)
    _outcomes: dict[str, BallotOutcome] = field(default_factory=dict, repr=False)
    _judged: dict[tuple[Any, ...], BallotOutcome] = field(default_factory=dict, repr=False)
    # the preference position distribution (cumulative) for a list length: the same array
    # for every draw of that length, so built once
    _zipf_cdf: dict[int, Any] = field(default_factory=dict, repr=False)

    def contest_of(self, kind: BallotKind) -> str:
        ids = self.station.contest_ids()
        if kind is BallotKind.PARTY_LIST:
            return PARTY_LIST_CONTEST
        if kind is BallotKind.DISTRICT:
            return ids[1]
        return ids[-1]

    def outcome(self, sid: str) -> BallotOutcome:
        hit = self._outcomes.get(sid)
        if hit is None:
            _, index, kind, test = parse_sheet_id(sid)
            self.prepare(kind, [index], test=test, salt=index + 1)
            hit = self._outcomes[sid]
        return hit

    def issued(self, sid: str) -> bool:
        """Whether ``sid`` is a ballot the commission issued: without pixels every sheet of
        the plan is a genuine ballot (the fakes exist only as images)."""
        return not parse_sheet_id(sid)[3]

    def same_as(self, old: str, new: str) -> None:
        """Sheet ``new`` is the DEC's replacement for ``old``: the voter marks it alike."""
        self._outcomes[new] = self.outcome(old)

    def _judge(self, kind: BallotKind, contest: str,
               marks: tuple[tuple[str, str], ...]) -> BallotOutcome:
        key = (kind, contest, marks)
        out = self._judged.get(key)
        if out is None:
            selections: dict[str, set[str]] = {}
            for c, option in marks:
                selections.setdefault(c, set()).add(option)
            out = judge_ballot(self.election, kind, contest,
                               {k: frozenset(v) for k, v in selections.items()})
            self._judged[key] = out
        return out

    def prepare(self, kind: BallotKind, indices: list[int], *, test: bool = False,
                salt: int = 0) -> None:
        """Draw the intents of sheets ``indices`` of ``kind`` (in this order)."""
        kind_no = {BallotKind.PARTY_LIST: 0, BallotKind.DISTRICT: 1, BallotKind.LOCAL: 2}[kind]
        rng = np.random.default_rng([self.seed, zlib.crc32(self.station.number.encode()),
                                     kind_no, int(test), salt, 20])
        contest = self.contest_of(kind)
        if kind is BallotKind.PARTY_LIST:
            marks = self._party_list_marks(rng, len(indices))
        else:
            marks = self._candidate_marks(rng, contest, len(indices))
        for index, m in zip(indices, marks, strict=True):
            self._outcomes[sheet_id(self.station.number, index, kind, test)] = \
                self._judge(kind, contest, m)

    def _party_list_marks(self, rng: np.random.Generator, n: int
                          ) -> list[tuple[tuple[str, str], ...]]:
        vm, contest = self.model, self.election.party_list
        parties = [p.id for p in contest.parties]
        options = [*parties]
        valid = [*vm.party_shares[: len(parties)]]
        if contest.against_all:
            valid.append(vm.against_all_share)
            options.append(AGAINST_ALL)
        invalid = [vm.blank_share, vm.overvote_share, vm.preference_only_share,
                   vm.writing_instead_share]
        w = np.array(valid + invalid, np.float64)
        picks = rng.choice(w.size, size=n, p=w / w.sum())
        u = rng.random(n)
        squares = contest.preference_squares
        lengths = {p.id: min(p.list_length, squares) for p in contest.parties}
        out: list[tuple[tuple[str, str], ...]] = []
        for pick, uu in zip(picks.tolist(), u.tolist(), strict=True):
            if pick < len(options):
                choice = options[pick]
                if choice == AGAINST_ALL:
                    out.append(((PARTY_LIST_CONTEST, choice),))
                    continue
                length = lengths[choice]
                prefs: list[int] = []
                if uu < vm.pref_one:
                    prefs = [self._zipf(rng, length)]
                elif uu < vm.pref_one + vm.pref_beyond_list and length < squares:
                    prefs = [int(rng.integers(length + 1, squares + 1))]
                elif uu < vm.pref_one + vm.pref_beyond_list + vm.pref_two and length > 1:
                    a = self._zipf(rng, length)
                    b = a
                    while b == a:
                        b = int(rng.integers(1, length + 1))
                    prefs = [a, b]
                out.append(((PARTY_LIST_CONTEST, choice),
                            *((PREFERENCE_CONTEST, str(p)) for p in sorted(prefs))))
                continue
            what = ("blank", "overvote", "preference-only", "writing-instead")[pick - len(options)]
            if what == "overvote":
                k = 2 if uu < 0.85 else 3
                chosen = sorted(rng.choice(len(options), size=k, replace=False).tolist())
                out.append(tuple((PARTY_LIST_CONTEST, options[i]) for i in chosen))
            elif what == "preference-only":
                out.append(((PREFERENCE_CONTEST, str(int(rng.integers(1, squares + 1)))),))
            else:
                out.append(())
        return out

    def _zipf(self, rng: np.random.Generator, length: int) -> int:
        c = self._zipf_cdf.get(length)
        if c is None:
            w = 1.0 / np.arange(1, length + 1) ** self.model.pref_zipf
            c = self._zipf_cdf[length] = np.cumsum(w / w.sum())
        k = int(np.searchsorted(c, rng.random(), side="right"))
        return min(k, length - 1) + 1

    def _candidate_marks(self, rng: np.random.Generator, contest_id: str, n: int
                         ) -> list[tuple[tuple[str, str], ...]]:
        vm, contest = self.model, self.election.contest(contest_id)
        crng = np.random.default_rng([contest.number, len(contest.candidates), 2021])
        popularity = crng.dirichlet(np.full(len(contest.candidates), 1.6))
        popularity = np.array([p * (vm.withdrawn_weight if c.withdrawn else 1.0)
                               for p, c in zip(popularity, contest.candidates, strict=True)])
        valid_share = 100.0 - vm.candidate_against_all - vm.candidate_blank - \
            vm.candidate_overvote
        weights = list(popularity / popularity.sum() * valid_share)
        options = [c.id for c in contest.candidates]
        if contest.against_all:
            weights.append(vm.candidate_against_all)
            options.append(AGAINST_ALL)
        weights += [vm.candidate_blank, vm.candidate_overvote]
        w = np.array(weights)
        picks = rng.choice(w.size, size=n, p=w / w.sum())
        out: list[tuple[tuple[str, str], ...]] = []
        for pick in picks.tolist():
            if pick < len(options):
                out.append(((contest.id, options[pick]),))
            elif pick == len(options):
                out.append(())
            else:
                chosen = sorted(rng.choice(len(options), size=2, replace=False).tolist())
                out.append(tuple((contest.id, options[i]) for i in chosen))
        return out


class IntentReader:
    """The firmware's ``SheetReader``, answering with the voter's intended reading."""

    def __init__(self, intents: Intents) -> None:
        self.intents = intents
        # one (immutable) interpretation per distinct judged outcome: a station's sheets
        # share a few hundred of them. Looked up by the outcome object's identity (the
        # intents judge each distinct outcome once and keep it), the object kept beside
        # its reading: hashing a BallotOutcome's nested fields per sheet cost more
        self._readings: dict[tuple[BallotKind, int],
                             tuple[BallotOutcome, SheetInterpretation]] = {}

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        try:
            sid = sheet_of_tiny(DuplexImages(front, back))
            _, _, kind, _ = parse_sheet_id(sid)
            outcome = self.intents.outcome(sid)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError):
            return SheetInterpretation(Outcome.REJECTED, RejectReason.NOT_A_BALLOT,
                                       "not a sheet of this station")
        known = self._readings.get((kind, id(outcome)))
        if known is not None and known[0] is outcome:
            return known[1]
        reading = SheetInterpretation(Outcome.ACCEPTED, kind=kind.value,
                                      contest=self.intents.contest_of(kind),
                                      contests=outcome.to_json())
        self._readings[(kind, id(outcome))] = (outcome, reading)
        return reading


def box_truth(election: Election, station: Station, box: Iterable[str],
              outcome_of: Callable[[str], BallotOutcome]) -> Tally:
    """The tally of the official sheets in the box, from the simulator's intents."""
    b = TallyBuilder.empty(election, station.contest_ids())
    for sid in box:
        if not parse_sheet_id(sid)[3]:
            b.add(outcome_of(sid))
    return b.build()
