"""``pcos station``: a device (or two) through a whole day, on simulated hardware.

* ``pcos station crash-test --kills N [--seed S] [--sheets M] [--json]``: a real
  firmware process SIGKILLed N times through a small station day (at fault
  points: inside SQLite commits, between the two media writes, between
  pending and cast, ...), restarted each time; the journal is truncated at
  random offsets now and then. Checks the tally against the ballot box's
  ground truth: none lost, none twice.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from election.errors import PcosError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("station", help="run devices through a station day",
                              description="Run devices through a station day.")
    subs = p.add_subparsers(dest="station_command", metavar="COMMAND")
    subs.required = True
    c = subs.add_parser("crash-test", help="kill the device process N times through a day")
    c.add_argument("--kills", type=int, default=50, help="SIGKILLs (default 50)")
    c.add_argument("--seed", type=int, default=2021)
    c.add_argument("--sheets", type=int, default=None,
                   help="voters' sheets (default 3 per kill, at least 40)")
    c.add_argument("--truncate-rate", type=float, default=0.2,
                   help="chance of truncating the card's journal after a kill (default 0.2)")
    c.add_argument("--out", metavar="DIR", help="keep the device's media here (default: temp)")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=run_crash_test)


def run_crash_test(args: argparse.Namespace) -> int:
    from simulator.crash import crash_test

    if args.kills < 0:
        raise PcosError("--kills must be 0 or more")
    if args.sheets is not None and args.sheets < 1:
        raise PcosError("--sheets must be at least 1")
    if not 0.0 <= args.truncate_rate <= 1.0:
        raise PcosError("--truncate-rate must be between 0 and 1")
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            raise PcosError(f"{out}: not empty")
        result = crash_test(args.kills, out, args.seed, args.sheets, args.truncate_rate)
    else:
        with tempfile.TemporaryDirectory(prefix="pcos-crash-") as tmp:
            result = crash_test(args.kills, Path(tmp), args.seed, args.sheets,
                                args.truncate_rate)
    ok = (result["lost"] == 0 and result["doubled"] == 0 and result["phantom"] == 0
          and result["tally_matches_truth"] and result["test_sheets_official"] == 0)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['kills']} kills over {result['runs']} runs, {result['sheets']} sheets, "
              f"{result['journal_truncations']} journal truncations")
        print(f"in the box {result['sheets_in_box']}, cast {result['sheets_cast']}: "
              f"lost {result['lost']}, doubled {result['doubled']}, phantom {result['phantom']}")
        print(f"tally matches truth: {result['tally_matches_truth']}; media identical: "
              f"{result['media_identical']}; audit log verifies: {result['audit_ok']}")
    return 0 if ok else 1
