"""Every reject reason of the reader, each from a case built explicitly from a clean sheet.

A clean simulated sheet of each kind (party list, district, local) is read
once; each test then changes exactly one thing about it (the feed, the
station, the election, a streak, the code band, the colours, a timing mark,
the image sizes, a box) and checks the reader's verdict. Positions on the
image come from the reader's own ``debug["mesh"]`` and ``debug["layout"]``,
so every edit lands where the ballot's feature really is.

Protects: the typed reason each kind of bad sheet gets (and that fixing the
one thing restores the reading), orientation independence, the fail-safe
behaviour on damaged registration, the mark classes, and the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytest

from election.default import default_election
from election.geometry import Rect
from election.layout import (
    PAPER_REFERENCE_X_MM,
    STRIPE_MARGIN_Y_MM,
    STRIPE_SRGB,
    STRIPE_W_MM,
    STRIPE_X_MM,
    BallotLayout,
    Target,
)
from election.model import BallotKind, Election, Station
from election.reject import RejectReason
from firmware.reader_setup import make_reader
from simulator.fakes import other_election
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from vision.config import Thresholds
from vision.interpret import Reader
from vision.marks import classify
from vision.mesh import Mesh
from vision.result import Mark, Outcome, SheetInterpretation, TargetScores

KINDS = ("party-list", "district", "local")
SEED = 11
INK_RGB = (20, 20, 30)


@dataclass(frozen=True)
class Case:
    """A clean sheet as the reader saw it: both images, its reading and its registration."""

    kind: str
    front: np.ndarray
    back: np.ndarray
    result: SheetInterpretation
    mesh: Mesh
    layout: BallotLayout

    @property
    def side(self) -> str:
        assert self.result.side in ("front", "back")
        return self.result.side

    @property
    def ballot(self) -> np.ndarray:
        """A copy of the image that shows the ballot."""
        return (self.front if self.side == "front" else self.back).copy()

    @property
    def other(self) -> np.ndarray:
        return (self.back if self.side == "front" else self.front).copy()

    def feed(self, ballot: np.ndarray, other: np.ndarray | None = None) -> tuple[np.ndarray,
                                                                                np.ndarray]:
        """(front, back) with an edited ballot image on the side it was scanned on."""
        rest = self.other if other is None else other
        return (ballot, rest) if self.side == "front" else (rest, ballot)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def election() -> Election:
    return default_election()


@pytest.fixture(scope="module")
def station(election: Election) -> Station:
    return default_station(election)


@pytest.fixture(scope="module")
def reader(election: Election, station: Station) -> Reader:
    return make_reader(election, station)


@pytest.fixture(scope="module")
def cases(election: Election, station: Station, reader: Reader) -> dict[str, Case]:
    """One accepted clean sheet per kind, with the reader's mesh and layout."""
    out = {}
    for kind in KINDS:
        sheet = SheetFactory(election, station, preset("clean"), seed=SEED, kind=kind).sheet(0)
        debug: dict[str, Any] = {}
        res = reader.interpret(sheet.front, sheet.back, debug)
        assert res.outcome is Outcome.ACCEPTED, (kind, res.reason, res.detail)
        assert res.contests == sheet.truth["expected"]
        out[kind] = Case(kind, sheet.front, sheet.back, res, debug["mesh"], debug["layout"])
    return out


def _station(election: Election, district: int | None, council: str | None) -> Station:
    return next(s for s in election.stations if s.district == district and s.council == council)


# --------------------------------------------------------------------------- helpers


