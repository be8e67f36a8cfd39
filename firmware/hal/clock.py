"""Injectable clock: the device never reads the system time directly."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Aware UTC time."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedStepClock:
    """A deterministic clock for tests and simulation: starts at ``start``, steps each read."""

    def __init__(self, start: dt.datetime, step_s: float = 0.0) -> None:
        self._t = start
        self._step = dt.timedelta(seconds=step_s)

    def now(self) -> dt.datetime:
        t = self._t
        self._t = t + self._step
        return t

    def set(self, t: dt.datetime) -> None:
        self._t = t


def iso(t: dt.datetime) -> str:
    """``t`` in UTC as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds truncated, as
    ``isoformat(timespec="milliseconds")`` has them). A time already in UTC (every clock
    here gives one) is formatted directly: this runs once or twice per sheet."""
    if t.tzinfo is not dt.UTC:
        t = t.astimezone(dt.UTC)
    # printf-style: half the time of an f-string with seven format specs
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond // 1000)
