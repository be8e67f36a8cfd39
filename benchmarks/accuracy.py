"""Accuracy of the reader on simulated sheets, graded against ground truth.

Default: 5,000 realistic sheets, party-list and district ballots mixed, 2 %
fakes, the simulator's default station. Apart from the graded deck, a set of
*colour photocopies* (``simulator.fakes.colour_photocopy``: a mild background
lift with the pale tints kept, copied from a marked genuine ballot, then
scanned like any sheet; one per 100 sheets, at least 10) is read and the share
rejected reported (``colour_copies_rejected_rate``): the reader does not
reject them, and the figure says so rather than leaving them out.
The work is split over the machine's cores (this is an accuracy run, not a
speed run); every sheet depends only on (seed, index), so the split does not
change the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Figure
from benchmarks.grading import grade_in_chunks
from calibration.grade import Grade
from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station


def _chunk(args: tuple[int, int, int, str, str, float]) -> Grade:
    start, stop, seed, preset_name, kind, fakes = args
    import cv2

    cv2.setNumThreads(1)
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset(preset_name), seed=seed, kind=kind, fake_rate=fakes)
    reader = make_reader(e, station)
    grade = Grade()
    for i in range(start, stop):
        sheet = factory.sheet(i)
        grade.add(sheet.truth, reader.interpret(sheet.front, sheet.back))
    return grade


def colour_copy_sheet(factory: SheetFactory, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Front and back scans of a colour photocopy of a marked genuine ballot of this
    factory's mix. Built with the factory's own steps (marked ballot, reprint with optics
    and photometry, scan), because the random fake mix does not include this variant
    (adding it to ``SheetFactory`` is the simulator's, see docs/vision-scanners.md)."""
    import cv2

    from simulator.fakes import colour_photocopy
    from simulator.sheets import _small_darkness

    rng = np.random.default_rng([factory.seed, 7_000_000 + index])
    kinds = factory._kinds()
    kind, contest = kinds[int(rng.integers(len(kinds)))]
    layout = factory.layout(kind, contest, factory._language(rng, kind))
    ballot = factory._marked_ballot(rng, layout, factory.election, factory.params)
    copy = colour_photocopy(cv2.cvtColor(ballot.src, cv2.COLOR_RGBA2RGB), rng)
    src = factory._reprint(rng, copy, factory.params)
    front, back, _orient, _jpeg = factory._scan(rng, src, _small_darkness(src), factory.params, {})
    return front, back


def _colour_copies(args: tuple[int, int, int, str, str]) -> dict[str, int]:
    start, stop, seed, preset_name, kind = args
    import cv2

    cv2.setNumThreads(1)
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset(preset_name), seed=seed, kind=kind)
    reader = make_reader(e, station)
    tally: dict[str, int] = {}
    for i in range(start, stop):
        res = reader.interpret(*colour_copy_sheet(factory, i))
        key = res.reason.value if res.reason is not None else res.outcome.value
        tally[key] = tally.get(key, 0) + 1
    return tally


def colour_copy_run(count: int, seed: int, preset_name: str, kind: str) -> dict[str, int]:
    """How the reader answers ``count`` colour photocopies: {reject reason or outcome: n}."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    step = max(1, count // 2)
    chunks = [(a, min(count, a + step), seed, preset_name, kind) for a in range(0, count, step)]
    total: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=get_context("spawn")) as pool:
        for tally in pool.map(_colour_copies, chunks):
            for k, v in tally.items():
                total[k] = total.get(k, 0) + v
    return total


def grade_run(count: int, seed: int, preset_name: str, kind: str, fakes: float,
              workers: int | None = None) -> Grade:
    return grade_in_chunks(_chunk, count,
                           lambda a, b: (a, b, seed, preset_name, kind, fakes), workers)


def run(count: int = 5000, seed: int = 2021, preset_name: str = "realistic",
        kind: str = "party-list,district", fakes: float = 0.02, out: str = "out"
        ) -> list[Figure]:
    """``out``: directory for the score histogram (``pcos bench accuracy --out DIR``)."""
    grade = grade_run(count, seed, preset_name, kind, fakes)
    Path(out).mkdir(parents=True, exist_ok=True)
    hist = Path(out) / f"accuracy-{preset_name}-histogram.png"
    grade.histogram_png(str(hist))
    s = grade.summary()
    keys = ("sheets", "genuine", "fakes", "targets_read", "definite_errors", "none_errors",
            "definite_or_none_marginal_rate", "marginal_targets", "marginal_flagged_rate",
            "genuine_rejected_rate", "fakes_rejected_rate", "fakes_right_reason_rate",
            "wrong_contest_results", "contest_results_checked")
    figures = [Figure("preset", preset_name), Figure("seed", seed), Figure("kind", kind)]
    figures += [Figure(k, s[k]) for k in keys]
    for cls in ("definite", "marginal", "none"):
        row = s["confusion"][cls]
        figures.append(Figure(f"{cls}_targets", sum(row.values())))
        figures += [Figure(f"{cls}_read_{m}", row[m]) for m in ("marked", "marginal", "unmarked")]
    silent = (s["definite_errors"] + s["none_errors"] + s["wrong_contest_results"]
              + sum(1 for m in grade.misread if m.get("problem") == "fake accepted"))
    figures.append(Figure("silent_errors", silent))
    copies = max(10, count // 100)
    answers = colour_copy_run(copies, seed, preset_name, kind)
    rejected = sum(v for k, v in answers.items() if k not in ("accepted", "review"))
    figures.append(Figure("colour_copies", copies))
    figures.append(Figure("colour_copies_rejected_rate", round(rejected / copies, 4)))
    figures.append(Figure("colour_copies_answers",
                          ", ".join(f"{k} {v}" for k, v in sorted(answers.items()))))
    figures.append(Figure("histogram", str(hist)))
    return figures
