"""Read many sheets from files, on every core, results in input order.

The parent builds the reader once (the election, the station, the
calibration profile) and prepares the blank templates of every layout the
station votes on; the workers then load and read sheets: PNG/TIFF/JPEG
decoding, which dominates a sheet's cost, runs in the workers too. Where the
parent is still single-threaded (OpenCV held to one thread, no other thread
started), workers are *forked* from it and inherit the prepared reader: no
imports, no template builds, no pickling of the reader (about 1.3 s of CPU per
worker saved). Forking a process whose OpenCV thread pool is already running
can leave a child deadlocked on a lock held by a thread that was not copied
(seen in ``benchmarks/accuracy.py``), so a parent with more than one thread
starts its workers with ``spawn`` instead, each building its own reader.
Each worker runs OpenCV single-threaded, so ``--jobs N`` means N cores.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2

from election.errors import PcosError
from election.reject import RejectReason
from firmware.hal.files import image_pairs as folder_pairs
from firmware.reader_setup import make_reader, station_arg
from tools.common import load_election_arg
from vision.config import ScannerProfile
from vision.imageio import ImageFileError, load_scan
from vision.interpret import Reader
from vision.result import Outcome, SheetInterpretation


def image_pairs(directory: Path) -> list[tuple[str, Path, Path]]:
    """Every NAME-front.EXT / NAME-back.EXT pair in a directory, sorted by name (the
    device's folder sensor finds them the same way); none at all is an error here."""
    pairs = folder_pairs(directory)
    if not pairs:
        raise PcosError(f"{directory}: no *-front/*-back image pairs")
    return pairs


@dataclass(frozen=True)
class ReaderSpec:
    """Everything a worker needs to build the same reader as the parent (picklable)."""

    election: str | None  # election definition file, None for the embedded one
    station: str  # station number
    calibration: str | None = None  # signed calibration profile file
    calibration_key: str | None = None  # the key file that verifies it
    thresholds: str | None = None  # thresholds JSON (``pcos calibrate thresholds``)
    debug_dir: str | None = None
    profile: dict[str, Any] | None = None  # ``ScannerProfile.to_json()`` of this scanner


@dataclass(frozen=True)
class SheetJob:
    sheet: int | str  # as reported (the number of NNNNNN-front.png)
    front: str
    back: str
    name: str = ""  # the file-name stem (debug overlays are named after it)


def build_reader(spec: ReaderSpec) -> Reader:
    election = load_election_arg(spec.election)
    station = station_arg(election, spec.station)
    profile = ScannerProfile.from_json(spec.profile) if spec.profile is not None else None
    reader = make_reader(election, station, profile=profile)
    config = reader.config
    if spec.calibration is not None:
        from calibration.profile import configure_reader, load_profile

        if spec.calibration_key is None:
            raise PcosError("--calibration needs --calibration-key KEYFILE to verify it")
        config = configure_reader(config, load_profile(spec.calibration, spec.calibration_key))
    if spec.thresholds is not None:
        from calibration.thresholds import load_thresholds

        config = replace(config, thresholds=load_thresholds(spec.thresholds))
    return reader if config is reader.config else Reader(config)


def read_one(reader: Reader, job: SheetJob, debug_dir: str | None) -> SheetInterpretation:
    dpi = reader.config.scanner.dpi
    try:
        scans = load_scan(job.front), load_scan(job.back)
        for path, scan in zip((job.front, job.back), scans, strict=True):
            if scan.dpi is not None and abs(scan.dpi - dpi) > 1.0:
                raise ImageFileError(Path(path), f"scanned at {scan.dpi:g} DPI, the scanner "
                                                 f"profile is {dpi:g} DPI")
    except ImageFileError as exc:
        return SheetInterpretation(Outcome.REJECTED, RejectReason.IMAGE_INVALID, str(exc))
    front, back = scans[0].rgb, scans[1].rgb
    dbg: dict[str, Any] | None = {} if debug_dir is not None else None
    res = reader.interpret(front, back, dbg)
    if debug_dir is not None and dbg is not None:
        from vision.debug import write_debug

        write_debug(Path(debug_dir), job.name or str(job.sheet), res, dbg)
    return res


# One reader per worker process: module state of the *worker*, set once by its initialiser.
_WORKER: dict[str, Any] = {}


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_heap() -> bool:
    """Keep freed image buffers in this process's heap (glibc only; False elsewhere).

    Each sheet allocates and frees some 80 MB (two files, two inflated streams, two
    images). With glibc's defaults those blocks are mapped and unmapped, or the heap
    trimmed, sheet after sheet, and every page is faulted in and zeroed again: about
    20 ms of system time per sheet. Serving blocks up to 64 MB from the heap and
    trimming it only past 256 MB free removes that; the pixels are the same.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 64 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 256 << 20))


def _init_worker(spec: ReaderSpec) -> None:
    keep_heap()
    cv2.setNumThreads(1)
    _WORKER["reader"] = build_reader(spec)
    _WORKER["debug"] = spec.debug_dir


def _adopt_reader(reader: Reader, debug_dir: str | None) -> None:
    """Initialiser of a forked worker: the parent's prepared reader, inherited, not pickled."""
    _WORKER["reader"] = reader
    _WORKER["debug"] = debug_dir


def _threads_in_process() -> int:
    """How many threads this process runs (Linux: /proc/self/task), 0 if unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


# Threads running once numpy and OpenCV are imported: their OpenBLAS builds each start an
# idle worker at import, and OpenBLAS registers fork handlers for them. Any thread beyond
# these (OpenCV's parallel pool, anyone's thread) makes forking unsafe.
_IMPORT_THREADS = _threads_in_process()


def _prepared_reader(spec: ReaderSpec) -> Reader:
    """The reader with every layout of the station built (the start of a device's day)."""
    from calibration.station import station_layouts

    reader = build_reader(spec)
    station = reader.config.station
    if station is not None:
        reader.prepare(station_layouts(reader.config.election, station))
    return reader


def pool_context(parent_threads: int, import_threads: int = _IMPORT_THREADS,
                 python_threads: int = 1) -> str:
    """``fork`` when the parent runs no thread beyond those its imports started and no
    Python thread but the main one (and the platform forks), else ``spawn``."""
    safe = 0 < parent_threads <= import_threads and python_threads == 1
    return "fork" if safe and "fork" in mp.get_all_start_methods() else "spawn"


def _work(job: SheetJob) -> tuple[int | str, SheetInterpretation]:
    return job.sheet, read_one(_WORKER["reader"], job, _WORKER["debug"])


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def read_sheets(spec: ReaderSpec, jobs: Sequence[SheetJob], workers: int
                ) -> Iterator[tuple[int | str, SheetInterpretation]]:
    """(sheet, interpretation) for every job, in input order, on ``workers`` processes
    (1: in this process, no pool)."""
    if spec.debug_dir is not None:
        Path(spec.debug_dir).mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers, len(jobs)))
    keep_heap()  # forked workers inherit it
    if workers == 1:
        # One process, one core: OpenCV's pool only spins on these small per-box operations
        # (about 4 s of system time per 200 sheets pinned to one core).
        cv2.setNumThreads(1)
        reader = build_reader(spec)
        for job in jobs:
            yield job.sheet, read_one(reader, job, spec.debug_dir)
        return
    cv2.setNumThreads(1)  # before the parent's first OpenCV call here: no pool to fork over
    reader = _prepared_reader(spec)  # also fails fast here, with the user's error
    chunk = max(1, min(8, len(jobs) // (workers * 4)))
    method = pool_context(_threads_in_process(), python_threads=threading.active_count())
    init: tuple[Any, tuple[Any, ...]] = (
        (_adopt_reader, (reader, spec.debug_dir)) if method == "fork"
        else (_init_worker, (spec,)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method),
                             initializer=init[0], initargs=init[1]) as pool:
        yield from pool.map(_work, jobs, chunksize=chunk)
