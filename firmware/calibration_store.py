"""The device's stored calibration profile: where it lives, reading it back, applying it.

Calibration mode (``firmware.calibration_mode``) writes the signed profile to both media; the
device reads it back at every boot and whenever a package or a withdrawal rebuilds its reader,
so the reader always compares with this print run's blank boxes as this device sees them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from calibration.profile import CalibrationProfile, ProfileError, configure_reader, parse_profile
from vision.interpret import Reader

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from firmware.device import DeviceConfig
    from firmware.hal.storage import StorageMedium

PROFILE_PATH = Path("calibration") / "profile.json"  # under each medium's root


def read_profile(media: tuple[StorageMedium, ...],
                 public_key: Ed25519PublicKey) -> CalibrationProfile | None:
    """The profile on the first medium holding a valid one (verified with the device's key)."""
    for medium in media:
        path = Path(medium.root()) / PROFILE_PATH
        if medium.available() and path.is_file():
            try:
                return parse_profile(path.read_bytes(), public_key, str(path))
            except (OSError, ProfileError):
                continue
    return None


def packaged_profile(data: bytes) -> CalibrationProfile | None:
    """The election package's default profile (``calibration.bin``), or None if it is not a
    profile. Its integrity comes from the package's CEC signature, checked at load (and its
    SHA-256 against the audited package hash at a restart), not from a device key."""
    try:
        return parse_profile(data, None, "the package's calibration profile")
    except ProfileError:
        return None


def configured(config: DeviceConfig, profile: CalibrationProfile) -> DeviceConfig | None:
    """``config`` whose reader uses ``profile``; None when the reader is a stand-in (not the
    vision reader) or the profile is not for this reader (another election or DPI)."""
    reader = config.reader
    if not isinstance(reader, Reader):
        return None
    try:
        return replace(config, reader=Reader(configure_reader(reader.config, profile)))
    except ProfileError:
        return None
