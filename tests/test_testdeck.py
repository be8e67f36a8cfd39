"""Logic-and-accuracy test decks: the plan, the expected counts, the PDF, make -> run -> verify.

The end-to-end test runs the real pipeline on a tiny election (a deck of 34
sheets, written as JPEG to stay fast): ``pcos testdeck make`` writes the PDF,
``expected.json`` and simulated scans; ``pcos testdeck run`` reads every scan
with the vision reader and tallies it; ``pcos testdeck verify`` must PASS,
and must FAIL, naming the options, when the report is edited to swap two
options or kill a box. The deck of a default-election station (284 sheets)
is checked here as a plan only; its full run is ``pcos bench testdeck``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from election_fixtures import candidate_contest, party, small_election
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from calibration.marked_pdf import CROSS_INSET_MM, FILL_INSET_MM, MarkShape, wrap_line
from calibration.render_pdf import pdf_font
from calibration.testdeck_verify import (
    REPORT_FORMAT,
    Check,
    VerifyError,
    compare,
    diagnose,
    parse_counts,
)
from election.default import default_election
from election.definition import dump_election
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    Election,
    PartyListContest,
    Region,
    Station,
    Tec,
    Text,
)
from election.rules import ContestStatus, PreferenceStatus, judge_ballot, rule_set
from election.tally import Tally, TallyError
from simulator.fakes import Fake
from simulator.scanner import preset
from simulator.testdeck import (
    CANDIDATE_CASES,
    PARTY_LIST_CASES,
    DeckCase,
    DeckSheet,
    TestDeck,
    build_deck,
    cover_lines,
    deck_pages,
    expected_results,
    given_sheet,
    outcome,
    render_deck,
    scan_factory,
)
from tools.cli import main

PT_PER_MM = 72.0 / 25.4


def _t(s: str) -> Text:
    return Text(ky=s, ru=s)


def tiny_election() -> Election:
    """Two short lists and a 3-square grid; district 1 with a withdrawn candidate."""
    pl = PartyListContest((party("P01", 2), party("P02", 3, frozenset({2}))), True, 3)
    districts = (
        candidate_contest("district-01", BallotKind.DISTRICT, 1, "D01", 2, frozenset({2})),
        candidate_contest("district-02", BallotKind.DISTRICT, 2, "D02", 2),
    )
    return Election("test-tiny", _t("Tiny"), dt.date(2021, 11, 28), "kg-2021", pl, districts,
                    (), (Region("R1", _t("Region 1")),), (Tec("T1", _t("TEC 1"), "R1"),),
                    (Station("0001", "R1", "T1", 1, None, 500, False),))


def default_deck() -> TestDeck:
    e = default_election()
    station = next(s for s in e.stations if s.district == 12)  # 4 candidates, one withdrawn
    return build_deck(e, station)


DEFAULT = default_deck()
SMALL = build_deck(small_election(), small_election().station("0001"))


# --------------------------------------------------------------------------- distinct counts


@pytest.mark.parametrize("deck", [DEFAULT, SMALL], ids=["default-d12", "small"])
def test_every_option_gets_a_distinct_non_zero_count(deck: TestDeck) -> None:
    tally = Tally.from_json(expected_results(deck)["tally"])
    e = deck.election
    assert set(tally.contest_ids) == set(deck.station.contest_ids())
    for c in tally.contests:
        withdrawn = set() if c.contest == PARTY_LIST_CONTEST else {
            x.id for x in e.contest(c.contest).candidates if x.withdrawn}
        counted = {o: n for o, n in c.options if o not in withdrawn}
        assert all(n > 0 for n in counted.values()), (c.contest, counted)
        assert len(set(counted.values())) == len(counted), (c.contest, counted)
        # A withdrawn candidate's box is exercised too: its marks are withdrawn ballots.
        for w in withdrawn:
            assert c.count(w) == 0
        marks_on_withdrawn = sum(1 for s in deck.genuine() if s.ballot is not None
                                 and s.case is DeckCase.WITHDRAWN_CANDIDATE
                                 and s.ballot.contest == c.contest)
        assert c.withdrawn == marks_on_withdrawn > 0 if withdrawn else c.withdrawn == 0


@pytest.mark.parametrize("deck", [DEFAULT, SMALL], ids=["default-d12", "small"])
def test_every_preference_square_has_its_own_valid_preference(deck: TestDeck) -> None:
    pl = Tally.from_json(expected_results(deck)["tally"]).contest(PARTY_LIST_CONTEST)
    squares = deck.election.party_list.preference_squares
    positions = [pos for (_party, pos), _n in pl.preferences]
    assert sorted(positions) == list(range(1, squares + 1))
    assert all(n == 1 for _k, n in pl.preferences)


def test_default_deck_follows_ballot_order_counts() -> None:
    """Hand-derived: option i gets i + 1; the grid's 54 squares are valid once each."""
    pl = Tally.from_json(expected_results(DEFAULT)["tally"]).contest(PARTY_LIST_CONTEST)
    options = DEFAULT.election.party_list.option_ids
    assert [pl.count(o) for o in options] == list(range(1, len(options) + 1))
    assert pl.preference_status(PreferenceStatus.VALID) == 54
    for status in (PreferenceStatus.VOID_BEYOND_LIST, PreferenceStatus.VOID_MULTIPLE,
                   PreferenceStatus.VOID_WITHDRAWN):
        assert pl.preference_status(status) == 1
    # against-all + square, blank + square, every box marked
    assert pl.preference_status(PreferenceStatus.NOT_APPLICABLE) == 3
    d12 = Tally.from_json(expected_results(DEFAULT)["tally"]).contest("district-12")
    assert d12.counts == {"D12-01": 1, "D12-02": 2, "D12-03": 3, "D12-04": 0, "against-all": 5}
    assert (d12.blank, d12.overvote, d12.withdrawn) == (1, 3, 4)


