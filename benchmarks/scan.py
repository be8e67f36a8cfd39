"""Reader speed and memory on realistic duplex sheets already in memory, one core.

Targets: median <= 15 ms, p99 <= 40 ms per sheet, bounded memory. Sheets are
made one at a time and dropped after reading, so only the reader is timed.
The reader is prepared the way a device starts its day: the blank templates of
every layout the station meets (each kind, each language) are built before the
first sheet (``Reader.prepare``; timed apart as ``startup_prepare_ms``). The
first sheet of each layout in service is then timed on its own
(``first_sheet_in_service_max_ms``, target <= 40 ms); ``first_sheet_cold_max_ms``
is the same on a reader that was not prepared (it pays the template build).
Memory: the peak Python/numpy allocation of one reading (tracemalloc), and the
process RSS across 500 further readings of a fixed pool of sheets (the
simulator's own caches are full by then, so any growth would be the reader's).
"""

from __future__ import annotations

import time
import tracemalloc
from collections import defaultdict
from typing import Any

from benchmarks.common import Figure, current_rss_mb, kind_medians, ms_stats, one_core
from calibration.station import station_layouts
from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station


def _first_of_each_layout(factory: SheetFactory, wanted: set[tuple[str, str]],
                          limit: int = 200) -> list[int]:
    """Indices of the first warm-up sheet of each wanted (kind, language)."""
    seen: dict[tuple[str, str], int] = {}
    for i in range(limit):
        t = factory.sheet(30_000_000 + i).truth
        seen.setdefault((str(t.get("kind")), str(t.get("language"))), 30_000_000 + i)
        if wanted <= set(seen):
            break
    return sorted(seen.values())


def _first_sheets(factory: SheetFactory, reader: Any, indices: list[int]) -> list[float]:
    times = []
    for i in indices:
        s = factory.sheet(i)
        t = time.perf_counter()
        reader.interpret(s.front, s.back)
        times.append(time.perf_counter() - t)
    return times


def run(count: int = 400, seed: int = 7, preset_name: str = "realistic",
        kind: str = "mixed") -> list[Figure]:
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset(preset_name), seed=seed, kind=kind)
    times: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    peak_alloc = 0
    kinds = None if kind == "mixed" else set(kind.split(","))
    layouts = [lay for lay in station_layouts(e, station)
               if kinds is None or lay.kind.value in kinds]
    firsts = _first_of_each_layout(factory, {(lay.kind.value, lay.language.value)
                                             for lay in layouts})
    with one_core():
        cold = _first_sheets(factory, make_reader(e, station), firsts)
        reader = make_reader(e, station)
        t0 = time.perf_counter()
        reader.prepare(layouts)  # start of the day: every layout of the station
        prepare_s = time.perf_counter() - t0
        in_service = _first_sheets(factory, reader, firsts)
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
            Figure("layouts_seen", len(firsts)),
            Figure("startup_prepare_ms", round(prepare_s * 1000.0, 1), "ms"),
            Figure("first_sheet_in_service_max_ms", round(max(in_service) * 1000.0, 3), "ms"),
            Figure("first_sheet_cold_max_ms", round(max(cold) * 1000.0, 3), "ms"),
            Figure("peak_alloc_per_sheet_mb", round(peak_alloc / 2**20, 2), "MB"),
            Figure("rss_start_mb", rss_start, "MB"), Figure("rss_end_mb", rss_end, "MB"),
            *kind_medians("ms_per_sheet", by_kind),
            Figure("reader_rss_growth_over_500_reads_mb",
                   round(rss_pool_end - rss_pool_start, 1), "MB")]
