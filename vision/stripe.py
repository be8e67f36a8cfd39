"""Read the side-stripe colour, before any binarisation.

Small patches on both stripes are compared, channel by channel, with plain
paper at the same height (between the ladder and the content), so paper
tint, uneven illumination, a colour cast and white-balance drift divide out.
The ratios put each patch in one class; the sheet's stripe is the class of
at least 80 % of the visible patches, else it is inconsistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from election.layout import PAPER_REFERENCE_X_MM, STRIPE_W_MM, STRIPE_X_MM
from election.model import BallotKind
from vision.mesh import Mesh
from vision.sampling import sample_points

EXPECTED = {BallotKind.PARTY_LIST: "none", BallotKind.DISTRICT: "blue",
            BallotKind.LOCAL: "pink"}
ROWS = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class StripeReading:
    colour: str  # none | blue | pink | grey | inconsistent | unseen
    samples: tuple[str, ...]
    ratios: tuple[tuple[float, float, float], ...]


def classify(r: float, g: float, b: float) -> str:
    if min(r, g, b) > 0.88:
        return "none"
    if max(r, g, b) < 0.45:
        return "unseen"  # the backing: the stripe is outside the scanned paper
    if r < 0.75 and b > 0.78 and b - r > 0.2:
        return "blue"
    if r > 0.85 and g < 0.86 and r - g > 0.12 and b > g:
        return "pink"
    if max(r, g, b) - min(r, g, b) < 0.08:
        return "grey"
    return "other"


def read_stripe(rgb: np.ndarray, mesh: Mesh, paper_h_mm: float, ppm: float) -> StripeReading:
    radius = max(2, int(1.2 * ppm))  # ~2.4 mm square patches
    labels, ratios = [], []
    for side, x_stripe in enumerate(STRIPE_X_MM):
        xs = np.full(len(ROWS), x_stripe + STRIPE_W_MM / 2)
        ys = np.array(ROWS) * paper_h_mm
        stripe = sample_points(rgb, mesh.to_image(xs, ys), radius)
        paper = sample_points(rgb, mesh.to_image(np.full_like(xs, PAPER_REFERENCE_X_MM[side]), ys),
                              radius=2)
        for s, p in zip(stripe, paper, strict=True):
            if np.isnan(s).any() or np.isnan(p).any() or p.min() < 40:
                labels.append("unseen")
                ratios.append((0.0, 0.0, 0.0))
                continue
            r, g, b = (s / p).tolist()
            labels.append(classify(r, g, b))
            ratios.append((round(r, 3), round(g, 3), round(b, 3)))
    seen = [lab for lab in labels if lab != "unseen"]
    if len(seen) < 3:
        return StripeReading("unseen", tuple(labels), tuple(ratios))
    top = max(set(seen), key=seen.count)
    colour = top if seen.count(top) >= 0.8 * len(seen) else "inconsistent"
    return StripeReading(colour, tuple(labels), tuple(ratios))
