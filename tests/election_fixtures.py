"""Small hand-built elections for the rules and tally tests.

Independent of ``election.default`` and ``election.definition`` on purpose: the
rules must be testable on a ballot small enough to reason about by hand.

``small_election()``:

* party list, 8 preference squares, against-all:
  ``P01`` list of 5, position 2 withdrawn;
  ``P02`` list of 8 (as long as the grid), nothing withdrawn;
  ``P03`` list of 3, position 3 withdrawn;
* ``district-01``: ``D01-01``, ``D01-02`` (withdrawn), ``D01-03``, against-all;
* ``district-02``: ``D02-01``, ``D02-02``, against-all;
* ``council-kara-suu`` (local): ``L01-01``, ``L01-02`` (withdrawn), against-all.
"""

from __future__ import annotations

import datetime as dt

from election.model import (
    BallotKind,
    Candidate,
    CandidateContest,
    Election,
    Party,
    PartyListContest,
    PersonName,
    Region,
    Station,
    Tec,
    Text,
)

PREFERENCE_SQUARES = 8


def _text(s: str) -> Text:
    return Text(ky=s, ru=s)


def person(n: str) -> PersonName:
    return PersonName(_text(f"Surname {n}"), _text(f"Name {n}"), _text(f"Patronymic {n}"))


def party(pid: str, length: int, withdrawn: frozenset[int] = frozenset()) -> Party:
    return Party(pid, _text(f"Party {pid}"),
                 tuple(person(f"{pid}-{i}") for i in range(1, length + 1)), withdrawn)


def candidate_contest(
    cid: str, kind: BallotKind, number: int, prefix: str, n: int,
    withdrawn: frozenset[int] = frozenset(), against_all: bool = True,
) -> CandidateContest:
    cands = tuple(
        Candidate(f"{prefix}-{i:02d}", person(f"{prefix}-{i}"), withdrawn=i in withdrawn)
        for i in range(1, n + 1)
    )
    return CandidateContest(cid, kind, number, _text(cid), cands, against_all, "R1")


def small_election(rules: str = "kg-2021") -> Election:
    party_list = PartyListContest(
        parties=(
            party("P01", 5, frozenset({2})),
            party("P02", 8),
            party("P03", 3, frozenset({3})),
        ),
        against_all=True,
        preference_squares=PREFERENCE_SQUARES,
    )
    districts = (
        candidate_contest("district-01", BallotKind.DISTRICT, 1, "D01", 3, frozenset({2})),
        candidate_contest("district-02", BallotKind.DISTRICT, 2, "D02", 2),
    )
    councils = (
        candidate_contest("council-kara-suu", BallotKind.LOCAL, 1, "L01", 2, frozenset({2})),
    )
    stations = (
        Station("0001", "R1", "T1", 1, "council-kara-suu", 1000, False),
        Station("0002", "R1", "T1", 2, None, 800, False),
    )
    return Election(
        election_id="test-small",
        name=_text("Test election"),
        date=dt.date(2021, 11, 28),
        rules=rules,
        party_list=party_list,
        districts=districts,
        councils=councils,
        regions=(Region("R1", _text("Region 1")),),
        tecs=(Tec("T1", _text("TEC 1"), "R1"),),
        stations=stations,
    )
