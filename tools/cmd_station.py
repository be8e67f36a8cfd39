"""``pcos station``: a device (or two) through a whole day, on simulated hardware.

* ``pcos station crash-test --kills N [--seed S] [--sheets M] [--json]``: a real
  firmware process SIGKILLed N times through a small station day (at fault
  points: inside SQLite commits, between the two media writes, between
  pending and cast, ...), restarted each time; the journal is truncated at
  random offsets now and then. Checks the tally against the ballot box's
  ground truth: none lost, none twice.
* ``pcos station run --day DAY.json --out DIR [--devices 2] [--cec HOST:PORT --cec-dir DIR
  [--modem]] [--json]``: a day
  from ``pcos sim election-day`` through real images and the real reader on
  each device (a process per device; power cuts kill and restart it), then
  each device's tally and their sum compared with ground truth; with ``--cec`` each
  device also sends its zero report, results and audit log to a running CEC (over TCP,
  or an emulated modem with ``--modem``) and the output gains ``messages_sent``,
  ``receipts``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from election.errors import PcosError
from election.fileio import write_atomically
from tools.common import add_election_option, load_election_arg


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
    r = subs.add_parser("run", help="run a day from `pcos sim election-day` on the devices")
    r.add_argument("--day", required=True, metavar="DAY.json", help="the election day")
    r.add_argument("--out", required=True, metavar="DIR", help="devices' media and reports")
    r.add_argument("--devices", type=int, default=2, help="devices at the station (default 2)")
    r.add_argument("--preset", default="realistic", help="scanner preset (default realistic)")
    r.add_argument("--seed", type=int, default=2021)
    r.add_argument("--retention", choices=["all", "rejected+marginal", "none"],
                   default="rejected+marginal",
                   help="whose sheet images each device keeps (default rejected+marginal)")
    add_election_option(r)
    r.add_argument("--cec", metavar="HOST:PORT", help="send each device's zero report, "
                   "results and audit log to this running CEC (pcos cec serve)")
    r.add_argument("--cec-dir", metavar="DIR", help="with --cec: the CEC directory from "
                   "pcos cec provision (device keys and certificates, CEC public keys)")
    r.add_argument("--modem", action="store_true", help="with --cec: each device sends "
                   "over an emulated SIM7600 modem on a pty instead of plain TCP")
    r.add_argument("--json", action="store_true", help="JSON output")
    r.set_defaults(func=run_day_command)


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


def run_day_command(args: argparse.Namespace) -> int:
    from simulator.election_day import ElectionDay
    from simulator.scanner import preset
    from simulator.station_day import run_station

    if args.devices < 1:
        raise PcosError("--devices must be at least 1")
    preset(args.preset)  # an unknown preset is a one-line error before any work
    day_path = Path(args.day)
    try:
        doc = json.loads(day_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PcosError(f"{day_path}: cannot read the day ({exc})") from exc
    day = ElectionDay.from_json(doc)
    election = load_election_arg(args.election)
    if day.election_id != election.election_id:
        raise PcosError(f"{day_path}: a day of election {day.election_id}, not "
                        f"{election.election_id}")
    uplink = None
    if args.cec or args.cec_dir or args.modem:
        from simulator.uplink import parse_host_port

        if not (args.cec and args.cec_dir):
            raise PcosError("--cec needs --cec-dir (and --cec-dir and --modem need --cec)")
        host, port = parse_host_port(args.cec)
        uplink = {"host": host, "port": port, "cec_dir": str(Path(args.cec_dir).resolve()),
                  "modem": bool(args.modem)}
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise PcosError(f"{out}: not empty")
    show = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show and total:
            width = 40
            filled = int(width * min(done, total) / total)
            print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} sheets",
                  end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    result = run_station(election, day, out, args.devices, args.preset, args.seed, progress,
                         uplink, retention=args.retention)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if show:
        print(file=sys.stderr)
    write_atomically(out / "result.json",
                     (json.dumps(result, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "devices"},
                         ensure_ascii=False))
    else:
        print(f"station {day.station}: {result['sheets_fed']} sheets fed on {args.devices} "
              f"devices, {result['sheets_cast']} cast, {result['sheets_returned']} returned; "
              f"{result['jams']} jams, {result['power_cuts']} power cuts; "
              f"{result['seconds']} s")
        for d in result["devices"]:
            print(f"  device {d['device']}: {d['cast']} cast, tally matches truth: "
                  f"{d['tally_matches_truth']}")
        print(f"sum of devices matches truth: {result['tally_matches_truth']}; "
              f"{len(result['differences'])} differences; details in {out}/result.json")
        if uplink is not None:
            print(f"sent to the CEC at {args.cec}: {result['messages_sent']} messages, "
                  f"{result['receipts']} receipts held")
    ok = result["tally_matches_truth"] and result.get("all_receipted", True)
    return 0 if ok else 1
