"""The duplex image sensor: two images (front and back) of the sheet just fed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from election.errors import PcosError

if TYPE_CHECKING:
    import numpy as np


class ImageSensorError(PcosError):
    """The sensor could not deliver images (no sheet, a hardware fault)."""


JPEG = "jpeg"
FILE_SUFFIX = {JPEG: ".jpg"}  # the formats a sensor may deliver files in


@dataclass(frozen=True)
class SensorFile:
    """One side as a sensor that compresses delivered it: the file's bytes. The pixels in
    :class:`DuplexImages` are this file decoded. The device records the SHA-256 of the
    file (the sensor's own output, verifiable against the kept file as it is) and keeps
    the file itself when it retains the image, rather than re-encoding its pixels."""

    format: str  # a key of FILE_SUFFIX
    data: bytes

    def __post_init__(self) -> None:
        if self.format not in FILE_SUFFIX:
            raise ImageSensorError(f"the sensor delivered a {self.format!r} file; "
                                   f"known formats: {', '.join(FILE_SUFFIX)}")

    @property
    def suffix(self) -> str:
        return FILE_SUFFIX[self.format]


@dataclass(frozen=True)
class DuplexImages:
    front: np.ndarray
    back: np.ndarray
    # (front, back) when the sensor delivered compressed files; None for raw pixels
    files: tuple[SensorFile, SensorFile] | None = None


class ImageSensor(Protocol):
    def capture(self) -> DuplexImages:
        """Both sides of the sheet that was fed last. Raises :class:`ImageSensorError`."""
        ...
