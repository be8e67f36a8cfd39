"""``pcos bench NAME [--json]``: print performance and accuracy figures.

Names: the keys of ``BENCHES`` below (``pcos bench --help`` lists them; ``harsh`` is
accuracy on the harsh preset: it counts silent errors), and ``all``. Each figure prints
as ``name: value unit``; ``--json`` prints one JSON object instead (for ``all``, one
object per benchmark).
"""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from typing import Any

from benchmarks import (
    accuracy,
    calibrate,
    cec,
    device,
    devint,
    modem,
    printer,
    profiles,
    render,
    scan,
    sim,
    station_phases,
    sweep,
    testdeck,
    website,
)
from benchmarks import national as national_bench
from benchmarks import package as package_bench
from benchmarks.common import Figure
from election.errors import PcosError


class BenchOptionError(PcosError):
    """An option was given to a benchmark that does not take it."""


def _harsh(count: int = 1000, seed: int = 2021, kind: str = "party-list,district",
           fakes: float = 0.02, out: str = "out") -> list[Figure]:
    return accuracy.run(count=count, seed=seed, preset_name="harsh", kind=kind, fakes=fakes,
                        out=out)


BENCHES: dict[str, Callable[..., list[Figure]]] = {
    "render": render.run,
    "sim": sim.run,
    "scan": scan.run,
    "accuracy": accuracy.run,
    "harsh": _harsh,
    "profiles": profiles.run,  # every scanner profile, print variation, every ink
    "sweep": sweep.run,  # the reader's verdict against coverage and darkness
    "calibrate": calibrate.run,
    "modem": modem.run,
    "package": package_bench.run,
    "printer": printer.run,
    "cec": cec.run,
    "website": website.run,
    "testdeck": testdeck.run,
    "device": device.run,
    "station": device.station,
    "station-phases": station_phases.run,  # CPU per part of each device's day
    "national": national_bench.run,
    "devint": devint.run,
}
ALL = tuple(BENCHES)
OPTIONS = {"count": "--count", "seed": "--seed", "preset_name": "--preset", "kind": "--kind",
           "fakes": "--fakes", "out": "--out", "devices": "--devices",
           "link_faults": "--link-faults", "db": "--db", "images": "--images",
           "sample_rate": "--sample-rate"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("bench", help="print performance and accuracy figures",
                              description="Run a benchmark and print its figures.")
    p.add_argument("name", choices=[*BENCHES, "all"], help="which benchmark")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--count", type=int, help="sheets (renders; modem: bytes each way)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--preset", dest="preset_name", help="scanner preset")
    p.add_argument("--kind", help="ballot kinds: mixed, a kind, or a comma list")
    p.add_argument("--fakes", type=float, help="share of fake sheets (accuracy, harsh)")
    p.add_argument("--out", help="directory for figure files (accuracy, harsh; default ./out)")
    p.add_argument("--devices", type=int, help="simulated devices (cec)")
    p.add_argument("--link-faults", dest="link_faults", type=float,
                   help="share of faulty device links (cec)")
    p.add_argument("--db", help="CEC database URL (cec; default a temporary SQLite file)")
    p.add_argument("--images", help="national: none or sample")
    p.add_argument("--sample-rate", dest="sample_rate", type=float,
                   help="national: share of stations with full images")
    p.set_defaults(func=run)


def accepted_options(fn: Callable[..., list[Figure]]) -> set[str]:
    """The keyword parameters a benchmark function declares."""
    return {name for name, prm in inspect.signature(fn).parameters.items()
            if prm.kind in (prm.POSITIONAL_OR_KEYWORD, prm.KEYWORD_ONLY)}


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw = {k: getattr(args, k) for k in OPTIONS if getattr(args, k, None) is not None}
    if kw.get("count", 1) < 1:
        raise PcosError("--count must be at least 1")
    return kw


def plan(names: tuple[str, ...], kw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The options each benchmark gets; refuse an option no benchmark of the run takes
    (for one benchmark: an option it does not take)."""
    taken = {name: accepted_options(BENCHES[name]) for name in names}
    for key in kw:
        if not any(key in t for t in taken.values()):
            which = names[0] if len(names) == 1 else "any of " + ", ".join(names)
            raise BenchOptionError(f"bench {which} does not take {OPTIONS[key]}")
    return {name: {k: v for k, v in kw.items() if k in taken[name]} for name in names}


def run(args: argparse.Namespace) -> int:
    names = ALL if args.name == "all" else (args.name,)
    per_bench = plan(names, _kwargs(args))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        figures = BENCHES[name](**per_bench[name])
        results[name] = {f.name: f.value for f in figures}
        if not args.json:
            if len(names) > 1:
                print(f"== {name}")
            for f in figures:
                print(f.line(), flush=True)
    if args.json:
        print(json.dumps(results[names[0]] if len(names) == 1 else results, ensure_ascii=False))
    return 0
