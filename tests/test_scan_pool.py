"""``tools.scan_batch``: forked workers where it is safe, spawned ones where it is not, and
the same results either way (in input order)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from election.default import default_election
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from tools import scan_batch
from tools.scan_batch import ReaderSpec, SheetJob, image_pairs, pool_context, read_sheets
from vision.imageio import save_image


def test_pool_context_rule() -> None:
    assert pool_context(3, import_threads=3) == "fork"  # only the imports' idle workers
    assert pool_context(2, import_threads=3) == "fork"
    assert pool_context(4, import_threads=3) == "spawn"  # e.g. OpenCV's pool started
    assert pool_context(0, import_threads=3) == "spawn"  # thread count unknown
    assert pool_context(3, import_threads=3, python_threads=2) == "spawn"


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[SheetJob]]:
    out = tmp_path_factory.mktemp("pool")
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, preset("clean"), seed=12, kind="party-list",
                           fake_rate=0.3)
    for i in range(3):
        s = factory.sheet(i)
        save_image(out / f"{i:06d}-front.png", s.front, dpi=200)
        save_image(out / f"{i:06d}-back.png", s.back, dpi=200)
    jobs = [SheetJob(int(n), str(f), str(b), n) for n, f, b in image_pairs(Path(out))]
    return station.number, jobs


_CHILD = """
import json, sys
from tools import scan_batch
from tools.scan_batch import ReaderSpec, SheetJob, read_sheets
seen = []
real = scan_batch.pool_context
scan_batch.pool_context = lambda *a, **k: seen.append(real(*a, **k)) or seen[-1]
jobs = [SheetJob(*j) for j in json.loads(sys.argv[2])]
out = [[s, r.to_json()] for s, r in read_sheets(ReaderSpec(None, sys.argv[1]), jobs, 2)]
print(json.dumps({"method": seen, "results": out}))
"""


def test_fork_and_spawn_read_the_same(deck: tuple[str, list[SheetJob]]) -> None:
    """A fresh ``pcos scan`` process forks its workers; this test process (OpenCV's thread
    pool already running, plus a thread of its own) spawns them; both read what one
    process reads, in input order."""
    station, jobs = deck
    spec = ReaderSpec(None, station)
    one = [[s, r.to_json()] for s, r in read_sheets(spec, jobs, 1)]
    assert [s for s, _ in one] == [j.sheet for j in jobs]
    args = json.dumps([[j.sheet, j.front, j.back, j.name] for j in jobs])
    proc = subprocess.run([sys.executable, "-c", _CHILD, station, args], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout)
    assert child["method"] == ["fork"]
    stop = threading.Event()
    runner = threading.Thread(target=stop.wait, daemon=True)
    runner.start()
    try:
        assert pool_context(scan_batch._threads_in_process(),
                            python_threads=threading.active_count()) == "spawn"
        spawned = [[s, r.to_json()] for s, r in read_sheets(spec, jobs, 2)]
    finally:
        stop.set()
        runner.join()
    assert json.loads(json.dumps(one)) == child["results"] == json.loads(json.dumps(spawned))


def test_keep_heap_applies_on_glibc() -> None:
    """The batch reader's heap setting takes (this project runs on glibc Linux)."""
    assert scan_batch.keep_heap() is True
