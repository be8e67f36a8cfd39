"""The two storage media: internal flash and the removable card.

Each medium is a directory the firmware writes its files into. A medium can
be missing (card pulled) or failed (I/O errors); the store reads
:meth:`StorageMedium.available` before trusting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class MediumRole(StrEnum):
    INTERNAL = "internal"
    REMOVABLE = "removable"


class StorageMedium(Protocol):
    @property
    def role(self) -> MediumRole:
        """Internal flash or the removable card."""
        ...

    def root(self) -> Path:
        """The directory this medium is mounted at."""
        ...

    def available(self) -> bool:
        """True when the medium is present and usable."""
        ...


@dataclass(frozen=True)
class DirectoryMedium:
    """A medium mounted at a directory (the real device's flash partition or card mount)."""

    role: MediumRole
    path: Path

    def root(self) -> Path:
        return self.path

    def available(self) -> bool:
        return self.path.is_dir()