def test_expected_counts_follow_the_named_rule_set() -> None:
    """The same deck under kg-2021-struck-withdrawn: a withdrawn + active mark is a vote."""
    strict = Tally.from_json(expected_results(SMALL)["tally"]).contest("district-01")
    e = small_election(rules="kg-2021-struck-withdrawn")
    struck = Tally.from_json(expected_results(build_deck(e, e.station("0001")))["tally"])
    d1 = struck.contest("district-01")
    assert strict.count("D01-01") == 1 and strict.overvote == 3
    assert d1.count("D01-01") == 2 and d1.overvote == 2


# --------------------------------------------------------------------------- cases


def _derived_case(deck: TestDeck, s: DeckSheet) -> set[DeckCase]:
    """The cases a sheet's selections fall in, judged afresh by election.rules."""
    assert s.ballot is not None
    e = deck.election
    out = judge_ballot(e, s.ballot.kind, s.ballot.contest, s.ballot.selection_sets(),
                       rule_set(e.rules))
    sel = s.ballot.selection_sets()
    main_contest = out.contests[0]
    cases = set()
    if main_contest.status is ContestStatus.BLANK:
        cases.add(DeckCase.BLANK)
    if main_contest.status is ContestStatus.WITHDRAWN:
        cases.add(DeckCase.WITHDRAWN_CANDIDATE)
    if main_contest.status is ContestStatus.OVERVOTE:
        cases.add(DeckCase.OVERVOTE)
    if main_contest.status is ContestStatus.VALID:
        cases.add(DeckCase.VOTE)
    if s.ballot.kind is not BallotKind.PARTY_LIST:
        c = e.contest(s.ballot.contest)
        if set(sel.get(c.id, ())) == set(c.option_ids):
            cases.add(DeckCase.ALL_BOXES)
        if any(c.candidate(o).withdrawn for o in sel.get(c.id, ()) if o != AGAINST_ALL) \
                and len(sel[c.id]) == 2:
            cases.add(DeckCase.WITHDRAWN_PLUS_OTHER)
        return cases
    assert out.preference is not None
    pref = out.preference.status
    squares = sel.get(PREFERENCE_CONTEST, frozenset())
    if set(sel.get(PARTY_LIST_CONTEST, ())) == set(e.party_list.option_ids):
        cases.add(DeckCase.ALL_BOXES)
    cases |= {
        PreferenceStatus.VALID: {DeckCase.VALID_PREFERENCE},
        PreferenceStatus.VOID_BEYOND_LIST: {DeckCase.PREFERENCE_BEYOND_LIST},
        PreferenceStatus.VOID_MULTIPLE: {DeckCase.PREFERENCE_TWO_SQUARES},
        PreferenceStatus.VOID_WITHDRAWN: {DeckCase.PREFERENCE_WITHDRAWN_POSITION},
    }.get(pref, set())
    if pref is PreferenceStatus.NOT_APPLICABLE and squares:
        if main_contest.choice == AGAINST_ALL:
            cases.add(DeckCase.PREFERENCE_WITH_AGAINST_ALL)
        elif main_contest.status is ContestStatus.BLANK:
            cases.add(DeckCase.PREFERENCE_WITHOUT_PARTY_VOTE)
    return cases


