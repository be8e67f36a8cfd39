"""``pcos bench sweep``: the reader's verdict against coverage and darkness.

Sheets from ``simulator.sweep`` (every target of a party-list ballot marked at
one point of a darkness x coverage grid, nothing redrawn) are read by the
default reader. For each darkness level the figure lists, per coverage step
(share of the box interior covered, measured on the ideal ink), the reader's
majority verdict: ``.`` unmarked, ``?`` marginal, ``X`` marked. So a person
sees where marginal begins and ends; there is no ground truth here.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from benchmarks.common import Figure
from election.default import default_election
from election.layout import ballot_layout
from election.model import BallotKind, Language
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import default_station
from simulator.sweep import COVERAGE, DARKNESS, sweep_sheets
from vision.result import Mark

SYMBOL = {Mark.UNMARKED: ".", Mark.MARGINAL: "?", Mark.MARKED: "X"}


def run(count: int = 40, seed: int = 2021, preset_name: str = "realistic",
        **_: object) -> list[Figure]:
    e = default_election()
    station = default_station(e)
    layout = ballot_layout(e, BallotKind.PARTY_LIST, None, Language.RU)
    params = preset(preset_name).with_(jpeg_probability=0.0)
    reader = make_reader(e, station)
    cells: dict[tuple[float, float], Counter[Mark]] = defaultdict(Counter)
    rejected = 0
    for front, back, marks in sweep_sheets(layout, params, seed, count):
        res = reader.interpret(front, back)
        if not res.targets:
            rejected += 1
            continue
        verdict = {f"{r.contest}/{r.option}": r.mark for r in res.targets}
        for m in marks:
            cells[(m.darkness, m.coverage_goal)][verdict[m.target]] += 1
    figures = [Figure("sheets", count), Figure("rejected_sheets", rejected),
               Figure("coverage_steps", " ".join(f"{c:g}" for c in COVERAGE)),
               Figure("legend", ". unmarked, ? marginal, X marked (majority per cell)")]
    for d in DARKNESS:
        row = []
        for c in COVERAGE:
            cnt = cells[(d, c)]
            row.append(SYMBOL[cnt.most_common(1)[0][0]] if cnt else " ")
        figures.append(Figure(f"darkness_{d:.2f}", " ".join(row)))
    mixed = sum(1 for cnt in cells.values() if len(cnt) > 1)
    figures.append(Figure("cells_with_mixed_verdicts", mixed))
    return figures
