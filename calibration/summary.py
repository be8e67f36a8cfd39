"""What a calibration report prints: a short JSON-able summary of a calibration.

Two sources give the same shape, so a printed report reads alike whether the
set was calibrated or refused:

* :func:`summary_of_body` — a profile body (:func:`calibration.profile.body_of`):
  everything measured, with each kind's blank-box noise;
* :func:`summary_of_measures` — the sheets measured so far when the set was
  refused (scale, levels, print position, stripe and security per kind; no
  box noise, since no template was built).

Shape::

    {"sheets": n, "optical_scale": {"across", "along", "across_sd", "along_sd"},
     "levels": {"white_rgb": [r, g, b], "black_rgb": [r, g, b]},
     "print_position": {...} | None,
     "kinds": {kind: {"sheets", "stripe_class", "stripe_ratio", "security_chroma",
                      "security_pattern", "boxes", "noise_mean", "noise_max",
                      "raw_flagged", "calibrated_max_blank_fill"}}}

Box fields are None where no template was built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calibration.device import SheetMeasure, print_position_of
from vision import stripe


def _kind_entry(sheets: int) -> dict[str, Any]:
    return {"sheets": sheets, "stripe_class": "unseen", "stripe_ratio": [0.0, 0.0, 0.0],
            "security_chroma": 0.0, "security_pattern": 0.0, "boxes": 0, "noise_mean": None,
            "noise_max": None, "raw_flagged": 0, "calibrated_max_blank_fill": None}


def summary_of_body(body: dict[str, Any]) -> dict[str, Any]:
    """The report summary of a signed profile's body."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind, k in sorted(body["kinds"].items()):
        kinds[kind] = {**_kind_entry(k["sheets"]), "stripe_class": k["stripe_class"],
                       "stripe_ratio": list(k["stripe_ratio"]),
                       "security_chroma": k["security_chroma"],
                       "security_pattern": k["security_pattern"]}
    noise: dict[str, list[float]] = {}
    for t in body["templates"]:
        k = kinds.setdefault(t["kind"], _kind_entry(t["sheets"]))
        noise.setdefault(t["kind"], []).extend(float(v) for v in t["noise"])
        k["raw_flagged"] += int(t["raw_marginal"])
        fill = float(t["calibrated_max_blank_fill"])
        prev = k["calibrated_max_blank_fill"]
        k["calibrated_max_blank_fill"] = round(fill if prev is None else max(prev, fill), 5)
    for kind, values in noise.items():
        if values:
            kinds[kind].update(boxes=len(values), noise_mean=round(float(np.mean(values)), 5),
                               noise_max=round(max(values), 5))
    return {"sheets": body["sheets"], "optical_scale": dict(body["optical_scale"]),
            "levels": {"white_rgb": list(body["levels"]["white_rgb"]),
                       "black_rgb": list(body["levels"]["black_rgb"])},
            "print_position": body["print_position"], "kinds": kinds}


def summary_of_measures(measures: list[SheetMeasure]) -> dict[str, Any] | None:
    """The report summary of the sheets measured before a refusal (None: no sheet)."""
    if not measures:
        return None
    across = np.array([m.scale_across for m in measures])
    along = np.array([m.scale_along for m in measures])
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted({m.layout.kind.value for m in measures}):
        group = [m for m in measures if m.layout.kind.value == kind]
        ratios = [m.stripe_ratio for m in group if m.stripe_ratio is not None]
        ratio = np.median(np.asarray(ratios), axis=0) if ratios else np.zeros(3)
        kinds[kind] = {
            "sheets": len(group),
            "stripe_class": stripe.classify(*ratio) if ratios else "unseen",
            "stripe_ratio": [round(float(v), 4) for v in ratio],
            "security_chroma": round(float(np.median([m.chroma for m in group])), 4),
            "security_pattern": round(float(np.median([m.pattern for m in group])), 4),
            "boxes": sum(int(m.aligned.shape[0]) for m in group), "noise_mean": None,
            "noise_max": None, "raw_flagged": sum(m.raw_marginal for m in group),
            "calibrated_max_blank_fill": None}

    def rgb(vs: list[np.ndarray]) -> list[float]:
        return [round(float(v), 1) for v in np.median(vs, axis=0)]

    pos = print_position_of(measures)
    return {"sheets": len(measures),
            "optical_scale": {"across": round(float(np.median(across)), 6),
                              "along": round(float(np.median(along)), 6),
                              "across_sd": round(float(across.std()), 6),
                              "along_sd": round(float(along.std()), 6)},
            "levels": {"white_rgb": rgb([m.white for m in measures]),
                       "black_rgb": rgb([m.black for m in measures])},
            "print_position": None if pos is None else {
                "scale_across": round(pos.scale_across, 5),
                "scale_along": round(pos.scale_along, 5),
                "shift_across_mm": round(pos.shift_across_mm, 3),
                "shift_along_mm": round(pos.shift_along_mm, 3), "sheets": pos.sheets},
            "kinds": kinds}