def _polygon(mesh: Mesh, rect: Rect, pad_mm: float = 0.0) -> np.ndarray:
    """Image corners (int32, for cv2.fillConvexPoly) of a sheet rectangle, grown by pad."""
    x0, x1 = rect.x_mm - pad_mm, rect.right_mm + pad_mm
    y0, y1 = rect.y_mm - pad_mm, rect.bottom_mm + pad_mm
    pts = mesh.to_image(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    return np.round(pts).astype(np.int32)


def _paint(img: np.ndarray, mesh: Mesh, rect: Rect, rgb: tuple[int, int, int],
           pad_mm: float = 0.0) -> np.ndarray:
    """A copy of ``img`` with the sheet rectangle painted a flat colour."""
    out = img.copy()
    cv2.fillConvexPoly(out, _polygon(mesh, rect, pad_mm), tuple(int(v) for v in rgb))
    return out


def _paper_rgb(img: np.ndarray, mesh: Mesh, y_mm: float) -> np.ndarray:
    """Mean RGB of plain paper between the left ladder and the content, at height y."""
    x, y = np.round(mesh.to_image(PAPER_REFERENCE_X_MM[0], y_mm)).astype(int)
    return img[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).mean(axis=0)


def _box_columns(mesh: Mesh, target: Target) -> tuple[int, int]:
    """Image column range a target box covers."""
    xs = _polygon(mesh, target.box)[:, 0]
    return int(xs.min()), int(xs.max())


def _streak(img: np.ndarray, col: int, levels: int = 90, width: int = 2) -> np.ndarray:
    """Dirty glass: ``width`` image columns darkened by ``levels`` grey levels, top to bottom."""
    out = img.astype(np.int16)
    out[:, col : col + width] -= levels
    return np.clip(out, 0, 255).astype(np.uint8)


def _column_clear_of_boxes(case: Case, margin_px: int = 12) -> int:
    """An image column between the ladders that passes no target box (with a margin)."""
    spans = [_box_columns(case.mesh, t) for t in case.layout.targets]
    lo = int(min(case.mesh.left[:, 0].min(), case.mesh.right[:, 0].min())) + 60
    hi = int(max(case.mesh.left[:, 0].max(), case.mesh.right[:, 0].max())) - 60
    clear = [c for c in range(lo, hi)
             if all(c + 1 < a - margin_px or c > b + margin_px for a, b in spans)]
    assert clear, "no column clear of every box"
    return clear[len(clear) // 2]


def _marks(res: SheetInterpretation) -> list[tuple[str, str, Mark]]:
    return [(t.contest, t.option, t.mark) for t in res.targets]


def _rejected(res: SheetInterpretation, reason: RejectReason) -> None:
    assert res.outcome is Outcome.REJECTED, (res.outcome, res.contests)
    assert res.reason is reason, (res.reason, res.detail)
    assert not res.targets and not res.contests


def _same_reading(res: SheetInterpretation, ref: SheetInterpretation) -> None:
    assert res.outcome is ref.outcome, (res.reason, res.detail)
    assert res.contests == ref.contests
    assert _marks(res) == _marks(ref)
    assert (res.kind, res.contest, res.district) == (ref.kind, ref.contest, ref.district)


def _flip_label(label: str, rotate: bool, swap: bool) -> str:
    side, deg = label.split("/")
    if swap:
        side = "back" if side == "front" else "front"
    if rotate:
        deg = "0" if deg == "180" else "180"
    return f"{side}/{deg}"


# --------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("rotate", "swap"), [(False, False), (True, False), (False, True),
                                              (True, True)])
def test_every_orientation_reads_the_same(cases: dict[str, Case], reader: Reader, kind: str,
                                          rotate: bool, swap: bool) -> None:
    """Face up or down, head or tail first: the same marks and contest results, and the
    orientation reported is the one the sheet was fed in."""
    case = cases[kind]
    ballot = np.ascontiguousarray(np.rot90(case.ballot, 2)) if rotate else case.ballot
    front, back = case.feed(ballot)
    if swap:
        front, back = back, front
    res = reader.interpret(front, back)
    _same_reading(res, case.result)
    assert case.result.orientation is not None
    assert res.orientation == _flip_label(case.result.orientation, rotate, swap)


# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize(("kind", "district", "council"), [
    ("district", 22, "toguz-torou"),  # another district and council
    ("district", 1, None),
    ("district", None, None),  # abroad: no district at all
    ("local", 22, "toguz-torou"),  # another council
    ("local", 18, None),  # the same district, but no council
])
def test_station_of_another_contest_rejects_wrong_contest(
        cases: dict[str, Case], election: Election, kind: str, district: int | None,
        council: str | None) -> None:
    """A genuine ballot of a district or council not voted on at the scanner's station."""
    case = cases[kind]
    other = make_reader(election, _station(election, district, council))
    _rejected(other.interpret(case.front, case.back), RejectReason.WRONG_CONTEST)


