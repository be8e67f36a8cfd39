"""The kill harness on the national day's storage path: cheap-sync media, SIGKILL.

``pcos sim national`` runs its devices on :class:`~simulator.national.station.SimFlashMedium`
(tmpfs, ``cheap_sync``): the store writes the card in the calling thread after SQLite
instead of in a helper thread. This harness proves that path as
:mod:`simulator.crash` proves the threaded one: the same prepared station day
(:func:`simulator.crash.prepare`), a real device process (``python -m
simulator.national.killtest child DIR``) killed with SIGKILL at fault points armed through
``PCOS_FAULT`` (between the two media, inside the SQLite commit, mid-frame on the card,
between ``pending`` and ``cast`` ...), the card's journal sometimes truncated between
runs, then a clean run to the end of the day and :func:`simulator.crash.check`: no sheet
lost, none twice, none counted that is not in the box, both media identical, the audit
log verifies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from firmware.faults import ENV
from firmware.hal.storage import MediumRole
from firmware.store import JOURNAL_NAME
from simulator.crash import COMMIT_DELAY_US, PLAN, check, prepare


def child(workdir: Path) -> int:
    """One power-on of the device on cheap-sync media; exit 0 when the day is done."""
    from firmware.faults import FaultPoints
    from simulator.crash import _election
    from simulator.devices import SimWorld
    from simulator.drive import run_day
    from simulator.national.station import SimFlashMedium
    from simulator.rig import TableReader, build_device, interpretations_from_json
    from vision.result import Outcome

    election = _election(workdir)
    settings = json.loads((workdir / "settings.json").read_text(encoding="utf-8"))
    station = election.station(settings["station"])
    table = interpretations_from_json(json.loads((workdir / "table.json").read_text("utf-8")))
    world = SimWorld.load(workdir / "world.json")
    rig = build_device(workdir, world, election, station, TableReader(table),
                       faults=FaultPoints.from_env())
    hw = rig.device.hw
    hw.internal = SimFlashMedium(MediumRole.INTERNAL, hw.internal.root(), world)
    hw.removable = SimFlashMedium(MediumRole.REMOVABLE, hw.removable.root(), world)
    rig.device.boot()
    if getattr(rig.device.store.removable, "cheap_sync", False) is not True:
        raise RuntimeError("the device is not on cheap-sync media")
    run_day(rig.device, world, lambda s: table[s].outcome is not Outcome.REJECTED)
    done = {"official": rig.device.tally().to_json(),
            "reports": [kind for kind, _ in rig.reports.reports]}
    (workdir / "done.json").write_text(json.dumps(done), encoding="utf-8")
    rig.device.close()
    return 0


def kill_test(kills: int, workdir: Path, seed: int = 2021, sheets: int | None = None,
              truncate_rate: float = 0.2) -> dict[str, Any]:
    """Kill the cheap-sync device ``kills`` times through a station day, then check."""
    sheets = sheets if sheets is not None else max(30, kills * 3)
    prepare(workdir, sheets, seed)
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in PLAN], dtype=float)
    done_kills, runs, truncations = 0, 0, 0
    by_point: Counter[str] = Counter()
    while True:
        fault = None
        if done_kills < kills:
            name, top, _ = PLAN[int(rng.choice(len(PLAN), p=weights / weights.sum()))]
            fault = f"{name}:{int(rng.integers(1, top + 1))}"
            if name == "sqlite-commit":
                fault += f":{int(rng.integers(*COMMIT_DELAY_US))}"
        env = {k: v for k, v in os.environ.items() if k != ENV}
        if fault:
            env[ENV] = fault
        proc = subprocess.run([sys.executable, "-m", "simulator.national.killtest", "child",
                               str(workdir)], env=env, capture_output=True, text=True,
                              timeout=120)
        runs += 1
        if proc.returncode == -signal.SIGKILL:
            done_kills += 1
            by_point[fault.split(":")[0] if fault else "?"] += 1
            journal = workdir / "removable" / JOURNAL_NAME
            if rng.random() < truncate_rate and journal.exists():
                size = journal.stat().st_size
                with open(journal, "r+b") as f:
                    f.truncate(int(rng.integers(0, size + 1)))
                truncations += 1
            continue
        if proc.returncode != 0:
            raise RuntimeError(f"device process failed (rc {proc.returncode}, fault {fault}):\n"
                               f"{proc.stderr[-3000:]}")
        if fault is None or (workdir / "done.json").exists():
            break
    return {"kills": done_kills, "runs": runs, "sheets": sheets,
            "journal_truncations": truncations,
            "kills_by_point": dict(sorted(by_point.items())), **check(workdir)}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "child":
        return child(Path(argv[1]))
    print("usage: python -m simulator.national.killtest child WORKDIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
