"""Device calibration: its speed, and what it is worth on a print run with dot gain.

* Speed (one core): ``calibrate_device`` on ``count`` blank ballots of each kind
  of the default station (target: <= 30 s for 10 per kind), sheets in memory
  as the device's scanner delivers them.
* The same 30 blanks through calibration mode on a simulated device
  (``firmware.calibration_mode``: paper path, image sensor, measure, hand
  back, signed profile on both media), with its CPU time.
* Value: a print run whose lines are 2 px (0.25 mm) wider than the renderer's
  raster, 1 px on each edge (dot gain, ``simulator.print_run``: the same print
  model the accuracy benches draw their runs from; the realistic preset draws
  0..2 px). Fresh blank ballots and ``marked`` marked ballots
  of that run are read twice: against the renderer's raster (the reader's
  default template) and against the calibrated template. Counted: blank boxes
  flagged (marginal or marked), definite or empty targets flagged marginal,
  and silent errors. A 4 px run (2 px on each edge) is calibrated too: it is
  refused (its security band fails the reader's check), and the figure says why.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Figure, one_core
from calibration.device import CalibrationRefused, calibrate_device
from calibration.grade import Grade
from calibration.profile import body_of, configure_reader, parse_profile, sign_profile
from calibration.render_raster import render_layout
from election.default import default_election
from firmware.calibration_mode import CalibrationMode, CalibrationSettings
from firmware.crypto import key_from_seed
from firmware.hal.imaging import DuplexImages
from firmware.reader_setup import make_reader
from simulator.calibration_set import Device, PrintRun, PrintRunFactory
from simulator.devices import SimWorld
from simulator.rig import build_device
from simulator.scanner import preset
from simulator.sheets import default_station
from vision.config import ReaderConfig
from vision.interpret import Reader
from vision.result import Mark


def run(count: int = 10, seed: int = 2021, marked: int = 100) -> list[Figure]:
    e = default_election()
    st = default_station(e)
    p = preset("realistic")
    key = key_from_seed(bytes(range(32)))
    figures: list[Figure] = [Figure("blanks_per_kind", count)]
    with one_core():
        run1 = PrintRun(dot_gain_px=2.0)
        device = Device(0.992, 1.006)
        f = PrintRunFactory(e, st, p, seed=seed, print_run=run1, device=device)
        sheets = [(n, s.front, s.back) for n, s in f.calibration_set(count)]
        t0, c0 = time.perf_counter(), time.process_time()
        cal = calibrate_device(sheets, e, st, render_layout)
        body = body_of(cal, "bench", "bench")
        profile = parse_profile(sign_profile(body, key), key.public_key())
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        figures += [Figure("calibration_sheets", cal.sheets),
                    Figure("calibration_s", round(seconds, 2), "s"),
                    Figure("calibration_cpu_s", round(cpu, 2), "s"),
                    *_device_mode(sheets),
                    Figure("optical_scale_across", round(cal.optical_scale.across, 4)),
                    Figure("optical_scale_along", round(cal.optical_scale.along, 4)),
                    Figure("device_scale_across_true", device.scale_across),
                    Figure("device_scale_along_true", device.scale_along)]
        base = ReaderConfig(e, st, render_layout)
        readers = {"raw": Reader(base), "calibrated": Reader(configure_reader(base, profile))}
        fresh = PrintRunFactory(e, st, p, seed=seed + 1, print_run=run1, device=device)
        blanks = [s for _n, s in fresh.calibration_set(6)]
        for name, reader in readers.items():
            flagged = boxes = 0
            for s in blanks:
                res = reader.interpret(s.front, s.back)
                boxes += len(res.targets)
                flagged += sum(1 for t in res.targets if t.mark is not Mark.UNMARKED)
            grade = Grade()
            for i in range(marked):
                s = fresh.sheet(i)
                grade.add(s.truth, reader.interpret(s.front, s.back))
            g = grade.summary()
            figures += [
                Figure(f"gain1_{name}_blank_boxes_flagged", flagged),
                Figure(f"gain1_{name}_blank_boxes", boxes),
                Figure(f"gain1_{name}_marked_sheets", g["sheets"]),
                Figure(f"gain1_{name}_definite_or_none_marginal",
                       g["definite_or_none_marginal"]),
                Figure(f"gain1_{name}_definite_or_none_targets",
                       sum(g["confusion"]["definite"].values())
                       + sum(g["confusion"]["none"].values())),
                Figure(f"gain1_{name}_silent_errors",
                       g["definite_errors"] + g["none_errors"] + g["wrong_contest_results"]),
                Figure(f"gain1_{name}_marginal_flagged_rate", g["marginal_flagged_rate"]),
                Figure(f"gain1_{name}_genuine_rejected", g["genuine_rejected"]),
            ]
        f2 = PrintRunFactory(e, st, p, seed=seed, print_run=PrintRun(dot_gain_px=4.0),
                             device=device)
        try:
            calibrate_device([(n, s.front, s.back) for n, s in f2.calibration_set(3)], e, st,
                             render_layout)
            verdict = "calibrated"
        except CalibrationRefused as exc:
            verdict = f"refused ({exc.fault.value})"
        figures.append(Figure("gain2_calibration", verdict))
    return figures


def _device_mode(sheets: list[tuple[str, np.ndarray, np.ndarray]]) -> list[Figure]:
    """The same blanks through calibration mode on a simulated device: each inserted, fed
    past the image sensor, measured and handed back; then the profile signed and stored
    on both media and the report laid out (recording sink: no printer in the figure)."""
    e = default_election()
    st = default_station(e)
    images = {n: DuplexImages(f, b) for n, f, b in sheets}
    with tempfile.TemporaryDirectory() as tmp:
        rig = build_device(Path(tmp), SimWorld(), e, st, make_reader(e, st),
                           images_of=images.__getitem__)
        rig.device.boot()
        t0, c0 = time.perf_counter(), time.process_time()
        mode = CalibrationMode(rig.device, CalibrationSettings(per_kind=len(sheets) // 3))
        mode.enter()
        for name in images:
            rig.world.insert(name)
            mode.step()
            rig.world.take_from_entry()
            mode.step()
        out = mode.finish()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        rig.device.close()
    return [Figure("device_mode_sheets", len(images)),
            Figure("device_mode_s", round(seconds, 2), "s"),
            Figure("device_mode_cpu_s", round(cpu, 2), "s"),
            Figure("device_mode_result", "stored" if out.stored
                   else f"refused ({out.fault.value if out.fault else '?'})"),
            Figure("device_mode_in_box", len(rig.world.box))]
