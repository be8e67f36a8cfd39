"""A station's election day through real devices: ``pcos station run``.

The day (``pcos sim election-day``) gives the voters, their sheets in time
order, the jams and the power cuts. Each voter uses one of the station's
devices. Each device runs as its own process (``python -m
simulator.station_day child DIR``) on simulated hardware, with the real
reader reading rendered sheet images: the operator's steps (package, test
vote, zero report, open, close, results), the voters' sheets (a jammed one
is pulled out and fed again; now and then a voter puts two sheets in at once
and the ultrasonic sensor catches it), and every power cut of the day as a
SIGKILL of that process at the sheet being fed at that time, then a restart.

At the end each device's reported tally is compared with the ground truth of
the sheets in its ballot box, and their sum with the truth of both boxes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from election.fileio import write_atomically
from election.model import PARTY_LIST_CONTEST, BallotKind, Election, Language, Station
from election.rules import BallotOutcome, judge_ballot
from election.tally import Tally, TallyBuilder, merge
from firmware.cvr import ImageRetention
from firmware.faults import ENV
from firmware.hal.imaging import DuplexImages
from firmware.hal.printer import SerialPrinter
from firmware.printsink import Printed, PrinterReportSink
from firmware.provision import DEVICE_CERT_FILE
from firmware.reader_setup import make_reader
from simulator.devices import SimWorld, sensor_images
from simulator.drive import run_day
from simulator.election_day import ElectionDay, EventKind, find_station, render, sheet_factories
from simulator.packaged import StationSetup, device_ids, write_station_setup
from simulator.printer import VirtualPrinter
from simulator.rig import build_device
from simulator.scanner import preset
from simulator.sheets import SheetFactory
from vision.config import Thresholds
from vision.result import Outcome, SheetInterpretation

TEST_SHEETS = 2
TEST_INDEX = 10_000_000  # test ballots use sheet indices far from the day's
STACKED_RATE = 0.003  # voters who put two sheets in at once
PRINT_CACHE = "print-cache"  # the day's printed blank rasters, beside day.json
PRINT_AHEAD_MIN_SHEETS = 4  # sheets per printed raster for the devices to print ahead
# How a device process allocates its image buffers (a sheet allocates ~100 MB of
# temporaries). glibc: keep freed buffers for reuse rather than unmapping them (mapping
# them afresh each time cost a device ~10 % of its CPU in page faults); other C libraries
# ignore these. numpy: no ``madvise(MADV_HUGEPAGE)`` on each large array (its default on
# Linux): on this machine's kernel that cost ~5 ms of a sheet's ~45 ms of rendering
# (render, read and hash of 150 bench sheets, interleaved runs; output unchanged).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32),
              "NUMPY_MADVISE_HUGEPAGE": "0"}


def sheet_name(index: int) -> str:
    return f"S{index:06d}"


def test_name(k: int) -> str:
    return f"T{k:02d}"


# --------------------------------------------------------------------------- the device process


def policy_expected(election: Election, truth: dict[str, Any]) -> dict[str, Any] | None:
    """What the device must count for a sheet under the Kyrgyz default policy: its definite
    marks only (a marginal mark is counted as unmarked and recorded on the sheet)."""
    if truth.get("expected") is None:
        return None
    selections: dict[str, set[str]] = {}
    for t in truth["targets"]:
        selections.setdefault(t["contest"], set())
        if t["class"] == "definite":
            selections[t["contest"]].add(t["option"])
    kind = BallotKind(truth["kind"])
    contest = PARTY_LIST_CONTEST if kind is BallotKind.PARTY_LIST else truth["contest"]
    return judge_ballot(election, kind, contest,
                        {k: frozenset(v) for k, v in selections.items()}).to_json()


class _Renderer:
    """The image sensor's source: renders a fed sheet, notes its ground truth once."""

    def __init__(self, election: Election, day: ElectionDay, workdir: Path, preset_name: str,
                 print_cache: Path | None = None):
        self.election = election
        self.by_index = {s.sheet_index: s for s in day.sheets}
        self.factories = sheet_factories(election, day, preset(preset_name))
        station = find_station(election, day.station)
        self.test_factory = SheetFactory(election, station, preset(preset_name),
                                         seed=day.sheet_seed + 1, kind=BallotKind.PARTY_LIST.value)
        # The station's ballots come from the same print runs for every device and every
        # power-on: their printed rasters are rendered once and shared on disk.
        for f in (*self.factories.values(), self.test_factory):
            f.print_cache_dir = print_cache
            f.share_noise(next(iter(self.factories.values())))  # one seed: one noise tile
            f.keep_noise(print_cache)  # and one draw of it, for every device and power-on
        self.truth_path = workdir / "truth.jsonl"
        self.seen = set()
        if self.truth_path.exists():
            for line in self.truth_path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):
                    self.seen.add(json.loads(line)["id"])

    def print_ahead(self, share: int, of: int) -> None:
        """Print this device's share (every ``of``-th, from ``share``) of the station's ballot
        rasters before the day starts (the print house printed them before the polls
        opened): the devices print the runs in parallel instead of each printing all of
        them, and read the others' from the shared cache."""
        jobs = [(f, layout, run) for f in self.factories.values()
                for layout, run in f.print_jobs()]
        if len(self.by_index) < PRINT_AHEAD_MIN_SHEETS * len(jobs):
            return  # a small day: print what its few sheets need, when they need it
        noise = next(iter(self.factories.values()))
        for k in mine_of(len(jobs), share, of):
            if k < 0:  # the sensor-noise tile, drawn first so that the others can read it
                noise.prepare_noise()
            else:
                f, layout, run = jobs[k]
                f.printed(layout, run)
        noise.prepare_noise()  # read what the first device drew (or draw it, if not there)

    def __call__(self, sheet_id: str) -> DuplexImages:
        if sheet_id.startswith("T"):
            sim = self.test_factory.sheet(TEST_INDEX + int(sheet_id[1:]))
        else:
            sim = render(self.factories, self.by_index[int(sheet_id[1:])])
        if sheet_id not in self.seen:
            line = json.dumps({"id": sheet_id, "intent": sim.truth.get("expected"),
                               "expected": policy_expected(self.election, sim.truth),
                               "genuine": sim.truth.get("genuine")}) + "\n"
            fd = os.open(self.truth_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
            self.seen.add(sheet_id)
        return sensor_images(sim.front, sim.back, sim.jpeg)


NOISE_JOB_WEIGHT = 5  # drawing the noise tile costs about as much as printing 5 rasters


def mine_of(jobs: int, share: int, of: int) -> list[int]:
    """The print-ahead work of device ``share`` of ``of``: indices of print jobs, and -1
    for drawing the sensor-noise tile (the first device's, first). Each job goes to the
    device with the least work so far (ties to the lower number), the noise tile counting
    :data:`NOISE_JOB_WEIGHT` jobs, so every device is done at about the same time."""
    load = [0] * of
    load[0] = NOISE_JOB_WEIGHT
    mine = [-1] if share == 0 else []
    for k in range(jobs):
        d = min(range(of), key=lambda i: (load[i], i))
        load[d] += 1
        if d == share:
            mine.append(k)
    return mine


class _NotingReader:
    """The real reader; notes which sheets it rejected, so their voters do not retry."""

    def __init__(self, election: Election, station: Station, world: SimWorld, workdir: Path,
                 thresholds: Thresholds | None = None):
        self.reader = make_reader(election, station, thresholds)
        self.world = world
        self.path = workdir / "rejected.txt"
        self.rejected = (set(self.path.read_text(encoding="utf-8").split())
                         if self.path.exists() else set())

    def for_election(self, election: Election, station: Station,
                     thresholds: Thresholds) -> _NotingReader:
        """The reader for the package's election (and again after a withdrawal)."""
        return _NotingReader(election, station, self.world, self.path.parent, thresholds)

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        interp = self.reader.interpret(front, back)
        sheet = self.world.last_fed
        if interp.outcome is Outcome.REJECTED and sheet is not None:
            self.rejected.add(sheet)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(sheet + "\n")
        return interp


def child(workdir: Path) -> int:
    """One power-on of one device."""
    from firmware.faults import FaultPoints

    settings = json.loads((workdir / "settings.json").read_text(encoding="utf-8"))
    setup = StationSetup.from_json(settings["setup"])
    # Each device process is one machine's work: the station's devices share this
    # machine's cores one process each, so OpenCV's own worker threads would only add
    # synchronisation (measured: ~8 % more CPU per sheet with two threads per device).
    cv2.setNumThreads(max(1, (os.cpu_count() or 1) // len(setup.device_dirs)))
    election = pickle.loads(Path(settings["election"]).read_bytes())
    day = ElectionDay.from_json(json.loads(Path(settings["day"]).read_text(encoding="utf-8")))
    station = find_station(election, day.station)
    world = SimWorld.load(workdir / "world.json")
    reader = _NotingReader(election, station, world, workdir)
    renderer = _Renderer(election, day, workdir, settings["preset"],
                         print_cache=Path(settings["day"]).parent / PRINT_CACHE)
    renderer.print_ahead(int(settings["device"]), len(setup.device_dirs))
    with VirtualPrinter() as printer, SerialPrinter(printer.port) as port:
        sink = PrinterReportSink(port, language=Language(settings.get("language", "ky")),
                                 out_dir=workdir / "reports",
                                 after_print=lambda job: save_roll(printer, job))
        rig = build_device(workdir, world, election, station, reader, images_of=renderer,
                           faults=FaultPoints.from_env(), reports=sink,
                           trust=setup.trust(settings["device"]),
                           reader_for=reader.for_election,
                           image_retention=ImageRetention(settings.get("retention", "none")))
        sink.device = rig.device
        uplink = None
        if settings.get("uplink"):
            from simulator.uplink import UplinkSettings, attach

            uplink = UplinkSettings(**settings["uplink"])
            outbox, registry = attach(rig.device, uplink, election)
        rig.device.boot()
        device = rig.device
        run_day(device, world,  # the reader in use is the one built for the package
                lambda s: s not in getattr(device.config.reader, "rejected", reader.rejected),
                package=setup.package_path.read_bytes())
        if not list((workdir / "reports").glob("*-audit.escpos")):
            device.print_report("audit")  # the audit-log summary, after the results
        if uplink is not None:
            from simulator.uplink import deliver, write_summary

            write_summary(workdir, deliver(outbox, registry, uplink))
        (workdir / "done.json").write_text(json.dumps(
            {"official": rig.device.tally().to_json(), "device_id": rig.device.config.device_id,
             "certificate": str(setup.device_dirs[settings["device"]] / DEVICE_CERT_FILE)}),
            encoding="utf-8")
        rig.device.close()
    return 0


def save_roll(printer: VirtualPrinter, job: Printed) -> None:
    """The paper the virtual printer decoded for this job (its copies, one under another)
    as ``NN-KIND.roll.png`` beside the bytes the device sent."""
    if not job.files:
        return
    pieces = printer.pieces()[-job.report.copies:]
    paper = np.concatenate(pieces) if pieces else np.zeros((1, 576), dtype=bool)
    target = job.files[0].with_suffix(".roll.png")
    buffer = io.BytesIO()
    Image.fromarray(~paper).convert("1").save(buffer, format="PNG")
    write_atomically(target, buffer.getvalue())


# --------------------------------------------------------------------------- the harness


@dataclass
class _Dev:
    n: int
    workdir: Path
    sheets: list[int]  # the day's sheet indices this device gets, in order
    cuts: list[float]  # power-cut times still to come
    times: dict[int, float]
    proc: subprocess.Popen[bytes] | None = None
    power_cuts: int = 0
    done: bool = False
    log: list[str] = field(default_factory=list)
    cpu_s: float = 0.0  # user + system CPU of every power-on of this device so far

    def exited(self) -> bool:
        """Whether this power-on's process has ended; reaps it and adds up its CPU time
        (each device's own, which ``RUSAGE_CHILDREN`` would lump together)."""
        if self.proc is None:
            return False
        if self.proc.returncode is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s += usage.ru_utime + usage.ru_stime
        return True

    def fed_so_far(self) -> int:
        w = SimWorld.load(self.workdir / "world.json")
        return len([s for s in w.box + w.returned if s.startswith("S")])

    def next_fault(self) -> str | None:
        if not self.cuts:
            return None
        t = self.cuts.pop(0)
        target = sum(1 for i in self.sheets if self.times[i] < t)
        k = target - self.fed_so_far()
        return f"sheet.after-feed:{k}" if k > 0 else "boot.after-recovery:1"

    def start(self) -> None:
        env = {**MALLOC_ENV, **{k: v for k, v in os.environ.items() if k != ENV}}
        fault = self.next_fault()
        if fault:
            env[ENV] = fault
        self.log.append(fault or "clean")
        err = open(self.workdir / "stderr.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen([sys.executable, "-m", "simulator.station_day", "child",
                                      str(self.workdir)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=err)
        err.close()


def prepare_devices(election: Election, day: ElectionDay, out: Path, devices: int,
                    preset_name: str, seed: int, uplink: dict[str, Any] | None = None,
                    retention: str = "rejected+marginal") -> list[_Dev]:
    """``uplink``: ``{"host", "port", "cec_dir", "modem"}`` to send each device's reports to
    a running CEC; ``retention``: whose images each device keeps
    (``firmware.cvr.ImageRetention``). Each device has one identity: the package's
    ``<station>-D<n>``, and with ``uplink`` the key ``pcos cec provision`` certified under
    that id, so its printed reports, its signed messages and the CEC's registry name the
    same device with the same key."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / PRINT_CACHE, ignore_errors=True)  # rasters of an earlier run's code
    (out / "election.pickle").write_bytes(pickle.dumps(election))
    day_path = out / "day.json"
    day_path.write_text(day.dumps(), encoding="utf-8")
    rng = np.random.default_rng(seed)
    cuts = sorted(e.t_s for e in day.events if e.kind is EventKind.POWER_CUT)
    times = {s.sheet_index: s.t_s for s in day.sheets}
    # the CEC's package for this station and each device's provisioned key (simulated keys)
    setup = write_station_setup(out / "setup", election, day.station, devices,
                                device_keys=uplink_device_keys(uplink, day.station, devices)
                                if uplink else None)
    ids = device_ids(day.station, devices)
    devs = []
    for n in range(devices):
        mine = [s for s in day.sheets if (s.voter - 1) % devices == n]
        workdir = out / f"device-{n + 1}"
        workdir.mkdir(parents=True, exist_ok=True)
        first_of_voter: dict[int, int] = {}
        counts: dict[int, int] = {}
        for s in mine:
            first_of_voter.setdefault(s.voter, s.sheet_index)
            counts[s.voter] = counts.get(s.voter, 0) + 1
        stacked = [sheet_name(i) for v, i in first_of_voter.items()
                   if counts[v] > 1 and rng.random() < STACKED_RATE]
        world = SimWorld(queue=[sheet_name(s.sheet_index) for s in mine],
                         test_queue=[test_name(k + 10 * n) for k in range(TEST_SHEETS)],
                         jam_sheets={sheet_name(s.sheet_index): s.jams for s in mine if s.jams},
                         stacked=stacked, file=str(workdir / "world.json"))
        world.save()
        device_id = ids[n]
        (workdir / "settings.json").write_text(json.dumps({
            "election": str(out / "election.pickle"), "day": str(day_path),
            "device": n, "setup": setup.to_json(), "preset": preset_name,
            "retention": retention,
            "uplink": {**uplink, "device_id": device_id} if uplink else None}),
            encoding="utf-8")
        devs.append(_Dev(n + 1, workdir, [s.sheet_index for s in mine], list(cuts), times))
    return devs


def uplink_device_keys(uplink: dict[str, Any], station: str, devices: int
                       ) -> dict[str, Any]:
    """The keys the CEC directory certified for this station's devices (by package id)."""
    from firmware.crypto import load_private_key
    from simulator.uplink import UplinkError

    root = Path(uplink["cec_dir"])
    keys = {}
    for did in device_ids(station, devices):
        path = root / "device-keys" / f"{did}.key"
        if not path.is_file():
            raise UplinkError(f"{root}: no identity for device {did} (pcos cec provision "
                              f"names a station's devices {station}-D1, {station}-D2, ...)")
        keys[did] = load_private_key(path)
    return keys


def run_station(election: Election, day: ElectionDay, out: Path, devices: int = 2,
                preset_name: str = "realistic", seed: int = 2021,
                progress: Callable[[int, int], None] | None = None,
                uplink: dict[str, Any] | None = None,
                retention: str = "rejected+marginal") -> dict[str, Any]:
    """Run the day on ``devices`` device processes; compare the tallies with ground truth.
    ``uplink``: send each device's reports to a running CEC (see :func:`prepare_devices`)."""
    devs = prepare_devices(election, day, out, devices, preset_name, seed, uplink, retention)
    total = len(day.sheets)
    for d in devs:
        d.start()
    last_progress = 0.0
    while not all(d.done for d in devs):
        time.sleep(0.1)
        for d in devs:
            if d.done or not d.exited():
                continue
            assert d.proc is not None
            rc = d.proc.returncode
            if rc == -signal.SIGKILL:
                d.power_cuts += 1
                d.start()
            elif rc == 0:
                d.done = True
            else:
                err = (d.workdir / "stderr.log").read_text(encoding="utf-8", errors="replace")
                for other in devs:
                    if other.proc is not None and other.proc.poll() is None:
                        other.proc.kill()
                raise RuntimeError(f"device {d.n} failed (rc {rc}):\n{err[-3000:]}")
        if progress is not None and time.monotonic() - last_progress > 1.0:
            last_progress = time.monotonic()
            progress(sum(_fed(d) for d in devs), total)
    return compare(election, day, devs)


def _fed(d: _Dev) -> int:
    try:
        w = SimWorld.load(d.workdir / "world.json")
    except (OSError, ValueError):
        return 0
    return len([s for s in w.box + w.returned if s.startswith("S")])


def compare(election: Election, day: ElectionDay, devs: list[_Dev]) -> dict[str, Any]:
    station = find_station(election, day.station)
    ids = station.contest_ids()
    per_device, truths, reported = [], [], []
    fed = cast = returned = jams = marginal_ballots = 0
    for d in devs:
        w = SimWorld.load(d.workdir / "world.json")
        truth_by_id: dict[str, Any] = {}
        for line in (d.workdir / "truth.jsonl").read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            truth_by_id[doc["id"]] = doc
        truth = TallyBuilder.empty(election, ids)
        box = [s for s in w.box if s.startswith("S")]
        for s in box:
            truth.add(BallotOutcome.from_json(truth_by_id[s]["expected"]))
        marginal_ballots += sum(1 for s in box
                                if truth_by_id[s]["expected"] != truth_by_id[s]["intent"])
        got = Tally.from_json(json.loads((d.workdir / "done.json").read_text())["official"])
        t = truth.build()
        truths.append(t)
        reported.append(got)
        fed_here = len(d.sheets)
        fed += fed_here
        cast += len(box)
        returned += len([s for s in w.returned if s.startswith("S")])
        jams += sum(1 for i in d.sheets for _ in range(_jams_of(day, i)))
        per_device.append({"device": d.n, "sheets": fed_here, "cast": len(box),
                           "power_cuts": d.power_cuts, "cpu_s": round(d.cpu_s, 1),
                           "tally_matches_truth": got == t,
                           "differences": differences(t, got),
                           "reports": sorted(p.name for p in (d.workdir / "reports").glob("*"))})
    uplinks = [json.loads((d.workdir / "uplink.json").read_text(encoding="utf-8"))
               for d in devs if (d.workdir / "uplink.json").exists()]
    for p, d in zip(per_device, devs, strict=True):
        if (d.workdir / "uplink.json").exists():
            p["uplink"] = json.loads((d.workdir / "uplink.json").read_text(encoding="utf-8"))
    sum_truth = truths[0]
    sum_got = reported[0]
    for t, g in zip(truths[1:], reported[1:], strict=True):
        sum_truth, sum_got = merge(sum_truth, t), merge(sum_got, g)
    return {
        "sheets_fed": fed, "sheets_cast": cast, "sheets_returned": returned,
        "power_cuts": sum(d.power_cuts for d in devs), "jams": jams,
        "tally_matches_truth": all(p["tally_matches_truth"] for p in per_device)
        and sum_truth == sum_got,
        "differences": differences(sum_truth, sum_got),
        "ballots_with_marginal_intent": marginal_ballots,
        "reports": {f"device-{p['device']}": p["reports"] for p in per_device},
        "devices": per_device,
        **({"messages_sent": sum(u["messages_sent"] for u in uplinks),
            "receipts": sum(u["receipts"] for u in uplinks),
            "all_receipted": all(u["all_receipted"] for u in uplinks)} if uplinks else {}),
    }


def _jams_of(day: ElectionDay, index: int) -> int:
    for s in day.sheets:
        if s.sheet_index == index:
            return s.jams
    return 0


def differences(truth: Tally, got: Tally) -> list[dict[str, Any]]:
    """Every count that differs: contest, what, truth, device."""
    out = []
    a, b = truth.to_json()["contests"], got.to_json()["contests"]
    for cid in sorted(set(a) | set(b)):
        ca, cb = a.get(cid, {}), b.get(cid, {})
        for key in ("ballots", "blank", "overvote", "withdrawn"):
            if ca.get(key) != cb.get(key):
                out.append({"contest": cid, "what": key, "truth": ca.get(key),
                            "device": cb.get(key)})
        oa, ob = ca.get("options", {}), cb.get("options", {})
        for o in sorted(set(oa) | set(ob)):
            if oa.get(o) != ob.get(o):
                out.append({"contest": cid, "what": o, "truth": oa.get(o), "device": ob.get(o)})
        if ca.get("preferences") != cb.get("preferences"):
            out.append({"contest": cid, "what": "preferences", "truth": len(ca.get(
                "preferences", [])), "device": len(cb.get("preferences", []))})
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "child":
        return child(Path(argv[1]))
    print("usage: python -m simulator.station_day child WORKDIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
