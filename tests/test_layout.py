"""Ballot layout geometry: language independence, determinism, spacing, ballot code.

The checks run over every ballot of the embedded default election (party list,
all 36 districts, all local councils, both languages), since a layout rule that
holds for one district but not for the longest one is no rule.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from election import ballot_code
from election.default import default_election
from election.errors import PcosError
from election.geometry import Rect
from election.hashing import election_hash
from election.layout import (
    LADDER_LEFT_X_MM,
    LADDER_RIGHT_X_MM,
    MARK_W_MM,
    BallotLayout,
    ballot_layout,
)
from election.model import PREFERENCE_CONTEST, BallotKind, Election, Language

MIN_BOX_GAP_MM = 2.5
SCORE_RING_MM = 1.5  # the reader scores a ring this wide around each box


def _election() -> Election:
    return default_election()


def _all_ballots(e: Election) -> list[tuple[BallotKind, int | str | None]]:
    out: list[tuple[BallotKind, int | str | None]] = [(BallotKind.PARTY_LIST, None)]
    out += [(BallotKind.DISTRICT, d.number) for d in e.districts]
    out += [(BallotKind.LOCAL, c.id) for c in e.councils]
    return out


def _sample_ballots(e: Election) -> list[tuple[BallotKind, int | str | None]]:
    """Party list, the district with the most candidates, and the first council."""
    biggest = max(e.districts, key=lambda d: len(d.candidates))
    return [(BallotKind.PARTY_LIST, None), (BallotKind.DISTRICT, biggest.number),
            (BallotKind.LOCAL, e.councils[0].id)]


ALL = _all_ballots(_election())
SAMPLES = _sample_ballots(_election())
ALL_IDS = [f"{k.value}-{c}" for k, c in ALL]
SAMPLE_IDS = [f"{k.value}-{c}" for k, c in SAMPLES]


def _layouts(kind: BallotKind, contest: int | str | None) -> list[BallotLayout]:
    e = _election()
    return [ballot_layout(e, kind, contest, lang) for lang in Language]


def _gap_mm(a: Rect, b: Rect) -> float:
    """Clear distance between two rectangles (0 if they touch or overlap)."""
    dx = max(b.x_mm - a.right_mm, a.x_mm - b.right_mm, 0.0)
    dy = max(b.y_mm - a.bottom_mm, a.y_mm - b.bottom_mm, 0.0)
    return max(dx, dy) if min(dx, dy) == 0.0 else (dx * dx + dy * dy) ** 0.5


def _grow(r: Rect, d_mm: float) -> Rect:
    return r.inset(-d_mm)


def _geometry(layout: BallotLayout) -> dict[str, object]:
    """Everything a reader locates on the sheet; the printed words are left out."""
    code = layout.code
    return {
        "paper": (layout.paper_w_mm, layout.paper_h_mm),
        "targets": [(t.id, t.box) for t in layout.targets],
        "timing": (layout.timing.left, layout.timing.right),
        "code_copies": code.copies,
        "code_cells": [code.cell_rect(c, i) for c in range(len(code.copies))
                       for i in range(len(code.cells))],
        "stripes": [(s.rect, s.srgb) for s in layout.stripes],
        "security": layout.security,
        "box_border": layout.box_border_mm,
    }


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_kyrgyz_and_russian_have_identical_box_geometry(kind: BallotKind,
                                                        contest: int | str | None) -> None:
    ky, ru = _layouts(kind, contest)
    assert ky.language is Language.KY and ru.language is Language.RU
    assert _geometry(ky) == _geometry(ru)
    assert [t.label for t in ky.targets] != [t.label for t in ru.targets]  # really two languages


def test_geometry_is_language_independent_for_every_ballot() -> None:
    for kind, contest in ALL:
        ky, ru = _layouts(kind, contest)
        assert _geometry(ky) == _geometry(ru), (kind, contest)


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_layout_json_and_hash_are_deterministic(kind: BallotKind,
                                                contest: int | str | None) -> None:
    a = ballot_layout(_election(), kind, contest, Language.RU)
    b = ballot_layout(_election(), kind, contest, Language.RU)
    assert a == b
    assert a.canonical_json() == b.canonical_json()
    assert a.layout_hash == b.layout_hash
    assert a.layout_hash == hashlib.sha256(a.canonical_json()).hexdigest()
    # The canonical JSON is plain JSON that round-trips to the same document.
    assert json.loads(a.canonical_json()) == a.to_json()


def test_layout_hashes_tell_ballots_apart() -> None:
    e = _election()
    hashes = {ballot_layout(e, k, c, lang).layout_hash for k, c in ALL for lang in Language}
    assert len(hashes) == 2 * len(ALL)


def test_every_target_in_json_carries_id_and_mm_box() -> None:
    layout = ballot_layout(_election(), BallotKind.PARTY_LIST, None, Language.KY)
    doc = layout.to_json()
    assert len(doc["targets"]) == len(layout.targets) == 21 + 1 + 54
    for t, jt in zip(layout.targets, doc["targets"], strict=True):
        assert jt["id"] == t.id
        assert (jt["x_mm"], jt["y_mm"], jt["w_mm"], jt["h_mm"]) == pytest.approx(
            (t.box.x_mm, t.box.y_mm, t.box.w_mm, t.box.h_mm), abs=1e-3)


# --------------------------------------------------------------------------- placement


@pytest.mark.parametrize(("kind", "contest"), ALL, ids=ALL_IDS)
def test_targets_inside_paper_and_between_ladders(kind: BallotKind,
                                                  contest: int | str | None) -> None:
    layout = ballot_layout(_election(), kind, contest, Language.KY)
    left_ladder_right = LADDER_LEFT_X_MM + MARK_W_MM
    top = layout.timing.left[0].y_mm
    bottom = layout.timing.left[-1].bottom_mm
    assert layout.targets
    for t in layout.targets:
        b = t.box
        assert b.x_mm >= 0 and b.right_mm <= layout.paper_w_mm, t.id
        assert b.y_mm >= 0 and b.bottom_mm <= layout.paper_h_mm, t.id
        assert left_ladder_right < b.x_mm and b.right_mm < LADDER_RIGHT_X_MM, t.id
        assert top < b.y_mm and b.bottom_mm < bottom, t.id  # the mesh brackets every box
        assert b.w_mm == b.h_mm > 0, t.id  # square


@pytest.mark.parametrize(("kind", "contest"), ALL, ids=ALL_IDS)
def test_targets_do_not_overlap_and_keep_their_distance(kind: BallotKind,
                                                        contest: int | str | None) -> None:
    layout = ballot_layout(_election(), kind, contest, Language.KY)
    ids = [t.id for t in layout.targets]
    assert len(ids) == len(set(ids))
    for a, b in itertools.combinations(layout.targets, 2):
        assert not a.box.intersects(b.box), (a.id, b.id)
        assert _gap_mm(a.box, b.box) >= MIN_BOX_GAP_MM - 1e-9, (a.id, b.id)


@pytest.mark.parametrize(("kind", "contest"), ALL, ids=ALL_IDS)
def test_no_text_inside_the_scored_ring_of_any_box(kind: BallotKind,
                                                   contest: int | str | None) -> None:
    for layout in _layouts(kind, contest):
        for t in layout.targets:
            ring = _grow(t.box, SCORE_RING_MM)
            for tb in layout.texts:
                assert not tb.rect.intersects(ring), (t.id, tb.text)
            for other in (*layout.code.copies, layout.security.rect, *layout.timing.left,
                          *layout.timing.right):
                assert not other.intersects(ring), t.id


def test_preference_numbers_are_printed_outside_their_boxes() -> None:
    layout = ballot_layout(_election(), BallotKind.PARTY_LIST, None, Language.KY)
    squares = [t for t in layout.targets if t.contest == PREFERENCE_CONTEST]
    assert [t.option for t in squares] == [str(n) for n in range(1, 55)]
    for t in squares:
        numbers = [tb for tb in layout.texts
                   if tb.text == t.option and abs(tb.rect.cy_mm - t.box.cy_mm) < 1e-6]
        assert numbers, t.id
        assert all(tb.rect.right_mm <= t.box.x_mm - MIN_BOX_GAP_MM + 1e-9 for tb in numbers)


# --------------------------------------------------------------------------- stripes and code


def test_stripes_by_kind() -> None:
    e = _election()
    assert ballot_layout(e, BallotKind.PARTY_LIST).stripes == ()
    for kind, contest in SAMPLES[1:]:
        layout = ballot_layout(e, kind, contest)
        assert len(layout.stripes) == 2
        xs = sorted(s.rect.cx_mm for s in layout.stripes)
        assert xs[0] < LADDER_LEFT_X_MM and xs[1] > LADDER_RIGHT_X_MM + MARK_W_MM  # both sides
        assert all(s.srgb == layout.stripe_srgb for s in layout.stripes)
    blue = ballot_layout(e, *SAMPLES[1]).stripe_srgb
    pink = ballot_layout(e, *SAMPLES[2]).stripe_srgb
    assert blue is not None and pink is not None
    assert blue[2] > blue[0]  # blue: more blue than red
    assert pink[0] > pink[1]  # pink: more red than green


@pytest.mark.parametrize(("kind", "contest"), ALL, ids=ALL_IDS)
def test_ballot_code_decodes_to_this_ballot(kind: BallotKind, contest: int | str | None) -> None:
    e = _election()
    for layout in _layouts(kind, contest):
        code = ballot_code.decode(layout.code.cells)
        assert code.kind is kind
        assert code.language is layout.language
        assert code.contest_number == layout.contest_number
        assert code.layout_version == layout.layout_version
        assert code.hash_hex() == election_hash(e)[:8] == layout.election_hash[:8]
        if kind is BallotKind.DISTRICT:
            assert code.contest_number == contest
        elif kind is BallotKind.LOCAL:
            assert code.contest_number == e.council(str(contest)).number
        else:
            assert code.contest_number == 0
        assert len(layout.code.copies) == 2  # top and bottom copy


def test_code_cells_lie_on_the_paper_between_the_ladders() -> None:
    layout = ballot_layout(_election(), BallotKind.PARTY_LIST)
    for c in range(len(layout.code.copies)):
        first = layout.code.cell_rect(c, 0)
        last = layout.code.cell_rect(c, len(layout.code.cells) - 1)
        assert first.x_mm > LADDER_LEFT_X_MM + MARK_W_MM
        assert last.right_mm < LADDER_RIGHT_X_MM


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("kind", "contest"), [
    (BallotKind.DISTRICT, 99),
    (BallotKind.DISTRICT, None),
    (BallotKind.LOCAL, "no-such-council"),
    (BallotKind.LOCAL, None),
])
def test_unknown_or_missing_contest_is_a_user_error(kind: BallotKind,
                                                    contest: int | str | None) -> None:
    with pytest.raises(PcosError):
        ballot_layout(_election(), kind, contest, Language.KY)
