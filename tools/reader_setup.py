"""Wire a reader for the command line: election, station, and the blank-ballot renderer.

``vision`` does not import ``calibration``; the tools inject the renderer.
"""

from __future__ import annotations

import json
from pathlib import Path

from calibration.render_raster import render_layout
from election.errors import PcosError
from election.model import Election, Station
from simulator.sheets import default_station
from vision.config import ReaderConfig, ScannerProfile
from vision.interpret import Reader


def station_arg(election: Election, number: str | None, sim_dir: Path | None = None) -> Station:
    """The station named on the command line, else the one a simulated directory used,
    else the simulator's default station."""
    if number is None and sim_dir is not None:
        manifest = sim_dir / "manifest.json"
        if manifest.is_file():
            try:
                number = json.loads(manifest.read_text(encoding="utf-8")).get("station")
            except (OSError, ValueError) as exc:
                raise PcosError(f"{manifest}: unreadable manifest ({exc})") from exc
    if number is None:
        return default_station(election)
    try:
        return election.station(str(number))
    except KeyError:
        raise PcosError(f"no station {number} in election {election.election_id}") from None


def make_reader(election: Election, station: Station | None,
                profile: ScannerProfile | None = None) -> Reader:
    return Reader(ReaderConfig(election, station, render_layout, profile=profile))
