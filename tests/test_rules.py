"""Table tests for every validity rule (kg-2021 and kg-2021-struck-withdrawn), plus properties.

Fixture (tests/election_fixtures.py): 8 preference squares; P01 list of 5 with
position 2 withdrawn; P02 list of 8; P03 list of 3 with position 3 withdrawn;
district-01 D01-01, D01-02 (withdrawn), D01-03; council-kara-suu L01-01,
L01-02 (withdrawn); all with against-all.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from election_fixtures import small_election
from hypothesis import given, settings
from hypothesis import strategies as st

from election.errors import PcosError
from election.model import AGAINST_ALL, BallotKind
from election.rules import (
    DEFAULT_RULE_SET,
    KG_2021,
    KG_2021_STRUCK_WITHDRAWN,
    RULE_SETS,
    BallotOutcome,
    ContestOutcome,
    ContestStatus,
    PreferenceOutcome,
    PreferenceStatus,
    RuleError,
    RuleSet,
    judge_ballot,
    judge_candidate_contest,
    judge_party_list,
    rule_set,
)

E = small_election()
PL = E.party_list
D1 = E.contest("district-01")
KS = E.contest("council-kara-suu")

V, B, OV, W = (ContestStatus.VALID, ContestStatus.BLANK, ContestStatus.OVERVOTE,
              ContestStatus.WITHDRAWN)
P_NONE, P_VALID, P_MULTI, P_BEYOND, P_WD, P_NA = tuple(PreferenceStatus)


def _s(*ids: str) -> frozenset[str]:
    return frozenset(ids)


# --------------------------------------------------------------------------
# Party list, kg-2021
# --------------------------------------------------------------------------

# (part 1 marks, squares, vote status, choice, preference status, party, position)
PARTY_LIST_KG_2021: list[Any] = [
    # part 1
    pytest.param((), (), B, None, P_NONE, None, None, id="blank"),
    pytest.param(("P01",), (), V, "P01", P_NONE, None, None, id="party-no-preference"),
    pytest.param(("P03",), (), V, "P03", P_NONE, None, None, id="last-party"),
    pytest.param((AGAINST_ALL,), (), V, AGAINST_ALL, P_NONE, None, None, id="against-all"),
    pytest.param(("P01", "P02"), (), OV, None, P_NONE, None, None, id="overvote-two-parties"),
    pytest.param(("P01", "P02", "P03"), (), OV, None, P_NONE, None, None, id="overvote-three"),
    pytest.param(("P02", AGAINST_ALL), (), OV, None, P_NONE, None, None,
                 id="overvote-party-and-against-all"),
    # part 2 with a valid party vote
    pytest.param(("P01",), ("3",), V, "P01", P_VALID, "P01", 3, id="preference"),
    pytest.param(("P01",), ("1",), V, "P01", P_VALID, "P01", 1, id="preference-first"),
    pytest.param(("P01",), ("5",), V, "P01", P_VALID, "P01", 5, id="preference-list-end"),
    pytest.param(("P02",), ("8",), V, "P02", P_VALID, "P02", 8, id="preference-grid-end"),
    pytest.param(("P02",), ("2",), V, "P02", P_VALID, "P02", 2,
                 id="other-partys-withdrawn-position-is-fine"),
    pytest.param(("P02",), ("1", "2"), V, "P02", P_MULTI, None, None, id="void-multiple"),
    pytest.param(("P02",), ("1", "2", "8"), V, "P02", P_MULTI, None, None,
                 id="void-multiple-three"),
    pytest.param(("P01",), ("6",), V, "P01", P_BEYOND, None, None, id="void-beyond-list"),
    pytest.param(("P03",), ("8",), V, "P03", P_BEYOND, None, None, id="void-beyond-list-grid-end"),
    pytest.param(("P01",), ("2",), V, "P01", P_WD, None, None, id="void-withdrawn"),
    pytest.param(("P03",), ("3",), V, "P03", P_WD, None, None, id="void-withdrawn-list-end"),
    # precedence within part 2: multiple beats beyond-list and withdrawn
    pytest.param(("P01",), ("2", "3"), V, "P01", P_MULTI, None, None,
                 id="multiple-over-withdrawn"),
    pytest.param(("P01",), ("3", "7"), V, "P01", P_MULTI, None, None,
                 id="multiple-over-beyond"),
    pytest.param(("P01",), ("2", "7"), V, "P01", P_MULTI, None, None,
                 id="multiple-over-withdrawn-and-beyond"),
    # part 2 without a valid party vote
    pytest.param((), ("3",), B, None, P_NA, None, None, id="blank-with-square"),
    pytest.param(("P01", "P02"), ("3",), OV, None, P_NA, None, None, id="overvote-with-square"),
    pytest.param(("P01", "P02"), ("2", "7"), OV, None, P_NA, None, None,
                 id="overvote-with-void-squares"),
    pytest.param((AGAINST_ALL,), ("3",), V, AGAINST_ALL, P_NA, None, None,
                 id="against-all-with-square"),
    pytest.param((AGAINST_ALL,), ("1", "2"), V, AGAINST_ALL, P_NA, None, None,
                 id="against-all-with-squares"),
]


@pytest.mark.parametrize(
    ("part1", "squares", "status", "choice", "pstatus", "party", "position"),
    PARTY_LIST_KG_2021,
)
def test_party_list_kg_2021(
    part1: tuple[str, ...], squares: tuple[str, ...], status: ContestStatus,
    choice: str | None, pstatus: PreferenceStatus, party: str | None, position: int | None,
) -> None:
    vote, pref = judge_party_list(PL, _s(*part1), _s(*squares), KG_2021)
    assert vote == ContestOutcome("party-list", status, choice)
    assert pref == PreferenceOutcome(pstatus, party, position)


# --------------------------------------------------------------------------
# District and local, kg-2021
# --------------------------------------------------------------------------

CANDIDATE_KG_2021: list[Any] = [
    pytest.param("district-01", (), B, None, id="blank"),
    pytest.param("district-01", ("D01-01",), V, "D01-01", id="candidate"),
    pytest.param("district-01", ("D01-03",), V, "D01-03", id="last-candidate"),
    pytest.param("district-01", (AGAINST_ALL,), V, AGAINST_ALL, id="against-all"),
    pytest.param("district-01", ("D01-01", "D01-03"), OV, None, id="overvote"),
    pytest.param("district-01", ("D01-01", AGAINST_ALL), OV, None,
                 id="overvote-with-against-all"),
    pytest.param("district-01", ("D01-01", "D01-03", AGAINST_ALL), OV, None,
                 id="overvote-everything-active"),
    pytest.param("district-01", ("D01-02",), W, None, id="withdrawn"),
    # precedence: two marks are an overvote even if one is on a withdrawn candidate
    pytest.param("district-01", ("D01-02", "D01-01"), OV, None, id="overvote-over-withdrawn"),
    pytest.param("district-01", ("D01-02", AGAINST_ALL), OV, None,
                 id="overvote-withdrawn-and-against-all"),
    pytest.param("council-kara-suu", ("L01-01",), V, "L01-01", id="local-candidate"),
    pytest.param("council-kara-suu", (), B, None, id="local-blank"),
    pytest.param("council-kara-suu", ("L01-02",), W, None, id="local-withdrawn"),
    pytest.param("council-kara-suu", ("L01-01", AGAINST_ALL), OV, None, id="local-overvote"),
]


@pytest.mark.parametrize(("contest_id", "marked", "status", "choice"), CANDIDATE_KG_2021)
def test_candidate_contest_kg_2021(
    contest_id: str, marked: tuple[str, ...], status: ContestStatus, choice: str | None
) -> None:
    contest = E.contest(contest_id)
    assert judge_candidate_contest(contest, _s(*marked), KG_2021) == ContestOutcome(
        contest_id, status, choice
    )


# --------------------------------------------------------------------------
# The alternative set: withdrawn names are struck
# --------------------------------------------------------------------------

STRUCK = KG_2021_STRUCK_WITHDRAWN

PARTY_LIST_STRUCK: list[Any] = [
    pytest.param(("P01",), ("2", "3"), P_VALID, "P01", 3, id="struck-square-ignored"),
    pytest.param(("P01",), ("2",), P_WD, None, None, id="only-struck-square"),
    pytest.param(("P03",), ("3",), P_WD, None, None, id="only-struck-square-list-end"),
    pytest.param(("P01",), ("2", "6"), P_BEYOND, None, None, id="struck-then-beyond"),
    pytest.param(("P01",), ("2", "3", "4"), P_MULTI, None, None, id="struck-then-multiple"),
    pytest.param(("P02",), ("2", "3"), P_MULTI, None, None, id="no-withdrawal-in-this-list"),
    pytest.param(("P01",), ("3",), P_VALID, "P01", 3, id="plain-preference"),
    pytest.param((AGAINST_ALL,), ("2",), P_NA, None, None, id="against-all"),
]


@pytest.mark.parametrize(("part1", "squares", "pstatus", "party", "position"),
                         PARTY_LIST_STRUCK)
def test_party_list_struck_withdrawn(
    part1: tuple[str, ...], squares: tuple[str, ...], pstatus: PreferenceStatus,
    party: str | None, position: int | None,
) -> None:
    vote, pref = judge_party_list(PL, _s(*part1), _s(*squares), STRUCK)
    assert vote.status is V
    assert pref == PreferenceOutcome(pstatus, party, position)


CANDIDATE_STRUCK: list[Any] = [
    pytest.param(("D01-02", "D01-01"), V, "D01-01", id="struck-mark-ignored"),
    pytest.param(("D01-02", AGAINST_ALL), V, AGAINST_ALL, id="struck-and-against-all"),
    pytest.param(("D01-02",), W, None, id="only-struck-mark-is-withdrawn-not-blank"),
    pytest.param(("D01-02", "D01-01", "D01-03"), OV, None, id="struck-then-overvote"),
    pytest.param((), B, None, id="blank"),
    pytest.param(("D01-01",), V, "D01-01", id="candidate"),
    pytest.param(("D01-01", "D01-03"), OV, None, id="overvote"),
]


@pytest.mark.parametrize(("marked", "status", "choice"), CANDIDATE_STRUCK)
def test_candidate_contest_struck_withdrawn(
    marked: tuple[str, ...], status: ContestStatus, choice: str | None
) -> None:
    assert judge_candidate_contest(D1, _s(*marked), STRUCK) == ContestOutcome(
        "district-01", status, choice
    )


# --------------------------------------------------------------------------
# Unknown option ids and contests: never counted
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("part1", "squares", "needle"),
    [
        pytest.param(("P09",), (), "P09", id="unknown-party"),
        pytest.param(("P01", "P09"), (), "P09", id="unknown-beats-overvote"),
        pytest.param(("D01-01",), (), "D01-01", id="candidate-on-party-list"),
        pytest.param(("P01",), ("9",), "'9'", id="square-beyond-grid"),
        pytest.param(("P01",), ("0",), "'0'", id="square-zero"),
        pytest.param(("P01",), ("01",), "'01'", id="square-not-canonical"),
        pytest.param(("P01",), ("x",), "'x'", id="square-not-number"),
        pytest.param((), ("P01",), "'P01'", id="party-in-grid"),
        pytest.param(("P01", "P02"), ("9",), "'9'", id="unknown-square-on-overvote"),
    ],
)
def test_party_list_unknown_option(
    part1: tuple[str, ...], squares: tuple[str, ...], needle: str
) -> None:
    with pytest.raises(RuleError, match=needle):
        judge_party_list(PL, _s(*part1), _s(*squares), KG_2021)


@pytest.mark.parametrize("marked", [("D02-01",), ("D01-04",), ("P01",), ("",),
                                    ("D01-01", "L01-01")])
def test_candidate_contest_unknown_option(marked: tuple[str, ...]) -> None:
    with pytest.raises(RuleError, match="unknown option"):
        judge_candidate_contest(D1, _s(*marked), KG_2021)


def test_rule_error_is_a_pcos_error() -> None:
    assert issubclass(RuleError, PcosError)


# --------------------------------------------------------------------------
# judge_ballot
# --------------------------------------------------------------------------

def test_judge_ballot_party_list() -> None:
    out = judge_ballot(E, BallotKind.PARTY_LIST, "party-list",
                       {"party-list": _s("P03"), "preference": _s("1")}, KG_2021)
    assert out == BallotOutcome(
        BallotKind.PARTY_LIST,
        (ContestOutcome("party-list", V, "P03"),),
        PreferenceOutcome(P_VALID, "P03", 1),
    )
    assert out.is_valid


def test_judge_ballot_missing_keys_mean_nothing_marked() -> None:
    out = judge_ballot(E, BallotKind.PARTY_LIST, "party-list", {}, KG_2021)
    assert out.to_json() == {
        "party-list": {"status": "blank", "choice": None},
        "preference": {"status": "none", "party": None, "position": None},
    }
    assert not out.is_valid
    out = judge_ballot(E, BallotKind.DISTRICT, "district-01", {}, KG_2021)
    assert out.to_json() == {"district-01": {"status": "blank", "choice": None}}


def test_judge_ballot_accepts_plain_sets() -> None:
    out = judge_ballot(E, BallotKind.LOCAL, "council-kara-suu",
                       {"council-kara-suu": {"L01-01"}}, KG_2021)
    assert out.contest("council-kara-suu") == ContestOutcome("council-kara-suu", V, "L01-01")


def test_judge_ballot_uses_the_elections_rule_set_by_default() -> None:
    marks = {"district-01": _s("D01-01", "D01-02")}
    default = judge_ballot(E, BallotKind.DISTRICT, "district-01", marks)
    assert default.contest("district-01").status is OV
    struck = judge_ballot(small_election(rules="kg-2021-struck-withdrawn"),
                          BallotKind.DISTRICT, "district-01", marks)
    assert struck.contest("district-01") == ContestOutcome("district-01", V, "D01-01")
    # an explicit rule set wins over the election's
    assert judge_ballot(E, BallotKind.DISTRICT, "district-01", marks, STRUCK) == struck


def test_judge_ballot_election_with_unknown_rule_set() -> None:
    with pytest.raises(PcosError, match="kg-1995"):
        judge_ballot(small_election(rules="kg-1995"), BallotKind.DISTRICT, "district-01", {})


@pytest.mark.parametrize(
    ("kind", "contest_id", "selections", "needle"),
    [
        pytest.param(BallotKind.DISTRICT, "district-01", {"preference": _s("1")},
                     "preference", id="preference-on-district"),
        pytest.param(BallotKind.DISTRICT, "district-01", {"district-02": _s("D02-01")},
                     "district-02", id="foreign-contest-selection"),
        pytest.param(BallotKind.PARTY_LIST, "party-list", {"district-01": _s("D01-01")},
                     "district-01", id="district-selection-on-party-list"),
        pytest.param(BallotKind.DISTRICT, "district-09", {}, "district-09",
                     id="unknown-contest"),
        pytest.param(BallotKind.LOCAL, "district-01", {}, "district", id="kind-mismatch"),
        pytest.param(BallotKind.DISTRICT, "council-kara-suu", {}, "local",
                     id="council-as-district"),
        pytest.param(BallotKind.PARTY_LIST, "district-01", {}, "party-list",
                     id="party-list-kind-wrong-contest"),
        pytest.param(BallotKind.DISTRICT, "district-01", {"district-01": _s("D02-01")},
                     "D02-01", id="other-districts-candidate"),
    ],
)
def test_judge_ballot_refuses(
    kind: BallotKind, contest_id: str, selections: dict[str, frozenset[str]], needle: str
) -> None:
    with pytest.raises(RuleError, match=needle):
        judge_ballot(E, kind, contest_id, selections, KG_2021)


# --------------------------------------------------------------------------
# Rule set registry
# --------------------------------------------------------------------------

def test_registry() -> None:
    assert DEFAULT_RULE_SET == "kg-2021"
    assert rule_set("kg-2021") is KG_2021
    assert rule_set("kg-2021-struck-withdrawn") is STRUCK
    assert set(RULE_SETS) == {"kg-2021", "kg-2021-struck-withdrawn"}
    for name, rules in RULE_SETS.items():
        assert rules.name == name and rules.description
    assert KG_2021.withdrawn_candidate_voids_ballot
    assert KG_2021.withdrawn_position_voids_preference


def test_unknown_rule_set_names_the_known_ones() -> None:
    with pytest.raises(PcosError, match=r"unknown rule set 'kg-1995'.*kg-2021, "
                                        r"kg-2021-struck-withdrawn"):
        rule_set("kg-1995")


def test_rule_sets_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KG_2021.withdrawn_candidate_voids_ballot = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        RULE_SETS["mine"] = KG_2021  # type: ignore[index]


def test_custom_rule_set() -> None:
    mine = RuleSet("mine", "strike candidates only", withdrawn_candidate_voids_ballot=False)
    assert judge_candidate_contest(D1, _s("D01-01", "D01-02"), mine).status is V
    assert judge_party_list(PL, _s("P01"), _s("2", "3"), mine)[1].status is P_MULTI


# --------------------------------------------------------------------------
# Outcome JSON
# --------------------------------------------------------------------------

def test_outcome_json_shapes() -> None:
    pl = judge_ballot(E, BallotKind.PARTY_LIST, "party-list",
                      {"party-list": _s("P02"), "preference": _s("8")}, KG_2021)
    assert pl.to_json() == {
        "party-list": {"status": "valid", "choice": "P02"},
        "preference": {"status": "valid", "party": "P02", "position": 8},
    }
    d = judge_ballot(E, BallotKind.DISTRICT, "district-01",
                     {"district-01": _s("D01-01", "D01-03")}, KG_2021)
    assert d.to_json() == {"district-01": {"status": "overvote", "choice": None}}
    assert json.dumps(d.to_json(), sort_keys=True) == (
        '{"district-01": {"choice": null, "status": "overvote"}}'
    )
    void = judge_ballot(E, BallotKind.PARTY_LIST, "party-list",
                        {"party-list": _s("P01"), "preference": _s("6")}, KG_2021)
    assert void.to_json()["preference"] == {"status": "void-beyond-list", "party": None,
                                            "position": None}


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({"party-list": {"status": "valid", "choice": "P03"},
          "preference": {"status": "valid", "party": "P03", "position": 12}},
         BallotKind.PARTY_LIST),
        ({"party-list": {"status": "overvote", "choice": None},
          "preference": {"status": "not-applicable", "party": None, "position": None}},
         BallotKind.PARTY_LIST),
        ({"district-07": {"status": "withdrawn", "choice": None}}, BallotKind.DISTRICT),
        ({"council-kara-suu": {"status": "valid", "choice": AGAINST_ALL}}, BallotKind.LOCAL),
    ],
)
def test_outcome_json_round_trip(doc: dict[str, Any], kind: BallotKind) -> None:
    out = BallotOutcome.from_json(doc)
    assert out.kind is kind
    assert out.to_json() == doc
    assert BallotOutcome.from_json(json.loads(json.dumps(doc)), kind) == out


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        pytest.param([], "object", id="not-object"),
        pytest.param({}, "object", id="empty"),
        pytest.param({"party-list": {"status": "valid", "choice": "P01"}},
                     "preference: missing", id="party-list-without-preference"),
        pytest.param({"district-01": {"status": "blank", "choice": None},
                      "preference": {"status": "none", "party": None, "position": None}},
                     "only a party-list", id="preference-on-district"),
        pytest.param({"district-01": {"status": "spoiled", "choice": None}},
                     r"district-01\.status: unknown status 'spoiled'", id="bad-status"),
        pytest.param({"district-01": {"status": "blank", "choice": "D01-01"}},
                     "exactly when valid", id="choice-on-blank"),
        pytest.param({"district-01": {"status": "valid", "choice": None}},
                     "exactly when valid", id="valid-without-choice"),
        pytest.param({"district-01": {"status": "valid"}}, "keys must be", id="missing-key"),
        pytest.param({"district-01": {"status": "valid", "choice": 3}}, "choice",
                     id="choice-not-string"),
        pytest.param({"party-list": {"status": "valid", "choice": "P01"},
                      "preference": {"status": "void-multiple", "party": "P01",
                                     "position": None}},
                     "exactly when valid", id="party-on-void-preference"),
        pytest.param({"party-list": {"status": "valid", "choice": "P01"},
                      "preference": {"status": "valid", "party": "P01", "position": "3"}},
                     "position", id="position-not-int"),
        pytest.param({"party-list": {"status": "valid", "choice": "P01"},
                      "preference": {"status": "valid", "party": "P01", "position": 0}},
                     ">= 1", id="position-zero"),
        pytest.param({"district-01": {"status": "blank", "choice": None},
                      "council-x": {"status": "blank", "choice": None}},
                     "kind", id="mixed-kinds"),
        pytest.param({"ballot": {"status": "blank", "choice": None}}, "not a contest id",
                     id="unknown-contest-id"),
    ],
)
def test_outcome_from_json_refuses(doc: Any, needle: str) -> None:
    with pytest.raises(RuleError, match=needle):
        BallotOutcome.from_json(doc)


def test_outcome_invariants() -> None:
    with pytest.raises(ValueError):
        ContestOutcome("district-01", V)
    with pytest.raises(ValueError):
        PreferenceOutcome(P_VALID, "P01")
    with pytest.raises(ValueError, match="preference outcome"):
        BallotOutcome(BallotKind.PARTY_LIST, (ContestOutcome("party-list", B),))
    with pytest.raises(ValueError, match="preference outcome"):
        BallotOutcome(BallotKind.DISTRICT, (ContestOutcome("district-01", B),),
                      PreferenceOutcome(P_NONE))
    with pytest.raises(ValueError, match="distinct"):
        BallotOutcome(BallotKind.DISTRICT, ())


# --------------------------------------------------------------------------
# Properties over every selection of the small ballots
# --------------------------------------------------------------------------

SQUARES = [str(n) for n in range(1, PL.preference_squares + 1)]
RULES = st.sampled_from(sorted(RULE_SETS.values(), key=lambda r: r.name))


def _marks(options: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(options), max_size=len(options))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(part1=_marks([*PL.option_ids]), squares=_marks(SQUARES), rules=RULES)
def test_party_list_properties(
    part1: frozenset[str], squares: frozenset[str], rules: RuleSet
) -> None:
    vote, pref = judge_party_list(PL, part1, squares, rules)
    assert vote.status is {0: B, 1: V}.get(len(part1), OV)
    assert (pref.status is P_NONE) == (not squares)
    if pref.status is P_VALID:
        assert vote.choice == pref.party and pref.party != AGAINST_ALL
        assert pref.party is not None and pref.position is not None
        party = PL.party(pref.party)
        assert 1 <= pref.position <= party.list_length
        assert pref.position not in party.withdrawn_positions
        assert str(pref.position) in squares
    if squares and (vote.choice is None or vote.choice == AGAINST_ALL):
        assert pref.status is P_NA
    # both rule sets agree whenever no withdrawn position is marked
    if vote.choice in ("P02",) or not squares:
        other = KG_2021 if rules is STRUCK else STRUCK
        assert judge_party_list(PL, part1, squares, other) == (vote, pref)
    out = BallotOutcome(BallotKind.PARTY_LIST, (vote,), pref)
    assert BallotOutcome.from_json(json.loads(json.dumps(out.to_json()))) == out


@settings(derandomize=True, max_examples=200, deadline=None)
@given(marked=_marks([*D1.option_ids]), rules=RULES)
def test_candidate_contest_properties(marked: frozenset[str], rules: RuleSet) -> None:
    out = judge_candidate_contest(D1, marked, rules)
    withdrawn = {c.id for c in D1.candidates if c.withdrawn}
    active = marked - withdrawn
    if rules is KG_2021:
        expected = (B if not marked else OV if len(marked) > 1
                    else W if marked <= withdrawn else V)
    else:
        expected = (B if not marked else W if not active else V if len(active) == 1 else OV)
    assert out.status is expected
    if out.status is V:
        assert out.choice in active
    assert ContestOutcome(D1.id, out.status, out.choice) == out
