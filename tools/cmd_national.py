"""``pcos sim national``: the whole country's election day, simulated end to end.

::

    pcos sim national [--stations N|all] [--images none|sample|all] [--sample-rate R]
                      [--faults default|none|FILE] [--scheduler local|dask://HOST:PORT|dask-local]
                      [--workers W] [--seed S] --out DIR [--json] [--no-report]
                      [--website check|serve|none] [--http-port P] [--profile]

Every station runs its day through the real firmware and sends through the real
protocol to one real CEC server (see :mod:`simulator.national`). Prints a summary
(or JSON) and writes ``DIR/national.json``, ``DIR/stations.jsonl``,
``DIR/cec.sqlite`` and ``DIR/report.html``. Exit 0 when the CEC equals the truth
at every level and every message was delivered exactly once, else 1.

The command hangs under ``pcos sim`` (registered after :mod:`tools.cmd_sim`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from election.errors import PcosError

JSON_KEYS = ("stations", "devices", "sheets", "messages", "delivered_once",
             "totals_match_truth", "differences", "seconds")


def _sim_actions(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
                 ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    sim = subparsers.choices.get("sim")
    if sim is None:
        raise PcosError("pcos sim is not registered (tools.cmd_sim must come first)")
    for action in sim._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise PcosError("pcos sim has no sub-commands")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subs = _sim_actions(subparsers)
    p = subs.add_parser("national", help="the national election day, end to end",
                        description="Every station's day through the real firmware and "
                                    "protocol to one CEC; checks the CEC against the truth.")
    p.add_argument("--stations", default="all", help="N (spread over the country) or all")
    p.add_argument("--images", default="none", choices=("none", "sample", "all"))
    p.add_argument("--sample-rate", type=float, default=0.01,
                   help="share of stations with full images (--images sample; default 0.01)")
    p.add_argument("--faults", default="default", metavar="default|none|FILE",
                   help="fault rates: 2021 defaults, none, or a JSON file of overrides")
    p.add_argument("--scheduler", default="local",
                   help="local (spawn process pool), dask-local, or dask://HOST:PORT")
    p.add_argument("--workers", type=int, default=None,
                   help="local pool / LocalCluster processes (default: CPU count)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--workdir", default=None, metavar="DIR",
                   help="where devices keep their media (default: a directory on /dev/shm)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--website", default="check", choices=("none", "check", "serve"),
                   help="the CEC's public website on the run's store: check (default: serve "
                        "it on loopback, fetch the national page and its figures, compare "
                        "them with the truth), serve (check, then keep serving), none")
    p.add_argument("--profile", action="store_true",
                   help="cProfile every station in its worker: DIR/profile/*.prof and "
                        "DIR/profile.txt (time per source file and function, per sheet)")
    p.add_argument("--http-port", type=int, default=0,
                   help="--website serve: the port on 127.0.0.1 (default: a free one)")
    p.add_argument("--json", action="store_true", help="print the JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulator.national.faults import NationalFaults
    from simulator.national.run import NationalSettings, run_national

    if args.stations == "all":
        stations = None
    else:
        try:
            stations = int(args.stations)
        except ValueError:
            raise PcosError(f"--stations must be a number or 'all', not {args.stations!r}"
                            ) from None
    settings = NationalSettings(stations=stations, images=args.images,
                                sample_rate=args.sample_rate,
                                faults=NationalFaults.load(args.faults),
                                scheduler=args.scheduler, workers=args.workers,
                                seed=args.seed, out=Path(args.out),
                                workdir=Path(args.workdir) if args.workdir else None,
                                report=not args.no_report, website=args.website,
                                http_port=args.http_port, profile=args.profile)
    summary = run_national(settings, progress=sys.stderr)
    ok = summary["totals_match_truth"] and summary["delivered_once"]
    if args.json:
        print(json.dumps({k: summary[k] for k in JSON_KEYS}, ensure_ascii=False))
    else:
        print(f"{summary['stations']} stations, {summary['devices']} devices, "
              f"{summary['sheets']} sheets, {summary['messages']} messages in "
              f"{summary['seconds']} s ({summary['scheduler']}, {summary['workers']} workers)")
        print(f"reported {summary['stations_reported']}, missing "
              f"{len(summary['stations_missing'])} (never reported by plan: "
              f"{len(summary['stations_silent_by_plan'])})")
        print(f"CEC equals the truth at every level: {summary['totals_match_truth']}; "
              f"every message delivered exactly once: {summary['delivered_once']}")
        for d in summary["differences"][:20]:
            print(f"  difference: {json.dumps(d, ensure_ascii=False)}")
        web = summary.get("website")
        if web is not None:
            print(f"website {web['url']}: national result equals the truth: "
                  f"{web['matches_truth']} ({web['checked_figures']} figures checked)")
        print(f"report: {Path(args.out) / 'report.html'}")
    return 0 if ok else 1
