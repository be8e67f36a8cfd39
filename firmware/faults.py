"""Fault points: named places where a test can have the firmware process killed.

Off unless the environment says otherwise, so production runs never stop
here. ``PCOS_FAULT=NAME:N`` sends SIGKILL to this process the N-th time the
code reaches ``hit(NAME)``; ``PCOS_FAULT=sqlite-commit:K:D`` arms a timer
thread as the K-th SQLite COMMIT starts that kills the process D microseconds
later - while SQLite writes and fsyncs its WAL (Python releases the GIL around
``sqlite3_step``), or just after. The kill harness sets one per run.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field

ENV = "PCOS_FAULT"

# Every place the harness may choose, in the order a sheet reaches them.
POINTS = (
    "boot.after-recovery",
    "sheet.after-feed",
    "sheet.before-pending",
    "store.between-media",  # SQLite committed, the journal not yet written
    "sheet.after-pending",  # recorded pending, the motor not yet started
    "sheet.after-drop",  # the sheet is in the box, not yet marked cast
    "sheet.after-cast",
    "sheet.after-return",
    "journal.mid-frame",  # half a frame written to the card
    "sqlite-commit",
)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class FaultPoints:
    """Counts hits of the armed point; kills the process at the chosen one."""

    name: str | None = None
    at: int = 0
    delay_us: int = 0
    hits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> FaultPoints:
        spec = os.environ.get(ENV, "")
        if not spec:
            return cls()
        parts = spec.split(":")
        return cls(parts[0], int(parts[1]) if len(parts) > 1 else 1,
                   int(parts[2]) if len(parts) > 2 else 0)

    @property
    def armed(self) -> bool:
        return self.name is not None

    def hit(self, name: str) -> None:
        if self.name != name:
            return
        self.hits[name] = self.hits.get(name, 0) + 1
        if self.hits[name] != self.at:
            return
        if self.delay_us > 0:
            timer = threading.Timer(self.delay_us / 1e6, _kill)
            timer.daemon = True
            timer.start()
        else:
            _kill()
