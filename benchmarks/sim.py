"""Simulator speed: degraded duplex sheets made in memory, one core (target: <= 40 ms median)."""

from __future__ import annotations

import time
from collections import defaultdict

from benchmarks.common import Figure, kind_medians, ms_stats, one_core
from election.default import default_election
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station


def run(count: int = 300, seed: int = 2021, preset_name: str = "realistic",
        kind: str = "mixed") -> list[Figure]:
    e = default_election()
    factory = SheetFactory(e, default_station(e), preset(preset_name), seed=seed, kind=kind)
    times: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    jpeg = 0
    with one_core():
        for i in range(12):  # warm the blank-ballot cache (renders once per layout)
            factory.sheet(10_000_000 + i)
        for i in range(count):
            t = time.perf_counter()
            sheet = factory.sheet(i)
            dt = time.perf_counter() - t
            times.append(dt)
            by_kind[str(sheet.truth.get("kind"))].append(dt)
            jpeg += "jpeg_quality" in sheet.truth.get("effects", {})
    figures = [Figure("preset", preset_name), Figure("kind", kind), Figure("sheets", count)]
    figures += ms_stats("ms_per_sheet", times)
    figures += kind_medians("ms_per_sheet", by_kind)
    figures.append(Figure("jpeg_share", round(jpeg / count, 3)))
    return figures
