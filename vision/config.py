"""Reader configuration: the election, the station, thresholds and the blank-ballot source.

Thresholds are absolute and configurable. No statistic of a sheet moves them:
the only per-sheet measurement the reader uses to scale anything is the paper
white around each box, and it is clamped to absolute bounds, so a sheet with
every box filled, or a grey photocopy, cannot shift what counts as a mark.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from election.layout import BallotLayout
from election.model import Election, Station

# Renders a layout at 200 DPI to RGB uint8 (``calibration.render_raster.render_layout``
# in production; injected so that the reader does not depend on the renderer).
TemplateSource = Callable[[BallotLayout, float], np.ndarray]


@dataclass(frozen=True)
class Thresholds:
    """Mark thresholds on the raw scores (see ``vision.result.TargetScores``)."""

    definite: float = 0.055  # fill at or above: marked
    marginal: float = 0.007  # fill at or above (and below definite): marginal
    faint: float = 0.03  # faint coverage at or above, with fill below definite: marginal
    ring: float = 0.02  # ring coverage at or above, with fill below definite: marginal

    def __post_init__(self) -> None:
        for name in ("definite", "marginal", "faint", "ring"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"threshold {name} must be a number in (0, 1], not {value!r}")
        if not self.marginal < self.definite:
            raise ValueError("thresholds must satisfy marginal < definite")


@dataclass(frozen=True)
class Geometry:
    """Tolerances of the registration and sheet checks."""

    min_scale: float = 0.93  # optical scale accepted at all (ladder pitch vs nominal)
    max_scale: float = 1.07
    print_scale_min: float = 0.978  # printed content vs paper (fit-to-page check)
    print_scale_max: float = 1.022
    backing_share: float = 0.6  # past each end of the ballot, this share must see the backing
    streak_levels: float = 24.0  # darker than both neighbours by this much, every row
    search_px: int = 4  # local search around each box


@dataclass
class ReaderConfig:
    election: Election
    station: Station | None
    templates: TemplateSource
    thresholds: Thresholds = field(default_factory=Thresholds)
    geometry: Geometry = field(default_factory=Geometry)
    dpi: float = 200.0