@pytest.mark.parametrize("deck", [DEFAULT, SMALL], ids=["default-d12", "small"])
def test_deck_covers_every_case_by_label_and_by_the_rules(deck: TestDeck) -> None:
    labelled = {DeckCase(c) for c in deck.cases()}
    assert labelled >= set(PARTY_LIST_CASES) | {DeckCase.FAKE}
    assert not {k for k in deck.skipped if not k.startswith(("withdrawn-", "foreign"))}
    derived: set[DeckCase] = set()
    for s in deck.genuine():
        found = _derived_case(deck, s)
        assert s.case in found, (s.label(), found)  # each label is what the rules say
        derived |= found
    assert derived >= set(PARTY_LIST_CASES)
    contests = {s.ballot.contest for s in deck.genuine() if s.ballot is not None}
    for c in contests - {PARTY_LIST_CONTEST}:
        has_withdrawn = any(x.withdrawn for x in deck.election.contest(c).candidates)
        got = {s.case for s in deck.genuine() if s.ballot and s.ballot.contest == c}
        want = set(CANDIDATE_CASES) if has_withdrawn else set(CANDIDATE_CASES) - {
            DeckCase.WITHDRAWN_CANDIDATE, DeckCase.WITHDRAWN_PLUS_OTHER}
        assert got >= want, (c, want - got)


@pytest.mark.parametrize("deck", [DEFAULT, SMALL], ids=["default-d12", "small"])
def test_one_fake_of_each_kind_expected_back_with_its_reason(deck: TestDeck) -> None:
    fakes = [s.fake for s in deck.sheets if s.fake is not None]
    assert sorted(fakes) == sorted(Fake)
    doc = expected_results(deck)
    assert doc["returned"] == {"double-feed": 1, "not-a-ballot": 2, "scale-out-of-range": 1,
                               "security-missing": 1, "stripe-mismatch": 1,
                               "wrong-contest": 1, "wrong-election": 1}
    assert sum(c["ballots"] for c in doc["tally"]["contests"].values()) == \
        len(deck.sheets) - len(fakes)


def test_deck_is_a_pure_function_of_election_and_station() -> None:
    again = default_deck()
    assert again.sheets == DEFAULT.sheets
    assert expected_results(again, 5) == expected_results(DEFAULT, 5)


def test_deck_scan_marks_the_intended_boxes_and_nothing_else() -> None:
    e = small_election()
    factory = scan_factory(SMALL, preset("clean"), seed=3)
    for s in (SMALL.sheets[10], SMALL.sheets[23], SMALL.sheets[37]):  # two squares, all boxes
        assert s.ballot is not None
        sim = factory.given_sheet(s.index, given_sheet(s))
        marked = {(t["contest"], t["option"]) for t in sim.truth["targets"] if t["intent"]}
        assert marked == set(s.ballot.marks)
        assert all(t["class"] == ("definite" if t["intent"] else "none")
                   for t in sim.truth["targets"])
        assert sim.truth["expected"] == outcome(e, s.ballot).to_json()
        assert sim.truth["behaviour"] == s.case.value


# --------------------------------------------------------------------------- the PDF


def _mark_strokes(page: Any) -> list[tuple[float, float, float, float]]:
    """Line segments (x0, y0, x1, y1 in pt) of the page's content stream."""
    data = page.get_contents().get_data().decode("latin-1")
    out = []
    for m in re.finditer(r"([-\d.]+) ([-\d.]+) m ([-\d.]+) ([-\d.]+) l S", data):
        x0, y0, x1, y1 = (float(v) for v in m.groups())
        out.append((x0, y0, x1, y1))
    return out


