"""Device figures: overhead per sheet beyond the reader, restart time, a station's day.

* ``overhead``: the device runs real, rendered sheets through the real reader
  on real media (SQLite WAL ``synchronous=FULL`` and the fsynced journal, in a
  temp directory on this machine's disk). Per sheet: the time of
  ``Device.step`` (wall clock) minus the time inside ``Reader.interpret`` - the
  state machine, the durable ``pending`` write and the ``cast`` mark, the audit
  events, and whatever part of the SHA-256 of both raw images the hash threads
  (started when the sensor delivers the images) had not finished when the
  reader returned (``hash_wait``). ``without_hash_wait`` subtracts that wait.
  The reader's own time alone and inside the device is printed too, so that
  hashing that slows the reader (a shared core) is not hidden. A control, every
  other sheet of the same run with constant digests instead of the hashes
  (``control_no_hashing_*``), shows what hashing costs under the same load.
  The disk's fsync latency is printed beside it: the durable ``pending`` batch
  cannot cost less than one fsync.
* ``restart``: a store holding a full day (``--count`` sheets, default 1,600)
  and a sheet left pending; the time from constructing the device to ready
  (store opened and both media compared, the pending sheet decided), in
  process and as a whole new process (Python start and imports included).
* ``station``: ``pcos station run`` on a planned day at a station of about
  1,500 voters, 35 % turnout, two devices, images on; wall time, and CPU time
  per device process (the figure that does not depend on the machine's load).
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Figure, ms_stats
from election.default import default_election
from election.model import Election, Station
from firmware.device import image_sha256
from firmware.hal.imaging import DuplexImages
from firmware.reader_setup import make_reader
from firmware.store import SheetMode, SheetState
from simulator.devices import SimWorld, sensor_images
from simulator.rig import TableReader, build_device, random_interpretations
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from vision.result import SheetInterpretation


class _TimedReader:
    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.last_s = 0.0

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        t = time.perf_counter()
        out = self.reader.interpret(front, back)
        self.last_s = time.perf_counter() - t
        return out


def fsync_latency_ms(directory: Path, n: int = 50) -> float:
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    ts = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 512)
            t = time.perf_counter()
            os.fsync(fd)
            ts.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return round(float(np.median(ts)) * 1000, 3)


@dataclass
class _Run:
    """Per-sheet seconds of one device run."""

    over: list[float] = field(default_factory=list)  # Device.step minus the reader
    rest: list[float] = field(default_factory=list)  # ... minus the wait for the hashes
    wait: list[float] = field(default_factory=list)  # the wait for the hashes
    store: list[float] = field(default_factory=list)  # inside Store.commit
    reader: list[float] = field(default_factory=list)  # inside Reader.interpret
    total: list[float] = field(default_factory=list)  # Device.step, reader included
    cast: int = 0


class _ConstantHashes:
    """Control only (never in a device): the two digests already known, so that the run
    shows what hashing costs. The store in the temp directory then holds made-up hashes."""

    def result(self) -> list[str]:
        return ["0" * 64, "1" * 64]


def _device_run(e: Election, station: Station, reader: _TimedReader, pool: list[Any],
                count: int) -> tuple[_Run, _Run, float]:
    """One device, ``count`` sheets: every other sheet is hashed as the device does, the
    others (the control) get constant digests; each image pair is fed twice, once in
    each. Interleaving puts both under the same machine load, which on this shared
    machine varies by the minute."""
    ids = [f"S{i:05d}" for i in range(count)]

    def images_of(sheet: str) -> DuplexImages:  # sheets 2j and 2j+1: the same images
        s = pool[int(sheet[1:]) // 2 % len(pool)]
        return sensor_images(s.front, s.back, s.jpeg)

    run, control = _Run(), _Run()
    with tempfile.TemporaryDirectory(prefix="pcos-bench-") as tmp:
        world = SimWorld(queue=list(ids))
        rig = build_device(Path(tmp), world, e, station, reader, images_of=images_of)
        d = rig.device
        d.boot()
        d.load_package()
        d.enter_test_mode()
        d.clear_test()
        d.open_polls()
        for k, _sheet in enumerate(ids):
            out = run if k % 2 == 0 else control
            if out is control:
                d._hash_images = lambda _images: _ConstantHashes()  # type: ignore[method-assign, assignment, return-value]
            world.insert_next()
            t = time.perf_counter()
            res = d.step()
            total = time.perf_counter() - t
            if out is control:
                del d._hash_images  # back to the device's own method
            out.over.append(total - reader.last_s)
            out.rest.append(total - reader.last_s - d.timings["hash_wait_s"])
            out.wait.append(d.timings["hash_wait_s"])
            out.store.append(d.timings["store_s"])
            out.reader.append(reader.last_s)
            out.total.append(total)
            if res is not None and res.action == "returned":
                world.take_from_entry()
                d.step()
        fsync_ms = fsync_latency_ms(Path(tmp))
        run.cast = d.sheets_cast(SheetMode.OFFICIAL)
        d.close()
    return run, control, fsync_ms


def _median_ms(seconds: list[float]) -> float:
    return round(float(np.median(seconds)) * 1000, 3)


def overhead(count: int = 200, seed: int = 7, **_: object) -> list[Figure]:
    """The device as built (hashing both raw images beside the reader) on ``count`` sheets,
    interleaved with ``count`` control sheets whose hashes are constants: the difference
    is what hashing costs on this machine, in the device's overhead and in the reader's
    time."""
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset("realistic"), seed=seed, kind="mixed")
    pool = [factory.sheet(i) for i in range(24)]
    reader = _TimedReader(make_reader(e, station))
    for s in pool[:12]:  # blank templates built before timing
        reader.interpret(s.front, s.back)
    alone = []  # the reader with nothing beside it (same 24 sheets the device cycles through)
    for s in pool:
        reader.interpret(s.front, s.back)
        alone.append(reader.last_s)
    run, control, fsync_ms = _device_run(e, station, reader, pool, 2 * count)
    hashing, two = [], []
    with ThreadPoolExecutor(max_workers=2) as pool2:
        for s in pool[:8]:
            t = time.perf_counter()
            image_sha256(s.front)
            image_sha256(s.back)
            hashing.append(time.perf_counter() - t)
            t = time.perf_counter()
            futures = [pool2.submit(image_sha256, s.front), pool2.submit(image_sha256, s.back)]
            [f.result() for f in futures]
            two.append(time.perf_counter() - t)
    mb = (pool[0].front.nbytes + pool[0].back.nbytes) / 1e6
    return [*ms_stats("device_overhead_per_sheet", run.over),
            *ms_stats("device_overhead_without_hash_wait", run.rest),
            *ms_stats("hash_wait_per_sheet", run.wait),
            *ms_stats("device_storage_per_sheet", run.store),
            Figure("reader_in_device_median", _median_ms(run.reader), "ms"),
            Figure("sheet_total_median", _median_ms(run.total), "ms"),
            *ms_stats("control_no_hashing_device_overhead", control.over),
            Figure("control_no_hashing_storage_median", _median_ms(control.store), "ms"),
            Figure("control_no_hashing_reader_in_device_median", _median_ms(control.reader),
                   "ms"),
            Figure("control_no_hashing_sheet_total_median", _median_ms(control.total), "ms"),
            Figure("reader_alone_median", _median_ms(alone), "ms"),
            Figure("image_bytes_both_sides", round(mb, 1), "MB"),
            Figure("image_hashing_both_sides_median", _median_ms(hashing), "ms"),
            Figure("image_hashing_both_sides_two_threads_median", _median_ms(two), "ms"),
            Figure("disk_fsync_median", fsync_ms, "ms"),
            Figure("load_average_1min", round(os.getloadavg()[0], 1), ""),
            Figure("sheets_cast_both_runs", run.cast, "")]


def _filled_store(tmp: Path, e: Election, station: Station, sheets: int, seed: int
                  ) -> tuple[SimWorld, dict[str, SheetInterpretation]]:
    ids = [f"S{i:05d}" for i in range(sheets)]
    table = random_interpretations(e, station, [*ids, "PENDING"], seed, fake_rate=0.02)
    world = SimWorld(queue=ids, file=str(tmp / "world.json"))
    rig = build_device(tmp, world, e, station, TableReader(table))
    rig.device.boot()
    rig.device.load_package()
    rig.device.enter_test_mode()
    rig.device.clear_test()
    rig.device.open_polls()
    run_day_open(rig, world, table)
    # a sheet left pending with its paper held at the back, as after a power cut
    world.insert("PENDING")
    paper = rig.device.hw.paper

    def cut() -> Any:
        raise _Cut

    paper.eject_to_box = cut  # type: ignore[method-assign]
    with contextlib.suppress(_Cut):
        rig.device.step()
    assert rig.device.store.sheets(state=SheetState.PENDING)
    rig.device.close()
    return world, table


class _Cut(BaseException):
    pass


def run_day_open(rig: Any, world: SimWorld, table: dict[str, SheetInterpretation]) -> None:
    """Feed every queued sheet with polls open (no closing)."""
    d = rig.device
    while world.queue or world.entry:
        if not world.entry:
            world.insert_next()
        res = d.step()
        if res is not None and res.action == "returned":
            world.take_from_entry()
            d.step()


def restart(count: int = 1600, seed: int = 7, **_: object) -> list[Figure]:
    e = default_election()
    station = default_station(e)
    with tempfile.TemporaryDirectory(prefix="pcos-bench-") as tmp_s:
        tmp = Path(tmp_s)
        _world, table = _filled_store(tmp, e, station, count, seed)
        times = []
        for _run in range(5):
            rig = build_device(tmp, SimWorld.load(tmp / "world.json"), e, station,
                               TableReader(table))
            t = time.perf_counter()
            rig.device.boot()
            times.append(time.perf_counter() - t)
            rig.device.close()
        code = ("import sys, time, pickle, pathlib; t0 = float(sys.argv[1]);"
                "from simulator.rig import build_device, TableReader;"
                "from simulator.devices import SimWorld;"
                "from election.default import default_election;"
                "from simulator.sheets import default_station;"
                "e = default_election(); st = default_station(e); p = pathlib.Path(sys.argv[2]);"
                "r = build_device(p, SimWorld.load(p / 'world.json'), e, st, TableReader({}));"
                "r.device.boot(); print(time.time() - t0)")
        proc_times = []
        for _run in range(3):
            out = subprocess.run([sys.executable, "-c", code, repr(time.time()), tmp_s],
                                 capture_output=True, text=True, check=True)
            proc_times.append(float(out.stdout.strip()))
    return [*ms_stats("restart_to_ready_in_process", times),
            Figure("restart_to_ready_new_process_median",
                   round(float(np.median(proc_times)) * 1000, 1), "ms"),
            Figure("records_in_store_sheets", count, "")]


def _station_near(e: Election, voters: int) -> Station:
    three = [s for s in e.stations if s.district is not None and s.council is not None]
    return min(three or list(e.stations), key=lambda s: (abs(s.voters - voters), s.number))


def station(count: int = 1, seed: int = 2021, **_: object) -> list[Figure]:
    """A planned day at a station of about 1,500 voters on two device processes.

    Wall time is the whole run (devices prepared, the day, tallies compared). CPU is
    counted per device process (every power-on, reaped with ``wait4``) and for the
    harness itself; on an idle machine with a core per device the day takes about the
    larger device's CPU time, so the CPU figures are the ones that do not depend on the
    machine's load, which is printed at the start and the end of the run.
    """
    from simulator.election_day import plan_day
    from simulator.station_day import run_station

    e = default_election()
    st = _station_near(e, 1500)
    day = plan_day(e, st.number, seed=seed)
    walls, per_device, device_max, harness, ok = [], [], [], [], True
    result: dict[str, Any] = {}
    load_start = os.getloadavg()[0]
    for _run in range(count):
        with tempfile.TemporaryDirectory(prefix="pcos-bench-day-") as tmp:
            t = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_SELF)
            result = run_station(e, day, Path(tmp), 2, "realistic", seed)
            after = resource.getrusage(resource.RUSAGE_SELF)
            walls.append(time.perf_counter() - t)
            harness.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            cpus = [float(d["cpu_s"]) for d in result["devices"]]
            per_device.append(float(np.mean(cpus)))
            device_max.append(max(cpus))
            ok = ok and bool(result["tally_matches_truth"])
    return [Figure("station_day_wall_median", round(float(np.median(walls)), 1), "s"),
            Figure("station_day_cpu_per_device_median", round(float(np.median(per_device)), 1),
                   "s"),
            Figure("station_day_cpu_busiest_device_median",
                   round(float(np.median(device_max)), 1), "s"),
            Figure("station_day_cpu_harness_median", round(float(np.median(harness)), 1), "s"),
            Figure("cores", os.cpu_count(), ""),
            Figure("load_average_1min_start", round(load_start, 1), ""),
            Figure("load_average_1min_end", round(os.getloadavg()[0], 1), ""),
            Figure("runs", count, ""),
            Figure("station", st.number, ""),
            Figure("voters_on_list", st.voters, ""),
            Figure("sheets_fed", result.get("sheets_fed"), ""),
            Figure("power_cuts", result.get("power_cuts"), ""),
            Figure("jams", result.get("jams"), ""),
            Figure("tally_matches_truth", str(ok), ""),
            Figure("tally_differences", len(result.get("differences", [])), "")]


def run(count: int | None = None, seed: int = 7, **_: object) -> list[Figure]:
    """Overhead and restart (the station day is its own bench: ``pcos bench station``)."""
    figs = overhead(count or 200, seed)
    figs += restart(1600, seed)
    return figs
