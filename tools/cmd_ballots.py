"""``pcos ballots``: lay out and render one ballot.

* ``pcos ballots render --kind KIND [--district N | --council ID] [--lang ky|ru]
  [--dpi 200] [--election FILE] --out FILE`` writes the ballot as an image or a
  print-ready PDF. The output's extension decides the format: ``.png``,
  ``.tif``/``.tiff`` (LZW) and ``.jpg``/``.jpeg`` are RGB rasters at ``--dpi``
  with the DPI recorded in the file; ``.pdf`` is the vector PDF for the printing
  house (``--dpi`` does not apply to it).
* ``pcos ballots layout ... --out layout.json`` writes the layout itself
  (``BallotLayout.to_json()`` plus ``layout_hash``), pretty-printed UTF-8; every
  target carries its id and its box as ``x_mm``, ``y_mm``, ``w_mm``, ``h_mm``.

A district ballot needs ``--district``, a local one ``--council``, a party-list
ballot neither; an unknown district or council is a one-line error (exit 2).
Every output is a pure function of the arguments, so the same command writes the
same bytes. Files are written atomically and their parent directory is created.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from calibration.render_pdf import render_pdf
from calibration.render_raster import render_layout
from election.errors import PcosError
from election.fileio import write_atomically
from election.layout import BallotLayout, ballot_layout
from election.model import BallotKind, Election, Language
from tools.common import add_election_option, load_election_arg

# Extension -> Pillow format name, and the options that keep each one faithful
# (lossless where possible; JPEG without chroma subsampling, so that the thin
# protective-paint lines and the stripe colour survive a proof).
RASTER_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "PNG": {"optimize": False},
    "TIFF": {"compression": "tiff_lzw"},
    "JPEG": {"quality": 95, "subsampling": 0},
}
PDF_EXTENSION = ".pdf"
MIN_DPI, MAX_DPI = 25.0, 1200.0


@dataclass(frozen=True)
class BallotChoice:
    """Which ballot the arguments name: kind, contest (district number / council id), language."""

    kind: BallotKind
    contest: int | str | None
    language: Language

    def describe(self) -> str:
        where = "" if self.contest is None else f" {self.contest}"
        return f"{self.kind.value}{where} ({self.language.value})"


def ballot_choice(kind: str, district: int | None, council: str | None,
                  lang: str) -> BallotChoice:
    """Check that the contest arguments fit the ballot kind; raise PcosError if not."""
    k = BallotKind(kind)
    if district is not None and council is not None:
        raise PcosError("give either --district or --council, not both")
    if k is BallotKind.PARTY_LIST:
        if district is not None or council is not None:
            raise PcosError("a party-list ballot takes neither --district nor --council")
        return BallotChoice(k, None, Language(lang))
    if k is BallotKind.DISTRICT:
        if council is not None:
            raise PcosError("a district ballot takes --district N, not --council")
        if district is None:
            raise PcosError("a district ballot needs --district N")
        return BallotChoice(k, district, Language(lang))
    if district is not None:
        raise PcosError("a local ballot takes --council ID, not --district")
    if council is None or not council.strip():
        raise PcosError("a local ballot needs --council ID")
    council = council.strip()
    return BallotChoice(k, int(council) if council.isdigit() else council, Language(lang))


def output_kind(path: Path) -> str:
    """The format an output path asks for: a Pillow format name or "PDF"."""
    ext = path.suffix.lower()
    if ext == PDF_EXTENSION:
        return "PDF"
    if ext in RASTER_FORMATS:
        return RASTER_FORMATS[ext]
    known = ", ".join([*RASTER_FORMATS, PDF_EXTENSION])
    if not ext:
        raise PcosError(f"output file {path} has no extension; use one of {known}")
    raise PcosError(f"unknown output extension {ext!r} for {path}; use one of {known}")


def raster_bytes(layout: BallotLayout, dpi: float, fmt: str) -> bytes:
    """Render ``layout`` at ``dpi`` and encode it as ``fmt`` (RGB, DPI recorded)."""
    img = Image.fromarray(render_layout(layout, dpi))  # (H, W, 3) uint8 -> RGB
    buf = io.BytesIO()
    img.save(buf, fmt, dpi=(dpi, dpi), **_SAVE_OPTIONS[fmt])
    return buf.getvalue()


def layout_document(layout: BallotLayout) -> str:
    """The layout as pretty JSON text (UTF-8, not ASCII-escaped) with its ``layout_hash``."""
    doc = layout.to_json()
    doc["layout_hash"] = layout.layout_hash
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _layout_from_args(args: argparse.Namespace) -> tuple[Election, BallotChoice, BallotLayout]:
    choice = ballot_choice(args.kind, args.district, args.council, args.lang)
    election = load_election_arg(args.election)
    layout = ballot_layout(election, choice.kind, choice.contest, choice.language)
    return election, choice, layout


def cmd_render(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = output_kind(out)  # refuse a bad extension before any work
    dpi = float(args.dpi)
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise PcosError(f"--dpi {dpi:g} is out of range ({MIN_DPI:g}..{MAX_DPI:g})")
    election, choice, layout = _layout_from_args(args)
    if fmt == "PDF":
        write_atomically(out, render_pdf(layout, election_id=election.election_id))
        detail = f"vector PDF {layout.paper_w_mm:g}x{layout.paper_h_mm:g} mm"
    else:
        write_atomically(out, raster_bytes(layout, dpi, fmt))
        detail = f"{fmt} at {dpi:g} dpi"
    print(f"wrote {out}: {choice.describe()} ballot, {detail}, layout {layout.layout_hash[:12]}")
    return 0


def cmd_layout(args: argparse.Namespace) -> int:
    _election, choice, layout = _layout_from_args(args)
    text = layout_document(layout)
    if args.out == "-":  # UTF-8 whatever the terminal's locale
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.out)
    write_atomically(out, text.encode("utf-8"))
    print(f"wrote {out}: {choice.describe()} layout, {len(layout.targets)} targets, "
          f"layout {layout.layout_hash[:12]}")
    return 0


def _add_ballot_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", required=True, choices=[k.value for k in BallotKind],
                   help="ballot kind")
    p.add_argument("--district", type=int, metavar="N", help="district number (district ballots)")
    p.add_argument("--council", metavar="ID", help="council id or number (local ballots)")
    p.add_argument("--lang", default=Language.KY.value, choices=[x.value for x in Language],
                   help="print language (default: ky)")
    add_election_option(p)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pcos ballots render`` and ``pcos ballots layout``."""
    ballots = subparsers.add_parser("ballots", help="lay out and render ballots",
                                    description="Lay out and render ballots.")
    subs = ballots.add_subparsers(dest="ballots_command", metavar="ACTION")
    subs.required = True

    render = subs.add_parser("render", help="render a ballot to PNG/TIFF/JPEG or vector PDF",
                             description="Render one ballot; the --out extension decides the "
                                         "format (.png .tif .tiff .jpg .jpeg .pdf).")
    _add_ballot_arguments(render)
    render.add_argument("--dpi", type=float, default=200.0,
                        help="raster resolution (default 200, the scanner's; 300 for proofs)")
    render.add_argument("--out", required=True, metavar="FILE", help="output file")
    render.set_defaults(func=cmd_render)

    layout = subs.add_parser("layout", help="write a ballot layout as JSON (mm geometry)",
                             description="Write one ballot layout as JSON with its layout_hash.")
    _add_ballot_arguments(layout)
    layout.add_argument("--out", required=True, metavar="FILE",
                        help="output JSON file, or - for standard output")
    layout.set_defaults(func=cmd_layout)
