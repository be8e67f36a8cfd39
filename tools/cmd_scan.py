"""``pcos scan``: read scanned sheets, optionally grade them against simulator truth.

* ``pcos scan FRONT BACK [FRONT BACK ...] | --dir DIR [--station ID] [--json]``
  prints one line per sheet (JSON with ``--json``).
* ``pcos scan --dir DIR --grade [--json]`` compares with ``DIR/truth.jsonl``,
  prints the accuracy report and writes a histogram of scores by truth class.
* ``--debug OUT`` writes stage overlays for every sheet into OUT.
* The scanner profile: ``--profile FILE`` (JSON, ``vision.config.ScannerProfile``)
  and/or ``--dpi N --backing dark|grey|white [--cropped] [--greyscale]
  [--optical-scale S] [--gamma G]``; without ``--dpi`` the DPI comes from the
  first file (PNG pHYs, TIFF XResolution, JPEG JFIF), else 200. Greyscale files
  (one channel, or three identical ones) mean a greyscale sensor: refused at
  start-up ("this device needs a colour sensor", exit 2) unless
  ``--allow-greyscale`` (or ``allow_greyscale`` in the profile) opts in to
  reading with the colour checks off, said once on stderr and in the
  ``--grade`` report. A file that cannot be read is reported for its sheet,
  and the command then exits 2.
* ``--jobs N`` reads on N processes (default: every core), results in input order.
* ``--calibration PROFILE --calibration-key KEY`` reads against this device's
  calibrated blank templates; ``--thresholds FILE`` uses calibrated thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from calibration.grade import Grade
from election.errors import PcosError
from election.reject import RejectReason
from firmware.reader_setup import station_arg
from simulator.writer import read_truth
from tools.common import add_election_option, load_election_arg
from tools.scan_batch import ReaderSpec, SheetJob, default_jobs, image_pairs, read_sheets
from vision.config import Backing, ScannerProfile
from vision.imageio import ImageFileError, load_scan
from vision.result import SheetInterpretation


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("scan", help="read scanned sheets (pairs of front/back images)",
                              description="Read scanned sheets and print what the scanner saw.")
    p.add_argument("files", nargs="*", metavar="FRONT BACK",
                   help="image pairs: front then back of each sheet (PNG, TIFF or JPEG)")
    p.add_argument("--dir", metavar="DIR", help="read every NNNNNN-front/back pair in DIR")
    p.add_argument("--station", metavar="ID",
                   help="polling station number (default: the one the directory's manifest names; "
                        "required otherwise)")
    add_election_option(p)
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--grade", action="store_true",
                   help="compare with DIR/truth.jsonl and print an accuracy report")
    p.add_argument("--hist", metavar="FILE", help="histogram PNG (default DIR/grade-histogram.png)")
    p.add_argument("--debug", metavar="OUT", help="write stage overlays for each sheet into OUT")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="processes reading in parallel (default: every core)")
    p.add_argument("--calibration", metavar="PROFILE",
                   help="signed device calibration profile (pcos calibrate device)")
    p.add_argument("--calibration-key", metavar="KEY",
                   help="key file that verifies the profile (PEM private or public key)")
    p.add_argument("--thresholds", metavar="FILE",
                   help="mark thresholds JSON (pcos calibrate thresholds)")
    g = p.add_argument_group("scanner profile")
    g.add_argument("--profile", metavar="FILE", help="scanner profile JSON (dpi, backing, "
                   "cropped, colour, optical_scale, overscan_mm); options below override it")
    g.add_argument("--dpi", type=float, metavar="N",
                   help="scan resolution, 150 to 300 (default: stated in the files, else 200)")
    g.add_argument("--backing", choices=[b.value for b in Backing],
                   help="what the scanner shows behind the paper (default dark)")
    g.add_argument("--cropped", action="store_true", help="the scanner crops images to the page")
    g.add_argument("--greyscale", action="store_true",
                   help="greyscale sensor (refused unless --allow-greyscale)")
    g.add_argument("--allow-greyscale", action="store_true",
                   help="let a greyscale sensor read with the security-band and stripe-colour "
                        "checks off (default: refuse it, the Kyrgyz policy)")
    g.add_argument("--optical-scale", type=float, metavar="S",
                   help="the device's calibrated optical scale across the feed")
    g.add_argument("--gamma", type=float, metavar="G",
                   help="the device's calibrated tone curve (default 1)")
    p.set_defaults(func=run)


def _greyscale(one_channel: bool, rgb: Any) -> bool:
    """A greyscale sensor's file: one channel, or three identical ones (a colour sensor
    never gives identical channels, not even on a grey photocopy: its noise differs)."""
    return one_channel or bool((rgb[..., 0] == rgb[..., 1]).all()
                               and (rgb[..., 1] == rgb[..., 2]).all())


def _profile(args: argparse.Namespace, first: tuple[str, Path, Path] | None) -> ScannerProfile:
    """The profile from --profile and the options; DPI and greyscale from the first file
    when not given."""
    base = ScannerProfile.load(args.profile) if args.profile else ScannerProfile()
    fields = base.to_json()
    if args.backing:
        fields["backing"] = args.backing
    if args.cropped:
        fields["cropped"] = True
    if args.greyscale:
        fields["colour"] = False
    if args.allow_greyscale:
        fields["allow_greyscale"] = True
    if args.optical_scale is not None:
        fields["optical_scale"] = args.optical_scale
    if args.gamma is not None:
        fields["gamma"] = args.gamma
    if args.dpi is not None:
        fields["dpi"] = args.dpi
    if first is not None and ((args.dpi is None and not args.profile) or fields["colour"]):
        try:
            scan = load_scan(first[1])
        except ImageFileError:
            scan = None  # reported with its sheet
        if scan is not None and scan.dpi is not None and args.dpi is None and not args.profile:
            fields["dpi"] = scan.dpi
        if scan is not None and _greyscale(scan.grey, scan.rgb) and fields["colour"]:
            fields["colour"] = False
            print(f"pcos: {first[1]} is a greyscale scan: a greyscale sensor", file=sys.stderr)
    profile = ScannerProfile.from_json(fields)
    profile.require_usable()  # refused once, here, before any sheet
    if profile != ScannerProfile():  # said once, when it is not the default device
        print(f"pcos: scanner profile: {profile.describe()}", file=sys.stderr)
    return profile


def _pairs(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    if args.dir and args.files:
        raise PcosError("give image files or --dir, not both")
    if args.dir:
        return image_pairs(Path(args.dir))
    if not args.files:
        raise PcosError("nothing to scan: give FRONT BACK image pairs or --dir DIR")
    if len(args.files) % 2:
        raise PcosError("images come in pairs: FRONT BACK [FRONT BACK ...]")
    return [(str(i), Path(args.files[2 * i]), Path(args.files[2 * i + 1]))
            for i in range(len(args.files) // 2)]


def _sheet_id(name: str) -> int | str:
    return int(name) if name.isdigit() else name


def _line(sheet: int | str, res: SheetInterpretation) -> dict[str, Any]:
    return {"sheet": sheet, **res.to_json()}


def _read_all(args: argparse.Namespace) -> Iterator[tuple[int | str, SheetInterpretation]]:
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise PcosError(f"--jobs must be at least 1, not {jobs}")
    election = load_election_arg(args.election)
    station = station_arg(election, args.station, Path(args.dir) if args.dir else None)
    pairs = _pairs(args)
    profile = _profile(args, pairs[0] if pairs else None)
    args.profile_checks_off = profile.checks_off
    spec = ReaderSpec(args.election, station.number, args.calibration, args.calibration_key,
                      args.thresholds, args.debug, profile.to_json())
    work = [SheetJob(_sheet_id(name), str(front), str(back), name)
            for name, front, back in pairs]
    yield from read_sheets(spec, work, jobs)


def text_line(sheet: int | str, res: SheetInterpretation) -> str:
    """One readable line: outcome, what was read (or why not), and each contest's result."""
    head = f"{sheet}: {res.outcome.value}"
    if res.reason is not None:
        return f"{head} {res.reason.value}" + (f" ({res.detail})" if res.detail else "")
    what = " ".join(str(x) for x in (res.kind, res.contest if res.contest != res.kind else None,
                                     res.language) if x)
    parts = []
    for contest, outcome in res.contests.items():
        if not isinstance(outcome, dict):
            parts.append(f"{contest} {outcome}")
            continue
        status = outcome.get("status")
        detail = outcome.get("choice")
        if contest == "preference" and status == "valid":
            detail = f"{outcome.get('party')} #{outcome.get('position')}"
        parts.append(f"{contest} {status}" + (f" {detail}" if detail else ""))
    line = f"{head} · {what} · " + "; ".join(parts)
    if res.marginal:
        line += " · marginal: " + ", ".join(res.marginal)
    return line


