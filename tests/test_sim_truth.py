"""Ground truth of simulated sheets agrees with the layout and the rules.

* ``targets`` names exactly the targets of the rendered layout (same ids, same
  order), for genuine ballots and for fakes printed from a layout;
* ``expected`` is ``election.rules.judge_ballot`` of the intended marks;
* every orientation label parses; classes fit intents.
"""

from __future__ import annotations

from typing import Any

import pytest

from election.default import default_election
from election.errors import PcosError
from election.layout import ballot_layout
from election.model import BallotKind, Election, Language
from election.rules import judge_ballot
from simulator.fakes import EXPECTED_REASON, Fake, other_election
from simulator.scanner import ORIENTATIONS, Orientation, preset
from simulator.sheets import SheetFactory, default_station
from simulator.writer import truth_line

ELECTION = default_election()
OTHER = other_election(ELECTION)
REQUIRED = ("sheet", "genuine", "kind", "district", "orientation", "targets", "expected")
LAYOUT_FAKES = {Fake.PHOTOCOPY.value, Fake.FOREIGN_CONTEST.value, Fake.OTHER_ELECTION.value,
                Fake.FIT_TO_PAGE.value, Fake.WRONG_STRIPE.value}


@pytest.fixture(scope="module")
def truths() -> list[dict[str, Any]]:
    """Truth of sheets from the default station (all kinds, a third fakes) and from abroad."""
    station = default_station(ELECTION)
    mixed = SheetFactory(ELECTION, station, preset("realistic"), seed=5, fake_rate=0.35)
    abroad = SheetFactory(ELECTION, ELECTION.station("9001"), preset("clean"), seed=5)
    return [mixed.sheet(i).truth for i in range(20)] + [abroad.sheet(i).truth for i in range(3)]


def _election(truth: dict[str, Any]) -> Election:
    return OTHER if truth["fake"] == Fake.OTHER_ELECTION.value else ELECTION


def _layout_contest(truth: dict[str, Any]) -> int | str | None:
    kind = BallotKind(truth["kind"])
    if kind is BallotKind.PARTY_LIST:
        return None
    if kind is BallotKind.DISTRICT:
        return int(truth["district"])
    return str(truth["contest"])


def test_every_sheet_has_the_required_keys(truths: list[dict[str, Any]]) -> None:
    for t in truths:
        for key in REQUIRED:
            assert key in t, (t["sheet"], key)
        assert truth_line(t).count("\n") == 1


def test_targets_are_exactly_the_layout_targets(truths: list[dict[str, Any]]) -> None:
    checked = 0
    for t in truths:
        if t["kind"] is None:
            continue
        layout = ballot_layout(_election(t), BallotKind(t["kind"]), _layout_contest(t),
                               Language(t["language"]))
        assert [(x["contest"], x["option"]) for x in t["targets"]] == \
            [(x.contest, x.option) for x in layout.targets], t["sheet"]
        assert t["contest"] == layout.contest
        if layout.kind is BallotKind.DISTRICT:
            assert t["district"] == layout.contest_number
        else:
            assert t["district"] is None
        checked += 1
    assert checked >= 15


def test_expected_is_the_rules_applied_to_the_intended_marks(
        truths: list[dict[str, Any]]) -> None:
    for t in truths:
        if t["expected"] is None:
            continue
        selections: dict[str, set[str]] = {}
        for x in t["targets"]:
            if x["intent"]:
                selections.setdefault(x["contest"], set()).add(x["option"])
        kind = BallotKind(t["kind"])
        contest = "party-list" if kind is BallotKind.PARTY_LIST else t["contest"]
        outcome = judge_ballot(_election(t), kind, contest,
                               {k: frozenset(v) for k, v in selections.items()})
        assert outcome.to_json() == t["expected"], t["sheet"]


def test_genuine_orientation_labels_parse(truths: list[dict[str, Any]]) -> None:
    genuine = [t for t in truths if t["genuine"]]
    assert genuine
    for t in genuine:
        o = Orientation.parse(t["orientation"])
        assert o in ORIENTATIONS
        assert o.label == t["orientation"]


def test_classes_fit_intents(truths: list[dict[str, Any]]) -> None:
    for t in truths:
        for x in t["targets"]:
            if x["intent"]:
                assert x["class"] in ("definite", "marginal")
                assert x["variant"] in ("normal", "faint", "tiny", "outside")
            else:
                assert x["class"] == "none"
                assert "variant" not in x


# The reasons the README promises for each fake, written out here rather than read
# from the simulator's own table, so a wrong mapping cannot pass.
PROMISED_REASON = {
    "photocopy": "security-missing",
    "foreign-contest": "wrong-contest",
    "other-election": "wrong-election",
    "blank-sheet": "not-a-ballot",
    "random-document": "not-a-ballot",
    "double-feed": "double-feed",
    "fit-to-page": "scale-out-of-range",
    "wrong-stripe": "stripe-mismatch",
}


def test_every_fake_kind_has_its_promised_reason() -> None:
    assert {f.value: r.value for f, r in EXPECTED_REASON.items()} == PROMISED_REASON


def test_fakes_say_what_a_reader_should_do(truths: list[dict[str, Any]]) -> None:
    fakes = [t for t in truths if not t["genuine"]]
    assert fakes
    for t in fakes:
        assert t["expected_reason"] == PROMISED_REASON[Fake(t["fake"]).value]
        if t["fake"] not in LAYOUT_FAKES:
            assert t["kind"] is None and t["targets"] == [] and t["expected"] is None
    for t in truths:
        if t["genuine"]:
            assert t["fake"] is None and t["expected_reason"] is None


def test_abroad_station_votes_party_list_only(truths: list[dict[str, Any]]) -> None:
    assert all(t["kind"] == "party-list" for t in truths[-3:])
    with pytest.raises(PcosError):
        SheetFactory(ELECTION, ELECTION.station("9001"), preset("clean"), kind="district")


def test_single_kind_factory_makes_only_that_kind() -> None:
    station = default_station(ELECTION)
    factory = SheetFactory(ELECTION, station, preset("clean"), seed=2, kind="local")
    for i in range(2):
        t = factory.sheet(i).truth
        assert t["kind"] == "local"
        assert t["contest"] == ELECTION.council(station.council or "").id
