"""``pcos bench station-phases``: where each device process of the station day spends CPU.

The same day as ``pcos bench station`` (the station nearest 1,500 voters, seed 2021,
two devices, retention rejected+marginal), its device processes started side by side
as ``python -m benchmarks.station_phases DIR``: each wraps the parts of one power-on
with ``time.thread_time()`` (CPU of the calling thread, so the parts add up within the
device's main thread), runs ``simulator.station_day.child`` and writes ``phases.json``.
The SHA-256 hash workers run on their own threads: they are in the process total, not
in the main thread's. The day's power cuts are not made here (the bench's day has
none); ``pcos bench station`` is the figure with the whole harness.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Figure

PHASES_FILE = "phases.json"


def _wrap(owner: Any, name: str, label: str, acc: dict[str, float]) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            acc[label] += time.thread_time() - t

    setattr(owner, name, timed)


def child(workdir: Path) -> int:
    """One device's power-on, its parts timed."""
    import firmware.device as fd
    import simulator.station_day as sd

    acc: dict[str, float] = collections.defaultdict(float)
    _wrap(sd._Renderer, "__call__", "render_s", acc)
    _wrap(sd._Renderer, "print_ahead", "print_ahead_s", acc)
    _wrap(sd._NotingReader, "interpret", "reader_s", acc)
    _wrap(fd.Device, "_keep_images", "keep_images_s", acc)
    _wrap(fd.Device, "_print", "reports_s", acc)
    _wrap(fd.Device, "_commit", "commit_s", acc)
    t0 = time.thread_time()
    rc = sd.child(workdir)
    acc["main_thread_s"] = time.thread_time() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    acc["process_s"] = usage.ru_utime + usage.ru_stime
    (workdir / PHASES_FILE).write_text(json.dumps({k: round(v, 2) for k, v in acc.items()}),
                                       encoding="utf-8")
    return rc


def run(seed: int = 2021, **_: object) -> list[Figure]:
    from benchmarks.device import _station_near
    from election.default import default_election
    from simulator.election_day import plan_day
    from simulator.station_day import MALLOC_ENV, prepare_devices

    e = default_election()
    st = _station_near(e, 1500)
    day = plan_day(e, st.number, seed=seed)
    figures = [Figure("station", st.number, ""),
               Figure("load_average_1min_start", round(os.getloadavg()[0], 1), "")]
    with tempfile.TemporaryDirectory(prefix="pcos-bench-phases-") as tmp:
        devs = prepare_devices(e, day, Path(tmp), 2, "realistic", seed)
        env = {**os.environ, **MALLOC_ENV}
        procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.station_phases",
                                   str(d.workdir)], env=env, stdout=subprocess.DEVNULL)
                 for d in devs]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"a device process failed (rc {p.returncode})")
        for d in devs:
            phases = json.loads((d.workdir / PHASES_FILE).read_text(encoding="utf-8"))
            for key, value in sorted(phases.items()):
                figures.append(Figure(f"device_{d.n}_{key.removesuffix('_s')}", value, "s"))
            figures.append(Figure(f"device_{d.n}_hash_threads_and_startup",
                                  round(phases["process_s"] - phases["main_thread_s"], 2), "s"))
    figures.append(Figure("load_average_1min_end", round(os.getloadavg()[0], 1), ""))
    return figures


if __name__ == "__main__":
    sys.exit(child(Path(sys.argv[1])))
