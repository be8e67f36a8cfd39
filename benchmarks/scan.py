"""Reader speed and memory on realistic duplex sheets already in memory, one core.

Targets: median <= 15 ms, p99 <= 40 ms per sheet, bounded memory. Sheets are
made one at a time and dropped after reading, so only the reader is timed.
Memory: the peak Python/numpy allocation of one reading (tracemalloc), and the
process RSS across 500 further readings of a fixed pool of sheets (the
simulator's own caches are full by then, so any growth would be the reader's).
"""

from __future__ import annotations

import time
import tracemalloc
from collections import defaultdict

from benchmarks.common import Figure, current_rss_mb, kind_medians, ms_stats, one_core
from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station


def run(count: int = 400, seed: int = 7, preset_name: str = "realistic", kind: str = "mixed",
        **_: object) -> list[Figure]:
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset(preset_name), seed=seed, kind=kind)
    reader = make_reader(e, station)
    times: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    peak_alloc = 0
    with one_core():
        for i in range(12):  # build the blank templates of each layout once
            s = factory.sheet(20_000_000 + i)
            reader.interpret(s.front, s.back)
        rss_start = current_rss_mb()
        for i in range(count):
            s = factory.sheet(i)
            t = time.perf_counter()
            reader.interpret(s.front, s.back)
            times.append(time.perf_counter() - t)
            by_kind[str(s.truth.get("kind"))].append(times[-1])
        # Allocation peak of one reading, traced apart from the timed runs.
        for i in range(min(count, 10)):
            s = factory.sheet(i)
            tracemalloc.start()
            reader.interpret(s.front, s.back)
            peak_alloc = max(peak_alloc, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        rss_end = current_rss_mb()
        pool = [factory.sheet(i) for i in range(10)]
        for s in pool:
            reader.interpret(s.front, s.back)
        rss_pool_start = current_rss_mb()
        for k in range(500):
            s = pool[k % len(pool)]
            reader.interpret(s.front, s.back)
        rss_pool_end = current_rss_mb()
    return [Figure("preset", preset_name), Figure("sheets", len(times)),
            *ms_stats("ms_per_sheet", times),
            Figure("peak_alloc_per_sheet_mb", round(peak_alloc / 2**20, 2), "MB"),
            Figure("rss_start_mb", rss_start, "MB"), Figure("rss_end_mb", rss_end, "MB"),
            *kind_medians("ms_per_sheet", by_kind),
            Figure("reader_rss_growth_over_500_reads_mb",
                   round(rss_pool_end - rss_pool_start, 1), "MB")]
