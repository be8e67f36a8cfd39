"""Prepare a side-by-side run of OMRChecker (github.com/Udayraj123/OMRChecker) on our sheets.

OMRChecker reads one image per sheet against a ``template.json`` of bubble
positions. This writes, for a directory from ``pcos sim sheets`` of one
ballot kind: the printed side of each sheet (symlinked, as scanned: on the
dark backing, skewed, in any orientation) and a template with one field per
voting box at its layout position, the ``CropPage`` preprocessor finding the
paper on the backing. Only speed is compared: OMRChecker has no notion of
the sheet turned 180° or of the ballot on the back side, so its readings of
such sheets are not meaningful. None of OMRChecker's code is in this
repository; run it from its own checkout::

    python -m benchmarks.omrchecker_input SIMDIR OUTDIR
    cd OMRCHECKER && taskset -c 0 python main.py -i OUTDIR -o OUTDIR-results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from election.default import default_election
from election.layout import ballot_layout
from election.model import BallotKind, Language
from simulator.writer import read_truth

PX_PER_MM = 4.0  # the template's page grid


def write_input(sim_dir: Path, out: Path) -> int:
    truth = {t["sheet"]: t for t in read_truth(sim_dir)}
    kinds = {t["kind"] for t in truth.values()}
    if kinds != {"party-list"}:
        raise SystemExit(f"{sim_dir}: expected party-list sheets only, found {sorted(kinds)}")
    layout = ballot_layout(default_election(), BallotKind.PARTY_LIST, None, Language.KY)
    blocks = {}
    for i, t in enumerate(layout.targets):
        b = t.box
        blocks[f"b{i:03d}"] = {
            "origin": [round(b.x_mm * PX_PER_MM), round(b.y_mm * PX_PER_MM)],
            "bubbleDimensions": [round(b.w_mm * PX_PER_MM), round(b.h_mm * PX_PER_MM)],
            "bubbleValues": ["X"], "direction": "horizontal",
            "bubblesGap": 1, "labelsGap": 1, "fieldLabels": [f"t{i:03d}"],
        }
    template = {
        "pageDimensions": [round(layout.paper_w_mm * PX_PER_MM),
                           round(layout.paper_h_mm * PX_PER_MM)],
        "bubbleDimensions": [24, 24],
        "preProcessors": [{"name": "CropPage", "options": {"morphKernel": [10, 10]}}],
        "fieldBlocks": blocks,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "template.json").write_text(json.dumps(template, indent=1), encoding="utf-8")
    n = 0
    for sheet, doc in sorted(truth.items()):
        side = str(doc.get("orientation", "front/0")).split("/")[0]
        src = sim_dir / f"{sheet:06d}-{side}.png"
        link = out / f"{sheet:06d}.png"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src.resolve())
        n += 1
    return n


if __name__ == "__main__":
    count = write_input(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]}: template.json and {count} images")