def test_pdf_has_a_cover_and_one_page_per_sheet_with_marks_in_their_boxes() -> None:
    pages = deck_pages(SMALL)
    expected = expected_results(SMALL)
    pdf = render_deck(SMALL, expected)
    assert pdf == render_deck(SMALL, expected)  # byte-deterministic, like the ballots
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == SMALL.physical_sheets + 1 == len(pages) + 1
    cover = reader.pages[0].extract_text()
    assert "station 0001" in cover and "P02: 5" in cover
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert titles[1:] == [p.outline for p in pages]
    for page, deck_page in zip(reader.pages[1:], pages, strict=True):
        if deck_page.layout is not None:
            assert float(page.mediabox.height) == pytest.approx(
                deck_page.layout.paper_h_mm * PT_PER_MM, abs=0.01)
    # A crossed sheet: each stroke of each cross ends inside its own box.
    s = SMALL.sheets[10]
    assert s.shape is MarkShape.CROSS and s.ballot is not None
    layout = pages[10].layout
    assert layout is not None
    strokes = _mark_strokes(reader.pages[11])
    boxes = {t.id: t.box for t in layout.targets}
    assert len(strokes) == 2 * len(s.ballot.marks)
    for contest, option in s.ballot.marks:
        box = boxes[f"{contest}/{option}"].inset(CROSS_INSET_MM)
        corners = {(round(box.x_mm, 2), round(box.y_mm, 2)),
                   (round(box.right_mm, 2), round(box.bottom_mm, 2))}
        found = {(round(x0 / PT_PER_MM, 2), round(layout.paper_h_mm - y0 / PT_PER_MM, 2))
                 for x0, y0, *_ in strokes} | {
                     (round(x1 / PT_PER_MM, 2), round(layout.paper_h_mm - y1 / PT_PER_MM, 2))
                     for *_, x1, y1 in strokes}
        assert corners <= found, (contest, option)
    assert FILL_INSET_MM < CROSS_INSET_MM


# --------------------------------------------------------------------------- verify


def _tally_doc(deck: TestDeck) -> dict[str, Any]:
    return expected_results(deck)["tally"]


def test_compare_names_swapped_options_and_dead_boxes() -> None:
    doc = _tally_doc(SMALL)
    exp = Tally.from_json(doc)
    returned = expected_results(SMALL)["returned"]
    assert compare(exp, returned, exp, returned).passed
    d1 = json.loads(json.dumps(doc))
    opts = d1["contests"]["district-01"]["options"]
    opts["D01-03"], opts["against-all"] = opts["against-all"], opts["D01-03"]
    verdict = compare(exp, returned, Tally.from_json(d1), returned)
    assert not verdict.passed
    assert {c.item for c in verdict.failures} == {"D01-03", "against-all"}
    assert any("D01-03 and against-all look swapped" in d for d in verdict.diagnosis)
    # A shifted preference square: P02 #3's vote read as #4.
    assert diagnose([Check("party-list", "preference P02 #3", 1, 0),
                     Check("party-list", "preference P02 #4", 1, 2)]) == (
        "party-list: preference P02 #3 counted 0 of 1; P02 gained at square(s) 4",)


def test_returned_sheets_are_checked_by_reason() -> None:
    exp = Tally.from_json(_tally_doc(SMALL))
    returned = expected_results(SMALL)["returned"]
    wrong = {**returned, "not-a-ballot": 1, "registration-failed": 1}
    verdict = compare(exp, returned, exp, wrong)
    assert {(c.section, c.item) for c in verdict.failures} == {
        ("returned", "not-a-ballot"), ("returned", "registration-failed")}


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """make -> run on the tiny election (module-scoped: scanning is the slow part)."""
    base = tmp_path_factory.mktemp("testdeck")
    election_file = base / "tiny.json"
    dump_election(tiny_election(), election_file)
    deck = base / "deck"
    assert main(["testdeck", "make", "--station", "0001", "--out", str(deck), "--seed", "4",
                 "--format", "jpg", "--election", str(election_file)]) == 0
    assert main(["testdeck", "run", "--deck", str(deck), "--election",
                 str(election_file), "--device-dir", str(base / "device")]) == 0
    return {"deck": deck, "election": election_file, "device": base / "device"}


def test_the_deck_runs_through_the_device_and_never_reaches_the_official_tally(
        e2e: dict[str, Path]) -> None:
    from firmware.cvrstore import open_device_store
    from firmware.store import SheetMode, SheetState

    report = json.loads((e2e["deck"] / "report.json").read_text(encoding="utf-8"))
    assert report["source"].startswith("device")
    store = open_device_store(e2e["device"])
    try:
        test_cast = store.sheets(mode=SheetMode.TEST, state=SheetState.CAST)
        returned = store.sheets(mode=SheetMode.TEST, state=SheetState.RETURNED)
        assert len(test_cast) == report["accepted"] > 0
        assert len(returned) == sum(report["returned"].values()) > 0
        assert store.sheets(mode=SheetMode.OFFICIAL) == []  # polls opened with zero figures
        assert store.meta("polls") == "polls-open"
    finally:
        store.close()
    # the device printed its own test report (TEST, laid out for the thermal printer)
    assert (e2e["deck"] / "device-test-report.png").is_file()
    printed = json.loads((e2e["deck"] / "device-test-report.json").read_text(encoding="utf-8"))
    assert printed["mode"] == "test" and printed["tally"] == report["tally"]


