"""Wire a reader for the device: election, station, and the blank-ballot renderer.

``vision`` does not import ``calibration``; the device (and the command line,
through here) injects the renderer. No production path chooses a station for
the user: it comes from the command line, the election package, or the
manifest a simulated scan directory carries.
"""

from __future__ import annotations

import json
from pathlib import Path

from calibration.render_raster import render_layout
from election.errors import PcosError
from election.model import Election, Station
from vision.config import ReaderConfig, ScannerProfile, Thresholds
from vision.interpret import Reader


def find_station(election: Election, number: str) -> Station:
    try:
        return election.station(str(number))
    except KeyError:
        raise PcosError(f"no station {number} in election {election.election_id}") from None


def manifest_station(directory: Path) -> str | None:
    """The station a scan directory's ``manifest.json`` names, if it has one."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        number = json.loads(manifest.read_text(encoding="utf-8")).get("station")
    except (OSError, ValueError, AttributeError) as exc:
        raise PcosError(f"{manifest}: unreadable manifest ({exc})") from exc
    return None if number is None else str(number)


def station_arg(election: Election, number: str | None, scan_dir: Path | None = None) -> Station:
    """The station named on the command line, else the one the scan directory's manifest
    names; else a clear error (a scanner must know its station)."""
    if number is None and scan_dir is not None:
        number = manifest_station(scan_dir)
    if number is None:
        raise PcosError("no polling station: give --station ID (or a directory whose "
                        "manifest.json names it)")
    return find_station(election, number)


def make_reader(election: Election, station: Station | None,
                thresholds: Thresholds | None = None, *,
                profile: ScannerProfile | None = None) -> Reader:
    """The reader for a station; ``thresholds`` from the election package and the
    scanner ``profile`` (DPI, backing, sensor) of this device, when given."""
    config = ReaderConfig(election, station, render_layout, profile=profile)
    if thresholds is not None:
        config.thresholds = thresholds
    return Reader(config)
