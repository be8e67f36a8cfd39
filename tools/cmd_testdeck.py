"""``pcos testdeck``: logic-and-accuracy test decks (make, run, verify).

* ``pcos testdeck make --station ID --out DIR [--seed S] [--preset P]
  [--format png|tiff|jpg] [--no-scans] [--election FILE]`` writes ``DIR/deck.pdf``
  (the marked deck to print and feed), ``DIR/expected.json`` (the counts it
  must give, from the rules) and ``DIR/scans/`` (simulated scans, as ``pcos sim
  sheets`` writes them).
* ``pcos testdeck run --deck DIR [--dir SCANS] [--out REPORT.json] [--election FILE]``
  feeds the scans (default ``DIR/scans``) through a counter in test mode and
  writes its test report (default ``DIR/report.json``). Today the counter is
  the vision reader plus the tally (:class:`calibration.testdeck_run.ReaderCounter`),
  a stand-in until the device's test mode is wired in.
* ``pcos testdeck verify --expected expected.json --report REPORT.json [--out DIR]``
  prints PASS/FAIL per count and writes ``verify.txt`` and ``verify.png``;
  exit code 0 only when every check passes, 1 when any fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from calibration.testdeck_run import ReaderCounter, run_deck, write_report
from calibration.testdeck_verify import (
    EXPECTED_FORMAT,
    load_json,
    png_report,
    text_report,
    verify_files,
)
from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import election_hash
from simulator.scanner import PRESETS, preset
from simulator.testdeck import EXPECTED_JSON, SCANS_DIR, find_station, make_deck
from simulator.writer import ImageFormat, encode_image, image_format, prepare_dir
from tools.common import add_election_option, load_election_arg


def _make(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise PcosError(f"--seed must be 0 or more, not {args.seed}")
    params = preset(args.preset)
    election = load_election_arg(args.election)
    station = find_station(election, args.station)
    progress = None
    if sys.stderr.isatty() and not args.no_scans:
        def progress(done: int) -> None:
            print(f"\r{done} sheets scanned", end="", file=sys.stderr, flush=True)
    made = make_deck(election, station, Path(args.out), seed=args.seed, params=params,
                     preset_name=args.preset, scans=not args.no_scans, progress=progress,
                     fmt=image_format(args.format))
    if progress is not None:
        print("\r", end="", file=sys.stderr, flush=True)
    print(f"wrote {made.out_dir}: {made.line()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    deck_dir = Path(args.deck)
    expected = load_json(deck_dir / EXPECTED_JSON, "expected results")
    if not isinstance(expected, dict) or expected.get("format") != EXPECTED_FORMAT:
        raise PcosError(f"{deck_dir / EXPECTED_JSON}: not a test deck's expected results")
    election = load_election_arg(args.election)
    want = expected.get("election", {}).get("election_hash")
    if want != election_hash(election):
        raise PcosError(f"{deck_dir}: the deck was made for election hash {str(want)[:16]}, "
                        f"this election is {election_hash(election)[:16]} (use --election)")
    station = find_station(election, str(expected.get("station")))
    scans = Path(args.dir) if args.dir else deck_dir / SCANS_DIR
    out = Path(args.out) if args.out else deck_dir / "report.json"
    if args.reader_only:
        report = run_deck(ReaderCounter(election, station), scans)
    else:
        from simulator.testdeck_device import DeviceCounter

        with tempfile.TemporaryDirectory(prefix="pcos-testdeck-device-") as tmp:
            device_dir = Path(args.device_dir) if args.device_dir else Path(tmp)
            counter = DeviceCounter(election, station, device_dir, report_dir=out.parent)
            report = run_deck(counter, scans)
        official = counter.official_after_open
        if official is None or any(c.ballots for c in official.contests):
            raise PcosError("test ballots reached the official tally")
    write_report(report, out)
    print(f"wrote {out}: {report.sheets} sheets fed, {report.accepted} counted, "
          f"{sum(report.returned.values())} returned, {len(report.review)} for review "
          f"· counter: {report.source}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    verdict = verify_files(args.expected, args.report)
    title = f"Test deck verification: {args.report} against {args.expected}"
    text = text_report(verdict, title)
    out = Path(args.out) if args.out else Path(args.report).resolve().parent
    prepare_dir(out)
    write_atomically(out / "verify.txt", text.encode("utf-8"))
    write_atomically(out / "verify.png", encode_image(png_report(verdict, title)))
    print(text)
    print(f"wrote {out / 'verify.txt'} and {out / 'verify.png'}", file=sys.stderr)
    return 0 if verdict.passed else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pcos testdeck make``, ``run`` and ``verify``."""
    td = subparsers.add_parser("testdeck", help="logic-and-accuracy test decks",
                               description="Make, run and verify logic-and-accuracy test decks.")
    subs = td.add_subparsers(dest="testdeck_command", metavar="ACTION")
    subs.required = True

    make = subs.add_parser("make", help="the marked deck (PDF), expected results and scans",
                           description="Write DIR/deck.pdf, DIR/expected.json and DIR/scans/.")
    make.add_argument("--station", required=True, metavar="ID", help="polling station number")
    make.add_argument("--out", required=True, metavar="DIR", help="output directory")
    make.add_argument("--seed", type=int, default=0, metavar="S",
                      help="seed of the simulated scans (default 0); the deck itself is fixed")
    make.add_argument("--preset", default="realistic", metavar="NAME",
                      help=f"scanner preset of the scans: {', '.join(PRESETS)} "
                           "(default realistic)")
    make.add_argument("--format", default=ImageFormat.PNG.value,
                      choices=[f.value for f in ImageFormat],
                      help="image format of the scans (default png; jpg is lossy but "
                           "several times faster to write and read)")
    make.add_argument("--no-scans", action="store_true", help="only the PDF and expected.json")
    add_election_option(make)
    make.set_defaults(func=_make)

    run = subs.add_parser("run", help="feed the deck's scans through a counter in test mode",
                          description="Read DIR/scans (or --dir) and write the test report.")
    run.add_argument("--deck", required=True, metavar="DIR", help="a directory made by make")
    run.add_argument("--dir", metavar="SCANS", help="scans to feed (default DIR/scans); "
                     "real scans named NAME-front/NAME-back.png|tif|jpg")
    run.add_argument("--out", metavar="REPORT.json", help="default DIR/report.json")
    run.add_argument("--device-dir", metavar="DIR",
                     help="keep the test device's media here (default: a temporary directory)")
    run.add_argument("--reader-only", action="store_true",
                     help="count with the reader alone (the stand-in used before the device)")
    add_election_option(run)
    run.set_defaults(func=_run)

    ver = subs.add_parser("verify", help="compare a test report with the expected counts",
                          description="PASS/FAIL per count; exit 0 only if all pass.")
    ver.add_argument("--expected", required=True, metavar="FILE", help="expected.json")
    ver.add_argument("--report", required=True, metavar="FILE", help="the test report JSON")
    ver.add_argument("--out", metavar="DIR", help="where verify.txt and verify.png go "
                     "(default: the report's directory)")
    ver.set_defaults(func=_verify)
