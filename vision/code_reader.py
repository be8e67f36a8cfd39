"""Read the ballot code through the mesh.

The cells sit at fixed places relative to the first and last ladder rows, the
same on every layout, so the code is read before the layout is known. Each
cell is sampled at its centre (5 x 5 px) and compared with the midpoint
between the timing marks' black and the paper around the code. The top copy
is tried first, then the bottom one; the CRC decides.
"""

from __future__ import annotations

import numpy as np

from election import ballot_code
from election.ballot_code import BallotCode, BallotCodeError
from election.layout import CODE_CELL_W_MM, CODE_X_MM, LADDER_PITCH_MM, LADDER_Y0_MM
from election.reject import RejectReason
from vision.errors import SheetRejected
from vision.mesh import Mesh
from vision.sampling import sample_points


def _row_y(mesh: Mesh, k: int) -> float:
    return LADDER_Y0_MM + k * LADDER_PITCH_MM


def read_cells(green: np.ndarray, mesh: Mesh, row: int, black: float) -> list[int] | None:
    xs = CODE_X_MM + (np.arange(ballot_code.CELLS) + 0.5) * CODE_CELL_W_MM
    ys = np.full_like(xs, _row_y(mesh, row))
    vals = sample_points(green, mesh.to_image(xs, ys), radius=2)
    # Paper: the margin just outside the band (above the top copy, below the bottom one).
    outward = -2.4 if row == 0 else 2.4
    paper_pts = mesh.to_image(xs[::6], ys[::6] + outward)
    paper = np.nanpercentile(sample_points(green, paper_pts, radius=2), 75)
    if np.isnan(vals).any() or not np.isfinite(paper) or paper - black < 40:
        return None
    return [int(v < (paper + black) / 2) for v in vals]


def read_code(green: np.ndarray, mesh: Mesh, black: float) -> BallotCode:
    problems = []
    for row in (0, mesh.rows - 1):
        cells = read_cells(green, mesh, row, black)
        if cells is None:
            problems.append(f"row {row}: no contrast")
            continue
        try:
            return ballot_code.decode(cells)
        except BallotCodeError as exc:
            problems.append(f"row {row}: {exc}")
    raise SheetRejected(RejectReason.CODE_INVALID, "; ".join(problems))
