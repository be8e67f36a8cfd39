"""Reader configuration: the election, the station, thresholds and the blank-ballot source.

Thresholds are absolute and configurable. No statistic of a sheet moves them:
the only per-sheet measurement the reader uses to scale anything is the paper
white around each box, and it is clamped to absolute bounds, so a sheet with
every box filled, or a grey photocopy, cannot shift what counts as a mark.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from election.errors import PcosError
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
    light: float = 0.10  # light-ink (LIGHT_LEVEL) coverage at or above: marked
    # coverage by light ink *beyond* dark ink (light - fill: pixels LIGHT_LEVEL..INK_LEVEL) at
    # or above: marked. A light pencil tick or cross is thin: the scanner's blur pulls its
    # edges under LIGHT_LEVEL, so its light coverage can fall to ~6 % though a person sees a
    # clear mark; a tiny dark-ink mark (marginal) has light coverage too, but only as the ~1 %
    # halo around its dark ink.
    light_only: float = 0.04

    def __post_init__(self) -> None:
        for name in ("definite", "marginal", "faint", "ring", "light", "light_only"):
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


class ProfileError(PcosError):
    """A scanner profile is not usable (bad DPI, unknown backing, unreadable file)."""


class ColourSensorRequired(ProfileError):
    """The device's sensor is greyscale and its profile does not allow reading without
    the colour checks (the default, Kyrgyz policy): refused once, at start-up."""


class Backing(StrEnum):
    """What the scanner images behind and around the paper."""

    DARK = "dark"  # paper edges plainly visible
    GREY = "grey"  # visible to a colour sensor (paper is bright in every channel)
    WHITE = "white"  # paper edges cannot be told from the backing


MIN_DPI, MAX_DPI = 150.0, 300.0


@dataclass(frozen=True)
class ScannerProfile:
    """The device's sensor, as far as the reader must know it.

    ``optical_scale`` is the device's calibrated scale across the feed (image
    px per nominal px; None: not calibrated, taken as 1.0). It is needed only
    where the paper edge cannot be seen (white backing, or an image cropped to
    the page): the fit-to-page check then compares the ladder separation with
    it instead of with the paper's width.

    A greyscale sensor (``colour=False``) cannot see the security band's tint
    or the side stripe's colour. By default (the Kyrgyz policy) such a device
    is refused at start-up with :class:`ColourSensorRequired` ("this device
    needs a colour sensor"); ``allow_greyscale=True`` is the opt-in to read
    with those two checks switched off, which :meth:`describe` and
    :attr:`checks_off` then say, for the start-up line and every report.
    """

    dpi: float = 200.0
    backing: Backing = Backing.DARK
    cropped: bool = False  # the scanner crops each image to the page
    colour: bool = True  # False: greyscale sensor; colour checks are switched off
    optical_scale: float | None = None
    overscan_mm: float = 5.0  # backing imaged past each end of the paper (not cropped)
    gamma: float = 1.0  # the device's tone curve (image = reflectance ** gamma), calibrated
    allow_greyscale: bool = False  # a greyscale sensor reads with the colour checks off

    def __post_init__(self) -> None:
        if not (isinstance(self.dpi, int | float) and MIN_DPI <= self.dpi <= MAX_DPI):
            raise ProfileError(f"scanner DPI must be {MIN_DPI:.0f} to {MAX_DPI:.0f}, "
                               f"not {self.dpi!r}")
        if not isinstance(self.backing, Backing):
            try:
                object.__setattr__(self, "backing", Backing(str(self.backing)))
            except ValueError:
                raise ProfileError(f"backing must be dark, grey or white, not "
                                   f"{self.backing!r}") from None
        s = self.optical_scale
        if s is not None and not (isinstance(s, int | float) and 0.9 <= s <= 1.1):
            raise ProfileError(f"optical scale must be 0.9 to 1.1, not {s!r}")
        if not (isinstance(self.overscan_mm, int | float) and 0 <= self.overscan_mm <= 50):
            raise ProfileError(f"over-scan must be 0 to 50 mm, not {self.overscan_mm!r}")
        if not (isinstance(self.gamma, int | float) and 0.3 <= self.gamma <= 3.0):
            raise ProfileError(f"gamma must be 0.3 to 3, not {self.gamma!r}")

    @property
    def edges_visible(self) -> bool:
        """Whether the paper's edges stand out from the backing, by design."""
        if self.cropped:
            return False
        return self.backing is Backing.DARK or (self.backing is Backing.GREY and self.colour)

    def require_usable(self) -> None:
        """Refuse a device this policy cannot run (once, at start-up): a greyscale sensor
        unless the profile opts in to reading without the colour checks."""
        if not self.colour and not self.allow_greyscale:
            raise ColourSensorRequired(
                "this device needs a colour sensor: a greyscale sensor cannot check the "
                "security band (copies) or the side-stripe colour (ballot kind); set "
                "allow_greyscale in the scanner profile (pcos scan --allow-greyscale) to read "
                "without those checks")

    @property
    def checks_off(self) -> tuple[str, ...]:
        """Sheet checks this sensor cannot make (said once, at start-up)."""
        return () if self.colour else ("security band colour (copy check)",
                                       "side-stripe colour (kind check)")

    def describe(self) -> str:
        parts = [f"{self.dpi:g} DPI", f"{self.backing.value} backing",
                 "cropped to the page" if self.cropped else f"{self.overscan_mm:g} mm over-scan",
                 "colour" if self.colour else "greyscale (allowed: colour checks off)"
                 if self.allow_greyscale else "greyscale (refused: needs a colour sensor)",
                 f"optical scale {self.optical_scale:.4f}" if self.optical_scale
                 else "optical scale not calibrated (1.0)", f"gamma {self.gamma:g}"]
        if not self.edges_visible:
            parts.append("paper edges not visible: fit-to-page and double feed checked "
                         "by ladder pitch and image length")
        if self.checks_off:
            parts.append("not checked: " + ", ".join(self.checks_off))
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["backing"] = self.backing.value
        return d

    @classmethod
    def from_json(cls, data: Any) -> ScannerProfile:
        if not isinstance(data, dict):
            raise ProfileError("a scanner profile is a JSON object")
        known = {"dpi", "backing", "cropped", "colour", "optical_scale", "overscan_mm", "gamma",
                 "allow_greyscale"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(f"unknown scanner profile field {unknown[0]!r}")
        for key in ("cropped", "colour", "allow_greyscale"):
            if key in data and not isinstance(data[key], bool):
                raise ProfileError(f"profile field {key} must be true or false")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> ScannerProfile:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProfileError(f"{path}: unreadable scanner profile ({exc})") from exc
        try:
            return cls.from_json(data)
        except TypeError as exc:
            raise ProfileError(f"{path}: bad scanner profile ({exc})") from exc


@dataclass
class ReaderConfig:
    """Everything the reader is told (never learnt from a sheet). ``dpi`` mirrors
    ``profile.dpi``; give either (a profile wins)."""

    election: Election
    station: Station | None
    templates: TemplateSource
    thresholds: Thresholds = field(default_factory=Thresholds)
    geometry: Geometry = field(default_factory=Geometry)
    dpi: float = 200.0
    profile: ScannerProfile | None = None

    def __post_init__(self) -> None:
        if self.profile is None:
            self.profile = ScannerProfile(dpi=self.dpi)
        self.profile.require_usable()  # a device the policy cannot run never starts
        self.dpi = self.profile.dpi

    @property
    def scanner(self) -> ScannerProfile:
        assert self.profile is not None
        return self.profile
