"""Threshold calibration (``calibration.thresholds``, ``pcos calibrate deck/thresholds``).

Protects: the cut lies between separated classes (hypothesis), on the log
middle of the gap; the recommendation on hand-built scores (marked between
marginal and definite, marginal between none and marginal; an unfittable
marginal band is kept and said so); the rates at given thresholds, classified
by the reader's own rule; the thresholds file round trip and its typed
errors; and, end to end on a small simulated deck, an HTML report whose
every image exists, a thresholds.json the reader can load, and thresholds
that fall between the classes the deck's scores show.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.thresholds import (
    MIN_MARGINAL,
    TargetSample,
    ThresholdsError,
    best_cut,
    collect,
    evaluate,
    load_thresholds,
    recommend,
)
from firmware.reader_setup import make_reader, station_arg
from simulator.writer import read_truth
from tools.common import load_election_arg
from tools.scan_batch import image_pairs
from vision.config import Thresholds
from vision.imageio import load_image

PCOS = str(Path(sys.executable).parent / "pcos")


def _samples(none: list[float], marginal: list[float], definite: list[float]
             ) -> list[TargetSample]:
    out = []
    for cls, values in (("none", none), ("marginal", marginal), ("definite", definite)):
        out += [TargetSample(i, cls, "pen", v, v, 0.0) for i, v in enumerate(values)]
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.002, 0.03), min_size=1, max_size=20),
       st.lists(st.floats(0.08, 1.0), min_size=1, max_size=20))
def test_cut_lies_between_separated_classes(low: list[float], high: list[float]) -> None:
    values = np.array(low + high)
    is_high = np.array([False] * len(low) + [True] * len(high))
    t = best_cut(values, is_high, np.ones(values.size))
    assert max(low) < t <= min(high)
    assert math.log10(t) == pytest.approx((math.log10(max(low)) + math.log10(min(high))) / 2)


def test_cut_with_overlap_weighs_the_costly_side() -> None:
    values = np.array([0.01, 0.02, 0.05, 0.04, 0.2])
    is_high = np.array([False, False, False, True, True])
    costly_low = best_cut(values, is_high, np.array([1, 1, 50, 1, 1.0]))
    costly_high = best_cut(values, is_high, np.array([1, 1, 1, 50, 1.0]))
    assert costly_low > 0.05  # a heavy low value pushes the cut above it
    assert 0.02 < costly_high <= 0.04  # a heavy high value pulls the cut below it


def test_recommendation_between_the_classes() -> None:
    none = [0.0] * 200 + [0.0012, 0.002]
    marginal = [0.012, 0.015, 0.02, 0.025, 0.03, 0.016, 0.018, 0.011]
    definite = [0.12, 0.2, 0.5, 0.9, 0.3]
    # Light pencil: no fill at all, caught by the faint score only.
    pencil = [TargetSample(900 + i, "marginal", "pencil", 0.0, 0.05, 0.0) for i in range(3)]
    samples = _samples(none, marginal, definite) + pencil
    rec = recommend(samples)
    th = rec.thresholds
    assert max(marginal) < th.definite <= min(definite)
    assert max(none) < th.marginal <= min(marginal)
    assert math.log10(th.definite) == pytest.approx((math.log10(0.03) + math.log10(0.12)) / 2,
                                                    abs=1e-3)
    r = rec.recommended
    assert r.definite_read_unmarked == r.none_read_marked == 0
    assert r.clear_flagged_marginal_rate == 0.0
    assert r.marginal_caught_rate == 1.0  # by fill, or (the pencil marks) by faint
    assert rec.notes == []
    assert rec.sweep_definite and rec.sweep_marginal


def test_too_few_marginal_targets_keeps_the_marginal_threshold() -> None:
    samples = _samples([0.0] * 50, [0.02] * (MIN_MARGINAL - 1), [0.3] * 10)
    rec = recommend(samples, Thresholds())
    assert rec.thresholds.marginal == Thresholds().marginal
    assert rec.notes and "not fitted" in rec.notes[0]


def test_evaluate_uses_the_readers_rule() -> None:
    samples = [TargetSample(1, "none", "pen", 0.06, 0.06, 0.0),  # a false vote at 0.055
               TargetSample(2, "definite", "pen", 0.004, 0.004, 0.0),  # lost at marginal 0.007
               TargetSample(3, "none", "pen", 0.0, 0.0, 0.05)]  # ring: sent to review
    r = evaluate(samples, Thresholds())
    assert (r.none_read_marked, r.definite_read_unmarked) == (1, 1)
    assert r.clear_flagged_marginal_rate == pytest.approx(1 / 3, abs=1e-6)
    assert r.sheets_to_review_rate == pytest.approx(1 / 3, abs=1e-6)


def test_recommend_needs_both_classes() -> None:
    with pytest.raises(Exception, match="definite"):
        recommend(_samples([0.0] * 5, [], []))


@pytest.mark.parametrize("text,match", [
    ("not json", "cannot read"),
    ('{"format": "x"}', "not a pcos-kg/thresholds"),
    ('{"format": "pcos-kg/thresholds", "format_version": 1, "thresholds": {"definite": 0.01,'
     ' "marginal": 0.02, "faint": 0.03, "ring": 0.02}}', "marginal < definite"),
    ('{"format": "pcos-kg/thresholds", "format_version": 1, "thresholds": {"definite": 0.1}}',
     "must give"),
])
def test_bad_thresholds_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text, "utf-8")
    with pytest.raises(ThresholdsError, match=match):
        load_thresholds(path)


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deck") / "d"
    proc = subprocess.run([PCOS, "calibrate", "deck", "--count", "16", "--kind", "district",
                           "--marginal-rate", "0.5", "--seed", "3", "--out", str(out)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_from_a_small_deck(deck: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run([PCOS, "calibrate", "thresholds", "--dir", str(deck), "--out", str(out),
                           "--jobs", "1"], capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "recommended: marked fill >=" in proc.stdout
    page = (out / "index.html").read_text("utf-8")
    images = re.findall(r"<img src='([^']+)'", page)
    assert len(images) == 4
    for name in images:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, name
    th = load_thresholds(out / "thresholds.json")
    doc = json.loads((out / "thresholds.json").read_text("utf-8"))
    assert doc["expected"]["definite"] == th.definite

    # The same deck read in-process: the thresholds sit between the classes it shows.
    election = load_election_arg(None)
    reader = make_reader(election, station_arg(election, None, deck))
    truth = {t["sheet"]: t for t in read_truth(deck)}
    pairs = []
    for name, front, back in image_pairs(deck):
        pairs.append((truth[int(name)], reader.interpret(load_image(front), load_image(back))))
    samples = collect(pairs)
    fills = {c: [s.fill for s in samples if s.cls == c] for c in ("definite", "marginal",
                                                                  "none")}
    assert fills["definite"] and fills["none"] and fills["marginal"]
    assert max(fills["none"] + fills["marginal"]) < th.definite <= min(fills["definite"])
    assert max(fills["none"]) < th.marginal < th.definite
    assert doc["expected"]["definite_read_unmarked"] == 0
    assert doc["expected"]["none_read_marked"] == 0
