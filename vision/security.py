"""Check the security band ("protective paint").

The band is resampled upright at 8 px/mm, divided by the paper just below it
(channel by channel), and reduced to an orange chroma ``r - b`` per pixel.
A genuine band has (1) clear mean chroma and (2) a strong component at its
1.0 mm line period, measured as the amplitude of that one Fourier term of the
column profile. A grey photocopy has neither; a colour copy's background
suppression loses the pale lines, so it fails (2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from election.layout import SECURITY_PERIOD_MM, SECURITY_RECT
from vision.mesh import Mesh
from vision.sampling import warp_patch

PPM = 8.0
MIN_CHROMA = 0.07
# Genuine print measures 0.04-0.07; dot gain (hatching gaps narrowed by up to 2 px at
# 200 DPI) with faded toner at 150 DPI brings it to ~0.029. A copy that lost the pale
# lines measures under 0.01.
MIN_PATTERN = 0.022


@dataclass(frozen=True)
class SecurityReading:
    chroma: float
    pattern: float

    @property
    def genuine(self) -> bool:
        return self.chroma >= MIN_CHROMA and self.pattern >= MIN_PATTERN


def check_security(rgb: np.ndarray, mesh: Mesh) -> SecurityReading:
    r = SECURITY_RECT
    band = warp_patch(rgb, mesh, r.x_mm, r.y_mm + 0.8, r.w_mm, r.h_mm - 1.6, PPM)
    below = warp_patch(rgb, mesh, r.x_mm, r.bottom_mm + 1.0, r.w_mm, 2.5, PPM)
    paper = np.percentile(below.reshape(-1, 3), 75, axis=0).astype(np.float64)
    if paper.min() < 40:
        return SecurityReading(0.0, 0.0)
    norm = band.astype(np.float64) / paper
    chroma = float((norm[..., 0] - norm[..., 2]).mean())
    profile = (1.0 - norm[..., 1]).mean(axis=0)  # green darkness, column by column
    n = profile.size
    cycles = r.w_mm / SECURITY_PERIOD_MM
    phase = np.exp(-2j * np.pi * cycles * np.arange(n) / n)
    pattern = 2.0 * abs(np.dot(profile - profile.mean(), phase)) / n
    return SecurityReading(chroma, float(pattern))