def _verify(expected: Path, report: Path, out: Path) -> int:
    return main(["testdeck", "verify", "--expected", str(expected), "--report", str(report),
                 "--out", str(out)])


def test_make_run_verify_passes_end_to_end(e2e: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    deck = e2e["deck"]
    expected = json.loads((deck / "expected.json").read_text(encoding="utf-8"))
    report = json.loads((deck / "report.json").read_text(encoding="utf-8"))
    assert report["sheets"] == expected["deck_sheets"] == 34
    assert report["review"] == []
    pdf = PdfReader(deck / "deck.pdf")
    assert len(pdf.pages) == expected["physical_sheets"] + 1
    capsys.readouterr()
    assert _verify(deck / "expected.json", deck / "report.json", deck / "v") == 0
    out = capsys.readouterr().out
    assert "PASS: all" in out and "FAIL" not in out
    png = cv2.imread(str(deck / "v" / "verify.png"))
    assert png is not None and png.shape[0] > 400
    assert (deck / "v" / "verify.txt").read_text(encoding="utf-8").count("PASS  ") > 30


def _edited(e2e: dict[str, Path], tmp_path: Path, edit: Any) -> Path:
    report = json.loads((e2e["deck"] / "report.json").read_text(encoding="utf-8"))
    edit(report["tally"]["contests"])
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def test_a_swapped_option_fails_naming_both(e2e: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    def swap(contests: dict[str, Any]) -> None:
        o = contests["party-list"]["options"]
        o["P02"], o["against-all"] = o["against-all"], o["P02"]

    report = _edited(e2e, tmp_path, swap)
    capsys.readouterr()
    assert _verify(e2e["deck"] / "expected.json", report, tmp_path) == 1
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("FAIL  ")]
    assert len(fails) == 2
    assert any(" P02 " in f for f in fails) and any(" against-all " in f for f in fails)
    assert "options P02 and against-all look swapped" in out
    assert out.rstrip().endswith("checks fail")


def test_a_dead_box_fails(e2e: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """A box that never reads: its ballots come out blank."""
    def kill(contests: dict[str, Any]) -> None:
        d = contests["district-01"]
        lost = d["options"]["D01-01"]
        d["options"]["D01-01"] = 0
        d["blank"] += lost
        d["valid"] -= lost
        d["invalid"] += lost

    report = _edited(e2e, tmp_path, kill)
    capsys.readouterr()
    assert _verify(e2e["deck"] / "expected.json", report, tmp_path) == 1
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("FAIL  ")]
    assert {f.split()[2] for f in fails} == {"D01-01", "(blank)"}
    assert "option D01-01 counted nothing" in out


def test_verify_refuses_an_inconsistent_or_missing_report(
        e2e: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def zero_only(contests: dict[str, Any]) -> None:
        contests["district-01"]["options"]["D01-01"] = 0  # ballots no longer add up

    report = _edited(e2e, tmp_path, zero_only)
    capsys.readouterr()
    assert _verify(e2e["deck"] / "expected.json", report, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcos: error:") and "bad tally" in err
    assert _verify(e2e["deck"] / "expected.json", tmp_path / "none.json", tmp_path) == 2
    assert "no test report file" in capsys.readouterr().err


def test_run_refuses_a_deck_of_another_election(e2e: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["testdeck", "run", "--deck", str(e2e["deck"])]) == 2
    assert "use --election" in capsys.readouterr().err


def test_scans_are_the_deck_in_feed_order(e2e: dict[str, Path]) -> None:
    deck = e2e["deck"]
    expected = json.loads((deck / "expected.json").read_text(encoding="utf-8"))
    truth = [json.loads(line) for line in
             (deck / "scans" / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["sheet"] for t in truth] == [s["index"] for s in expected["sheets"]]
    for t, s in zip(truth, expected["sheets"], strict=True):
        assert t["fake"] == s["fake"]
        if s["fake"] is None:
            assert t["expected"] == s["expected"]
    img = cv2.imread(str(deck / "scans" / "000000-front.jpg"))
    assert isinstance(img, np.ndarray) and img.ndim == 3


_SMALL_DOC = expected_results(SMALL)
_SMALL_OPTIONS = [(c, o) for c, d in sorted(_SMALL_DOC["tally"]["contests"].items())
                  for o in sorted(d["options"]) if d["options"][o] > 0]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_SMALL_OPTIONS), st.integers(min_value=-30, max_value=30))
def test_any_count_moved_between_an_option_and_blank_fails_on_exactly_those_lines(
        target: tuple[str, str], delta: int) -> None:
    contest, option = target
    doc = json.loads(json.dumps(_SMALL_DOC["tally"]))
    c = doc["contests"][contest]
    delta = max(-c["options"][option], min(delta, c["blank"]))  # keep counts >= 0
    c["options"][option] -= delta
    c["blank"] += delta
    c["valid"] -= delta
    c["invalid"] += delta
    exp = Tally.from_json(_SMALL_DOC["tally"])
    try:
        rep = Tally.from_json(doc)
    except TallyError:  # fewer votes than preferences for a party: refused, never compared
        assume(False)
    verdict = compare(exp, _SMALL_DOC["returned"], rep, _SMALL_DOC["returned"])
    failed = {(f.section, f.item) for f in verdict.failures}
    assert verdict.passed == (delta == 0)
    assert failed == (set() if delta == 0 else {(contest, option), (contest, "(blank)")})


# Keys are at most 6 characters, so no generated object can be a valid tally ("election",
# "contests" are longer): every generated document must be refused.
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=6), kids, max_size=3), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({"format": st.just(REPORT_FORMAT), "tally": _JSON,
                              "returned": _JSON}) | _JSON)
