"""Voter model: what each simulated voter means to mark on each ballot kind.

Party-list shares default to the CEC's scanner-based preliminary results of
2021 (DESIGN.md), which sum to 89.13 %; the remaining 10.87 % are invalid
ballots, split between blank ballots, overvotes and other mistakes (a mark
only in the preference grid, or words written instead of a mark). Every share
and behaviour is a field of :class:`VoterModel`, so test engineers can shape
their own electorate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    CandidateContest,
    PartyListContest,
)
from simulator.marks import Variant

# DESIGN.md, in ballot order, then "against all".
PRELIMINARY_2021 = (3.48, 6.74, 8.23, 0.62, 6.01, 0.62, 0.95, 10.81, 13.50, 4.01, 1.54, 0.41,
                    0.44, 3.21, 0.46, 0.96, 2.48, 4.46, 0.46, 0.71, 16.86)
AGAINST_ALL_2021 = 2.17


@dataclass(frozen=True)
class Intent:
    """The marks a voter means to make on one ballot, and why (for reports)."""

    marks: tuple[tuple[str, str, Variant], ...]  # (contest, option, variant)
    behaviour: str


@dataclass(frozen=True)
class VoterModel:
    party_shares: tuple[float, ...] = PRELIMINARY_2021  # percent, ballot order
    against_all_share: float = AGAINST_ALL_2021
    # Invalid party-list ballots (percent of all ballots): how they are made.
    blank_share: float = 3.00
    overvote_share: float = 4.90
    preference_only_share: float = 1.50
    writing_instead_share: float = 1.47
    # Preference behaviour of valid party voters (probabilities).
    pref_one: float = 0.55
    pref_beyond_list: float = 0.03
    pref_two: float = 0.04
    pref_zipf: float = 0.8  # list position k chosen with weight 1 / k**pref_zipf
    # Candidate contests (district and local): percent of ballots.
    candidate_against_all: float = 3.0
    candidate_blank: float = 2.5
    candidate_overvote: float = 3.0
    withdrawn_weight: float = 0.3  # relative popularity of a withdrawn candidate
    # Marks that are deliberately hard to read (probability per mark).
    marginal_per_mark: float = 0.012
    extra: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers
    def _variant(self, rng: np.random.Generator) -> Variant:
        if rng.random() >= self.marginal_per_mark:
            return Variant.NORMAL
        return (Variant.FAINT, Variant.TINY, Variant.OUTSIDE)[int(rng.integers(3))]

    def _position(self, rng: np.random.Generator, length: int) -> int:
        w = 1.0 / np.arange(1, length + 1) ** self.pref_zipf
        return int(rng.choice(length, p=w / w.sum())) + 1

    # ------------------------------------------------------------------ party list
    def party_list_intent(self, rng: np.random.Generator, contest: PartyListContest) -> Intent:
        parties = [p.id for p in contest.parties]
        valid = [*self.party_shares[: len(parties)]]
        options = [*parties]
        if contest.against_all:
            valid.append(self.against_all_share)
            options.append(AGAINST_ALL)
        invalid = [self.blank_share, self.overvote_share, self.preference_only_share,
                   self.writing_instead_share]
        weights = np.array(valid + invalid, np.float64)
        pick = int(rng.choice(weights.size, p=weights / weights.sum()))
        squares = contest.preference_squares
        if pick < len(options):
            choice = options[pick]
            marks = [(PARTY_LIST_CONTEST, choice, self._variant(rng))]
            behaviour = "party" if choice != AGAINST_ALL else "against-all"
            if choice != AGAINST_ALL:
                behaviour, prefs = self._preferences(rng, contest, choice)
                marks += [(PREFERENCE_CONTEST, str(n), self._variant(rng)) for n in prefs]
            return Intent(tuple(marks), behaviour)
        kind = ("blank", "overvote", "preference-only", "writing-instead")[pick - len(options)]
        if kind == "overvote":
            k = 2 if rng.random() < 0.85 else 3
            chosen = rng.choice(len(options), size=k, replace=False)
            return Intent(tuple((PARTY_LIST_CONTEST, options[int(i)], self._variant(rng))
                                for i in chosen), "overvote")
        if kind == "preference-only":
            n = int(rng.integers(1, squares + 1))
            return Intent(((PREFERENCE_CONTEST, str(n), self._variant(rng)),), "preference-only")
        return Intent((), kind)

    def _preferences(self, rng: np.random.Generator, contest: PartyListContest,
                     party_id: str) -> tuple[str, list[int]]:
        length = min(contest.party(party_id).list_length, contest.preference_squares)
        u = rng.random()
        if u < self.pref_one:
            return "party+preference", [self._position(rng, length)]
        u -= self.pref_one
        if u < self.pref_beyond_list and length < contest.preference_squares:
            return "party+beyond-list", [int(rng.integers(length + 1,
                                                         contest.preference_squares + 1))]
        u -= self.pref_beyond_list
        if u < self.pref_two:
            a = self._position(rng, length)
            b = a
            while b == a:
                b = int(rng.integers(1, length + 1))
            return "party+two-preferences", [a, b]
        return "party", []

    # ------------------------------------------------------------------ candidates
    def candidate_intent(self, rng: np.random.Generator, contest: CandidateContest) -> Intent:
        crng = np.random.default_rng([contest.number, len(contest.candidates), 2021])
        popularity = crng.dirichlet(np.full(len(contest.candidates), 1.6))
        popularity = np.array([p * (self.withdrawn_weight if c.withdrawn else 1.0)
                               for p, c in zip(popularity, contest.candidates, strict=True)])
        valid_share = 100.0 - self.candidate_against_all - self.candidate_blank - \
            self.candidate_overvote
        weights = list(popularity / popularity.sum() * valid_share)
        options = [c.id for c in contest.candidates]
        if contest.against_all:
            weights.append(self.candidate_against_all)
            options.append(AGAINST_ALL)
        weights += [self.candidate_blank, self.candidate_overvote]
        w = np.array(weights)
        pick = int(rng.choice(w.size, p=w / w.sum()))
        if pick < len(options):
            option = options[pick]
            withdrawn = option != AGAINST_ALL and contest.candidate(option).withdrawn
            return Intent(((contest.id, option, self._variant(rng)),),
                          "withdrawn-candidate" if withdrawn else "candidate")
        if pick == len(options):
            return Intent((), "blank")
        chosen = rng.choice(len(options), size=2, replace=False)
        return Intent(tuple((contest.id, options[int(i)], self._variant(rng)) for i in chosen),
                      "overvote")