def _truth(directory: Path) -> dict[Any, dict[str, Any]]:
    return {t["sheet"]: t for t in read_truth(directory)}


def run(args: argparse.Namespace) -> int:
    if args.grade and not args.dir:
        raise PcosError("--grade needs --dir DIR (with DIR/truth.jsonl)")
    args.unreadable = 0
    if not args.grade:
        count = 0
        for sheet, res in _read_all(args):
            count += 1
            if args.json:
                print(json.dumps(_line(sheet, res), ensure_ascii=False), flush=True)
            else:
                print(text_line(sheet, res), flush=True)
            if res.reason is RejectReason.IMAGE_INVALID:
                args.unreadable += 1
        if args.unreadable:
            print(f"pcos: error: {args.unreadable} of {count} sheets could not be read "
                  "(image files missing or broken)", file=sys.stderr)
            return 2
        return 0
    directory = Path(args.dir)
    truth = _truth(directory)
    grade = Grade()
    for sheet, res in _read_all(args):
        if sheet not in truth:
            raise PcosError(f"sheet {sheet} has no line in truth.jsonl")
        grade.add(truth[sheet], res)
    hist = Path(args.hist) if args.hist else directory / "grade-histogram.png"
    grade.histogram_png(str(hist))
    off = list(args.profile_checks_off)
    if args.json:
        print(json.dumps({**grade.summary(), "histogram": str(hist), "checks_off": off},
                         ensure_ascii=False))
    else:
        print(grade.report())
        if off:
            print("not checked by this scanner profile: " + ", ".join(off))
        print(f"histogram: {hist}", file=sys.stderr)
    return 0