def test_a_malformed_report_is_a_typed_error(doc: Any) -> None:
    with pytest.raises(VerifyError):
        parse_counts(doc, "report.json", REPORT_FORMAT)


def test_a_well_formed_report_parses() -> None:
    doc = {"format": REPORT_FORMAT, "tally": _SMALL_DOC["tally"],
           "returned": _SMALL_DOC["returned"], "source": "anything"}
    tally, returned = parse_counts(doc, "report.json", REPORT_FORMAT)
    assert tally == Tally.from_json(_SMALL_DOC["tally"]) and returned == _SMALL_DOC["returned"]


def test_pdf_cover_lines_fit_and_the_wrong_stripe_sheet_uses_the_other_ink() -> None:
    font = pdf_font(False)
    for line in cover_lines(DEFAULT, expected_results(DEFAULT)):
        for piece in wrap_line(line, font, 2.6, 170.0):
            assert pdfmetrics.stringWidth(piece, font, 2.6) <= 170.0 or " " not in piece
    deck = SMALL
    pdf = PdfReader(io.BytesIO(render_deck(deck, expected_results(deck))))
    cover = pdf.pages[0].extract_text()
    assert "wrong-election 1" in cover and "P03: 6" in cover

    def inks(page: Any) -> set[str]:
        spaces = page["/Resources"].get("/ColorSpace", {})
        return {str(cs.get_object()[1]) for cs in spaces.values()}

    wrong = next(s for s in deck.sheets if s.fake is Fake.WRONG_STRIPE)
    page_of = {s.index: n for n, s in enumerate(
        x for s in deck.sheets for x in ([s, s] if s.second else [s]))}
    genuine_district = next(s for s in deck.sheets if s.ballot is not None and s.fake is None
                            and s.ballot.kind is BallotKind.DISTRICT)
    assert "/PCOS Stripe Blue" in inks(pdf.pages[page_of[genuine_district.index] + 1])
    assert "/PCOS Stripe Pink" in inks(pdf.pages[page_of[wrong.index] + 1])
    photocopy = next(s for s in deck.sheets if s.fake is Fake.PHOTOCOPY)
    assert not inks(pdf.pages[page_of[photocopy.index] + 1])  # no spot ink on a grey copy


def test_wrap_line_keeps_indentation_and_every_word() -> None:
    font = pdf_font(False)
    long = "  " + " ".join(f"word{i}" for i in range(40))
    pieces = wrap_line(long, font, 2.6, 60.0)
    assert len(pieces) > 1 and all(p.startswith("  ") for p in pieces)
    assert " ".join(p.strip() for p in pieces) == long.strip()
    assert all(pdfmetrics.stringWidth(p, font, 2.6) <= 60.0 for p in pieces)
    assert wrap_line("  P01: 1", font, 2.6, 60.0) == ["  P01: 1"]
