"""Validity rules: the marks read on one ballot -> what that ballot counts for.

Pure functions over *selections* (the set of option ids marked in each contest),
never over images. The vision pipeline decides which boxes carry a definite mark;
this module decides what those marks mean in law. Keeping the two apart is what
lets the simulator's ground truth and the scanner's reading be compared exactly:
both are turned into a :class:`BallotOutcome` by the same code and compared as
JSON (:meth:`BallotOutcome.to_json`).

The law's exact wording was not available, so the rules are a named,
configurable :class:`RuleSet`. The default, ``kg-2021``, implements DESIGN.md
("Validity rules"):

``party-list``, part 1 (contest ``party-list``; options: party ids, ``against-all``)
    exactly one mark -> ``valid`` (a party or against-all); no mark -> ``blank``;
    two or more -> ``overvote``. Blank and overvote are invalid ballots.

``party-list``, part 2 (contest ``preference``; options ``"1"``..``"54"``)
    Judged only when part 1 is a valid vote *for a party*. Otherwise, if any
    square is marked, the preference is ``not-applicable`` (this includes a
    valid against-all vote: against-all has no list). With a valid party vote:
    no square -> ``none``; one square whose number is within the party's list and
    not a withdrawn position -> ``valid`` (party, position); two or more squares
    -> ``void-multiple``; a number beyond the list -> ``void-beyond-list``; a
    withdrawn position -> ``void-withdrawn``. In every void case the party vote
    stands: only the preference is lost.

``district`` / ``local`` (contest ``district-NN`` / ``council-<id>``)
    exactly one mark (a candidate or against-all) -> ``valid``; none ->
    ``blank``; two or more -> ``overvote``; a single mark on a withdrawn
    candidate -> ``withdrawn``. Blank, overvote and withdrawn are invalid.

Precedence, when several rules apply to one ballot (first match wins):

1. An option id that is not on this ballot raises :class:`PcosError`. It means
   a reader or simulator bug, and must never be silently counted.
2. Contest: no mark -> ``blank``; two or more marks -> ``overvote``, even if
   some of them are on withdrawn candidates; one mark on a withdrawn
   candidate -> ``withdrawn``; otherwise ``valid``.
3. Preference: no square -> ``none`` (whatever part 1 says); part 1 not a valid
   party vote -> ``not-applicable``; two or more squares -> ``void-multiple``
   (even if some are beyond the list or withdrawn); the one square beyond the
   list -> ``void-beyond-list``; the one square on a withdrawn position ->
   ``void-withdrawn``; otherwise ``valid``.

The alternative ``kg-2021-struck-withdrawn`` treats withdrawn names as struck
from the ballot (see :data:`KG_2021_STRUCK_WITHDRAWN`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from election.errors import PcosError
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    CandidateContest,
    Election,
    PartyListContest,
)


class ContestStatus(StrEnum):
    """How one contest on one ballot is judged. Only ``valid`` carries a choice."""

    VALID = "valid"
    BLANK = "blank"  # no mark: invalid
    OVERVOTE = "overvote"  # two or more marks: invalid
    WITHDRAWN = "withdrawn"  # the only mark is on a withdrawn candidate: invalid

    @property
    def is_valid(self) -> bool:
        return self is ContestStatus.VALID


class PreferenceStatus(StrEnum):
    """How part 2 (the preference grid) of a party-list ballot is judged."""

    NONE = "none"  # no square marked
    VALID = "valid"  # a preference vote for (party, position)
    VOID_MULTIPLE = "void-multiple"  # two or more squares: preference void, party vote stands
    VOID_BEYOND_LIST = "void-beyond-list"  # number > the party's list length
    VOID_WITHDRAWN = "void-withdrawn"  # the position's candidate has withdrawn
    NOT_APPLICABLE = "not-applicable"  # squares marked, but part 1 is not a valid party vote


class RuleError(PcosError):
    """Selections that no rule can judge: an unknown option id or contest, or bad JSON.

    Raised for reader or simulator bugs; such a ballot must never be counted.
    """


# --------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ContestOutcome:
    """The judgement of one contest on one ballot.

    ``choice`` is the option id (party, candidate or ``against-all``) when
    ``status`` is ``valid``, and ``None`` otherwise.
    """

    contest: str
    status: ContestStatus
    choice: str | None = None

    def __post_init__(self) -> None:
        if self.status.is_valid != (self.choice is not None):
            raise ValueError(f"{self.contest}: status {self.status.value!r} with choice "
                             f"{self.choice!r}; a choice is given exactly when valid")

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "choice": self.choice}


@dataclass(frozen=True)
class PreferenceOutcome:
    """The judgement of part 2 of a party-list ballot.

    ``party`` and ``position`` (1-based place in that party's list) are given
    exactly when ``status`` is ``valid``; a void preference records only why it
    is void. The party vote itself is in the ``party-list`` ContestOutcome.
    """

    status: PreferenceStatus
    party: str | None = None
    position: int | None = None

    def __post_init__(self) -> None:
        valid = self.status is PreferenceStatus.VALID
        if valid != (self.party is not None) or valid != (self.position is not None):
            raise ValueError(f"preference: status {self.status.value!r} with party "
                             f"{self.party!r}, position {self.position!r}; both are given "
                             "exactly when valid")
        if self.position is not None and self.position < 1:
            raise ValueError(f"preference: position {self.position} is not >= 1")

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "party": self.party, "position": self.position}


@dataclass(frozen=True)
class BallotOutcome:
    """What one ballot counts for: each contest's judgement, and part 2 on a party-list.

    Canonical JSON (:meth:`to_json`), the form compared between simulator
    ground truth and the scanner's reading: a plain object keyed by contest id,
    every key always present, ``null`` for an absent value::

        {"party-list": {"status": "valid", "choice": "P03"},
         "preference": {"status": "valid", "party": "P03", "position": 12}}

        {"district-07": {"status": "overvote", "choice": null}}

    A party-list ballot always has the ``preference`` key (status ``none`` when
    no square is marked); other kinds never have it. Compare the dicts, or
    their ``json.dumps(..., sort_keys=True)`` text.
    """

    kind: BallotKind
    contests: tuple[ContestOutcome, ...]
    preference: PreferenceOutcome | None = None

    def __post_init__(self) -> None:
        ids = [c.contest for c in self.contests]
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"ballot outcome needs distinct contests, got {ids}")
        is_party_list = self.kind is BallotKind.PARTY_LIST
        if is_party_list != (self.preference is not None):
            raise ValueError("a preference outcome is given exactly on a party-list ballot")
        if PREFERENCE_CONTEST in ids:
            raise ValueError(f"{PREFERENCE_CONTEST!r} is not a contest outcome id")

    def contest(self, contest_id: str) -> ContestOutcome:
        for c in self.contests:
            if c.contest == contest_id:
                return c
        raise KeyError(contest_id)

    @property
    def is_valid(self) -> bool:
        """True when every contest on the ballot is a valid vote."""
        return all(c.status.is_valid for c in self.contests)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {c.contest: c.to_json() for c in self.contests}
        if self.preference is not None:
            doc[PREFERENCE_CONTEST] = self.preference.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Any, kind: BallotKind | None = None) -> BallotOutcome:
        """Inverse of :meth:`to_json`. Raises :class:`RuleError` naming the bad field.

        ``kind`` is inferred from the contest ids (``party-list``,
        ``district-*``, ``council-*``) when not given.
        """
        if not isinstance(doc, Mapping) or not doc:
            raise RuleError("$: a ballot outcome must be a non-empty JSON object")
        contest_ids = [k for k in doc if k != PREFERENCE_CONTEST]
        if kind is None:
            kind = _infer_kind(contest_ids)
        contests = tuple(_contest_from_json(k, doc[k]) for k in contest_ids)
        preference = None
        if kind is BallotKind.PARTY_LIST:
            if PREFERENCE_CONTEST not in doc:
                raise RuleError(f"$.{PREFERENCE_CONTEST}: missing on a party-list ballot")
            preference = _preference_from_json(doc[PREFERENCE_CONTEST])
        elif PREFERENCE_CONTEST in doc:
            raise RuleError(f"$.{PREFERENCE_CONTEST}: only a party-list ballot has one")
        try:
            return cls(kind, contests, preference)
        except ValueError as exc:
            raise RuleError(f"$: {exc}") from None


def _infer_kind(contest_ids: list[str]) -> BallotKind:
    kinds = set()
    for cid in contest_ids:
        if cid == PARTY_LIST_CONTEST:
            kinds.add(BallotKind.PARTY_LIST)
        elif cid.startswith("district-"):
            kinds.add(BallotKind.DISTRICT)
        elif cid.startswith("council-"):
            kinds.add(BallotKind.LOCAL)
        else:
            raise RuleError(f"$.{cid}: not a contest id")
    if len(kinds) != 1:
        raise RuleError(f"$: cannot tell the ballot kind from contests {sorted(contest_ids)}")
    return kinds.pop()


def _keys(path: str, doc: Any, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise RuleError(f"{path}: must be a JSON object")
    if set(doc) != keys:
        raise RuleError(f"{path}: keys must be {sorted(keys)}, got {sorted(doc)}")
    return doc


def _contest_from_json(contest_id: str, doc: Any) -> ContestOutcome:
    path = f"$.{contest_id}"
    d = _keys(path, doc, {"status", "choice"})
    try:
        status = ContestStatus(d["status"])
    except ValueError:
        raise RuleError(f"{path}.status: unknown status {d['status']!r}; known: "
                        f"{[s.value for s in ContestStatus]}") from None
    if d["choice"] is not None and not isinstance(d["choice"], str):
        raise RuleError(f"{path}.choice: must be a string or null")
    try:
        return ContestOutcome(contest_id, status, d["choice"])
    except ValueError as exc:
        raise RuleError(f"{path}: {exc}") from None


def _preference_from_json(doc: Any) -> PreferenceOutcome:
    path = f"$.{PREFERENCE_CONTEST}"
    d = _keys(path, doc, {"status", "party", "position"})
    try:
        status = PreferenceStatus(d["status"])
    except ValueError:
        raise RuleError(f"{path}.status: unknown status {d['status']!r}; known: "
                        f"{[s.value for s in PreferenceStatus]}") from None
    if d["party"] is not None and not isinstance(d["party"], str):
        raise RuleError(f"{path}.party: must be a string or null")
    pos = d["position"]
    if pos is not None and (not isinstance(pos, int) or isinstance(pos, bool)):
        raise RuleError(f"{path}.position: must be an integer or null")
    try:
        return PreferenceOutcome(status, d["party"], pos)
    except ValueError as exc:
        raise RuleError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------
# Rule sets
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSet:
    """A named, documented choice of validity rules. Immutable; look up by name.

    Knobs (defaults are DESIGN.md's rules):

    ``withdrawn_candidate_voids_ballot``
        True: a mark on a withdrawn district/local candidate is a mark like any
        other, and a ballot whose one mark is on a withdrawn candidate is
        invalid as ``withdrawn`` (with another mark it is an ``overvote``).
        False: marks on withdrawn candidates are disregarded, as if the name
        were struck from the ballot, and the remaining marks are judged; a
        ballot whose only marks are on withdrawn candidates is still invalid as
        ``withdrawn`` (the voter did mark it, so it is not ``blank``).
    ``withdrawn_position_voids_preference``
        The same choice for part 2: True, a square on a withdrawn list position
        is an ordinary square (alone it gives ``void-withdrawn``); False, such
        squares are disregarded before the rest are judged (if they were the
        only squares, ``void-withdrawn``). The party vote stands either way.

    Things that are *not* knobs, because no other choice is meaningful: a
    preference needs a valid party vote (a position means nothing without a
    chosen list, so against-all never carries one), and at most one preference
    is counted (a :class:`PreferenceOutcome` names one position).
    """

    name: str
    description: str
    withdrawn_candidate_voids_ballot: bool = True
    withdrawn_position_voids_preference: bool = True


KG_2021 = RuleSet(
    name="kg-2021",
    description=(
        "DESIGN.md defaults. Party list: exactly one mark in part 1 (a party or "
        "against-all) is valid, none is blank, more is an overvote. Part 2 counts only "
        "with a valid party vote; two or more squares, a number beyond the list or a "
        "withdrawn position void the preference only. District/local: exactly one mark "
        "is valid; none is blank, more is an overvote, a lone mark on a withdrawn "
        "candidate is invalid (withdrawn)."
    ),
)

KG_2021_STRUCK_WITHDRAWN = RuleSet(
    name="kg-2021-struck-withdrawn",
    description=(
        "As kg-2021, but withdrawn candidates and withdrawn list positions count as "
        "struck from the ballot: marks on them are disregarded and the remaining marks "
        "judged. A ballot marked for a withdrawn and an active candidate is a valid vote "
        "for the active one (kg-2021: overvote); squares on a withdrawn position and one "
        "valid position give that preference (kg-2021: void-multiple). A ballot marked "
        "only on withdrawn names is still invalid (withdrawn / void-withdrawn). For "
        "commissions that strike withdrawn names by stamp before polls open."
    ),
    withdrawn_candidate_voids_ballot=False,
    withdrawn_position_voids_preference=False,
)

DEFAULT_RULE_SET = KG_2021.name

RULE_SETS: Mapping[str, RuleSet] = MappingProxyType(
    {r.name: r for r in (KG_2021, KG_2021_STRUCK_WITHDRAWN)}
)
"""Every known rule set by name (read-only)."""


def rule_set(name: str) -> RuleSet:
    """The rule set called ``name``; :class:`PcosError` naming the known ones otherwise."""
    try:
        return RULE_SETS[name]
    except KeyError:
        raise PcosError(f"unknown rule set {name!r}; known rule sets: "
                        f"{', '.join(sorted(RULE_SETS))}") from None


# --------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------


def _check_known(contest_id: str, marked: AbstractSet[str], known: AbstractSet[str]) -> None:
    unknown = marked - known
    if unknown:
        raise RuleError(f"{contest_id}: unknown option id(s) {sorted(unknown)}; a reader "
                        "must only report options printed on this ballot")


def _preference_squares(contest: PartyListContest, squares: AbstractSet[str]) -> set[int]:
    """Square ids ``"1"``..``"N"`` -> numbers. Anything else (``"01"``, ``"0"``) is unknown."""
    known = {str(n) for n in range(1, contest.preference_squares + 1)}
    _check_known(PREFERENCE_CONTEST, squares, known)
    return {int(s) for s in squares}


def judge_party_list(
    contest: PartyListContest,
    part1: AbstractSet[str],
    squares: AbstractSet[str],
    rules: RuleSet,
) -> tuple[ContestOutcome, PreferenceOutcome]:
    """Judge both parts of a party-list ballot: part 1 marks and part 2 squares.

    ``part1`` holds marked option ids of contest ``party-list`` (party ids,
    ``against-all``); ``squares`` the marked square ids of contest
    ``preference`` (``"1"``..``"54"``).
    """
    _check_known(PARTY_LIST_CONTEST, part1, set(contest.option_ids))
    numbers = _preference_squares(contest, squares)

    if not part1:
        vote = ContestOutcome(PARTY_LIST_CONTEST, ContestStatus.BLANK)
    elif len(part1) > 1:
        vote = ContestOutcome(PARTY_LIST_CONTEST, ContestStatus.OVERVOTE)
    else:
        (choice,) = part1
        vote = ContestOutcome(PARTY_LIST_CONTEST, ContestStatus.VALID, choice)

    if not numbers:
        return vote, PreferenceOutcome(PreferenceStatus.NONE)
    if vote.choice is None or vote.choice == AGAINST_ALL:
        return vote, PreferenceOutcome(PreferenceStatus.NOT_APPLICABLE)

    party = contest.party(vote.choice)
    if not rules.withdrawn_position_voids_preference:
        kept = numbers - set(party.withdrawn_positions)
        if not kept:
            return vote, PreferenceOutcome(PreferenceStatus.VOID_WITHDRAWN)
        numbers = kept
    if len(numbers) > 1:
        return vote, PreferenceOutcome(PreferenceStatus.VOID_MULTIPLE)
    (position,) = numbers
    if position > party.list_length:
        return vote, PreferenceOutcome(PreferenceStatus.VOID_BEYOND_LIST)
    if position in party.withdrawn_positions:
        return vote, PreferenceOutcome(PreferenceStatus.VOID_WITHDRAWN)
    return vote, PreferenceOutcome(PreferenceStatus.VALID, party.id, position)


def judge_candidate_contest(
    contest: CandidateContest, marked: AbstractSet[str], rules: RuleSet
) -> ContestOutcome:
    """Judge a district or local ballot from its marked option ids."""
    _check_known(contest.id, marked, set(contest.option_ids))
    if not marked:
        return ContestOutcome(contest.id, ContestStatus.BLANK)
    withdrawn = {c.id for c in contest.candidates if c.withdrawn}
    remaining = set(marked)
    if not rules.withdrawn_candidate_voids_ballot:
        remaining -= withdrawn
        if not remaining:
            return ContestOutcome(contest.id, ContestStatus.WITHDRAWN)
    if len(remaining) > 1:
        return ContestOutcome(contest.id, ContestStatus.OVERVOTE)
    (choice,) = remaining
    if choice in withdrawn:
        return ContestOutcome(contest.id, ContestStatus.WITHDRAWN)
    return ContestOutcome(contest.id, ContestStatus.VALID, choice)


def judge_ballot(
    election: Election,
    kind: BallotKind,
    contest_id: str,
    selections: Mapping[str, AbstractSet[str]],
    rules: RuleSet | None = None,
) -> BallotOutcome:
    """Judge one ballot of ``kind`` for ``contest_id`` from its selections.

    ``selections`` maps contest id -> marked option ids. For a party-list
    ballot its keys may be ``party-list`` and ``preference``; otherwise only
    ``contest_id``. A missing key means nothing marked there; any other key
    raises :class:`RuleError`. ``rules`` defaults to the election's own set
    (``election.rules``).
    """
    if rules is None:
        rules = rule_set(election.rules)
    if kind is BallotKind.PARTY_LIST:
        if contest_id != PARTY_LIST_CONTEST:
            raise RuleError(f"a party-list ballot has contest {PARTY_LIST_CONTEST!r}, "
                            f"not {contest_id!r}")
        allowed = {PARTY_LIST_CONTEST, PREFERENCE_CONTEST}
    else:
        allowed = {contest_id}
    extra = set(selections) - allowed
    if extra:
        raise RuleError(f"selections for contest(s) {sorted(extra)} are not on a "
                        f"{kind.value} ballot for {contest_id!r}")

    if kind is BallotKind.PARTY_LIST:
        vote, preference = judge_party_list(
            election.party_list,
            frozenset(selections.get(PARTY_LIST_CONTEST, ())),
            frozenset(selections.get(PREFERENCE_CONTEST, ())),
            rules,
        )
        return BallotOutcome(kind, (vote,), preference)

    try:
        contest = election.contest(contest_id)
    except KeyError:
        raise RuleError(f"unknown contest {contest_id!r}") from None
    if contest.kind is not kind:
        raise RuleError(f"contest {contest_id!r} is on a {contest.kind.value} ballot, "
                        f"not {kind.value}")
    outcome = judge_candidate_contest(
        contest, frozenset(selections.get(contest_id, ())), rules
    )
    return BallotOutcome(kind, (outcome,))
