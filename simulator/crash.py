"""The kill harness: a real firmware process, killed with SIGKILL again and again.

:func:`crash_test` prepares a small station day (test ballots, voters' sheets
with a few fakes, the odd jam) in a working directory, then starts the
device as a subprocess (``python -m simulator.crash child DIR``) with a fault
point armed through ``PCOS_FAULT`` (:mod:`firmware.faults`): a chosen place in
the sheet flow, between the two media writes, between ``pending`` and
``cast``, or a timer that fires while SQLite commits. Each run dies there
and the next one boots from what the media and the paper path hold. Between
runs the card's journal is sometimes truncated at a random byte offset.
After the last kill a clean run finishes the day, and the harness compares:

* the official sheets in the ballot box (the simulated world's ground truth)
  with the device's ``cast`` records, matched by image hash: none lost, none
  twice, none counted that is not in the box;
* the tally the device reports with the tally of the box's sheets' truth;
* that no test sheet reached the official records, that both media hold the
  same records, and that the audit log verifies on both.

The reader is :class:`simulator.rig.TableReader` (a stand-in that returns
each sheet's pre-judged reading from a tiny image), so that a kill costs one
process start and the harness runs hundreds of kills in seconds.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from election.default import default_election
from election.model import Election
from election.rules import BallotOutcome
from election.tally import Tally, TallyBuilder
from firmware.audit import compare_media, verify_chain
from firmware.device import image_sha256
from firmware.faults import ENV
from firmware.hal.storage import MediumRole
from firmware.journal import read_journal
from firmware.store import DB_NAME, JOURNAL_NAME
from simulator.devices import SimWorld, tiny_images
from simulator.drive import run_day
from simulator.rig import (
    TableReader,
    build_device,
    interpretations_from_json,
    random_interpretations,
    save_table,
)
from vision.result import Outcome

# (point, highest hit count to choose from); weights follow how much each place matters.
PLAN: tuple[tuple[str, int, int], ...] = (
    ("sheet.after-pending", 3, 4),
    ("sheet.after-drop", 3, 4),
    ("store.between-media", 8, 4),
    ("sqlite-commit", 8, 5),
    ("journal.mid-frame", 8, 2),
    ("sheet.before-pending", 3, 1),
    ("sheet.after-feed", 3, 1),
    ("sheet.after-cast", 3, 1),
    ("sheet.after-return", 1, 1),
    ("boot.after-recovery", 1, 1),
)
COMMIT_DELAY_US = (0, 4000)


def prepare(workdir: Path, sheets: int, seed: int, test_sheets: int = 3,
            jam_rate: float = 0.03, flash_media: bool = False) -> None:
    """A fresh station day under ``workdir``: world, readings, settings. ``flash_media``:
    the device runs on the national day's cheap-sync media (``SimFlashMedium``: the card
    journal written inline after SQLite, no hand-off thread) instead of directories."""
    workdir.mkdir(parents=True, exist_ok=True)
    from simulator.sheets import default_station

    election = default_election()
    station = default_station(election)
    ids = [f"S{i:05d}" for i in range(sheets)]
    tids = [f"T{i:02d}" for i in range(test_sheets)]
    table = random_interpretations(election, station, ids + tids, seed)
    save_table(workdir / "table.json", table)
    world = SimWorld(queue=ids, test_queue=tids, file=str(workdir / "world.json"))
    rng = np.random.default_rng(seed + 1)
    world.jam_next_feeds = int(rng.binomial(sheets, jam_rate))  # early jams
    world.save()
    (workdir / "settings.json").write_text(
        json.dumps({"station": station.number, "flash_media": flash_media}), encoding="utf-8")
    # The child loads the election from a pickle: building the default one costs more
    # than a whole boot, and the harness starts a process per kill.
    (workdir / "election.pickle").write_bytes(pickle.dumps(election))


def child(workdir: Path) -> int:
    """One power-on of the device: boot, recover, go on with the day; exit 0 when done."""
    from firmware.faults import FaultPoints

    election = _election(workdir)
    settings = json.loads((workdir / "settings.json").read_text(encoding="utf-8"))
    station = election.station(settings["station"])
    table = interpretations_from_json(json.loads((workdir / "table.json").read_text("utf-8")))
    world = SimWorld.load(workdir / "world.json")
    rig = build_device(workdir, world, election, station, TableReader(table),
                       faults=FaultPoints.from_env())
    if settings.get("flash_media"):
        from simulator.national.station import SimFlashMedium

        hw = rig.device.hw
        hw.internal = SimFlashMedium(MediumRole.INTERNAL, hw.internal.root(), world)
        hw.removable = SimFlashMedium(MediumRole.REMOVABLE, hw.removable.root(), world)
    rig.device.boot()
    if settings.get("flash_media") and not getattr(rig.device.store.removable, "cheap_sync",
                                                   False):
        raise RuntimeError("the device is not on cheap-sync media")
    run_day(rig.device, world, lambda s: table[s].outcome is not Outcome.REJECTED)
    done = {"official": rig.device.tally().to_json(),
            "reports": [kind for kind, _ in rig.reports.reports]}
    (workdir / "done.json").write_text(json.dumps(done), encoding="utf-8")
    rig.device.close()
    return 0


def _run_child(workdir: Path, fault: str | None, timeout_s: float = 120.0
               ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if fault:
        env[ENV] = fault
    return subprocess.run([sys.executable, "-m", "simulator.crash", "child", str(workdir)],
                          env=env, capture_output=True, text=True, timeout=timeout_s)


def crash_test(kills: int, workdir: Path, seed: int = 2021, sheets: int | None = None,
               truncate_rate: float = 0.2, flash_media: bool = False) -> dict[str, Any]:
    """Kill the device ``kills`` times through a station day, then check the result
    (``flash_media``: on the national day's cheap-sync media, see :func:`prepare`)."""
    sheets = sheets if sheets is not None else max(40, kills * 3)
    prepare(workdir, sheets, seed, flash_media=flash_media)
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, _, w in PLAN], dtype=float)
    done_kills, runs, truncations = 0, 0, 0
    by_point: Counter[str] = Counter()
    while True:
        fault = None
        if done_kills < kills:
            name, top, _ = PLAN[int(rng.choice(len(PLAN), p=weights / weights.sum()))]
            n = int(rng.integers(1, top + 1))
            fault = f"{name}:{n}"
            if name == "sqlite-commit":
                fault += f":{int(rng.integers(*COMMIT_DELAY_US))}"
        proc = _run_child(workdir, fault)
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
    result = check(workdir)
    return {"kills": done_kills, "runs": runs, "sheets": sheets,
            "journal_truncations": truncations, "kills_by_point": dict(sorted(by_point.items())),
            **result}


