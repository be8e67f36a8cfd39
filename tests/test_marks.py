"""Hand-made marks: ground truth matches the ink, one style per ballot, every kind drawable.

The truth class of each target is recomputed here from the composed ink
layer with ``election.marking`` (independently of the composer's own check).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import simulator.compose as compose_module
from election.default import default_election
from election.geometry import Rect, px_per_mm
from election.layout import BallotLayout, ballot_layout
from election.marking import (
    FAINT_LEVEL,
    TruthClass,
    ZoneCoverage,
    coverage,
    truth_class,
    zone_window,
)
from election.model import BallotKind, Language
from simulator.compose import TRACE_WEIGHTS, compose
from simulator.ink import INSTRUMENTS, InkPatch
from simulator.marks import Shape, Trace, Variant, VoterStyle, draw_trace, draw_vote_mark
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from simulator.voters import VoterModel

ELECTION = default_election()
STATION = default_station(ELECTION)
PPM = px_per_mm(200.0)
SEEDS = 400


@pytest.fixture(scope="module")
def layouts() -> list[BallotLayout]:
    return [
        ballot_layout(ELECTION, BallotKind.PARTY_LIST, None, Language.KY),
        ballot_layout(ELECTION, BallotKind.DISTRICT, STATION.district, Language.RU),
        ballot_layout(ELECTION, BallotKind.LOCAL, STATION.council, Language.KY),
    ]


def _measure(patches: list[InkPatch], box: Rect) -> ZoneCoverage:
    """Coverage of a target's zones by all patches (multiplicative, as ink on paper)."""
    win = zone_window(box, PPM)
    h, w = win.shape
    trans = np.ones((h, w), np.float32)
    for p in patches:
        ya, yb = max(win.y0, p.y0), min(win.y0 + h, p.y1)
        xa, xb = max(win.x0, p.x0), min(win.x0 + w, p.x1)
        if ya < yb and xa < xb:
            trans[ya - win.y0 : yb - win.y0, xa - win.x0 : xb - win.x0] *= \
                1.0 - p.darkness()[ya - p.y0 : yb - p.y0, xa - p.x0 : xb - p.x0]
    return coverage(1.0 - trans, win)


def test_truth_class_matches_measured_coverage(layouts: list[BallotLayout]) -> None:
    voters = VoterModel(marginal_per_mark=0.15)  # many marginal marks, to test them too
    traces = list(TRACE_WEIGHTS)
    seen: set[TruthClass] = set()
    for seed in range(SEEDS):
        rng = np.random.default_rng([seed, 424242])
        layout = layouts[seed % len(layouts)]
        if layout.kind is BallotKind.PARTY_LIST:
            intent = voters.party_list_intent(rng, ELECTION.party_list)
        else:
            intent = voters.candidate_intent(rng, ELECTION.contest(layout.contest))
        style = VoterStyle.random(rng)
        chosen = tuple(traces[int(k)] for k in rng.integers(len(traces), size=seed % 4))
        marked = compose(rng, layout, intent.marks, style, chosen, PPM)
        by_id = {f"{t.contest}/{t.option}": t for t in marked.truth}
        assert list(by_id) == [t.id for t in layout.targets]
        wanted = {f"{c}/{o}" for c, o, _v in intent.marks}
        for target in layout.targets:
            truth = by_id[target.id]
            assert truth.intent == (target.id in wanted)
            measured = truth_class(truth.intent, _measure(marked.ink.patches, target.box))
            assert measured is truth.cls, (seed, target.id, truth)
            seen.add(truth.cls)
    assert seen == set(TruthClass)


def test_one_style_for_all_marks_of_a_ballot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spy on the mark drawer during whole-sheet generation: one style per sheet."""
    calls: list[VoterStyle] = []
    real = compose_module.draw_vote_mark

    def spy(rng: np.random.Generator, style: VoterStyle, box: Rect, variant: Variant,
            ppm: float) -> InkPatch:
        calls.append(style)
        return real(rng, style, box, variant, ppm)

    monkeypatch.setattr(compose_module, "draw_vote_mark", spy)
    factory = SheetFactory(ELECTION, STATION, preset("clean"), seed=21, kind="party-list")
    multi = 0
    for i in range(8):
        calls.clear()
        truth = factory.sheet(i).truth
        marks = [t for t in truth["targets"] if t["intent"]]
        if not marks:
            continue
        multi += len(marks) > 1
        first = calls[0]
        assert first.instrument.name == truth["style"]["instrument"]
        assert first.shape.value == truth["style"]["shape"]
        # The composer's last resort, for a mark the style cannot make readable, is a
        # plain cross (in the voter's hand, or in the composer's fixed fall-back style).
        allowed = {first, first.with_shape(Shape.CROSS),
                   getattr(compose_module, "FALLBACK", first)}
        for s in calls:
            assert s in allowed
    assert multi >= 1


def _style(rng: np.random.Generator, shape: Shape, instrument: str) -> VoterStyle:
    inst = INSTRUMENTS[instrument]
    return dataclasses.replace(VoterStyle.random(rng), instrument=inst, shape=shape,
                               width_mm=float(rng.uniform(*inst.width_mm)),
                               opacity=float(rng.uniform(*inst.opacity)))


@pytest.mark.parametrize("shape", list(Shape))
def test_every_shape_and_variant_can_be_drawn(shape: Shape, layouts: list[BallotLayout]) -> None:
    box = layouts[1].targets[0].box
    for variant in Variant:
        want = (TruthClass.DEFINITE if variant is Variant.NORMAL
                and shape is not Shape.CIRCLE_AROUND else TruthClass.MARGINAL)
        hit = False
        for k in range(60):
            rng = np.random.default_rng([k, 99])
            style = _style(rng, shape, list(INSTRUMENTS)[k % len(INSTRUMENTS)])
            patch = draw_vote_mark(rng, style, box, variant, PPM)
            assert patch.alpha.dtype == np.float32 and patch.alpha.size > 0
            assert np.isfinite(patch.alpha).all() and patch.alpha.min() >= 0.0
            assert patch.alpha.max() <= 1.0
            if truth_class(True, _measure([patch], box)) is want:
                hit = True
                break
        assert hit, (shape, variant)


@pytest.mark.parametrize("trace", list(Trace))
def test_every_trace_can_be_drawn(trace: Trace) -> None:
    for k in range(5):
        rng = np.random.default_rng([k, 7])
        style = VoterStyle.random(rng)
        patch = draw_trace(rng, trace, style, (100.0, 120.0), PPM)
        assert patch.alpha.size > 0 and patch.alpha.max() > 0.0
        dark = patch.darkness()
        if trace in (Trace.ERASED, Trace.SMUDGE):
            assert float(dark.max()) < FAINT_LEVEL  # below even a faint mark
        else:
            assert float(dark.max()) >= FAINT_LEVEL
