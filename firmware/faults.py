"""Fault points: named places where a test can have the firmware process killed.

Off unless the environment says otherwise, so production runs never stop
here. ``PCOS_FAULT=NAME:N`` sends SIGKILL to this process the N-th time the
code reaches ``hit(NAME)``; ``PCOS_FAULT=sqlite-commit:K`` kills inside the
K-th SQLite virtual-machine step of a COMMIT (through SQLite's progress
handler), i.e. truly inside a commit. The kill harness sets one per run.
"""

from __future__ import annotations

import os
import signal
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
    hits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> FaultPoints:
        spec = os.environ.get(ENV, "")
        if not spec:
            return cls()
        name, _, n = spec.partition(":")
        return cls(name, int(n or "1"))

    @property
    def armed(self) -> bool:
        return self.name is not None

    def hit(self, name: str) -> None:
        if self.name != name:
            return
        self.hits[name] = self.hits.get(name, 0) + 1
        if self.hits[name] >= self.at:
            _kill()

    def sqlite_progress(self) -> int:
        """SQLite progress handler: counts VM steps while armed for ``sqlite-commit``."""
        self.hit("sqlite-commit")
        return 0
