"""``pcos calibrate``: calibrate a device on a print run, and the mark thresholds.

* ``pcos calibrate key --out KEY`` — a new Ed25519 signing key file (PEM).
* ``pcos calibrate blanks --out DIR --per-kind N [print-run options]`` — write a
  simulated calibration set (blank ballots of each kind, any orientation).
* ``pcos calibrate device (--dir DIR | --simulate N) --key KEY --out PROFILE`` —
  measure the calibration set, refuse an off-tolerance print run with its
  reason, write the signed profile and the calibration report (text + PNG).
* ``pcos calibrate thresholds --dir DECK --out REPORT_DIR`` — score a deck of
  marked sheets with known intent and recommend the marked and marginal
  thresholds (HTML report with plots, ``thresholds.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calibration.device import (
    CalibrationRefused,
    SheetMeasure,
    Tolerances,
    calibrate_measures,
    calibration_reader,
    measure_sheet,
)
from calibration.profile import body_of, load_profile, save_profile
from calibration.render_raster import render_layout
from calibration.summary import summary_of_body, summary_of_measures
from election.errors import PcosError
from election.hashing import election_hash
from election.model import Election, Language, Station
from firmware.calibration_mode import REFUSED
from firmware.calibration_report import calibration_report, report_data
from firmware.crypto import generate_key, load_private_key, save_private_key
from firmware.hal.printer import PrinterError, SerialPrinter, print_job
from firmware.reader_setup import station_arg
from tools.common import add_election_option, load_election_arg
from tools.scan_batch import image_pairs
from vision.imageio import load_image


def _triple(text: str, what: str, kind: type = float) -> tuple[Any, ...]:
    try:
        parts = tuple(kind(v) for v in text.split(","))
    except ValueError:
        raise PcosError(f"{what}: expected comma-separated numbers, not {text!r}") from None
    return parts


def _add_print_run(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated print run and device")
    g.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    g.add_argument("--preset", default="realistic", help="scanner preset (default realistic)")
    g.add_argument("--dot-gain", type=float, default=0.0, metavar="PX",
                   help="printed lines wider by PX pixels at 200 DPI, half on each edge "
                        "(default 0; the realistic preset draws 0..2)")
    g.add_argument("--toner", type=float, default=1.0,
                   help="ink film density factor (default 1)")
    g.add_argument("--misregistration", default="0,0", metavar="X,Y",
                   help="colour plate against the black, mm across,along (default 0,0)")
    g.add_argument("--print-scale", type=float, default=1.0, help="print scale on the paper")
    g.add_argument("--print-shift", default="0,0", metavar="X,Y",
                   help="print offset on the paper, mm across,along (default 0,0)")
    g.add_argument("--stripe-ink", metavar="R,G,B", help="stripe printed in this sRGB ink")
    g.add_argument("--security-ink", metavar="R,G,B", help="security band in this sRGB ink")
    g.add_argument("--device-scale", default="1,1", metavar="ACROSS,ALONG",
                   help="the simulated scanner's optical scale (default 1,1)")


def _factory(args: argparse.Namespace, election: Any, station: Any) -> Any:
    from simulator.calibration_set import Device, PrintRun, PrintRunFactory
    from simulator.scanner import preset

    shift = _triple(args.print_shift, "--print-shift")
    scale = _triple(args.device_scale, "--device-scale")
    misreg = _triple(args.misregistration, "--misregistration")
    if len(shift) != 2 or len(scale) != 2 or len(misreg) != 2:
        raise PcosError("--print-shift, --misregistration and --device-scale take two "
                        "numbers each")
    if not 0 <= args.dot_gain <= 8:
        raise PcosError(f"--dot-gain must be 0..8 px, not {args.dot_gain:g}")
    if not 0.5 <= args.toner <= 1.5:
        raise PcosError(f"--toner must be 0.5..1.5, not {args.toner:g}")
    if not 0.8 <= args.print_scale <= 1.2 or not all(0.9 <= s <= 1.1 for s in scale):
        raise PcosError("--print-scale must be 0.8..1.2 and --device-scale 0.9..1.1")
    inks = {}
    for name in ("stripe_ink", "security_ink"):
        value = getattr(args, name)
        if value is not None:
            rgb = _triple(value, f"--{name.replace('_', '-')}", int)
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise PcosError(f"--{name.replace('_', '-')}: three values 0..255")
            inks[name.replace("_ink", "_srgb")] = rgb
    run = PrintRun(dot_gain_px=args.dot_gain, toner=args.toner, scale=args.print_scale,
                   offset_mm=(float(shift[0]), float(shift[1])),
                   misregistration_mm=(float(misreg[0]), float(misreg[1])), **inks)
    return PrintRunFactory(election, station, preset(args.preset), seed=args.seed,
                           print_run=run, device=Device(float(scale[0]), float(scale[1])))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = subparsers.add_parser("calibrate", help="calibrate a device, or the mark thresholds",
                                description="Device calibration from blank ballots of this "
                                            "print run; threshold calibration from a deck.")
    subs = cal.add_subparsers(dest="calibrate_command", metavar="ACTION")
    subs.required = True

    key = subs.add_parser("key", help="write a new Ed25519 signing key (PEM)")
    key.add_argument("--out", required=True, metavar="KEY", help="key file to create")
    key.set_defaults(func=_key)

    blanks = subs.add_parser("blanks", help="write a simulated calibration set",
                             description="Blank ballots of each kind of the station, from one "
                                         "simulated print run and device.")
    blanks.add_argument("--per-kind", type=int, default=10, metavar="N")
    blanks.add_argument("--station", metavar="ID", help="polling station number")
    add_election_option(blanks)
    _add_print_run(blanks)
    blanks.add_argument("--out", required=True, metavar="DIR")
    blanks.set_defaults(func=_blanks)

    dev = subs.add_parser("device", help="calibrate this device on a print run",
                          description="Measure blank ballots of each kind; write a signed "
                                      "calibration profile and its report.")
    src = dev.add_mutually_exclusive_group(required=True)
    src.add_argument("--dir", metavar="DIR", help="calibration set: NAME-front/back images")
    src.add_argument("--simulate", type=int, metavar="N",
                     help="simulate N blank ballots per kind (print-run options below)")
    dev.add_argument("--key", required=True, metavar="KEY", help="signing key file (PEM)")
    dev.add_argument("--out", required=True, metavar="PROFILE", help="profile file to write")
    dev.add_argument("--report", metavar="DIR",
                     help="directory for calibration-report.txt/.png (default: beside PROFILE)")
    dev.add_argument("--device-id", default="pcos-sim", help="device identifier")
    dev.add_argument("--station", metavar="ID", help="polling station number")
    dev.add_argument("--min-per-kind", type=int, default=Tolerances.min_per_kind, metavar="N")
    dev.add_argument("--max-shift-mm", type=float, default=Tolerances.max_shift_mm)
    dev.add_argument("--max-scale-error", type=float, default=Tolerances.max_scale_error)
    out = dev.add_argument_group("the printed calibration report (ESC/POS raster)")
    out.add_argument("--print", metavar="PORT", dest="print_port",
                     help="print it on the ESC/POS printer on this serial port")
    out.add_argument("--escpos", metavar="FILE",
                     help="write the printer's bytes to FILE (and a PNG preview beside it)")
    out.add_argument("--language", choices=("ky", "ru"), default="ky",
                     help="language of the printed report (default ky)")
    out.add_argument("--run-label", default="", metavar="TEXT",
                     help="the print run's label for the report (e.g. the printer's batch)")
    add_election_option(dev)
    _add_print_run(dev)
    dev.set_defaults(func=_device)

    deck = subs.add_parser("deck", help="write a simulated deck for threshold calibration",
                           description="Marked sheets with ground truth, with many deliberately "
                                       "marginal marks (faint, tiny, outside the box).")
    deck.add_argument("--count", type=int, default=200, metavar="N")
    deck.add_argument("--marginal-rate", type=float, default=0.25, metavar="P",
                      help="probability that a mark is deliberately marginal (default 0.25)")
    deck.add_argument("--seed", type=int, default=0)
    deck.add_argument("--preset", default="realistic")
    deck.add_argument("--kind", default="mixed")
    deck.add_argument("--station", metavar="ID")
    add_election_option(deck)
    deck.add_argument("--out", required=True, metavar="DIR")
    deck.set_defaults(func=_deck)

    th = subs.add_parser("thresholds", help="recommend mark thresholds from a marked deck",
                         description="Score a deck with known intent; write an HTML report "
                                     "with plots and thresholds.json.")
    th.add_argument("--dir", required=True, metavar="DECK",
                    help="NAME-front/back images with truth.jsonl (pcos sim sheets)")
    th.add_argument("--truth", metavar="FILE", help="truth file (default DECK/truth.jsonl)")
    th.add_argument("--out", required=True, metavar="DIR", help="report directory")
    th.add_argument("--station", metavar="ID", help="polling station number")
    th.add_argument("--jobs", type=int, metavar="N", help="processes (default: every core)")
    th.add_argument("--calibration", metavar="PROFILE", help="read with this device profile")
    th.add_argument("--calibration-key", metavar="KEY", help="key that verifies the profile")
    add_election_option(th)
    th.set_defaults(func=_thresholds)


def _key(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise PcosError(f"{out}: exists; refusing to overwrite a key")
    save_private_key(generate_key(), out)
    print(f"wrote {out}")
    return 0


def _blanks(args: argparse.Namespace) -> int:
    from simulator.writer import write_image

    if args.per_kind < 1:
        raise PcosError("--per-kind must be at least 1")
    election = load_election_arg(args.election)
    station = _sim_station(election, args.station)
    factory = _factory(args, election, station)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, sheet in factory.calibration_set(args.per_kind):
        write_image(out / f"{name}-front.png", sheet.front)
        write_image(out / f"{name}-back.png", sheet.back)
        n += 1
    print(f"wrote {out}: {n} blank sheets, station {station.number}")
    return 0


def _sim_station(election: Election, number: str | None) -> Station:
    """For simulated sets only: the station named, else the simulator's default station."""
    from simulator.sheets import default_station

    return default_station(election) if number is None else station_arg(election, number)


