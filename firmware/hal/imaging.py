"""The duplex image sensor: two images (front and back) of the sheet just fed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from election.errors import PcosError

if TYPE_CHECKING:
    import numpy as np


class ImageSensorError(PcosError):
    """The sensor could not deliver images (no sheet, a hardware fault)."""


@dataclass(frozen=True)
class DuplexImages:
    front: np.ndarray
    back: np.ndarray


class ImageSensor(Protocol):
    def capture(self) -> DuplexImages:
        """Both sides of the sheet that was fed last. Raises :class:`ImageSensorError`."""
        ...