def _election(workdir: Path) -> Election:
    election = pickle.loads((workdir / "election.pickle").read_bytes())
    assert isinstance(election, Election)
    return election


def check(workdir: Path) -> dict[str, Any]:
    """Compare the device's records and tally with what is in the box."""
    election = _election(workdir)
    settings = json.loads((workdir / "settings.json").read_text(encoding="utf-8"))
    station = election.station(settings["station"])
    table = interpretations_from_json(json.loads((workdir / "table.json").read_text("utf-8")))
    world = SimWorld.load(workdir / "world.json")
    by_hash = {image_sha256(tiny_images(sid).front): sid for sid in table}

    db = sqlite3.connect(f"file:{workdir / 'internal' / DB_NAME}?mode=ro", uri=True)
    cast_records = [json.loads(b) for (b,) in db.execute(
        "SELECT body FROM sheets WHERE state = 'cast' ORDER BY seq")]
    internal = [b.encode("utf-8") for (b,) in db.execute("SELECT body FROM records ORDER BY seq")]
    audit_internal = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit ORDER BY seq")]
    db.close()
    journal = read_journal(workdir / "removable" / JOURNAL_NAME)
    audit_removable = [r["event"] for r in journal.records if r["op"] == "audit"]

    official_cast = [by_hash.get(r["images"][0], "?") for r in cast_records
                     if r["mode"] == "official"]
    test_cast = [by_hash.get(r["images"][0], "?") for r in cast_records if r["mode"] == "test"]
    box_official = [s for s in world.box if s.startswith("S")]
    counts = Counter(official_cast)
    lost = sorted(set(box_official) - set(official_cast))
    doubled = sorted(s for s, n in counts.items() if n > 1)
    phantom = sorted(set(official_cast) - set(box_official))

    truth = TallyBuilder.empty(election, station.contest_ids())
    for s in box_official:
        truth.add(BallotOutcome.from_json(table[s].contests))
    done = json.loads((workdir / "done.json").read_text(encoding="utf-8"))
    reported = Tally.from_json(done["official"])
    recount = TallyBuilder.empty(election, station.contest_ids())
    for r in cast_records:
        if r["mode"] == "official":
            recount.add(BallotOutcome.from_json(r["outcome"]))
    pub = None
    keys = [e for e in audit_internal if e["type"] == "checkpoint"]
    from firmware.crypto import key_from_seed
    pub = key_from_seed(b"KG-0001".ljust(32, b"\0")).public_key()
    audit_rep = verify_chain(audit_internal, pub)
    return {
        "lost": len(lost), "doubled": len(doubled), "phantom": len(phantom),
        "tally_matches_truth": reported == truth.build() == recount.build(),
        "sheets_in_box": len(box_official), "sheets_cast": len(official_cast),
        "test_sheets_in_box": len(world.box) - len(box_official),
        "test_sheets_official": sum(1 for s in official_cast if s.startswith("T")),
        "test_sheets_cast_as_test": len(test_cast),
        "sheets_returned": len(world.returned),
        "media_identical": internal == journal.payloads,
        "audit_ok": audit_rep.ok and not compare_media(audit_internal, audit_removable),
        "audit_events": len(audit_internal), "checkpoints": len(keys),
        "reports": done["reports"],
        "lost_ids": lost[:10], "doubled_ids": doubled[:10],
    }


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "child":
        return child(Path(argv[1]))
    print("usage: python -m simulator.crash child WORKDIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
