"""The reader on every scanner profile, with real print variation and every ink.

``pcos bench profiles``: for each profile (dark, grey and white backing at
150, 200 and 300 DPI, plus a page-cropped white scanner, a greyscale sensor
and a device with gamma 1.8), simulated sheets of the ``realistic`` preset
(print variation, every pen and pencil pressure, 2 % fakes) are read by a
reader configured with that profile, and graded against ground truth. The
simulator's device draws one optical scale per device (not per sheet) where
the paper edge cannot be seen, and the reader is given that calibrated scale,
as ``pcos calibrate device`` would measure it.

Then the reader's speed per duplex sheet on one core, at 200 and 300 DPI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchmarks.common import Figure, one_core
from benchmarks.grading import grade_in_chunks
from calibration.grade import Grade
from election.default import default_election
from firmware.reader_setup import make_reader
from simulator.scanner import ScannerParams, preset
from simulator.sheets import SheetFactory, default_station
from vision.config import Backing, ScannerProfile

DEVICE_SCALE = 1.008  # the simulated device's optical scale where it must be calibrated


@dataclass(frozen=True)
class Profile:
    name: str
    dpi: float = 200.0
    backing: str = "dark"
    cropped: bool = False
    greyscale: bool = False
    gamma: float = 1.0

    def params(self, base: ScannerParams) -> ScannerParams:
        p = base.with_backing(self.backing).with_(dpi=self.dpi, cropped=self.cropped,
                                                  greyscale=self.greyscale,
                                                  gamma=(self.gamma, self.gamma))
        if not self.reader().edges_visible:
            p = p.with_(scale=(DEVICE_SCALE, DEVICE_SCALE))
        return p

    def reader(self) -> ScannerProfile:
        """What the device's calibration tells the reader (optical scale where the paper
        edge cannot be seen, and the tone curve)."""
        prof = ScannerProfile(dpi=self.dpi, backing=Backing(self.backing), cropped=self.cropped,
                              colour=not self.greyscale, gamma=self.gamma,
                              allow_greyscale=self.greyscale)
        if prof.edges_visible:
            return prof
        return ScannerProfile(dpi=self.dpi, backing=Backing(self.backing), cropped=self.cropped,
                              colour=not self.greyscale, optical_scale=DEVICE_SCALE,
                              gamma=self.gamma, allow_greyscale=self.greyscale)


PROFILES: tuple[Profile, ...] = (
    *(Profile(f"{b}-{d}", float(d), b) for b in ("dark", "grey", "white")
      for d in (150, 200, 300)),
    Profile("white-200-cropped", 200.0, "white", cropped=True),
    Profile("dark-200-greyscale", 200.0, "dark", greyscale=True),
    Profile("dark-200-gamma1.8", 200.0, "dark", gamma=1.8),
)
BY_NAME = {p.name: p for p in PROFILES}


def _chunk(args: tuple[str, int, int, int, str, str, float]) -> Grade:
    name, start, stop, seed, preset_name, kind, fakes = args
    import cv2

    cv2.setNumThreads(1)
    prof = BY_NAME[name]
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, prof.params(preset(preset_name)), seed=seed, kind=kind,
                           fake_rate=fakes)
    reader = make_reader(e, station, profile=prof.reader())
    grade = Grade()
    for i in range(start, stop):
        sheet = factory.sheet(i)
        grade.add(sheet.truth, reader.interpret(sheet.front, sheet.back))
    return grade


def grade_profile(name: str, count: int, seed: int, preset_name: str, kind: str,
                  fakes: float, workers: int | None = None) -> Grade:
    return grade_in_chunks(_chunk, count,
                           lambda a, b: (name, a, b, seed, preset_name, kind, fakes), workers)


def _speed(prof: Profile, count: int, seed: int, preset_name: str) -> float:
    """Median ms per duplex sheet (genuine, mixed kinds) on one core, templates warm."""
    e = default_election()
    station = default_station(e)
    factory = SheetFactory(e, station, prof.params(preset(preset_name)), seed=seed)
    reader = make_reader(e, station, profile=prof.reader())
    sheets = [factory.sheet(i) for i in range(count)]
    times = []
    with one_core():
        for s in sheets[: min(12, count)]:
            reader.interpret(s.front, s.back)  # warm: one template build per layout
        for s in sheets:
            t = time.perf_counter()
            reader.interpret(s.front, s.back)
            times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000.0


def run(count: int = 300, seed: int = 2021, preset_name: str = "realistic",
        kind: str = "party-list,district", fakes: float = 0.02,
        profiles: str = "all", **_: object) -> list[Figure]:
    chosen = PROFILES if profiles == "all" else tuple(BY_NAME[n] for n in profiles.split(","))
    figures = [Figure("preset", preset_name), Figure("seed", seed), Figure("kind", kind),
               Figure("sheets_per_profile", count)]
    worst = {"definite_or_none_misread": 0, "marginal_rate": 0.0, "genuine_rejected_rate": 0.0}
    for prof in chosen:
        s = grade_profile(prof.name, count, seed, preset_name, kind, fakes).summary()
        misread = int(s["definite_errors"]) + int(s["none_errors"])
        marg = float(s["definite_or_none_marginal_rate"] or 0.0)
        rej = float(s["genuine_rejected_rate"] or 0.0)
        worst["definite_or_none_misread"] += misread
        worst["marginal_rate"] = max(worst["marginal_rate"], marg)
        worst["genuine_rejected_rate"] = max(worst["genuine_rejected_rate"], rej)
        n = prof.name
        figures += [
            Figure(f"{n}_definite_or_none_misread", misread),
            Figure(f"{n}_definite_or_none_marginal_rate", round(marg, 5)),
            Figure(f"{n}_genuine_rejected_rate", round(rej, 5)),
            Figure(f"{n}_marginal_flagged_rate", s["marginal_flagged_rate"]),
            Figure(f"{n}_fakes_right_reason_rate", s["fakes_right_reason_rate"]),
            Figure(f"{n}_wrong_contest_results", s["wrong_contest_results"]),
            Figure(f"{n}_targets", s["targets_read"]),
        ]
    figures += [Figure(f"all_profiles_{k}", round(v, 5) if isinstance(v, float) else v)
                for k, v in worst.items()]
    for dpi in (200, 300):
        ms = _speed(Profile(f"dark-{dpi}", float(dpi)), min(count, 150), seed + 1, preset_name)
        figures.append(Figure(f"reader_median_{dpi}dpi", round(ms, 3), "ms"))
    return figures