@pytest.mark.parametrize(("kind", "district", "council"), [
    ("party-list", 22, "toguz-torou"),
    ("party-list", None, None),
    ("district", 18, None),
])
def test_station_voting_on_the_contest_accepts(cases: dict[str, Case], election: Election,
                                               kind: str, district: int | None,
                                               council: str | None) -> None:
    """The party list is nationwide; a district ballot reads at any station of its district."""
    case = cases[kind]
    other = make_reader(election, _station(election, district, council))
    _same_reading(other.interpret(case.front, case.back), case.result)


@pytest.mark.parametrize("kind", KINDS)
def test_another_election_rejects_wrong_election(cases: dict[str, Case], election: Election,
                                                 station: Station, kind: str) -> None:
    """A scanner loaded with another election (the annulled 2020 one) refuses these ballots."""
    reader_2020 = make_reader(other_election(election), station)
    case = cases[kind]
    res = reader_2020.interpret(case.front, case.back)
    _rejected(res, RejectReason.WRONG_ELECTION)
    assert res.election_hash == case.layout.election_hash[:8]


# --------------------------------------------------------------------------- streaks


@pytest.mark.parametrize("kind", KINDS)
def test_streak_through_a_box_rejects_streak(cases: dict[str, Case], reader: Reader,
                                             kind: str) -> None:
    """Two image columns 90 grey levels darker, through the middle of a voting box:
    'scanner needs cleaning', never a reading."""
    case = cases[kind]
    target = case.layout.targets[len(case.layout.targets) // 2]
    a, b = _box_columns(case.mesh, target)
    res = reader.interpret(*case.feed(_streak(case.ballot, (a + b) // 2)))
    _rejected(res, RejectReason.STREAK)


@pytest.mark.parametrize("kind", KINDS)
def test_streak_clear_of_every_box_does_not_reject(cases: dict[str, Case], reader: Reader,
                                                   kind: str) -> None:
    """The same streak where no box is (through text) leaves the reading unchanged."""
    case = cases[kind]
    col = _column_clear_of_boxes(case)
    debug: dict[str, Any] = {}
    res = reader.interpret(*case.feed(_streak(case.ballot, col)), debug)
    _same_reading(res, case.result)
    assert any(abs(c - col) <= 2 for c in debug["streaks"]), debug["streaks"]


@pytest.mark.parametrize(("kind", "offset_px"), [("party-list", 10), ("district", 8)])
def test_streak_through_a_box_ring_is_a_streak_or_harmless(cases: dict[str, Case],
                                                           reader: Reader, kind: str,
                                                           offset_px: int) -> None:
    """A streak through the scored ring just outside a box column is a streak: the reader
    sees that column, so it must not score it (untouched boxes would turn marginal)."""
    case = cases[kind]
    _, right = _box_columns(case.mesh, case.layout.targets[0])
    res = reader.interpret(*case.feed(_streak(case.ballot, right + offset_px)))
    assert res.outcome is Outcome.REJECTED
    assert res.reason is RejectReason.STREAK, (res.reason, res.detail)


# --------------------------------------------------------------------------- code band


@pytest.mark.parametrize("kind", KINDS)
def test_code_scribbled_on_both_copies_rejects_code_invalid(cases: dict[str, Case],
                                                            reader: Reader, kind: str) -> None:
    """Both code copies blacked out: the ballot's identity is unknown."""
    case = cases[kind]
    img = case.ballot
    for band in case.layout.code.copies:
        img = _paint(img, case.mesh, band, (0, 0, 0), pad_mm=0.3)
    _rejected(reader.interpret(*case.feed(img)), RejectReason.CODE_INVALID)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("copy", [0, 1], ids=["top-copy", "bottom-copy"])
def test_code_scribbled_on_one_copy_still_reads(cases: dict[str, Case], reader: Reader,
                                                kind: str, copy: int) -> None:
    """Either copy alone is enough: the reading is unchanged."""
    case = cases[kind]
    img = _paint(case.ballot, case.mesh, case.layout.code.copies[copy], (0, 0, 0), pad_mm=0.3)
    _same_reading(reader.interpret(*case.feed(img)), case.result)


# --------------------------------------------------------------------------- security, stripes


@pytest.mark.parametrize("kind", KINDS)
def test_grey_copy_of_the_ballot_side_rejects_security_missing(cases: dict[str, Case],
                                                               reader: Reader, kind: str) -> None:
    """A grey ballot image (RGB -> GRAY -> RGB) has no protective paint chroma."""
    case = cases[kind]
    grey = cv2.cvtColor(cv2.cvtColor(case.ballot, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    _rejected(reader.interpret(*case.feed(grey)), RejectReason.SECURITY_MISSING)


def _restriped(case: Case, kind: BallotKind) -> np.ndarray:
    """The ballot image with both side stripes painted in ``kind``'s colour, as printed ink
    under this sheet's paper tint and light."""
    colour = STRIPE_SRGB[kind]
    assert colour is not None
    h = case.layout.paper_h_mm
    paper = _paper_rgb(case.ballot, case.mesh, h / 2)
    ink = np.array(colour, np.float64) * paper / 255.0
    img = case.ballot
    for x in STRIPE_X_MM:
        rect = Rect(x, STRIPE_MARGIN_Y_MM, STRIPE_W_MM, h - 2 * STRIPE_MARGIN_Y_MM)
        img = _paint(img, case.mesh, rect, tuple(np.rint(ink).astype(int)))
    return img


@pytest.mark.parametrize(("kind", "paint"), [
    ("party-list", BallotKind.DISTRICT),
    ("party-list", BallotKind.LOCAL),
    ("district", BallotKind.LOCAL),
    ("local", BallotKind.DISTRICT),
])
def test_stripes_of_another_kind_reject_stripe_mismatch(cases: dict[str, Case], reader: Reader,
                                                       kind: str, paint: BallotKind) -> None:
    """Side stripes repainted in another kind's colour disagree with the code's kind."""
    case = cases[kind]
    res = reader.interpret(*case.feed(_restriped(case, paint)))
    _rejected(res, RejectReason.STRIPE_MISMATCH)
    assert res.stripe == {BallotKind.DISTRICT: "blue", BallotKind.LOCAL: "pink"}[paint]


@pytest.mark.parametrize(("kind", "paint"), [("district", BallotKind.DISTRICT),
                                             ("local", BallotKind.LOCAL)])
def test_stripes_repainted_in_their_own_colour_still_read(cases: dict[str, Case],
                                                          reader: Reader, kind: str,
                                                          paint: BallotKind) -> None:
    """Control for the repainting itself: the right colour changes nothing."""
    case = cases[kind]
    _same_reading(reader.interpret(*case.feed(_restriped(case, paint))), case.result)


# --------------------------------------------------------------------------- registration


def _erase_mark(case: Case, ladder: str, k: int) -> np.ndarray:
    """The ballot image with mark ``k`` of the ballot's ``ladder`` painted over in paper."""
    rect = getattr(case.layout.timing, ladder)[k]
    paper = _paper_rgb(case.ballot, case.mesh, rect.cy_mm)
    return _paint(case.ballot, case.mesh, rect, tuple(np.rint(paper).astype(int)), pad_mm=0.6)


@pytest.mark.parametrize("ladder", ["left", "right"])
def test_an_erased_timing_mark_is_never_accepted(cases: dict[str, Case], reader: Reader,
                                                 ladder: str) -> None:
    """Whichever mark of whichever ladder is missing, the reader never invents it: every
    sheet is rejected (every mark of the district ballot; ends and middle of the others)."""
    for kind, case in cases.items():
        n = case.layout.timing.count
        ks = range(n) if kind == "district" else sorted({0, 1, 7, n // 2, n - 8, n - 1})
        for k in ks:
            res = reader.interpret(*case.feed(_erase_mark(case, ladder, k)))
            assert res.outcome is Outcome.REJECTED, (kind, ladder, k, res.contests)
            assert not res.targets


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["start", "second", "eighth", "eighth-last", "last"])
def test_an_erased_timing_mark_near_an_end_rejects_registration(
        cases: dict[str, Case], reader: Reader, kind: str, where: str) -> None:
    """A missing mark within 8 of either end (including the start mark): registration-failed."""
    case = cases[kind]
    n = case.layout.timing.count
    k = {"start": 0, "second": 1, "eighth": 7, "eighth-last": n - 8, "last": n - 1}[where]
    for ladder in ("left", "right"):
        res = reader.interpret(*case.feed(_erase_mark(case, ladder, k)))
        _rejected(res, RejectReason.REGISTRATION)


@pytest.mark.parametrize("kind", KINDS)
def test_an_erased_timing_mark_in_the_middle_rejects_registration(
        cases: dict[str, Case], reader: Reader, kind: str) -> None:
    """A missing mark in the middle of a ladder: still one sheet, unreadable registration."""
    case = cases[kind]
    k = case.layout.timing.count // 2
    res = reader.interpret(*case.feed(_erase_mark(case, "left", k)))
    _rejected(res, RejectReason.REGISTRATION)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("cut", ["shorter", "narrower", "both"])
def test_sides_of_different_sizes_reject_image_invalid(cases: dict[str, Case], reader: Reader,
                                                       cut: str) -> None:
    """Front and back of different sizes are not one duplex scan."""
    case = cases["district"]
    rows = slice(0, -10) if cut in ("shorter", "both") else slice(None)
    cols = slice(0, -10) if cut in ("narrower", "both") else slice(None)
    other = np.ascontiguousarray(case.other[rows, cols])
    _rejected(reader.interpret(*case.feed(case.ballot, other)), RejectReason.IMAGE_INVALID)


@pytest.mark.parametrize("kind", KINDS)
def test_same_ballot_on_both_sides_rejects_double_feed(cases: dict[str, Case], reader: Reader,
                                                       kind: str) -> None:
    """Ballot marks on both cameras: two sheets went through together."""
    case = cases[kind]
    _rejected(reader.interpret(case.ballot, case.ballot), RejectReason.DOUBLE_FEED)


# --------------------------------------------------------------------------- marks


def _fill(case: Case, img: np.ndarray, target: Target) -> np.ndarray:
    """The box's inside (within its printed border) inked solid."""
    return _paint(img, case.mesh, target.box.inset(0.4), INK_RGB)


@pytest.mark.parametrize("kind", KINDS)
def test_filled_box_reads_marked_and_untouched_boxes_unmarked(cases: dict[str, Case],
                                                              reader: Reader, kind: str) -> None:
    """Filling one box that read unmarked turns exactly that box to ``marked``."""
    case = cases[kind]
    ref = {(t.contest, t.option): t for t in case.result.targets}
    blank = next(t for t in case.layout.targets if ref[(t.contest, t.option)].mark is Mark.UNMARKED
                 and ref[(t.contest, t.option)].scores.fill == 0.0)
    res = reader.interpret(*case.feed(_fill(case, case.ballot, blank)))
    assert res.outcome is not Outcome.REJECTED, (res.reason, res.detail)
    for t in res.targets:
        if (t.contest, t.option) == (blank.contest, blank.option):
            assert t.mark is Mark.MARKED and t.scores.fill > 0.9
        else:
            assert t.mark is ref[(t.contest, t.option)].mark


@pytest.mark.parametrize("kind", KINDS)
def test_clean_sheet_untouched_boxes_read_unmarked(cases: dict[str, Case], kind: str) -> None:
    """Boxes the voter did not touch score 0 new ink and read unmarked."""
    case = cases[kind]
    unmarked = [t for t in case.result.targets if t.mark is Mark.UNMARKED]
    assert len(unmarked) >= len(case.result.targets) - 3
    assert max(t.scores.fill for t in unmarked) < Thresholds().marginal


@pytest.mark.parametrize("kind", KINDS)
def test_every_box_filled_reads_every_box_marked(cases: dict[str, Case], reader: Reader,
                                                 kind: str) -> None:
    """No per-sheet statistic moves the threshold: with every box inked, every box is
    marked (and the contest is an overvote), never 'the darkest ones'."""
    case = cases[kind]
    img = case.ballot
    for t in case.layout.targets:
        img = _fill(case, img, t)
    res = reader.interpret(*case.feed(img))
    assert res.outcome is Outcome.ACCEPTED, (res.reason, res.detail)
    assert all(t.mark is Mark.MARKED for t in res.targets)
    first = next(iter(res.contests.values()))
    assert first["status"] == "overvote"


# --------------------------------------------------------------------------- thresholds

TH = Thresholds()
EPS = 1e-6


@pytest.mark.parametrize(("fill", "faint", "ring", "expected"), [
    (0.0, 0.0, 0.0, Mark.UNMARKED),
    (TH.definite, 0.0, 0.0, Mark.MARKED),
    (TH.definite + EPS, 0.0, 0.0, Mark.MARKED),
    (TH.definite - EPS, 0.0, 0.0, Mark.MARGINAL),
    (1.0, 1.0, 1.0, Mark.MARKED),
    (TH.definite, TH.faint, TH.ring, Mark.MARKED),
    (TH.marginal, 0.0, 0.0, Mark.MARGINAL),
    (TH.marginal + EPS, 0.0, 0.0, Mark.MARGINAL),
    (TH.marginal - EPS, 0.0, 0.0, Mark.UNMARKED),
    (0.0, TH.faint, 0.0, Mark.MARGINAL),
    (0.0, TH.faint - EPS, 0.0, Mark.UNMARKED),
    (0.0, TH.faint + EPS, 0.0, Mark.MARGINAL),
    (0.0, 0.0, TH.ring, Mark.MARGINAL),
    (0.0, 0.0, TH.ring - EPS, Mark.UNMARKED),
    (0.0, 0.0, TH.ring + EPS, Mark.MARGINAL),
    (TH.marginal - EPS, TH.faint - EPS, TH.ring - EPS, Mark.UNMARKED),
    (TH.definite - EPS, 1.0, 1.0, Mark.MARGINAL),
    (0.0, 0.0, 1.0, Mark.MARGINAL),  # all ink outside the box: flagged, not counted
])
def test_classify_at_and_around_each_threshold(fill: float, faint: float, ring: float,
                                               expected: Mark) -> None:
    """marked iff fill >= definite; else marginal iff fill >= marginal, faint >= faint or
    ring >= ring; else unmarked. At a threshold is in."""
    assert classify(TargetScores(fill, faint, ring), TH) is expected


def test_documented_default_thresholds() -> None:
    """README: marked if fill >= 0.055; marginal if fill >= 0.007, faint >= 0.03, ring >= 0.02."""
    assert (TH.definite, TH.marginal, TH.faint, TH.ring) == (0.055, 0.007, 0.03, 0.02)


def test_configured_thresholds_are_used() -> None:
    """Thresholds are configuration: the same scores classify by the given values."""
    strict = Thresholds(definite=0.2, marginal=0.1, faint=0.5, ring=0.5)
    assert classify(TargetScores(0.15, 0.0, 0.0), strict) is Mark.MARGINAL
    assert classify(TargetScores(0.15, 0.0, 0.0), TH) is Mark.MARKED
    assert classify(TargetScores(0.05, 0.4, 0.4), strict) is Mark.UNMARKED


@pytest.mark.parametrize("changes", [{"faint": 0.0}, {"faint": 3.0}, {"faint": -1.0},
                                     {"ring": 0.0}, {"ring": float("nan")}])
def test_faint_and_ring_thresholds_are_validated(changes: dict[str, float]) -> None:
    """Every threshold is a share in (0, 1]; anything else is refused, like marginal/definite."""
    with pytest.raises(ValueError):
        Thresholds(**changes)


@pytest.mark.parametrize(("marginal", "definite"), [(0.1, 0.05), (0.05, 0.05), (0.0, 0.05),
                                                    (-0.01, 0.05), (0.05, 1.01)])
def test_inconsistent_thresholds_are_refused(marginal: float, definite: float) -> None:
    """0 < marginal < definite <= 1, or the configuration is refused."""
    with pytest.raises(ValueError):
        Thresholds(marginal=marginal, definite=definite)


@pytest.mark.parametrize(("fill", "light", "expected"), [
    (0.0, TH.light_only, Mark.MARKED),  # a light pencil tick: light ink alone
    (0.0, TH.light_only - EPS, Mark.MARGINAL),  # (its faint coverage flags it)
    (0.02, 0.02 + TH.light_only + EPS, Mark.MARKED),  # light ink beyond a little dark ink
    (0.03, 0.03 + TH.light_only - EPS, Mark.MARGINAL),  # a tiny dark mark and its halo
    (0.037, 0.049, Mark.MARGINAL),  # the most light ink measured on a marginal mark
    (0.0, 0.0773, Mark.MARKED),  # the least measured on a definite pencil tick
    (0.0, TH.light, Mark.MARKED),
])
def test_light_ink_rules(fill: float, light: float, expected: Mark) -> None:
    """Light ink (pencil, a pale pen) that fills or crosses a box is a mark: marked when
    light coverage >= light, or light ink beyond dark ink (light - fill) >= light_only.
    Below that the mark is flagged (faint coverage), never silently dropped."""
    faint = max(light, TH.faint)
    assert classify(TargetScores(fill, faint, 0.0, 1.0, light), TH) is expected


def test_streak_across_box_and_ring_is_not_light_ink() -> None:
    """A straight band crossing the box and its ring from side to side (a scanner streak,
    a fold) is left out of the light-ink share; a slanted pencil stroke and a box shaded
    inside its border are not."""
    from vision.marks import _bands

    size, lo, hi = 40, 10, 30  # interior rows/cols 10..29; ring 4..9 and 30..35
    yy, xx = np.mgrid[:size, :size]
    interior = (yy >= lo) & (yy < hi) & (xx >= lo) & (xx < hi)
    outer = (yy >= 4) & (yy < 36) & (xx >= 4) & (xx < 36)
    ring = outer & ~((yy >= 8) & (yy < 32) & (xx >= 8) & (xx < 32))
    streak = np.zeros((size, size), bool)
    streak[18:21, :] = True  # across the whole patch
    stroke = np.abs(yy - xx) <= 1  # a diagonal through the box and the ring
    shading = interior.copy()  # a box shaded in light pencil, inside the border
    new = np.stack([streak, stroke, shading]).astype(np.float32) * 0.15  # light grey
    new[0, 21:24, :] = 0.05  # the streak's fading edge: too light to be a band
    new[1][ring] = -0.3  # near the printed border the template subtraction goes negative
    bands = _bands(new, interior[None], ring[None])
    assert bands[0, 18:21].all() and not bands[0, :18].any() and not bands[0, 21:].any()
    assert not bands[1].any() and not bands[2].any()


def test_light_fill_spilling_past_the_box_on_one_side_is_not_a_band() -> None:
    """A box shaded in light pencil a little beyond its border on one side darkens that
    side of the ring only: its rows and columns are ink, not bands (found by the
    whole-country sample run: station 6358, sheet 169). A band across the whole patch
    darkens the ring on both sides and stays a band."""
    from vision.marks import _bands

    size, lo, hi = 40, 10, 30  # interior rows/cols 10..29; ring 4..9 and 30..35
    yy, xx = np.mgrid[:size, :size]
    interior = (yy >= lo) & (yy < hi) & (xx >= lo) & (xx < hi)
    outer = (yy >= 4) & (yy < 36) & (xx >= 4) & (xx < 36)
    ring = outer & ~((yy >= 8) & (yy < 32) & (xx >= 8) & (xx < 32))
    spill = (yy >= 9) & (yy < 36) & (xx >= 9) & (xx < 36)  # past the box right and below
    band = np.zeros((size, size), bool)
    band[:, 18:21] = True  # a streak down the whole patch, and the same fill under it
    new = np.stack([spill, spill | band]).astype(np.float32) * 0.22
    bands = _bands(new, interior[None].repeat(2, 0), ring[None].repeat(2, 0))
    assert not bands[0].any()
    assert bands[1][:, 18:21].all() and not bands[1][:, :18].any()
