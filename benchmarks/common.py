"""Shared plumbing: figures, one-core pinning, percentiles, memory."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | int | str | None
    unit: str = ""

    def line(self) -> str:
        v = f"{self.value:.6g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.name}: {v} {self.unit}".rstrip()


@contextmanager
def one_core() -> Iterator[int]:
    """Run on a single CPU with single-threaded OpenCV; restore afterwards."""
    threads = cv2.getNumThreads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cpu = min(affinity) if affinity else 0
    try:
        cv2.setNumThreads(1)
        if affinity:
            os.sched_setaffinity(0, {cpu})
        yield cpu
    finally:
        cv2.setNumThreads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)


def ms_stats(prefix: str, seconds: list[float]) -> list[Figure]:
    ms = np.asarray(seconds) * 1000.0
    return [
        Figure(f"{prefix}_median", round(float(np.median(ms)), 3), "ms"),
        Figure(f"{prefix}_p90", round(float(np.percentile(ms, 90)), 3), "ms"),
        Figure(f"{prefix}_p99", round(float(np.percentile(ms, 99)), 3), "ms"),
        Figure(f"{prefix}_mean", round(float(ms.mean()), 3), "ms"),
    ]


def kind_medians(prefix: str, by_kind: dict[str, list[float]]) -> list[Figure]:
    """Median ms per ballot kind (``{prefix}_median_party_list`` ...)."""
    return [Figure(f"{prefix}_median_{k.replace('-', '_')}",
                   round(float(np.median(v)) * 1000.0, 3), "ms")
            for k, v in sorted(by_kind.items())]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError):
        return float("nan")
