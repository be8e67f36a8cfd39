"""An image sensor that delivers real scans from a folder (``NNNNNN-front.png`` / ``-back``).

For bench work and for feeding a real scanner's files through the device:
each :meth:`capture` takes the next pair in name order.
"""

from __future__ import annotations

import re
from pathlib import Path

from election.errors import PcosError
from firmware.hal.imaging import JPEG, DuplexImages, ImageSensorError, SensorFile
from vision.imageio import ImageFileError, load_image_file, sniff_format

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
_FRONT = re.compile(r"^(?P<id>.+)-front(?P<ext>\.[A-Za-z]+)$")


def image_pairs(directory: Path) -> list[tuple[str, Path, Path]]:
    """Every ``ID-front.EXT`` / ``ID-back.EXT`` pair in ``directory``, in name order."""
    if not directory.is_dir():
        raise PcosError(f"{directory}: not a directory")
    pairs = []
    for f in sorted(directory.iterdir()):
        m = _FRONT.match(f.name)
        if not m or m.group("ext").lower() not in IMAGE_EXTS:
            continue
        back = f.with_name(f"{m.group('id')}-back{m.group('ext')}")
        if not back.exists():
            raise PcosError(f"{f}: no matching back image {back.name}")
        pairs.append((m.group("id"), f, back))
    return pairs


def load_duplex(front: Path, back: Path) -> DuplexImages:
    """A sheet's two scan files as the sensor that wrote them delivers them: the pixels,
    and when both are JPEG the files too (the device then hashes and keeps the files as
    they are). Raises :class:`vision.imageio.ImageFileError` naming a bad file."""
    (front_rgb, front_data), (back_rgb, back_data) = load_image_file(front), load_image_file(back)
    if sniff_format(front_data) == sniff_format(back_data) == "JPEG":
        return DuplexImages(front_rgb, back_rgb,
                            (SensorFile(JPEG, front_data), SensorFile(JPEG, back_data)))
    return DuplexImages(front_rgb, back_rgb)


class FolderImageSensor:
    """Delivers the pairs of a folder one by one."""

    def __init__(self, directory: Path) -> None:
        self._pairs = image_pairs(directory)
        self._next = 0

    @property
    def remaining(self) -> int:
        return len(self._pairs) - self._next

    def capture(self) -> DuplexImages:
        if self._next >= len(self._pairs):
            raise ImageSensorError("no more scans in the folder")
        name, front, back = self._pairs[self._next]
        self._next += 1
        try:
            return load_duplex(front, back)
        except ImageFileError as exc:
            raise ImageSensorError(f"{name}: {exc}") from exc
