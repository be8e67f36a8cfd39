"""User-facing error types.

Everything a user can cause (a bad file, an unknown district, a bad argument)
raises a subclass of :class:`PcosError`. The command line prints its message
on one line and exits with code 2; nothing else is shown.
"""

from __future__ import annotations


class PcosError(Exception):
    """Base of every error whose message is meant for the user."""


class DefinitionError(PcosError):
    """An election definition is malformed. ``path`` is a JSON path like ``$.districts[3].name``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
