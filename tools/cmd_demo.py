"""``pcos demo``: the main job, end to end, for one polling station.

1. Render the station's ballots (PNG at 200 DPI and print-ready PDF).
2. Simulate voters and a realistic scanner: a batch of sheets with ground
   truth, a few fakes among them, written as image files.
3. Read every sheet from its files, as the scanner would, and grade the
   readings against the ground truth.
4. Write stage overlays for a few sheets.
5. Write a contact sheet of mark styles, traces and scanner presets.

Everything goes under ``--out`` (default ``out/``); the command says where.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from calibration.render_pdf import render_pdf
from calibration.render_raster import render_layout
from election.hashing import election_hash
from election.layout import ballot_layout
from election.model import BallotKind, Election, Language, Station
from firmware.reader_setup import make_reader, station_arg
from simulator.contact_sheet import contact_sheet
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from simulator.writer import read_truth, write_sheets
from tools.common import add_election_option, load_election_arg
from vision.debug import write_debug
from vision.grade import Grade
from vision.imageio import load_image, save_image


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="render, simulate, scan and grade one station",
                              description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", default="out", metavar="DIR", help="output directory (default out/)")
    p.add_argument("--station", metavar="ID", help="polling station (default: the simulator's)")
    p.add_argument("--sheets", type=int, default=60, help="sheets to simulate (default 60)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--preset", default="realistic", help="scanner preset (default realistic)")
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
    print(f"done in {time.perf_counter() - t0:.1f} s. Everything is under {out}/")
    return 0
