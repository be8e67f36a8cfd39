"""Synthetic, seeded station results for CEC tests and the ``cec`` benchmark.

A device's results are drawn with numpy's seeded multinomial: options, blank
and overvoted ballots per contest; on the party list a third of each party's
votes carry a valid preference at a non-withdrawn position, the rest none.
Every tally passes ``Tally.check`` by construction (it is built through
``Tally.from_json``, which checks every invariant).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from election.model import AGAINST_ALL, PARTY_LIST_CONTEST, Election, Station
from election.rules import PreferenceStatus
from election.tally import Tally, merge
from protocol.messages import DecFigures

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63600000000200015e27d4d20000000049454e44ae426082")


def random_tally(election: Election, station: Station, rng: np.random.Generator,
                 ballots: int) -> Tally:
    """One device's tally of ``ballots`` sheets at ``station``."""
    contests: dict[str, Any] = {}
    for cid in station.contest_ids():
        if cid == PARTY_LIST_CONTEST:
            options = list(election.party_list.option_ids)
        else:
            options = list(election.contest(cid).option_ids)
            withdrawn = {c.id for c in election.contest(cid).candidates if c.withdrawn}
            options = [o for o in options if o not in withdrawn]
        weights = rng.dirichlet(np.ones(len(options) + 2) * 2.0)
        weights[-2:] *= 0.05  # blank, overvote
        weights /= weights.sum()
        counts = rng.multinomial(ballots, weights)
        votes = {o: int(n) for o, n in zip(options, counts[:-2], strict=True)}
        if cid != PARTY_LIST_CONTEST:
            votes.update({c.id: 0 for c in election.contest(cid).candidates if c.withdrawn})
        doc: dict[str, Any] = {"ballots": ballots, "blank": int(counts[-2]),
                               "overvote": int(counts[-1]), "withdrawn": 0,
                               "options": votes}
        doc["valid"] = sum(votes.values())
        doc["invalid"] = doc["blank"] + doc["overvote"]
        if cid == PARTY_LIST_CONTEST:
            prefs: list[dict[str, Any]] = []
            for party in election.party_list.parties:
                k = votes[party.id] // 3
                positions = [p for p in range(1, party.list_length + 1)
                             if p not in party.withdrawn_positions][:5]
                if k and positions:
                    prefs.append({"party": party.id, "position": int(rng.choice(positions)),
                                  "count": k})
            valid = sum(int(p["count"]) for p in prefs)
            statuses = {s.value: 0 for s in PreferenceStatus}
            statuses["valid"], statuses["none"] = valid, ballots - valid
            doc["preference_statuses"] = statuses
            doc["preferences"] = sorted(prefs, key=lambda p: (p["party"], p["position"]))
        contests[cid] = doc
    return Tally.from_json({"election": election.election_id, "contests": contests})


def dec_figures_for(station: Station, tally: Tally, *, shift: dict[str, int] | None = None
                    ) -> DecFigures:
    """The DEC protocol figures a station's commission would write for ``tally``.

    ``shift`` adds to chosen party-list options (``{"P07": 5}``): a protocol that
    disagrees with the machine, as in 2021.
    """
    votes = {c.contest: dict(c.options) for c in tally.contests}
    for option, delta in (shift or {}).items():
        votes[PARTY_LIST_CONTEST][option] += delta
    cast = tally.contest(PARTY_LIST_CONTEST).ballots
    return DecFigures.make(voters_on_list=station.voters, ballots_received=station.voters,
                           ballots_cast=cast, ballots_spoiled=0, votes=votes)


def station_total(tallies: list[Tally]) -> Tally:
    total = tallies[0]
    for t in tallies[1:]:
        total = merge(total, t)
    return total


__all__ = ["AGAINST_ALL", "PNG_1X1", "dec_figures_for", "random_tally", "station_total"]
