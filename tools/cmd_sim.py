"""``pcos sim``: simulated scanned sheets, the contact sheet, and election days.

* ``pcos sim sheets --count N --out DIR [--seed S] [--preset clean|realistic|harsh]
  [--kind party-list|district|local|mixed] [--station ID] [--fakes RATE]
  [--format png|tiff|jpg] [--election FILE]`` writes ``DIR/NNNNNN-front.png``,
  ``DIR/NNNNNN-back.png``, ``DIR/truth.jsonl`` and ``DIR/manifest.json``
  (see :mod:`simulator.writer`).
* ``pcos sim contact-sheet --out FILE.png [--seed S] [--station ID] [--marks-only]
  [--election FILE]``
  writes one image to judge realism by eye (see :mod:`simulator.contact_sheet`).
* ``pcos sim election-day --out FILE.json [--station ID] [--seed S] [--turnout 0.35]
  [--jam-rate R] [--power-cuts R] [--modem-outages R] [--no-faults] [--open HH:MM]
  [--close HH:MM] [--election FILE]`` writes the day's sheets and events (see
  :mod:`simulator.election_day`); ``--out -`` prints them.

The station defaults to :func:`simulator.sheets.default_station`. Every argument
is checked before anything is written; a bad one is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.model import Election, Station
from simulator.election_day import DayParams, FaultRates, find_station, parse_clock, plan_day
from simulator.scanner import PRESETS, ScannerParams, preset
from simulator.sheets import KINDS, SheetFactory, default_station
from simulator.writer import (
    ImageFormat,
    encode_image,
    image_format,
    prepare_dir,
    write_file_atomically,
    write_sheets,
)
from tools.common import add_election_option, load_election_arg

_IMAGE_EXTENSIONS = {".png": ImageFormat.PNG, ".tif": ImageFormat.TIFF,
                     ".tiff": ImageFormat.TIFF, ".jpg": ImageFormat.JPG,
                     ".jpeg": ImageFormat.JPG}


def _station(election: Election, number: str | None) -> Station:
    return default_station(election) if number is None else find_station(election, number)


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise PcosError(f"--seed must be 0 or more, not {seed}")


def _rate(value: float, name: str, upper: float | None = None) -> float:
    if not (math.isfinite(value) and value >= 0.0 and (upper is None or value <= upper)):
        bound = f"between 0 and {upper:g}" if upper is not None else "0 or more"
        raise PcosError(f"{name} must be {bound}, not {value:g}")
    return value


# --------------------------------------------------------------------------- sheets


def _profiled(params: ScannerParams, args: argparse.Namespace) -> ScannerParams:
    """The preset with the scanner-profile options applied."""
    if args.dpi is not None:
        if not 150 <= args.dpi <= 300:
            raise PcosError(f"--dpi must be 150 to 300, not {args.dpi:g}")
        params = params.with_(dpi=float(args.dpi))
    if args.backing:
        params = params.with_backing(args.backing)
    if args.cropped:
        params = params.with_(cropped=True)
    if args.greyscale:
        params = params.with_(greyscale=True)
    if args.gamma is not None:
        if not 0.3 <= args.gamma <= 3.0:
            raise PcosError(f"--gamma must be 0.3 to 3, not {args.gamma:g}")
        params = params.with_(gamma=(args.gamma, args.gamma))
    if args.rotation is not None:
        if not 0 <= args.rotation <= 20:
            raise PcosError(f"--rotation must be 0 to 20 degrees, not {args.rotation:g}")
        params = params.with_(rotation_deg=args.rotation)
    return params


def _sheets(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise PcosError(f"--count must be 0 or more, not {args.count}")
    _check_seed(args.seed)
    fakes = _rate(args.fakes, "--fakes", 1.0)
    params = _profiled(preset(args.preset), args)
    fmt = image_format(args.format)
    election = load_election_arg(args.election)
    station = _station(election, args.station)
    factory = SheetFactory(election, station, params, seed=args.seed, kind=args.kind,
                           fake_rate=fakes)
    out = Path(args.out)
    progress = None
    if sys.stderr.isatty() and args.count >= 20:
        def progress(done: int) -> None:
            print(f"\r{done}/{args.count} sheets", end="", file=sys.stderr, flush=True)
    try:
        summary = write_sheets(factory, args.count, out, fmt=fmt, preset_name=args.preset,
                               progress=progress)
    finally:
        if progress is not None:
            print("\r", end="", file=sys.stderr, flush=True)
    print(f"wrote {out}: {summary.line()} · preset {args.preset}, kind {args.kind}, "
          f"station {station.number}, seed {args.seed}")
    return 0


# --------------------------------------------------------------------------- contact sheet


def _contact_sheet(args: argparse.Namespace) -> int:
    from simulator.contact_sheet import contact_sheet

    _check_seed(args.seed)
    out = Path(args.out)
    fmt = _IMAGE_EXTENSIONS.get(out.suffix.lower())
    if fmt is None:
        raise PcosError(f"--out {out}: use a .png (or .tiff, .jpg) file name")
    election = load_election_arg(args.election)
    station = _station(election, args.station)
    if out.parent != Path():
        prepare_dir(out.parent)
    img = contact_sheet(args.seed, election, station, whole_sheets=not args.marks_only)
    write_file_atomically(out, encode_image(img, fmt))
    print(f"wrote {out}: contact sheet {img.shape[1]}x{img.shape[0]} px, seed {args.seed}, "
          f"station {station.number}")
    return 0


# --------------------------------------------------------------------------- election day


def _day_params(args: argparse.Namespace) -> DayParams:
    turnout = _rate(args.turnout, "--turnout", 1.0)
    base = FaultRates.none() if args.no_faults else FaultRates()
    changes: dict[str, Any] = {}
    if args.jam_rate is not None:
        changes["paper_jam_per_sheet"] = _rate(args.jam_rate, "--jam-rate", 0.5)
    if args.power_cuts is not None:
        changes["power_cuts_per_day"] = _rate(args.power_cuts, "--power-cuts", 100.0)
    if args.modem_outages is not None:
        changes["modem_outages_per_day"] = _rate(args.modem_outages, "--modem-outages", 100.0)
    params = DayParams(turnout=turnout, open_s=parse_clock(args.open),
                       close_s=parse_clock(args.close),
                       faults=dataclasses.replace(base, **changes))
    params.check()
    return params


def _election_day(args: argparse.Namespace) -> int:
    _check_seed(args.seed)
    params = _day_params(args)
    election = load_election_arg(args.election)
    station = _station(election, args.station)
    day = plan_day(election, station.number, params, seed=args.seed)
    text = day.dumps()
    if args.out == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        print(day.summary(), file=sys.stderr)
        return 0
    out = Path(args.out)
    write_file_atomically(out, text.encode("utf-8"))
    print(f"wrote {out}: {day.summary()}; {len(day.events)} events")
    return 0


# --------------------------------------------------------------------------- parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pcos sim sheets``, ``pcos sim contact-sheet`` and ``pcos sim election-day``."""
    sim = subparsers.add_parser("sim", help="simulated ballots, scans and election days",
                                description="Simulated ballots, scans and election days.")
    subs = sim.add_subparsers(dest="sim_command", metavar="ACTION")
    subs.required = True

    sheets = subs.add_parser("sheets", help="write simulated scanned sheets with ground truth",
                             description="Write NNNNNN-front/back images, truth.jsonl and "
                                         "manifest.json to a directory.")
    sheets.add_argument("--count", type=int, required=True, metavar="N", help="sheets to make")
    sheets.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    sheets.add_argument("--preset", default="realistic", metavar="NAME",
                        help=f"scanner preset: {', '.join(PRESETS)} (default realistic)")
    sheets.add_argument("--kind", default="mixed", metavar="KIND",
                        help=f"ballot kind: {', '.join(KINDS)}, or a comma list of kinds "
                             "(default mixed: every kind voted at the station)")
    sheets.add_argument("--station", metavar="ID", help="polling station number "
                        "(default: the first voting on all three kinds)")
    sheets.add_argument("--fakes", type=float, default=0.0, metavar="RATE",
                        help="share of sheets that are not good ballots, 0..1 (default 0)")
    sheets.add_argument("--format", default=ImageFormat.PNG.value,
                        choices=[f.value for f in ImageFormat],
                        help="image format (default png; jpg is lossy)")
    add_election_option(sheets)
    sheets.add_argument("--out", required=True, metavar="DIR", help="output directory")
    prof = sheets.add_argument_group("scanner profile (on top of the preset)")
    prof.add_argument("--dpi", type=float, metavar="N", help="150 to 300 (default 200)")
    prof.add_argument("--backing", choices=("dark", "grey", "white"), help="default dark")
    prof.add_argument("--cropped", action="store_true", help="images cropped to the page")
    prof.add_argument("--greyscale", action="store_true", help="greyscale sensor")
    prof.add_argument("--gamma", type=float, metavar="G", help="device tone curve (default 1)")
    prof.add_argument("--rotation", type=float, metavar="DEG",
                      help="largest skew, degrees (default: the preset's)")
    sheets.set_defaults(func=_sheets)

    contact = subs.add_parser("contact-sheet", help="one image to judge realism by eye",
                              description="Marks, traces, whole sheets per preset and fakes "
                                          "on one labelled image.")
    contact.add_argument("--seed", type=int, default=0, metavar="S", help="random seed")
    contact.add_argument("--station", metavar="ID", help="polling station number")
    contact.add_argument("--marks-only", action="store_true",
                         help="only the mark and trace crops, no whole sheets (faster)")
    add_election_option(contact)
    contact.add_argument("--out", required=True, metavar="FILE.png", help="output image")
    contact.set_defaults(func=_contact_sheet)

    day = subs.add_parser("election-day", help="one station's election day as events",
                          description="Voters, the sheets reaching the scanner in order, and "
                                      "timed events (including faults), as JSON.")
    day.add_argument("--station", metavar="ID", help="polling station number")
    day.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    day.add_argument("--turnout", type=float, default=DayParams.turnout, metavar="SHARE",
                     help=f"share of listed voters who vote (default {DayParams.turnout:g})")
    day.add_argument("--open", default="08:00", metavar="HH:MM", help="polls open (08:00)")
    day.add_argument("--close", default="20:00", metavar="HH:MM", help="polls close (20:00)")
    day.add_argument("--jam-rate", type=float, metavar="P",
                     help=f"paper jams per sheet (default {FaultRates.paper_jam_per_sheet:g})")
    day.add_argument("--power-cuts", type=float, metavar="N",
                     help=f"mean power cuts per day (default {FaultRates.power_cuts_per_day:g})")
    day.add_argument("--modem-outages", type=float, metavar="N",
                     help="mean modem outages per day "
                          f"(default {FaultRates.modem_outages_per_day:g})")
    day.add_argument("--no-faults", action="store_true",
                     help="no jams, power cuts or modem outages (unless set above)")
    add_election_option(day)
    day.add_argument("--out", required=True, metavar="FILE.json",
                     help="output JSON file, or - for standard output")
    day.set_defaults(func=_election_day)
