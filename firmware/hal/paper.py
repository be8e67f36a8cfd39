"""The paper path: entry sensor, two rear sensors, motor, ultrasonic double-sheet sensor, cover.

The device is driven by what the sensors say, as VxScan's scanner state
machine is. Positions a sheet can be in, as the sensors see them:

* at the entry (``entry``): a voter has inserted it, or it was returned;
* held at the back (``rear_1 and rear_2``): fed past the image sensor,
  waiting for the decision to drop it into the box or return it;
* jammed: stopped between sensors (``entry`` and exactly one rear sensor, or
  one rear sensor alone) - anything that is not one of the positions above.

A sheet is counted only when both rear sensors saw it leave into the box
(:class:`DropConfirmation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class MotionResult(StrEnum):
    DONE = "done"
    JAMMED = "jammed"  # the sheet stopped between sensors
    NO_PAPER = "no-paper"
    COVER_OPEN = "cover-open"


@dataclass(frozen=True)
class PaperSensors:
    """One reading of every sensor on the paper path."""

    entry: bool
    rear_1: bool
    rear_2: bool
    double_sheet: bool  # ultrasonic: two sheets on top of each other at the entry
    cover_open: bool

    @property
    def path_clear(self) -> bool:
        return not (self.entry or self.rear_1 or self.rear_2)

    @property
    def held_at_rear(self) -> bool:
        return self.rear_1 and self.rear_2 and not self.entry

    @property
    def at_entry_only(self) -> bool:
        return self.entry and not (self.rear_1 or self.rear_2)

    @property
    def jammed(self) -> bool:
        """Paper between sensors: not clear, not at the entry only, not held at the back."""
        return not (self.path_clear or self.held_at_rear or self.at_entry_only)


@dataclass(frozen=True)
class DropConfirmation:
    """What the rear sensors saw while the motor ejected the sheet into the box."""

    rear_1_passed: bool
    rear_2_passed: bool
    result: MotionResult = MotionResult.DONE

    @property
    def confirmed(self) -> bool:
        return self.rear_1_passed and self.rear_2_passed and self.result is MotionResult.DONE


class PaperPath(Protocol):
    """Sensors and motor of the paper path."""

    def sensors(self) -> PaperSensors:
        """Read every sensor now."""
        ...

    def feed(self) -> MotionResult:
        """Pull the sheet at the entry past the image sensor and hold it at the back."""
        ...

    def return_to_voter(self) -> MotionResult:
        """Drive the sheet in the path back out to the entry, for the voter to take."""
        ...

    def eject_to_box(self) -> DropConfirmation:
        """Drive the held sheet into the ballot box; report what the rear sensors saw."""
        ...
