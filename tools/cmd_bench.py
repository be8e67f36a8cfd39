"""``pcos bench NAME [--json]``: print performance and accuracy figures.

Names: ``render``, ``sim``, ``scan``, ``accuracy``, ``harsh``, ``modem``, ``package``,
``printer``, ``cec``, ``website``, ``testdeck``, ``device``, ``station``, ``devint`` (``harsh`` is
accuracy on the harsh preset: it counts silent errors), and ``all``. Each figure prints
as ``name: value unit``; ``--json`` prints one JSON object instead (for ``all``, one
object per benchmark).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from benchmarks import (
    accuracy,
    cec,
    device,
    devint,
    modem,
    printer,
    render,
    scan,
    sim,
    testdeck,
    website,
)
from benchmarks import package as package_bench
from benchmarks.common import Figure
from election.errors import PcosError


def _harsh(**kw: Any) -> list[Figure]:
    kw = {k: v for k, v in kw.items() if k != "preset_name"}
    kw.setdefault("count", 1000)
    return accuracy.run(preset_name="harsh", **kw)


BENCHES: dict[str, Callable[..., list[Figure]]] = {
    "render": render.run,
    "sim": sim.run,
    "scan": scan.run,
    "accuracy": accuracy.run,
    "harsh": _harsh,
    "modem": modem.run,
    "package": package_bench.run,
    "printer": printer.run,
    "cec": cec.run,
    "website": website.run,
    "testdeck": testdeck.run,
    "device": device.run,
    "station": device.station,
    "devint": devint.run,
}
ALL = tuple(BENCHES)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("bench", help="print performance and accuracy figures",
                              description="Run a benchmark and print its figures.")
    p.add_argument("name", choices=[*BENCHES, "all"], help="which benchmark")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--count", type=int, help="sheets (renders; modem: bytes each way)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--preset", dest="preset_name", help="scanner preset")
    p.add_argument("--kind", help="ballot kinds: mixed, a kind, or a comma list")
    p.add_argument("--fakes", type=float, help="share of fake sheets (accuracy)")
    p.add_argument("--devices", type=int, help="simulated devices (cec)")
    p.add_argument("--link-faults", dest="link_faults", type=float,
                   help="share of faulty device links (cec)")
    p.add_argument("--db", help="CEC database URL (cec; default a temporary SQLite file)")
    p.set_defaults(func=run)


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("count", "seed", "preset_name", "kind", "fakes", "devices", "link_faults", "db")
    kw = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if kw.get("count", 1) < 1:
        raise PcosError("--count must be at least 1")
    return kw


def run(args: argparse.Namespace) -> int:
    names = ALL if args.name == "all" else (args.name,)
    kw = _kwargs(args)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        fn = BENCHES[name]
        allowed = fn.__code__.co_varnames if hasattr(fn, "__code__") else ()
        figures = fn(**{k: v for k, v in kw.items() if k in allowed or name == "harsh"})
        results[name] = {f.name: f.value for f in figures}
        if not args.json:
            if len(names) > 1:
                print(f"== {name}")
            for f in figures:
                print(f.line(), flush=True)
    if args.json:
        print(json.dumps(results[names[0]] if len(names) == 1 else results, ensure_ascii=False))
    return 0
