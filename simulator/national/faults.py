"""Fault rates for the national day, and the plan each station draws from them.

Where the default numbers come from (``/work/shared/DESIGN.md`` and issue 10):

* **Failures of the automated system at ~30 % of stations.** Observers reported a
  failure of the automated system at about 30 % of the stations they watched. We
  split that into three kinds whose union hits ~30 % of stations:
  a device failing outright and a spare brought from the TEC (7 % of stations),
  power cuts that restart a device from its store (0.08 per device-day, two devices:
  1 - e^-0.16 = 15 % of stations), and modem outages (0.12 per station-day, 11 %);
  P(none) = 0.93 x 0.852 x 0.887 = 0.70, so 30 % of stations see one or more.
  Paper jams (0.2 % of sheets, the election-day model's default) are routine, not
  counted among those failures.
* **2,247 of 2,494 stations' data arrived that night** (247 = 9.9 % did not). We model
  that as late stations (8 %: the link to the CEC is down from closing for 4-12 h, so
  their results arrive after midnight) plus stations that never report (2 %: no
  device's data ever reaches the CEC; the CEC shows them missing). 8 % + 2 % = 10 %
  of stations without data by midnight, against 9.9 % in 2021.

``--faults FILE`` takes a JSON object with any of the field names below.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from election.errors import PcosError
from simulator.election_day import FaultRates

HOUR_S = 3600.0


@dataclass(frozen=True)
class NationalFaults:
    """Every rate of the national day (per station unless the name says otherwise)."""

    paper_jam_per_sheet: float = 0.002
    power_cuts_per_device_day: float = 0.08
    modem_outages_per_day: float = 0.12
    device_failure: float = 0.07           # a device fails; a spare from the TEC takes over
    spare_arrives_s: tuple[float, float] = (1800.0, 7200.0)  # after the failure
    late_station: float = 0.08             # link down from closing for late_delay_s
    late_delay_s: tuple[float, float] = (4 * HOUR_S, 12 * HOUR_S)
    never_reports: float = 0.02            # no data ever reaches the CEC
    modem_sample: float = 0.01             # stations sending through emulated modems (ptys)
    modem_sample_max: int = 40             # at most this many modem stations per run

    @classmethod
    def none(cls) -> NationalFaults:
        return cls(0.0, 0.0, 0.0, 0.0, late_station=0.0, never_reports=0.0)

    @classmethod
    def from_json(cls, doc: Any, base: NationalFaults | None = None) -> NationalFaults:
        if not isinstance(doc, dict):
            raise PcosError("faults file: expected a JSON object of rates")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise PcosError(f"faults file: unknown field(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
        values = asdict(base or cls())
        for k, v in doc.items():
            values[k] = tuple(v) if isinstance(v, list) else v
        out = cls(**values)
        out.check()
        return out

    @classmethod
    def load(cls, spec: str) -> NationalFaults:
        """``default``, ``none`` or a JSON file overriding the defaults."""
        if spec == "default":
            return cls()
        if spec == "none":
            return cls.none()
        try:
            doc = json.loads(Path(spec).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PcosError(f"--faults {spec}: cannot read ({exc.strerror})") from None
        except ValueError as exc:
            raise PcosError(f"--faults {spec}: not JSON ({exc})") from None
        return cls.from_json(doc)

    def check(self) -> None:
        for name in ("paper_jam_per_sheet", "device_failure", "late_station", "never_reports",
                     "modem_sample"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
                raise PcosError(f"faults: {name} must be a probability in 0..1, not {v!r}")
        if self.paper_jam_per_sheet >= 1.0:
            raise PcosError("faults: paper_jam_per_sheet must be below 1")
        for name in ("power_cuts_per_device_day", "modem_outages_per_day"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise PcosError(f"faults: {name} must be 0 or more, not {v!r}")
        for name in ("spare_arrives_s", "late_delay_s"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                raise PcosError(f"faults: {name} must be [low, high] with 0 < low <= high")
        if not isinstance(self.modem_sample_max, int) or self.modem_sample_max < 0:
            raise PcosError("faults: modem_sample_max must be a whole number, 0 or more")

    def day_rates(self) -> FaultRates:
        """The election-day model's rates: jams and modem outages; power cuts are drawn per
        device here (two devices: twice the per-device rate for the station's day)."""
        return FaultRates(paper_jam_per_sheet=self.paper_jam_per_sheet,
                          power_cuts_per_day=2 * self.power_cuts_per_device_day,
                          modem_outages_per_day=self.modem_outages_per_day)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StationFaults:
    """What goes wrong at one station beyond the day plan's jams, cuts and outages."""

    failed_device: int | None = None  # 0 or 1: which device fails
    fail_at_s: float = 0.0            # seconds since local midnight
    spare_at_s: float = 0.0
    late_s: float = 0.0               # link down from closing for this long
    never_reports: bool = False
    modem: bool = False               # send through an emulated modem on a pty
    images: bool = False              # full images through the real reader

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def draw_station_faults(rates: NationalFaults, station: str, seed: int, *, modem: bool,
                        images: bool, open_s: float = 8 * HOUR_S,
                        close_s: float = 20 * HOUR_S) -> StationFaults:
    """A station's faults: a pure function of (rates, station, seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(station.encode()), 10])
    failed = None
    fail_at = spare_at = 0.0
    if rng.random() < rates.device_failure:
        failed = int(rng.integers(2))
        fail_at = float(rng.uniform(open_s + 1800.0, close_s - 3600.0))
        spare_at = fail_at + float(rng.uniform(*rates.spare_arrives_s))
    late = float(rng.uniform(*rates.late_delay_s)) if rng.random() < rates.late_station else 0.0
    never = bool(rng.random() < rates.never_reports)
    return StationFaults(failed, round(fail_at, 1), round(spare_at, 1), round(late, 1), never,
                         modem and not never, images)


def sample_stations(numbers: list[str], rate: float, seed: int, salt: int,
                    limit: int | None = None) -> set[str]:
    """A seeded sample of ``rate`` of the stations (at least one when rate > 0)."""
    if rate <= 0 or not numbers:
        return set()
    rng = np.random.default_rng([seed, salt])
    k = max(1, round(rate * len(numbers)))
    if limit is not None:
        k = min(k, limit)
    picked = rng.choice(len(numbers), size=min(k, len(numbers)), replace=False)
    return {numbers[int(i)] for i in picked}