def _dir_sheets(directory: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for name, front, back in image_pairs(directory):
        yield name, load_image(front), load_image(back)


def _device(args: argparse.Namespace) -> int:
    election = load_election_arg(args.election)
    if args.simulate is not None:
        station = _sim_station(election, args.station)
    else:
        station = station_arg(election, args.station, Path(args.dir))
    key = load_private_key(args.key)
    tol = Tolerances(min_per_kind=args.min_per_kind, max_shift_mm=args.max_shift_mm,
                     max_scale_error=args.max_scale_error)
    if args.dir:
        sheets: Iterator[tuple[str, np.ndarray, np.ndarray]] = _dir_sheets(Path(args.dir))
    else:
        if args.simulate < 1:
            raise PcosError("--simulate must be at least 1")
        factory = _factory(args, election, station)
        sheets = ((n, s.front, s.back) for n, s in factory.calibration_set(args.simulate))
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    common: dict[str, Any] = {"device": args.device_id, "station": station.number,
                              "election_hash": election_hash(election),
                              "print_run": args.run_label, "time": created}
    t0 = time.perf_counter()
    reader = calibration_reader(election, station, render_layout)
    measures: list[SheetMeasure] = []
    try:
        for name, front, back in sheets:
            measures.append(measure_sheet(reader, name, front, back))
        cal = calibrate_measures(measures, election, station, reader.config.dpi, tol,
                                 time.perf_counter() - t0)
    except CalibrationRefused as exc:
        _print_report(args, report_data(result="refused", fed=_fed(measures), not_used=0,
                                        summary=summary_of_measures(measures),
                                        fault=exc.fault.value, reason=REFUSED[exc.fault],
                                        detail=exc.detail, **common))
        raise
    body = body_of(cal, args.device_id, created)
    if args.run_label:
        body["print_run"] = args.run_label
    out = save_profile(args.out, body, key)
    from calibration.report import report_png, report_text

    report_dir = Path(args.report) if args.report else out.parent
    report_dir.mkdir(parents=True, exist_ok=True)
    text = report_text(body)
    (report_dir / "calibration-report.txt").write_text(text, encoding="utf-8")
    profile = load_profile(out, key.public_key())  # what the reader will load, verified
    report_png(body, profile.boxes, report_dir / "calibration-report.png")
    sys.stdout.write(text)
    print(f"profile: {out} (signed, key {profile.signer}) · report: {report_dir} · "
          f"{cal.seconds:.1f} s")
    _print_report(args, report_data(result="calibrated", fed=_fed(measures), not_used=0,
                                    summary=summary_of_body(body),
                                    profile_sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
                                    signer=profile.signer, **common))
    return 0


def _fed(measures: list[SheetMeasure]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in measures:
        out[m.layout.kind.value] = out.get(m.layout.kind.value, 0) + 1
    return out


def _print_report(args: argparse.Namespace, data: dict[str, Any]) -> None:
    """The calibration report as the device prints it: ESC/POS raster to a file, to a
    printer on a serial port, or both (nothing when neither is asked for)."""
    if not args.escpos and not args.print_port:
        return
    report = calibration_report(data, Language(args.language))
    if args.escpos:
        png, raw = report.save(Path(args.escpos).parent, Path(args.escpos).stem)
        if raw != Path(args.escpos):
            raw.replace(args.escpos)
        print(f"printed: calibration report to {args.escpos} (preview {png})")
    if args.print_port:
        with SerialPrinter(args.print_port) as printer:
            print_job(printer, report.escpos())
            problem = printer.status().problem()
        if problem is not None:
            raise PrinterError(f"{problem} while printing the calibration report")
        print(f"printed: calibration report on {args.print_port}")


def _deck(args: argparse.Namespace) -> int:
    from simulator.scanner import preset
    from simulator.sheets import SheetFactory
    from simulator.voters import VoterModel
    from simulator.writer import write_sheets

    if args.count < 1:
        raise PcosError("--count must be at least 1")
    if not 0.0 <= args.marginal_rate <= 1.0:
        raise PcosError("--marginal-rate must be between 0 and 1")
    election = load_election_arg(args.election)
    station = _sim_station(election, args.station)
    factory = SheetFactory(election, station, preset(args.preset), seed=args.seed,
                           kind=args.kind, voters=VoterModel(marginal_per_mark=args.marginal_rate))
    summary = write_sheets(factory, args.count, Path(args.out), preset_name=args.preset)
    print(f"wrote {args.out}: {summary.line()} · marginal rate {args.marginal_rate:g}, "
          f"station {station.number}, seed {args.seed}")
    return 0


def _thresholds(args: argparse.Namespace) -> int:
    from calibration.thresholds import collect, recommend, write_report
    from simulator.writer import read_truth
    from tools.scan_batch import ReaderSpec, SheetJob, default_jobs, read_sheets

    deck = Path(args.dir)
    truth = {t["sheet"]: t for t in read_truth(deck)}
    election = load_election_arg(args.election)
    station = station_arg(election, args.station, deck)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise PcosError(f"--jobs must be at least 1, not {jobs}")
    spec = ReaderSpec(args.election, station.number, args.calibration, args.calibration_key)
    work = [SheetJob(int(n) if n.isdigit() else n, str(f), str(b))
            for n, f, b in image_pairs(deck)]
    missing = [j.sheet for j in work if j.sheet not in truth]
    if missing:
        raise PcosError(f"sheet {missing[0]} has no line in {deck}/truth.jsonl")
    samples = collect((truth[sheet], res) for sheet, res in read_sheets(spec, work, jobs))
    if not samples:
        raise PcosError(f"{deck}: no genuine sheet was read; nothing to calibrate on")
    rec = recommend(samples)
    page = write_report(samples, rec, Path(args.out),
                        {"dir": str(deck), "sheets": len(work), "station": station.number})
    r, th = rec.recommended, rec.thresholds
    print(f"recommended: marked fill >= {th.definite:g}, marginal fill >= {th.marginal:g} · "
          f"silent errors {r.definite_read_unmarked + r.none_read_marked} of {r.targets} "
          f"targets · clear targets to review {r.clear_flagged_marginal_rate:.3%} · "
          f"sheets to review {r.sheets_to_review_rate:.2%}")
    print(f"report: {page} · thresholds: {Path(args.out) / 'thresholds.json'}")
    return 0
