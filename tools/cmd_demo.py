"""``pcos demo``: the main job, end to end, for one polling station.

1. Render the station's ballots (PNG at 200 DPI and print-ready PDF).
2. Simulate voters and a realistic scanner: a batch of sheets with ground
   truth, a few fakes among them, written as image files.
3. Read every sheet from its files, as the scanner would, and grade the
   readings against the ground truth.
4. Write stage overlays for a few sheets.
5. Write a contact sheet of mark styles, traces and scanner presets; then
   calibrate a simulated device in calibration mode (blank ballots of a print
   run with dot gain through its paper path; the calibration report printed on
   the pty printer, ``calibration/``).
6. A station's day through the devices: two device processes on simulated
   hardware load the signed package, run a test vote, open polls, take the
   voters' sheets (rendered images through the real reader) through a paper
   jam and a power cut (SIGKILL, restart), close polls, and print their reports
   on a pty printer (decoded back to PNG).
7. Publish the devices' tallies to a CEC and its website (``out/cec``).

Everything goes under ``--out`` (default ``out/``); the command says where.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from calibration.grade import Grade
from calibration.render_pdf import render_pdf
from calibration.render_raster import render_layout
from election.hashing import election_hash
from election.layout import ballot_layout
from election.model import BallotKind, Election, Language, Station
from election.tally import Tally
from firmware.reader_setup import make_reader, station_arg
from simulator.contact_sheet import contact_sheet
from simulator.election_day import DayParams, ElectionDay, EventKind, FaultRates, plan_day
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from simulator.station_day import run_station
from simulator.writer import read_truth, write_sheets
from tools.common import add_election_option, load_election_arg
from vision.debug import write_debug
from vision.imageio import load_image, save_image


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="render, simulate, scan and grade one station",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", default="out", metavar="DIR", help="output directory (default out/)")
    p.add_argument("--station", metavar="ID", help="polling station (default: the simulator's)")
    p.add_argument("--sheets", type=int, default=60, help="sheets to simulate (default 60)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--preset", default="realistic", help="scanner preset (default realistic)")
    p.add_argument("--station-voters", type=int, default=60,
                   help="voters in the station day through the devices (default 60; 0 skips "
                        "the station day and the CEC)")
    add_election_option(p)
    p.set_defaults(func=run)


def _ballots(election: Election, station: Station, out: Path) -> list[Path]:
    written = []
    kinds: list[tuple[BallotKind, int | str | None]] = [(BallotKind.PARTY_LIST, None)]
    if station.district is not None:
        kinds.append((BallotKind.DISTRICT, station.district))
    if station.council is not None:
        kinds.append((BallotKind.LOCAL, station.council))
    for kind, contest in kinds:
        for lang in Language:
            layout = ballot_layout(election, kind, contest, lang)
            stem = out / f"{kind.value}-{lang.value}"
            save_image(stem.with_suffix(".png"), render_layout(layout, 200))
            stem.with_suffix(".pdf").write_bytes(render_pdf(layout, election.election_id))
            (out / f"{kind.value}-{lang.value}.layout.json").write_text(
                json.dumps({**layout.to_json(), "layout_hash": layout.layout_hash},
                           ensure_ascii=False, indent=1), encoding="utf-8")
            written += [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    return written


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    election = load_election_arg(args.election)
    station = station_arg(election, args.station) if args.station else default_station(election)
    out = Path(args.out)
    ballots_dir, sheets_dir, debug_dir = out / "ballots", out / "sheets", out / "debug"
    for d in (ballots_dir, sheets_dir, debug_dir):
        d.mkdir(parents=True, exist_ok=True)
    print(f"PCOS-KG demo: election {election.election_id} ({election_hash(election)[:8]}), "
          f"station {station.number} (district {station.district}, council {station.council})")

    written = _ballots(election, station, ballots_dir)
    print(f"1. ballots: {len(written)} files (PNG 200 DPI + PDF) in {ballots_dir}/")

    factory = SheetFactory(election, station, preset(args.preset), seed=args.seed,
                           fake_rate=0.05)
    write_sheets(factory, args.sheets, sheets_dir)
    truths = read_truth(sheets_dir)
    print(f"2. simulated {args.sheets} sheets ({args.preset}, 5 % fakes) in {sheets_dir}/")

    reader = make_reader(election, station)
    grade = Grade()
    results = []
    for i, truth in enumerate(truths):
        front = load_image(sheets_dir / f"{i:06d}-front.png")
        back = load_image(sheets_dir / f"{i:06d}-back.png")
        debug: dict[str, object] | None = {} if i < 3 else None
        res = reader.interpret(front, back, debug)
        if debug is not None:
            write_debug(debug_dir, f"{i:06d}", res, debug)
        grade.add(truth, res)
        results.append({"sheet": i, **res.to_json()})
    (out / "readings.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    grade.histogram_png(str(out / "grade-histogram.png"))
    print(f"3. read and graded {len(truths)} sheets -> {out}/readings.jsonl")
    print("   " + grade.report().replace("\n", "\n   "))
    print(f"4. stage overlays for 3 sheets in {debug_dir}/")
    save_image(out / "contact-sheet.png", contact_sheet(args.seed, election, station))
    print(f"5. contact sheet of mark styles, traces and presets: {out}/contact-sheet.png")
    _calibration(election, station, out, args.seed)
    if args.station_voters > 0:
        tallies = _station_day(election, station, out, args.station_voters, args.seed,
                               args.preset)
        _publish(election, station, out, tallies)
    print(f"done in {time.perf_counter() - t0:.1f} s. Everything is under {out}/")
    return 0


def _calibration(election: Election, station: Station, out: Path, seed: int) -> None:
    """Calibration mode on a simulated device: 3 blanks of each kind of a print run with
    dot gain through its paper path, the signed profile stored, the report printed."""
    from simulator.calibration_set import PrintRun, calibrate_on_simulated_device

    cal_dir = out / "calibration"
    if cal_dir.exists():
        shutil.rmtree(cal_dir)
    cal_dir.mkdir(parents=True)
    done = calibrate_on_simulated_device(cal_dir, election, station,
                                         PrintRun(dot_gain_px=1.5, toner=1.03), per_kind=3,
                                         seed=seed, print_run_label="demo run")
    o = done.outcome
    verdict = ("profile stored, sha256 " + str(o.profile_sha256)[:16] if o.stored
               else f"refused ({o.fault.value})")
    print(f"5b. calibration mode on a device: {done.sheets} blank ballots fed and handed "
          f"back, {verdict} ({done.seconds:.1f} s); report as printed: {done.roll_png}")


def _plan(election: Election, station: Station, voters: int, seed: int) -> ElectionDay:
    """A day of about ``voters`` voters with at least one paper jam and one power cut."""
    turnout = min(1.0, voters / max(1, station.voters))
    faults = FaultRates(paper_jam_per_sheet=0.01, power_cuts_per_day=1.0)
    day = None
    for s in range(seed, seed + 50):
        day = plan_day(election, station.number, DayParams(turnout=turnout, faults=faults),
                       seed=s)
        if any(x.jams for x in day.sheets) and 1 <= day.count(EventKind.POWER_CUT) <= 2:
            return day
    assert day is not None
    return day


def _station_day(election: Election, station: Station, out: Path, voters: int, seed: int,
                 preset_name: str) -> list[Tally]:
    t = time.perf_counter()
    day = _plan(election, station, voters, seed)
    station_dir = out / "station"
    if station_dir.exists():
        shutil.rmtree(station_dir)
    result = run_station(election, day, station_dir, 2, preset_name, seed)
    jams, cuts = sum(x.jams for x in day.sheets), day.count(EventKind.POWER_CUT)
    print(f"6. station day through two devices: {len(day.voters)} voters, "
          f"{result['sheets_fed']} sheets fed, {result['sheets_cast']} cast, "
          f"{result['sheets_returned']} returned; {jams} paper jam(s), {cuts} power cut(s) "
          f"({result['power_cuts']} device restarts); tallies match the ground truth: "
          f"{result['tally_matches_truth']} ({time.perf_counter() - t:.1f} s)")
    if not result["tally_matches_truth"]:
        for d in result["differences"]:
            print(f"   difference: {d['contest']} {d['what']}: truth {d['truth']}, "
                  f"devices {d['device']}")
        print("   (truth counts the marks the simulator drew as definite; a mark the reader "
              "flags marginal is counted as unmarked by the Kyrgyz policy and recorded on its "
              "sheet, so it shows here as a difference, never as a silent change)")
    tallies = []
    for d in sorted(station_dir.glob("device-*")):
        done = json.loads((d / "done.json").read_text(encoding="utf-8"))
        tallies.append(Tally.from_json(done["official"]))
        rolls = sorted((d / "reports").glob("*.roll.png"))
        print(f"   {d.name} ({done['device_id']}): printed reports as the printer's paper: "
              + ", ".join(str(p) for p in rolls))
    print(f"   check a results report: pcos verify-report "
          f"{station_dir}/device-1/reports/03-results.roll.png --cert "
          f"{station_dir}/setup/devices/{station.number}-D1/device.cert")
    return tallies


def _publish(election: Election, station: Station, out: Path, tallies: list[Tally]) -> None:
    from protocol.cec.showcase import publish_station

    cec_dir = out / "cec"
    if cec_dir.exists():
        shutil.rmtree(cec_dir)
    t = time.perf_counter()
    pub = publish_station(cec_dir, election, station.number, tallies)
    print(f"7. CEC and website ({time.perf_counter() - t:.1f} s):")
    for line in pub.lines():
        print(f"   {line}")
