"""Tally: table tests, invariants, JSON, and the merge/order properties (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from itertools import combinations
from typing import Any

import pytest
from election_fixtures import small_election
from hypothesis import given, settings
from hypothesis import strategies as st

from election.errors import PcosError
from election.model import AGAINST_ALL, BallotKind
from election.rules import (
    KG_2021,
    KG_2021_STRUCK_WITHDRAWN,
    BallotOutcome,
    ContestOutcome,
    ContestStatus,
    PreferenceOutcome,
    PreferenceStatus,
    judge_ballot,
)
from election.tally import ContestTally, Tally, TallyBuilder, TallyError, merge

E = small_election()
ALL = Tally.empty(E)


def _pl(part1: set[str], squares: set[str] | None = None) -> BallotOutcome:
    sel = {"party-list": frozenset(part1), "preference": frozenset(squares or ())}
    return judge_ballot(E, BallotKind.PARTY_LIST, "party-list", sel, KG_2021)


def _cand(contest_id: str, *marked: str) -> BallotOutcome:
    kind = BallotKind.LOCAL if contest_id.startswith("council-") else BallotKind.DISTRICT
    return judge_ballot(E, kind, contest_id, {contest_id: frozenset(marked)}, KG_2021)


# --------------------------------------------------------------------------
# Empty tally
# --------------------------------------------------------------------------

def test_empty_tally_shows_every_option_at_zero() -> None:
    assert ALL.contest_ids == ("council-kara-suu", "district-01", "district-02", "party-list")
    pl = ALL.contest("party-list")
    assert pl.counts == {"P01": 0, "P02": 0, "P03": 0, AGAINST_ALL: 0}
    assert pl.preference_statuses == tuple((s, 0) for s in PreferenceStatus)
    assert pl.preferences == ()
    d1 = ALL.contest("district-01")
    assert d1.counts == {"D01-01": 0, "D01-02": 0, "D01-03": 0, AGAINST_ALL: 0}
    assert d1.preference_statuses == () and not d1.has_preferences
    ALL.check()


def test_empty_for_some_contests() -> None:
    t = Tally.empty(E, ["party-list", "district-02", "party-list"])
    assert t.contest_ids == ("district-02", "party-list")
    assert Tally.empty(E, ()).contests == ()


@pytest.mark.parametrize(("ids", "needle"), [(["district-09"], "district-09"),
                                             (["preference"], "within 'party-list'")])
def test_empty_refuses_unknown_contests(ids: list[str], needle: str) -> None:
    with pytest.raises(TallyError, match=needle):
        Tally.empty(E, ids)


def test_tally_error_is_pcos_error() -> None:
    assert issubclass(TallyError, PcosError)


def test_tally_is_immutable_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALL.election = "x"  # type: ignore[misc]
    assert hash(ALL) == hash(Tally.empty(E))


# --------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------

STATION_BALLOTS = [
    _pl({"P01"}, {"3"}),  # valid, preference P01/3
    _pl({"P01"}, {"3"}),  # again
    _pl({"P01"}, {"2"}),  # valid, void-withdrawn
    _pl({"P02"}, {"1", "2"}),  # valid, void-multiple
    _pl({"P03"}, {"4"}),  # valid, void-beyond-list
    _pl({"P03"}, {"1"}),  # valid, preference P03/1
    _pl({"P02"}),  # valid, none
    _pl({AGAINST_ALL}, {"5"}),  # valid against-all, not-applicable
    _pl(set()),  # blank
    _pl({"P01", "P02"}, {"1"}),  # overvote, not-applicable
    _cand("district-01", "D01-01"),
    _cand("district-01", "D01-01"),
    _cand("district-01", AGAINST_ALL),
    _cand("district-01"),  # blank
    _cand("district-01", "D01-01", "D01-03"),  # overvote
    _cand("district-01", "D01-02"),  # withdrawn
    _cand("council-kara-suu", "L01-01"),
]


def test_counts_of_a_station() -> None:
    t = Tally.empty(E, ["party-list", "district-01", "council-kara-suu"]).add_all(
        STATION_BALLOTS)
    t.check()
    pl = t.contest("party-list")
    assert pl.counts == {"P01": 3, "P02": 2, "P03": 2, AGAINST_ALL: 1}
    assert (pl.ballots, pl.blank, pl.overvote, pl.withdrawn) == (10, 1, 1, 0)
    assert (pl.valid, pl.invalid) == (8, 2)
    assert dict(pl.preference_statuses) == {
        PreferenceStatus.NONE: 2, PreferenceStatus.VALID: 3,
        PreferenceStatus.VOID_MULTIPLE: 1, PreferenceStatus.VOID_BEYOND_LIST: 1,
        PreferenceStatus.VOID_WITHDRAWN: 1, PreferenceStatus.NOT_APPLICABLE: 2,
    }
    assert pl.preferences == ((("P01", 3), 2), (("P03", 1), 1))
    assert pl.preference("P01", 3) == 2 and pl.preference("P02", 1) == 0
    d1 = t.contest("district-01")
    assert d1.counts == {"D01-01": 2, "D01-02": 0, "D01-03": 0, AGAINST_ALL: 1}
    assert (d1.ballots, d1.blank, d1.overvote, d1.withdrawn, d1.invalid) == (6, 1, 1, 1, 3)
    assert t.invalid("district-01") == 3 and t.invalid("party-list") == 2
    assert t.contest("council-kara-suu").count("L01-01") == 1


def test_to_json_is_exact_and_stable() -> None:
    t = Tally.empty(E, ["party-list", "district-01", "council-kara-suu"]).add_all(
        STATION_BALLOTS)
    doc = t.to_json()
    assert doc["election"] == "test-small"
    assert doc["contests"]["district-01"] == {
        "ballots": 6, "blank": 1, "invalid": 3, "overvote": 1, "valid": 3, "withdrawn": 1,
        "options": {"D01-01": 2, "D01-02": 0, "D01-03": 0, AGAINST_ALL: 1},
    }
    assert doc["contests"]["party-list"]["preferences"] == [
        {"count": 2, "party": "P01", "position": 3},
        {"count": 1, "party": "P03", "position": 1},
    ]
    assert doc["contests"]["party-list"]["preference_statuses"] == {
        "none": 2, "valid": 3, "void-multiple": 1, "void-beyond-list": 1,
        "void-withdrawn": 1, "not-applicable": 2,
    }
    # the same text whatever the ballot order, sorted or not
    again = Tally.empty(E, ["council-kara-suu", "district-01", "party-list"]).add_all(
        reversed(STATION_BALLOTS))
    assert json.dumps(again.to_json()) == json.dumps(doc)
    assert json.dumps(doc) == json.dumps(doc, sort_keys=True)
    assert Tally.from_json(json.loads(json.dumps(doc))) == t


def test_add_is_pure() -> None:
    before = Tally.empty(E, ["district-01"])
    after = before.add(_cand("district-01", "D01-01"))
    assert before.contest("district-01").ballots == 0
    assert after.contest("district-01").ballots == 1


def test_builder_matches_add_all_and_keeps_counting() -> None:
    builder = TallyBuilder.empty(E)
    for b in STATION_BALLOTS[:5]:
        builder.add(b)
    first = builder.build()
    for b in STATION_BALLOTS[5:]:
        builder.add(b)
    assert first == ALL.add_all(STATION_BALLOTS[:5])
    assert builder.build() == ALL.add_all(STATION_BALLOTS)


@pytest.mark.parametrize(
    ("outcome", "needle"),
    [
        pytest.param(_cand("district-02", "D02-01"), "does not count", id="foreign-contest"),
        pytest.param(BallotOutcome(BallotKind.DISTRICT,
                                   (ContestOutcome("district-01", ContestStatus.VALID,
                                                   "D09-01"),)),
                     "unknown option", id="unknown-choice"),
        pytest.param(BallotOutcome(BallotKind.PARTY_LIST,
                                   (ContestOutcome("party-list", ContestStatus.VALID, "P01"),),
                                   PreferenceOutcome(PreferenceStatus.VALID, "P02", 1)),
                     "preference for 'P02'", id="preference-for-another-party"),
        pytest.param(BallotOutcome(BallotKind.PARTY_LIST,
                                   (ContestOutcome("district-01", ContestStatus.BLANK),),
                                   PreferenceOutcome(PreferenceStatus.NONE)),
                     "preference outcome", id="preference-on-district-contest"),
    ],
)
def test_add_refuses(outcome: BallotOutcome, needle: str) -> None:
    builder = TallyBuilder.empty(E, ["party-list", "district-01"])
    before = builder.build()
    with pytest.raises(TallyError, match=needle):
        builder.add(outcome)
    assert builder.build() == before  # a refused ballot leaves no trace


# --------------------------------------------------------------------------
# Against all beats the leader
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("votes", "beats"),
    [
        pytest.param({"D01-01": 3, AGAINST_ALL: 4}, True, id="beats"),
        pytest.param({"D01-01": 4, AGAINST_ALL: 4}, False, id="tie-does-not-beat"),
        pytest.param({"D01-01": 5, "D01-03": 2, AGAINST_ALL: 4}, False, id="loses"),
        pytest.param({"D01-01": 2, "D01-03": 2, AGAINST_ALL: 3}, True, id="beats-tied-leaders"),
        pytest.param({AGAINST_ALL: 1}, True, id="only-against-all"),
        pytest.param({}, False, id="no-votes"),
    ],
)
def test_against_all_beats_leader(votes: dict[str, int], beats: bool) -> None:
    ballots = [_cand("district-01", oid) for oid, n in votes.items() for _ in range(n)]
    t = Tally.empty(E, ["district-01"]).add_all(ballots)
    assert t.against_all_beats_leader("district-01") is beats
    assert t.contest("district-01").against_all_beats_leader() is beats


def test_leader() -> None:
    t = Tally.empty(E, ["district-01"]).add_all(
        [_cand("district-01", "D01-03"), _cand("district-01", AGAINST_ALL),
         _cand("district-01", AGAINST_ALL)])
    assert t.contest("district-01").leader() == ("D01-03", 1)
    assert ALL.contest("district-01").leader() == ("D01-01", 0)


def test_against_all_absent() -> None:
    c = ContestTally("district-05", (("D05-01", 0),))
    c.check()
    assert not c.against_all_beats_leader()
    assert ContestTally("district-05", ()).leader() is None


# --------------------------------------------------------------------------
# check() and from_json refuse broken tallies
# --------------------------------------------------------------------------

def _broken(contest: str, **changes: Any) -> ContestTally:
    base = ALL.add_all(STATION_BALLOTS).contest(contest)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        pytest.param(_broken("district-01", ballots=7), "!= ballots 7", id="ballots"),
        pytest.param(_broken("district-01", blank=-1, ballots=4), "non-negative",
                     id="negative"),
        pytest.param(_broken("district-01", options=(("D01-03", 0), ("D01-01", 2),
                                                     ("D01-02", 0), (AGAINST_ALL, 1))),
                     "sorted", id="unsorted-options"),
        pytest.param(_broken("district-01", preferences=((("P01", 1), 1),)),
                     "only the party list", id="preferences-on-district"),
        pytest.param(_broken("party-list", preference_statuses=()), "every status",
                     id="missing-statuses"),
        pytest.param(_broken("party-list", preferences=((("P01", 3), 3), (("P03", 1), 1))),
                     "sum to 4", id="preferences-vs-valid-status"),
        pytest.param(_broken("party-list", preferences=((("P03", 1), 3),)),
                     "P03 has 3 preferences but 2 votes", id="more-preferences-than-votes"),
        pytest.param(_broken("party-list", preferences=((("P09", 1), 3),)),
                     "unknown", id="preference-unknown-party"),
        pytest.param(_broken("party-list", preferences=((("P01", 3), 0), (("P02", 1), 3))),
                     "non-zero", id="zero-preference-stored"),
    ],
)
def test_check_refuses(bad: ContestTally, needle: str) -> None:
    with pytest.raises(TallyError, match=needle):
        bad.check()
    with pytest.raises(TallyError, match=needle):
        Tally(E.election_id, (bad,)).check()


def test_check_refuses_unsorted_contests() -> None:
    t = ALL
    with pytest.raises(TallyError, match="sorted"):
        Tally(t.election, tuple(reversed(t.contests))).check()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        pytest.param(lambda d: d["contests"]["district-01"].update(ballots=7), "ballots 7",
                     id="ballots"),
        pytest.param(lambda d: d["contests"]["district-01"].update(valid=4), "valid/invalid",
                     id="derived-valid"),
        pytest.param(lambda d: d["contests"]["district-01"].pop("blank"), "keys",
                     id="missing-key"),
        pytest.param(lambda d: d["contests"]["party-list"]["preference_statuses"].pop("none"),
                     "every status", id="missing-status"),
        pytest.param(lambda d: d["contests"]["party-list"]["preferences"][0].pop("count"),
                     "malformed", id="malformed-preference"),
        pytest.param(lambda d: d.pop("election"), "keys", id="no-election"),
        pytest.param(lambda d: d["contests"]["district-01"]["options"].update({"D01-01": "2"}),
                     "non-negative integer", id="count-as-string"),
    ],
)
def test_from_json_refuses(edit: Any, needle: str) -> None:
    doc = json.loads(json.dumps(ALL.add_all(STATION_BALLOTS).to_json()))
    edit(doc)
    with pytest.raises(TallyError, match=needle):
        Tally.from_json(doc)


# --------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------

def test_merge_unions_contests_of_different_stations() -> None:
    s1 = Tally.empty(E, E.station("0001").contest_ids()).add_all(
        [_pl({"P01"}, {"1"}), _cand("district-01", "D01-01"), _cand("council-kara-suu")])
    s2 = Tally.empty(E, E.station("0002").contest_ids()).add_all(
        [_pl({"P01"}, {"1"}), _cand("district-02", AGAINST_ALL)])
    total = merge(s1, s2)
    assert total.contest_ids == ("council-kara-suu", "district-01", "district-02",
                                 "party-list")
    assert total.contest("party-list").count("P01") == 2
    assert total.contest("party-list").preference("P01", 1) == 2
    assert total.contest("district-02").count(AGAINST_ALL) == 1
    assert total == merge(s2, s1)
    total.check()


def test_merge_refuses_other_election_or_options() -> None:
    other = dataclasses.replace(ALL, election="another")
    with pytest.raises(TallyError, match="elections"):
        merge(ALL, other)
    d1 = ALL.contest("district-01")
    changed = Tally(ALL.election, (dataclasses.replace(d1, options=d1.options[:-1]),))
    with pytest.raises(TallyError, match="different options"):
        merge(ALL, changed)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

SQUARES = [str(n) for n in range(1, E.party_list.preference_squares + 1)]
CONTESTS: list[tuple[BallotKind, str, tuple[str, ...]]] = [
    (BallotKind.PARTY_LIST, "party-list", E.party_list.option_ids),
    *((c.kind, c.id, c.option_ids) for c in E.candidate_contests()),
]


def _subsets(options: tuple[str, ...] | list[str], most: int) -> list[frozenset[str]]:
    return [frozenset(c) for k in range(most + 1) for c in combinations(options, k)]


def _every_outcome() -> list[BallotOutcome]:
    """Every distinct outcome of up to 3 marks (and up to 2 squares), under both rule sets.

    Judging is tested in test_rules; here the tally only needs every kind of
    outcome, cheaply. Sorted, so that example generation is deterministic.
    """
    found: dict[str, BallotOutcome] = {}
    for rules in (KG_2021, KG_2021_STRUCK_WITHDRAWN):
        for kind, contest_id, options in CONTESTS:
            grids = _subsets(SQUARES, 2) if kind is BallotKind.PARTY_LIST else [frozenset()]
            for marks in _subsets(options, 3):
                for squares in grids:
                    selections = {contest_id: marks}
                    if kind is BallotKind.PARTY_LIST:
                        selections["preference"] = squares
                    o = judge_ballot(E, kind, contest_id, selections, rules)
                    found.setdefault(json.dumps(o.to_json(), sort_keys=True), o)
    return [found[k] for k in sorted(found)]


POOL = _every_outcome()


def test_pool_has_every_status() -> None:
    assert {o.contests[0].status for o in POOL} == set(ContestStatus)
    assert {o.preference.status for o in POOL if o.preference} == set(PreferenceStatus)


BALLOT_LISTS = st.lists(st.sampled_from(POOL), max_size=40)
FAST = settings(derandomize=True, max_examples=200, deadline=None)


@FAST
@given(outcomes=BALLOT_LISTS)
def test_totals_account_for_every_ballot(outcomes: list[BallotOutcome]) -> None:
    t = ALL.add_all(outcomes)
    t.check()
    # reference count, done the slow obvious way
    per_contest = Counter(o.contests[0].contest for o in outcomes)
    statuses = Counter((o.contests[0].contest, o.contests[0].status) for o in outcomes)
    choices = Counter((o.contests[0].contest, o.contests[0].choice) for o in outcomes)
    prefs = Counter(o.preference.status for o in outcomes if o.preference)
    for c in t.contests:
        assert c.ballots == per_contest[c.contest]
        assert c.blank == statuses[(c.contest, ContestStatus.BLANK)]
        assert c.overvote == statuses[(c.contest, ContestStatus.OVERVOTE)]
        assert c.withdrawn == statuses[(c.contest, ContestStatus.WITHDRAWN)]
        for oid, n in c.options:
            assert n == choices[(c.contest, oid)]
        assert c.valid + c.invalid == c.ballots
    pl = t.contest("party-list")
    assert dict(pl.preference_statuses) == {s: prefs[s] for s in PreferenceStatus}
    assert sum(c.ballots for c in t.contests) == len(outcomes)


@FAST
@given(outcomes=BALLOT_LISTS, order=st.randoms(use_true_random=False))
def test_ballot_order_does_not_matter(outcomes: list[BallotOutcome], order: Any) -> None:
    shuffled = list(outcomes)
    order.shuffle(shuffled)
    assert ALL.add_all(shuffled) == ALL.add_all(outcomes)
    one_by_one = ALL
    for o in shuffled:
        one_by_one = one_by_one.add(o)
    assert one_by_one == ALL.add_all(outcomes)


@FAST
@given(outcomes=BALLOT_LISTS, data=st.data())
def test_merging_halves_gives_the_whole(outcomes: list[BallotOutcome], data: st.DataObject
                                        ) -> None:
    side = data.draw(st.lists(st.booleans(), min_size=len(outcomes), max_size=len(outcomes)))
    left = [o for o, s in zip(outcomes, side, strict=True) if s]
    right = [o for o, s in zip(outcomes, side, strict=True) if not s]
    whole = ALL.add_all(outcomes)
    assert merge(ALL.add_all(left), ALL.add_all(right)) == whole
    cut = data.draw(st.integers(0, len(outcomes)))
    assert merge(ALL.add_all(outcomes[:cut]), ALL.add_all(outcomes[cut:])) == whole
    # halves counted only over the contests they saw still merge into the whole
    def seen(part: list[BallotOutcome]) -> Tally:
        return Tally.empty(E, {o.contests[0].contest for o in part}).add_all(part)
    merged = merge(ALL, merge(seen(left), seen(right)))
    assert merged == whole


@FAST
@given(a=BALLOT_LISTS, b=BALLOT_LISTS, c=BALLOT_LISTS)
def test_merge_is_associative_commutative_with_identity(
    a: list[BallotOutcome], b: list[BallotOutcome], c: list[BallotOutcome]
) -> None:
    ta, tb, tc = ALL.add_all(a), ALL.add_all(b), ALL.add_all(c)
    assert merge(merge(ta, tb), tc) == merge(ta, merge(tb, tc))
    assert merge(ta, tb) == merge(tb, ta)
    assert merge(ta, ALL) == ta == merge(ALL, ta)
    nothing = Tally.empty(E, ())
    assert merge(ta, nothing) == ta == merge(nothing, ta)


@FAST
@given(outcomes=BALLOT_LISTS)
def test_json_round_trip(outcomes: list[BallotOutcome]) -> None:
    t = ALL.add_all(outcomes)
    text = json.dumps(t.to_json(), sort_keys=True)
    assert Tally.from_json(json.loads(text)) == t
    assert json.dumps(Tally.from_json(json.loads(text)).to_json(), sort_keys=True) == text
