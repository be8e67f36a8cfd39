"""The reader consumes the device calibration's optical scale.

A simulated device images 194.4 DPI across the feed and 203 DPI along it
(optical scale 0.972 x 1.015) behind a white backing, so the paper edge
cannot be seen and fit-to-page must rest on the ladder separation against
the device's scale. Without its calibration profile the reader takes the
device at scale 1.0 and rejects every genuine sheet as printed too small;
with the profile (``configure_reader``) it reads them, marks as the truth
says, and still rejects a batch really printed too small on the paper.
"""

from __future__ import annotations

import numpy as np
import pytest
from reading_checks import assert_reads_truth

from calibration.device import Tolerances, calibrate_device
from calibration.profile import body_of, configure_reader, parse_profile, sign_profile
from calibration.render_raster import render_layout
from election.default import default_election
from election.model import Election, Station
from election.reject import RejectReason
from firmware.crypto import key_from_seed
from simulator.calibration_set import Device, PrintRun, PrintRunFactory
from simulator.scanner import preset
from simulator.sheets import default_station
from vision.config import Backing, ReaderConfig, ScannerProfile
from vision.interpret import Reader

KEY = key_from_seed(bytes(range(32)))
DEVICE = Device(scale_across=0.972, scale_along=1.015)  # 194.4 x 203 DPI at 200 nominal
WHITE = ScannerProfile(backing=Backing.WHITE)


@pytest.fixture(scope="module")
def setup() -> tuple[Election, Station, ReaderConfig]:
    election = default_election()
    station = default_station(election)
    # The calibration set: blank ballots of this print run on this device (3 per kind).
    blanks = PrintRunFactory(election, station, preset("clean"), seed=3, device=DEVICE)
    cal = calibrate_device([(n, s.front, s.back) for n, s in blanks.calibration_set(3)],
                           election, station, render_layout, tolerances=Tolerances())
    profile = parse_profile(sign_profile(body_of(cal, "dev-194x203", "t"), KEY),
                            KEY.public_key())
    base = ReaderConfig(election, station, render_layout, profile=WHITE)
    return election, station, configure_reader(base, profile)


def test_profile_carries_the_measured_scale(setup: tuple[Election, Station, ReaderConfig]
                                            ) -> None:
    *_, calibrated = setup
    assert calibrated.scanner.optical_scale == pytest.approx(0.972, abs=0.002)
    assert calibrated.scanner.backing is Backing.WHITE  # the rest of the profile is kept
    assert "optical scale 0.97" in calibrated.scanner.describe()


def test_non_nominal_device_reads_with_its_profile_and_is_rejected_without(
        setup: tuple[Election, Station, ReaderConfig]) -> None:
    election, station, calibrated = setup
    sheets = PrintRunFactory(election, station, preset("clean").with_backing("white"),
                             seed=21, device=DEVICE)
    blind = Reader(ReaderConfig(election, station, render_layout, profile=WHITE))
    reader = Reader(calibrated)
    marked = 0
    for i in range(4):
        s = sheets.sheet(i)
        if s.truth.get("fake"):
            continue
        without = blind.interpret(s.front, s.back)
        assert without.reason is RejectReason.SCALE, (without.reason, without.detail)
        res = reader.interpret(s.front, s.back)
        assert not res.rejected, (res.reason, res.detail)
        marked += assert_reads_truth(res, s.truth["targets"])
    assert marked >= 2


def test_calibrated_reader_still_rejects_print_too_small(
        setup: tuple[Election, Station, ReaderConfig]) -> None:
    election, station, calibrated = setup
    small = PrintRunFactory(election, station, preset("clean").with_backing("white"),
                            seed=22, device=DEVICE, print_run=PrintRun(scale=0.965))
    reader = Reader(calibrated)
    reasons = [reader.interpret(s.front, s.back).reason
               for s in (small.sheet(i) for i in range(2))]
    assert reasons == [RejectReason.SCALE] * 2, reasons
    assert np.isfinite(calibrated.scanner.optical_scale or np.nan)


def test_calibrated_template_is_not_grown_for_dot_gain_again(
        setup: tuple[Election, Station, ReaderConfig]) -> None:
    """The raster is grown by the full dot-gain tolerance before it is subtracted; a
    calibrated window already holds the real print, so it is grown only by the
    registration residual (CALIBRATED_TOLERANCE_MM): less template darkness is taken off
    around borders and digits, and ink next to a border still counts."""
    from calibration.profile import CALIBRATED_TOLERANCE_MM
    from calibration.station import station_layouts
    from election.layout import BallotLayout
    from vision.marks import DOT_GAIN_TOLERANCE_MM, build_template

    e, station, _ = setup
    layout = station_layouts(e, station)[0]

    class Measured:
        def __call__(self, lay: BallotLayout, dpi: float) -> np.ndarray:
            return render_layout(lay, dpi)

        def dot_gain_tolerance_mm(self, lay: BallotLayout) -> float | None:
            return CALIBRATED_TOLERANCE_MM

    raster = build_template(layout, render_layout, 200.0)
    measured = build_template(layout, Measured(), 200.0)
    assert CALIBRATED_TOLERANCE_MM < DOT_GAIN_TOLERANCE_MM
    assert np.array_equal(raster.dark, measured.dark)
    assert measured.dark_tol.sum() < raster.dark_tol.sum()
    assert (measured.dark_tol <= raster.dark_tol + 1e-6).all()
