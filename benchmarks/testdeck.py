"""``pcos bench testdeck``: a default-election station's whole test deck, make -> run -> verify.

Too slow for the test suite (a district-12 station's deck is 284 sheets with
the 21-party list), so it is measured here: the time to plan and write the
PDF and expected results, to simulate and write the scans, to read them all
with the reader stand-in, and the verdict (every check must pass).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure
from calibration.testdeck_run import ReaderCounter, run_deck
from calibration.testdeck_verify import EXPECTED_FORMAT, REPORT_FORMAT, compare, parse_counts
from election.default import default_election
from simulator.scanner import preset
from simulator.testdeck import SCANS_DIR, build_deck, expected_results, make_deck, render_deck
from simulator.writer import ImageFormat


def run(seed: int = 2021, preset_name: str = "realistic") -> list[Figure]:
    e = default_election()
    station = next(s for s in e.stations if s.district == 12)  # a withdrawn candidate
    start = time.perf_counter()
    deck = build_deck(e, station)
    expected = expected_results(deck, seed)
    pdf = render_deck(deck, expected)
    plan_pdf_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="pcos-testdeck-") as tmp:
        start = time.perf_counter()
        made = make_deck(e, station, tmp, seed=seed, params=preset(preset_name),
                         preset_name=preset_name, fmt=ImageFormat.PNG)
        make_s = time.perf_counter() - start
        start = time.perf_counter()
        report = run_deck(ReaderCounter(e, station), Path(tmp) / SCANS_DIR)
        run_s = time.perf_counter() - start
    exp_t, exp_r = parse_counts(expected, "expected", EXPECTED_FORMAT)
    rep_t, rep_r = parse_counts(report.to_json(), "report", REPORT_FORMAT)
    verdict = compare(exp_t, exp_r, rep_t, rep_r)
    return [
        Figure("station", station.number),
        Figure("deck_sheets", len(deck.sheets)),
        Figure("pdf_pages", made.pdf_pages),
        Figure("pdf_bytes", len(pdf)),
        Figure("plan_expected_pdf_s", round(plan_pdf_s, 2), "s"),
        Figure("make_with_scans_s", round(make_s, 1), "s"),
        Figure("run_reader_s", round(run_s, 1), "s"),
        Figure("checks", len(verdict.checks)),
        Figure("checks_failed", len(verdict.failures)),
        Figure("review_sheets", len(report.review)),
        Figure("verdict", "PASS" if verdict.passed else "FAIL"),
    ]
