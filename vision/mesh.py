"""Sheet millimetres -> image pixels, through the two timing-mark ladders.

For a sheet point (x, y): the ladder rows bracketing y give one point on each
ladder (linear between the two marks), and the point is placed on the line
joining them in proportion to x. Between any two rows the map is bilinear, so
uneven feed stretch, skew, scale and a slight trapezoid are all followed;
beyond the first or last row the end segments are extended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from election.layout import LADDER_CENTRE_X_MM, LADDER_PITCH_MM, LADDER_Y0_MM


@dataclass(frozen=True)
class Mesh:
    left: np.ndarray  # (n, 2) image px of the ballot's left ladder, from the head down
    right: np.ndarray  # (n, 2) image px of the ballot's right ladder

    @property
    def rows(self) -> int:
        return len(self.left)

    def to_image(self, x_mm: np.ndarray | float, y_mm: np.ndarray | float) -> np.ndarray:
        """Image (x, y) px of sheet points; broadcasts; returns shape (..., 2)."""
        x = np.asarray(x_mm, np.float64)
        y = np.asarray(y_mm, np.float64)
        k = (y - LADDER_Y0_MM) / LADDER_PITCH_MM
        i = np.clip(np.floor(k), 0, self.rows - 2).astype(int)
        f = (k - i)[..., None]
        lp = self.left[i] + f * (self.left[i + 1] - self.left[i])
        rp = self.right[i] + f * (self.right[i + 1] - self.right[i])
        t = ((x - LADDER_CENTRE_X_MM[0]) / (LADDER_CENTRE_X_MM[1] - LADDER_CENTRE_X_MM[0]))[
            ..., None]
        return lp + t * (rp - lp)

    def affine_at(self, x_mm: float, y_mm: float, px_per_mm: float) -> np.ndarray:
        """2x3 affine mapping a local frame (px at ``px_per_mm``, origin at (x, y)) to the image.

        Used to warp small patches: the mesh is nearly affine over a few mm.
        """
        d = 1.0
        p = self.to_image(np.array([x_mm, x_mm + d, x_mm]), np.array([y_mm, y_mm, y_mm + d]))
        ex = (p[1] - p[0]) / (d * px_per_mm)
        ey = (p[2] - p[0]) / (d * px_per_mm)
        return np.array([[ex[0], ey[0], p[0][0]], [ex[1], ey[1], p[0][1]]], np.float64)

    def scale(self, px_per_mm: float) -> float:
        """Mean optical scale across the sheet (ladder separation vs nominal)."""
        sep = np.linalg.norm(self.right - self.left, axis=1).mean()
        return float(sep / ((LADDER_CENTRE_X_MM[1] - LADDER_CENTRE_X_MM[0]) * px_per_mm))
