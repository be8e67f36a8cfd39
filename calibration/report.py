"""The device calibration report: a text page and a PNG figure.

The text is what a thermal printer would print (the printer helper owns
ESC/POS); the PNG shows, per ballot kind, the calibrated blank boxes of the
first few targets, each box's noise, and what the renderer's raster would have
flagged on these blank ballots against what the calibrated template flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from election.fileio import write_atomically


def report_text(body: dict[str, Any]) -> str:
    """The calibration report as plain text lines (one profile body in)."""
    s = body["optical_scale"]
    lv = body["levels"]
    lines = [
        "PCOS-KG device calibration",
        f"device {body['device']} · station {body['station']} · {body['created']}",
        f"election {body['election_hash'][:8]} · {body['dpi']:g} DPI · "
        f"{body['sheets']} blank sheets",
        f"optical scale across {s['across']:.4f} (sd {s['across_sd']:.4f}), "
        f"along {s['along']:.4f} (sd {s['along_sd']:.4f})",
        "white RGB " + " ".join(f"{v:.0f}" for v in lv["white_rgb"])
        + " · black RGB " + " ".join(f"{v:.0f}" for v in lv["black_rgb"]),
    ]
    pos = body["print_position"]
    if pos is None:
        lines.append("print position: not checked (paper edges not visible)")
    else:
        lines.append(f"print scale {pos['scale_across']:.4f} across, {pos['scale_along']:.4f} "
                     f"along; offset {pos['shift_across_mm']:+.2f} mm across, "
                     f"{pos['shift_along_mm']:+.2f} mm along ({pos['sheets']} sheets)")
    for kind, k in body["kinds"].items():
        lines.append(f"{kind}: {k['sheets']} sheets · stripe {k['stripe_class']} "
                     f"(ratio {' '.join(f'{v:.2f}' for v in k['stripe_ratio'])}) · security "
                     f"chroma {k['security_chroma']:.3f} pattern {k['security_pattern']:.3f}")
    for t in body["templates"]:
        noise = max(t["noise"]) if t["noise"] else 0.0
        lines.append(f"boxes {t['kind']} {t['contest']}: {len(t['targets'])} targets from "
                     f"{t['sheets']} sheets · noise max {noise:.3f} · blank boxes flagged with "
                     f"the renderer's raster {t['raw_marginal']} of {t['raw_boxes']} · largest "
                     "blank fill with the calibrated template "
                     f"{t['calibrated_max_blank_fill']:.3f}")
    lines += [f"note: {n}" for n in body.get("notes", [])]
    lines.append("result: calibrated")
    return "\n".join(lines) + "\n"


def report_png(body: dict[str, Any], boxes: dict[str, Any], path: str | os.PathLike[str]
               ) -> Path:
    """Figure: calibrated blank boxes (first 6 per kind), per-box noise, raw vs calibrated."""
    templates = body["templates"]
    n = max(1, len(templates))
    fig = plt.figure(figsize=(12, 2.6 * n + 1.2), dpi=80)
    for row, t in enumerate(templates):
        origin_dark = boxes.get(t["key"])
        for col in range(6):
            ax = fig.add_subplot(n, 8, row * 8 + col + 1)
            ax.axis("off")
            if origin_dark is not None and col < len(origin_dark[1]):
                ax.imshow(1.0 - origin_dark[1][col], cmap="gray", vmin=0, vmax=1)
                ax.set_title(t["targets"][col].split("/")[-1], fontsize=7)
        ax = fig.add_subplot(n, 8, (row * 8 + 7, row * 8 + 8))
        ax.bar(range(len(t["noise"])), t["noise"], color="#4a7bd0")
        ax.set_title(f"{t['kind']}: noise per box; raw flags {t['raw_marginal']}/"
                     f"{t['raw_boxes']}", fontsize=8)
        ax.tick_params(labelsize=6)
    s = body["optical_scale"]
    fig.suptitle(f"device {body['device']} · optical scale across {s['across']:.4f}, along "
                 f"{s['along']:.4f} · {body['sheets']} blank sheets", fontsize=10)
    fig.tight_layout()
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp.png")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    data = tmp.read_bytes()
    tmp.unlink()
    return write_atomically(target, data)
