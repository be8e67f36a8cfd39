"""Grade a run of simulated sheets on several processes, in chunks (for the accuracy benches)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from calibration.grade import Grade


def grade_in_chunks(chunk: Callable[[Any], Grade], count: int,
                    job: Callable[[int, int], Any], workers: int | None = None) -> Grade:
    """Split sheets ``0..count`` into chunks, grade each with ``chunk(job(start, stop))``
    (``chunk`` must be a module-level function) and merge the grades.

    Workers are started with "spawn", not fork: forking a process whose OpenCV thread
    pool is already running can leave a worker deadlocked on a lock held by a thread
    that was not copied."""
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    step = max(1, -(-count // (workers * 4)))
    jobs = [job(a, min(count, a + step)) for a in range(0, count, step)]
    total = Grade()
    if workers == 1:
        for j in jobs:
            total.merge(chunk(j))
        return total
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for g in pool.map(chunk, jobs):
            total.merge(g)
    return total
