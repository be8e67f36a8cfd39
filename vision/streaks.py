"""Dirty scanner glass: thin dark lines down the whole image at fixed columns.

A column is a streak when, on nearly every sampled row, it is darker than
*both* neighbours 4 px away by at least ``streak_levels``. Print never does
that along the whole sheet (a box border is 5 mm long; a stripe or sheet edge
is a step, darker on one side only), so the test needs no template.
"""

from __future__ import annotations

import numpy as np

ROW_STEP = 10
NEIGHBOUR = 4
MIN_SHARE = 0.6


def find_streaks(green: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
                 levels: float) -> list[int]:
    """Image columns (centres of runs) of streaks inside the given row and column ranges."""
    h, w = green.shape
    r0, r1 = max(0, rows[0]), min(h, rows[1])
    c0, c1 = max(NEIGHBOUR, cols[0]), min(w - NEIGHBOUR, cols[1])
    if r1 - r0 < 20 or c1 <= c0:
        return []
    g = green[r0:r1:ROW_STEP].astype(np.int16)
    centre = g[:, c0:c1]
    lower = np.minimum(g[:, c0 - NEIGHBOUR : c1 - NEIGHBOUR], g[:, c0 + NEIGHBOUR : c1 + NEIGHBOUR])
    share = ((lower - centre) >= levels).mean(axis=0)
    hits = np.flatnonzero(share >= MIN_SHARE)
    if hits.size == 0:
        return []
    groups = np.split(hits, np.flatnonzero(np.diff(hits) > 1) + 1)
    return [int(c0 + grp.mean()) for grp in groups]
