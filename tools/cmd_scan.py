"""``pcos scan``: read scanned sheets, optionally grade them against simulator truth.

* ``pcos scan FRONT BACK [FRONT BACK ...] | --dir DIR [--station ID] [--json]``
  prints one line per sheet (JSON with ``--json``).
* ``pcos scan --dir DIR --grade [--json]`` compares with ``DIR/truth.jsonl``,
  prints the accuracy report and writes a histogram of scores by truth class.
* ``--debug OUT`` writes stage overlays for every sheet into OUT.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.reject import RejectReason
from firmware.reader_setup import make_reader, station_arg
from simulator.writer import read_truth
from tools.common import add_election_option, load_election_arg
from vision.grade import Grade
from vision.imageio import ImageFileError, load_image
from vision.result import Outcome, SheetInterpretation

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
_FRONT = re.compile(r"^(?P<id>.+)-front(?P<ext>\.[A-Za-z]+)$")


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
    p.set_defaults(func=run)


def _pairs_in(directory: Path) -> list[tuple[str, Path, Path]]:
    if not directory.is_dir():
        raise PcosError(f"{directory}: not a directory")
    pairs = []
    for f in sorted(directory.iterdir()):
        m = _FRONT.match(f.name)
        if not m or m.group("ext").lower() not in IMAGE_EXTS:
            continue
        back = f.with_name(f"{m.group('id')}-back{m.group('ext')}")
        if not back.exists():
            raise PcosError(f"{f}: no matching back image {back.name}")
        pairs.append((m.group("id"), f, back))
    if not pairs:
        raise PcosError(f"{directory}: no *-front/*-back image pairs")
    return pairs


def _pairs(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    if args.dir and args.files:
        raise PcosError("give image files or --dir, not both")
    if args.dir:
        return _pairs_in(Path(args.dir))
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
    election = load_election_arg(args.election)
    station = station_arg(election, args.station, Path(args.dir) if args.dir else None)
    reader = make_reader(election, station)
    debug_dir = Path(args.debug) if args.debug else None
    if debug_dir is not None:
        from vision.debug import write_debug

        debug_dir.mkdir(parents=True, exist_ok=True)
    for name, front_path, back_path in _pairs(args):
        sheet = _sheet_id(name)
        try:
            front, back = load_image(front_path), load_image(back_path)
        except ImageFileError as exc:
            yield sheet, SheetInterpretation(Outcome.REJECTED, RejectReason.IMAGE_INVALID, str(exc))
            continue
        dbg: dict[str, Any] | None = {} if debug_dir is not None else None
        res = reader.interpret(front, back, dbg)
        if debug_dir is not None and dbg is not None:
            write_debug(debug_dir, str(name), res, dbg)
        yield sheet, res


def _truth(directory: Path) -> dict[Any, dict[str, Any]]:
    return {t["sheet"]: t for t in read_truth(directory)}


def run(args: argparse.Namespace) -> int:
    if args.grade and not args.dir:
        raise PcosError("--grade needs --dir DIR (with DIR/truth.jsonl)")
    if not args.grade:
        for sheet, res in _read_all(args):
            if args.json:
                print(json.dumps(_line(sheet, res), ensure_ascii=False), flush=True)
            else:
                what = res.reason.value if res.reason else f"{res.kind} {res.contests}"
                print(f"{sheet}: {res.outcome.value} {what}", flush=True)
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
    if args.json:
        print(json.dumps({**grade.summary(), "histogram": str(hist)}, ensure_ascii=False))
    else:
        print(grade.report())
        print(f"histogram: {hist}", file=sys.stderr)
    return 0
