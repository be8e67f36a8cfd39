"""The election definition as typed, immutable values.

Every other part of PCOS-KG reads these classes. They hold no I/O and no
behaviour beyond small lookups; loading and validation live in
``election.definition``, the embedded 2021-shaped default in
``election.default``.

Identifiers used everywhere (targets, tallies, truth files):

* contest ids: ``party-list``, ``preference``, ``district-NN``, ``council-<id>``;
* option ids: a party id (``P01``), a candidate id (``D07-03``), ``against-all``,
  and for the preference grid the square number as a string (``"1"``..``"54"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

_T = TypeVar("_T")

AGAINST_ALL = "against-all"
PARTY_LIST_CONTEST = "party-list"
PREFERENCE_CONTEST = "preference"


class BallotKind(StrEnum):
    """The three ballot kinds, told apart on paper by the side stripes."""

    PARTY_LIST = "party-list"
    DISTRICT = "district"
    LOCAL = "local"


class Language(StrEnum):
    """Ballot print language. Box geometry never depends on it."""

    KY = "ky"
    RU = "ru"


@dataclass(frozen=True)
class Text:
    """A text in both state languages."""

    ky: str
    ru: str

    def get(self, lang: Language) -> str:
        return self.ky if lang is Language.KY else self.ru


@dataclass(frozen=True)
class PersonName:
    surname: Text
    first_name: Text
    patronymic: Text

    def full(self, lang: Language) -> str:
        return " ".join(
            part for part in (self.surname.get(lang), self.first_name.get(lang),
                              self.patronymic.get(lang)) if part
        )


@dataclass(frozen=True)
class Party:
    """A party list: ballot position is its index in ``PartyListContest.parties``."""

    id: str
    name: Text
    candidates: tuple[PersonName, ...]
    withdrawn_positions: frozenset[int] = frozenset()  # 1-based list positions

    @property
    def list_length(self) -> int:
        return len(self.candidates)


@dataclass(frozen=True)
class PartyListContest:
    """Single nationwide constituency: part 1 (parties + against all), part 2 (grid)."""

    parties: tuple[Party, ...]
    against_all: bool = True
    preference_squares: int = 54

    def party(self, party_id: str) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(party_id)

    @property
    def option_ids(self) -> tuple[str, ...]:
        ids = tuple(p.id for p in self.parties)
        return (*ids, AGAINST_ALL) if self.against_all else ids


@dataclass(frozen=True)
class Candidate:
    id: str
    name: PersonName
    nominated_by: Text | None = None
    withdrawn: bool = False


@dataclass(frozen=True)
class CandidateContest:
    """A single-mandate district or a local council contest."""

    id: str  # contest id, e.g. "district-07" or "council-kara-suu"
    kind: BallotKind
    number: int  # district number, or council index (1-based) for local contests
    name: Text
    candidates: tuple[Candidate, ...]
    against_all: bool = True
    region: str | None = None

    @property
    def option_ids(self) -> tuple[str, ...]:
        ids = tuple(c.id for c in self.candidates)
        return (*ids, AGAINST_ALL) if self.against_all else ids

    def candidate(self, candidate_id: str) -> Candidate:
        for c in self.candidates:
            if c.id == candidate_id:
                return c
        raise KeyError(candidate_id)


@dataclass(frozen=True)
class Region:
    id: str
    name: Text
    abroad: bool = False


@dataclass(frozen=True)
class Tec:
    """Territorial election commission."""

    id: str
    name: Text
    region: str


@dataclass(frozen=True)
class BallotSupply:
    kind: BallotKind
    language: Language
    count: int


@dataclass(frozen=True)
class Station:
    """A polling station (DEC). ``district`` is None for stations abroad."""

    number: str
    region: str
    tec: str
    district: int | None
    council: str | None
    voters: int
    abroad: bool
    ballots: tuple[BallotSupply, ...] = ()

    def contest_ids(self) -> tuple[str, ...]:
        ids = [PARTY_LIST_CONTEST]
        if self.district is not None:
            ids.append(district_contest_id(self.district))
        if self.council is not None:
            ids.append(council_contest_id(self.council))
        return tuple(ids)


@dataclass(frozen=True)
class Election:
    election_id: str
    name: Text
    date: dt.date
    rules: str
    party_list: PartyListContest
    districts: tuple[CandidateContest, ...]
    councils: tuple[CandidateContest, ...]
    regions: tuple[Region, ...]
    tecs: tuple[Tec, ...]
    stations: tuple[Station, ...]
    _index: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def cached(self, key: str, compute: Callable[[], _T]) -> _T:
        """Memoise a value derived from this (immutable) election, such as its hash."""
        if key not in self._index:
            self._index[key] = compute()
        return self._index[key]  # type: ignore[return-value]

    # --- lookups -----------------------------------------------------------
    def district(self, number: int) -> CandidateContest:
        for d in self.districts:
            if d.number == number:
                return d
        raise KeyError(f"district {number}")

    def council(self, council: str | int) -> CandidateContest:
        for c in self.councils:
            if c.id == council_contest_id(str(council)) or c.number == council or c.id == council:
                return c
        raise KeyError(f"council {council}")

    def contest(self, contest_id: str) -> CandidateContest:
        for c in (*self.districts, *self.councils):
            if c.id == contest_id:
                return c
        raise KeyError(contest_id)

    def station(self, number: str) -> Station:
        key = f"station:{number}"
        if key not in self._index:
            for s in self.stations:
                self._index[f"station:{s.number}"] = s
        found = self._index.get(key)
        if not isinstance(found, Station):
            raise KeyError(f"station {number}")
        return found

    def candidate_contests(self) -> Iterator[CandidateContest]:
        yield from self.districts
        yield from self.councils

    # --- figures -----------------------------------------------------------
    @property
    def list_candidates(self) -> int:
        return sum(p.list_length for p in self.party_list.parties)

    @property
    def district_candidates(self) -> int:
        return sum(len(d.candidates) for d in self.districts)

    @property
    def voters(self) -> int:
        return sum(s.voters for s in self.stations)


def district_contest_id(number: int) -> str:
    return f"district-{number:02d}"


def council_contest_id(council: str) -> str:
    return council if council.startswith("council-") else f"council-{council}"
