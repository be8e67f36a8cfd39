"""The tally: judged ballots (:class:`~election.rules.BallotOutcome`) -> counts.

Two types, so that counting is fast and results are values:

* :class:`Tally` is an immutable, hashable snapshot. Equal tallies compare
  equal however they were built (order of ballots, splits, merges), because
  every part is kept in a canonical sorted form. :func:`merge` is a pure
  function: associative, commutative, with an empty tally as identity.
* :class:`TallyBuilder` is a local, mutable accumulator for counting many
  ballots (a scanner's day, a simulated country) without copying a snapshot
  per ballot. ``Tally.add`` / ``Tally.add_all`` use it internally.

Per contest it counts every option (zero-initialised from the election, so a
report shows the zero lines too, "against-all" included), ``blank``,
``overvote`` and ``withdrawn`` ballots (the invalid ones) and ``ballots``. The
party-list contest also counts each preference status, and valid preferences
per (party, position); preferences are stored sparsely (only non-zero), since
the default election has 1,015 list positions.

Invariants (:meth:`Tally.check`): for each contest
``sum(options) + blank + overvote + withdrawn == ballots``; on the party list,
the preference statuses sum to ``ballots``, valid preferences sum to the
``valid`` preference status, and no party has more preferences than votes.

JSON (:meth:`Tally.to_json`), keys in sorted order, lists sorted::

    {"election": "<election_id>",
     "contests": {
       "district-07": {"ballots": 6, "blank": 1, "overvote": 1, "withdrawn": 1,
                       "valid": 3, "invalid": 3,
                       "options": {"D07-01": 2, "D07-02": 0, "against-all": 1}},
       "party-list": {..., "options": {"P01": 4, ..., "against-all": 1},
                      "preference_statuses": {"none": 2, "valid": 3, "void-multiple": 0, ...},
                      "preferences": [{"party": "P01", "position": 3, "count": 2}, ...]}}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from election.errors import PcosError
from election.model import AGAINST_ALL, PARTY_LIST_CONTEST, PREFERENCE_CONTEST, Election
from election.rules import BallotOutcome, ContestStatus, PreferenceStatus


class TallyError(PcosError):
    """A tally invariant is violated, or tallies / outcomes do not fit together."""


_PREFERENCE_STATUS_ORDER = tuple(PreferenceStatus)
_COUNT_FIELDS = ("ballots", "blank", "overvote", "withdrawn")


@dataclass(frozen=True)
class ContestTally:
    """Counts for one contest. Immutable; every sequence is sorted canonically.

    ``options``: (option id, votes) for every option, sorted by id.
    ``preference_statuses``: (status, ballots) for every status, in enum order;
    empty unless this is the party-list contest.
    ``preferences``: ((party, position), votes), non-zero only, sorted.
    """

    contest: str
    options: tuple[tuple[str, int], ...]
    blank: int = 0
    overvote: int = 0
    withdrawn: int = 0
    ballots: int = 0
    preference_statuses: tuple[tuple[PreferenceStatus, int], ...] = ()
    preferences: tuple[tuple[tuple[str, int], int], ...] = ()

    @property
    def has_preferences(self) -> bool:
        return self.contest == PARTY_LIST_CONTEST

    def count(self, option: str) -> int:
        """Valid votes for ``option`` (a party, a candidate or ``against-all``)."""
        for oid, n in self.options:
            if oid == option:
                return n
        raise KeyError(f"{self.contest}: no option {option!r}")

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.options)

    @property
    def valid(self) -> int:
        """Ballots with a valid vote in this contest (against-all included)."""
        return sum(n for _, n in self.options)

    @property
    def invalid(self) -> int:
        """Blank, overvoted and withdrawn-candidate ballots."""
        return self.blank + self.overvote + self.withdrawn

    def preference(self, party: str, position: int) -> int:
        return dict(self.preferences).get((party, position), 0)

    def preference_status(self, status: PreferenceStatus) -> int:
        return dict(self.preference_statuses).get(status, 0)

    def leader(self) -> tuple[str, int] | None:
        """The option other than against-all with the most votes (ties: lowest id).

        ``None`` if the contest has no such option.
        """
        others = [(oid, n) for oid, n in self.options if oid != AGAINST_ALL]
        if not others:
            return None
        return min(others, key=lambda item: (-item[1], item[0]))

    def against_all_beats_leader(self) -> bool:
        """True when "against all" has strictly more votes than every other option.

        DESIGN.md: a district is re-run if against-all beats the leader. A tie
        does not beat the leader. False when the contest has no against-all option.
        """
        if AGAINST_ALL not in self.counts:
            return False
        leader = self.leader()
        return self.count(AGAINST_ALL) > (leader[1] if leader else 0)

    def check(self) -> None:
        """Raise :class:`TallyError` if any invariant is violated."""
        where = f"tally {self.contest}"
        numbers = [n for _, n in self.options] + [self.blank, self.overvote, self.withdrawn,
                                                  self.ballots]
        numbers += [n for _, n in self.preference_statuses] + [n for _, n in self.preferences]
        if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in numbers):
            raise TallyError(f"{where}: every count must be a non-negative integer")
        ids = [oid for oid, _ in self.options]
        if ids != sorted(set(ids)):
            raise TallyError(f"{where}: options must be distinct and sorted")
        if self.valid + self.invalid != self.ballots:
            raise TallyError(f"{where}: options {self.valid} + blank {self.blank} + overvote "
                             f"{self.overvote} + withdrawn {self.withdrawn} != ballots "
                             f"{self.ballots}")
        if not self.has_preferences:
            if self.preference_statuses or self.preferences:
                raise TallyError(f"{where}: only the party list has preferences")
            return
        if tuple(s for s, _ in self.preference_statuses) != _PREFERENCE_STATUS_ORDER:
            raise TallyError(f"{where}: preference statuses must list every status in order")
        if sum(n for _, n in self.preference_statuses) != self.ballots:
            raise TallyError(f"{where}: preference statuses do not sum to ballots "
                             f"{self.ballots}")
        keys = [k for k, _ in self.preferences]
        if keys != sorted(set(keys)) or any(n == 0 for _, n in self.preferences):
            raise TallyError(f"{where}: preferences must be distinct, sorted and non-zero")
        total = sum(n for _, n in self.preferences)
        if total != self.preference_status(PreferenceStatus.VALID):
            raise TallyError(f"{where}: preferences sum to {total}, valid preference status "
                             f"is {self.preference_status(PreferenceStatus.VALID)}")
        per_party: dict[str, int] = {}
        for (party, position), n in self.preferences:
            if party == AGAINST_ALL or party not in self.counts or position < 1:
                raise TallyError(f"{where}: preference for unknown ({party}, {position})")
            per_party[party] = per_party.get(party, 0) + n
        for party, n in per_party.items():
            if n > self.count(party):
                raise TallyError(f"{where}: {party} has {n} preferences but "
                                 f"{self.count(party)} votes")

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ballots": self.ballots,
            "blank": self.blank,
            "invalid": self.invalid,
            "options": dict(self.options),
            "overvote": self.overvote,
        }
        if self.has_preferences:
            doc["preference_statuses"] = {s.value: n for s, n in sorted(
                self.preference_statuses, key=lambda item: item[0].value)}
            doc["preferences"] = [
                {"count": n, "party": party, "position": position}
                for (party, position), n in self.preferences
            ]
        doc["valid"] = self.valid
        doc["withdrawn"] = self.withdrawn
        return doc

    @classmethod
    def from_json(cls, contest: str, doc: Any) -> ContestTally:
        """Inverse of :meth:`to_json`; checks invariants and the derived figures."""
        path = f"$.contests.{contest}"
        if not isinstance(doc, Mapping):
            raise TallyError(f"{path}: must be a JSON object")
        keys = {*_COUNT_FIELDS, "valid", "invalid", "options"}
        if contest == PARTY_LIST_CONTEST:
            keys |= {"preference_statuses", "preferences"}
        if set(doc) != keys:
            raise TallyError(f"{path}: keys must be {sorted(keys)}, got {sorted(doc)}")
        try:
            options = tuple(sorted((str(k), v) for k, v in dict(doc["options"]).items()))
            statuses: tuple[tuple[PreferenceStatus, int], ...] = ()
            prefs: tuple[tuple[tuple[str, int], int], ...] = ()
            if contest == PARTY_LIST_CONTEST:
                raw = dict(doc["preference_statuses"])
                if set(raw) != {s.value for s in PreferenceStatus}:
                    raise TallyError(f"{path}.preference_statuses: must list every status")
                statuses = tuple((s, raw[s.value]) for s in PreferenceStatus)
                prefs = tuple(sorted(((p["party"], p["position"]), p["count"])
                                     for p in doc["preferences"]))
            tally = cls(contest, options, doc["blank"], doc["overvote"], doc["withdrawn"],
                        doc["ballots"], statuses, prefs)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise TallyError(f"{path}: malformed ({exc})") from None
        tally.check()
        if (doc["valid"], doc["invalid"]) != (tally.valid, tally.invalid):
            raise TallyError(f"{path}: valid/invalid {doc['valid']}/{doc['invalid']} do not "
                             f"match the counts ({tally.valid}/{tally.invalid})")
        return tally


@dataclass(frozen=True)
class Tally:
    """Counts for a set of contests of one election. Immutable and canonical.

    ``contests`` is sorted by contest id. Build with :meth:`empty`, then
    :meth:`add` / :meth:`add_all`, or with a :class:`TallyBuilder`.
    """

    election: str  # Election.election_id: tallies of different elections never mix
    contests: tuple[ContestTally, ...]

    @classmethod
    def empty(cls, election: Election, contest_ids: Iterable[str] | None = None) -> Tally:
        """A zero tally for ``contest_ids`` (default: every contest of the election).

        Contest ids: ``party-list`` (which carries the preferences too),
        ``district-NN``, ``council-<id>``. Unknown ids raise :class:`TallyError`.
        """
        if contest_ids is None:
            ids = [PARTY_LIST_CONTEST, *(c.id for c in election.candidate_contests())]
        else:
            ids = list(contest_ids)
        contests = []
        for cid in sorted(set(ids)):
            if cid == PARTY_LIST_CONTEST:
                options = election.party_list.option_ids
                statuses = tuple((s, 0) for s in PreferenceStatus)
            elif cid == PREFERENCE_CONTEST:
                raise TallyError(f"{PREFERENCE_CONTEST!r} is counted within "
                                 f"{PARTY_LIST_CONTEST!r}; tally that contest instead")
            else:
                try:
                    options = election.contest(cid).option_ids
                except KeyError:
                    raise TallyError(f"unknown contest {cid!r} in election "
                                     f"{election.election_id!r}") from None
                statuses = ()
            contests.append(ContestTally(cid, tuple(sorted((o, 0) for o in options)),
                                         preference_statuses=statuses))
        return cls(election.election_id, tuple(contests))

    @property
    def contest_ids(self) -> tuple[str, ...]:
        return tuple(c.contest for c in self.contests)

    def contest(self, contest_id: str) -> ContestTally:
        for c in self.contests:
            if c.contest == contest_id:
                return c
        raise KeyError(contest_id)

    def invalid(self, contest_id: str) -> int:
        """Invalid ballots (blank + overvote + withdrawn) in one contest."""
        return self.contest(contest_id).invalid

    def against_all_beats_leader(self, contest_id: str) -> bool:
        """See :meth:`ContestTally.against_all_beats_leader`."""
        return self.contest(contest_id).against_all_beats_leader()

    def add(self, outcome: BallotOutcome) -> Tally:
        """A new tally with one more ballot. For many ballots use :meth:`add_all`."""
        return self.add_all((outcome,))

    def add_all(self, outcomes: Iterable[BallotOutcome]) -> Tally:
        """A new tally with every ballot of ``outcomes`` added."""
        builder = TallyBuilder.from_tally(self)
        for outcome in outcomes:
            builder.add(outcome)
        return builder.build()

    def check(self) -> None:
        """Raise :class:`TallyError` if any invariant of any contest is violated."""
        ids = list(self.contest_ids)
        if ids != sorted(set(ids)):
            raise TallyError("tally: contests must be distinct and sorted by id")
        for c in self.contests:
            c.check()

    def to_json(self) -> dict[str, Any]:
        return {
            "contests": {c.contest: c.to_json() for c in self.contests},
            "election": self.election,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Tally:
        """Inverse of :meth:`to_json`. Raises :class:`TallyError` on any inconsistency."""
        if not isinstance(doc, Mapping) or set(doc) != {"election", "contests"}:
            raise TallyError("$: a tally is an object with keys 'contests' and 'election'")
        if not isinstance(doc["election"], str) or not isinstance(doc["contests"], Mapping):
            raise TallyError("$: 'election' must be a string and 'contests' an object")
        contests = tuple(ContestTally.from_json(cid, d)  # each checked as it is read
                         for cid, d in sorted(doc["contests"].items()))
        # the rest of check(): contest ids distinct and sorted (sorted keys of a JSON
        # object are; checked all the same, without checking every contest twice)
        ids = [c.contest for c in contests]
        if ids != sorted(set(ids)):
            raise TallyError("tally: contests must be distinct and sorted by id")
        return cls(doc["election"], contests)


def merge(a: Tally, b: Tally) -> Tally:
    """The tally of the ballots of ``a`` and ``b`` together. Pure.

    Contests are the union of both sides (a contest on one side only is taken
    as zero on the other), so station tallies from different districts merge
    into a national one. A contest on both sides must have the same options.
    Associative and commutative; ``Tally.empty(election, ())`` is the identity,
    as is any empty tally over a subset of the contests.
    """
    builder = TallyBuilder.from_tally(a)
    builder.merge(b)
    return builder.build()


@dataclass
class _ContestCounts:
    """Mutable counterpart of :class:`ContestTally`, local to a builder."""

    options: dict[str, int]
    has_preferences: bool
    blank: int = 0
    overvote: int = 0
    withdrawn: int = 0
    ballots: int = 0
    statuses: dict[PreferenceStatus, int] = field(default_factory=dict)
    preferences: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def of(cls, t: ContestTally) -> _ContestCounts:
        return cls(dict(t.options), t.has_preferences, t.blank, t.overvote, t.withdrawn,
                   t.ballots, dict(t.preference_statuses), dict(t.preferences))

    def freeze(self, contest: str) -> ContestTally:
        statuses = (tuple((s, self.statuses.get(s, 0)) for s in PreferenceStatus)
                    if self.has_preferences else ())
        return ContestTally(
            contest,
            tuple(sorted(self.options.items())),
            self.blank,
            self.overvote,
            self.withdrawn,
            self.ballots,
            statuses,
            tuple(sorted((k, n) for k, n in self.preferences.items() if n)),
        )


class TallyBuilder:
    """Mutable accumulator: add many outcomes, then :meth:`build` a :class:`Tally`.

    Meant to live inside one function or one device session; it is never shared.
    """

    def __init__(self, election: str, contests: Mapping[str, _ContestCounts]) -> None:
        self._election = election
        self._contests = dict(contests)

    @classmethod
    def from_tally(cls, tally: Tally) -> TallyBuilder:
        return cls(tally.election, {c.contest: _ContestCounts.of(c) for c in tally.contests})

    @classmethod
    def empty(cls, election: Election, contest_ids: Iterable[str] | None = None
              ) -> TallyBuilder:
        return cls.from_tally(Tally.empty(election, contest_ids))

    def add(self, outcome: BallotOutcome) -> None:
        """Count one judged ballot. Raises :class:`TallyError` if it does not fit."""
        # Validate fully before changing anything, so a refused ballot leaves no trace.
        targets = []
        for c in outcome.contests:
            counts = self._contests.get(c.contest)
            if counts is None:
                raise TallyError(f"ballot for contest {c.contest!r}, which this tally does "
                                 f"not count (counts {sorted(self._contests)})")
            if c.choice is not None and c.choice not in counts.options:
                raise TallyError(f"{c.contest}: vote for unknown option {c.choice!r}")
            if counts.has_preferences != (outcome.preference is not None):
                raise TallyError(f"{c.contest}: a preference outcome is required exactly "
                                 "on the party list")
            pref = outcome.preference
            if (pref is not None and pref.status is PreferenceStatus.VALID
                    and pref.party != c.choice):
                raise TallyError(f"{c.contest}: preference for {pref.party!r} on a vote "
                                     f"for {c.choice!r}")
            targets.append((c, counts))
        for c, counts in targets:
            counts.ballots += 1
            if c.status is ContestStatus.VALID:
                assert c.choice is not None
                counts.options[c.choice] += 1
            elif c.status is ContestStatus.BLANK:
                counts.blank += 1
            elif c.status is ContestStatus.OVERVOTE:
                counts.overvote += 1
            else:
                counts.withdrawn += 1
            pref = outcome.preference
            if counts.has_preferences and pref is not None:
                counts.statuses[pref.status] = counts.statuses.get(pref.status, 0) + 1
                if pref.status is PreferenceStatus.VALID:
                    assert pref.party is not None and pref.position is not None
                    key = (pref.party, pref.position)
                    counts.preferences[key] = counts.preferences.get(key, 0) + 1

    def merge(self, other: Tally) -> None:
        """Add every count of ``other`` (see :func:`merge`)."""
        if other.election != self._election:
            raise TallyError(f"cannot merge tallies of elections {self._election!r} and "
                             f"{other.election!r}")
        for t in other.contests:
            mine = self._contests.get(t.contest)
            if mine is None:
                self._contests[t.contest] = _ContestCounts.of(t)
                continue
            if set(mine.options) != {oid for oid, _ in t.options}:
                raise TallyError(f"{t.contest}: cannot merge tallies with different options")
            for oid, n in t.options:
                mine.options[oid] += n
            mine.blank += t.blank
            mine.overvote += t.overvote
            mine.withdrawn += t.withdrawn
            mine.ballots += t.ballots
            for s, n in t.preference_statuses:
                mine.statuses[s] = mine.statuses.get(s, 0) + n
            for key, n in t.preferences:
                mine.preferences[key] = mine.preferences.get(key, 0) + n

    def build(self) -> Tally:
        """An immutable snapshot; the builder can go on counting afterwards."""
        return Tally(self._election,
                     tuple(self._contests[cid].freeze(cid) for cid in sorted(self._contests)))
