"""Accuracy of the reader on simulated sheets, graded against ground truth.

Default: 5,000 realistic sheets, party-list and district ballots mixed, 2 %
fakes, the simulator's default station. The work is split over the machine's
cores (this is an accuracy run, not a speed run); every sheet depends only on
(seed, index), so the split does not change the result.
"""

from __future__ import annotations

from pathlib import Path

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
    figures.append(Figure("histogram", str(hist)))
    return figures
