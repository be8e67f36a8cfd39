"""Helpers shared by the ``pcos`` sub-commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from election.default import default_election
from election.definition import load_election
from election.model import Election

ELECTION_HELP = "election definition file (default: the embedded 2021-shaped election)"


def add_election_option(parser: argparse.ArgumentParser) -> None:
    """Add the usual ``--election FILE`` option (stored as ``args.election``)."""
    parser.add_argument("--election", metavar="FILE", default=None, help=ELECTION_HELP)


def load_election_arg(path: str | os.PathLike[str] | None) -> Election:
    """The election named by ``--election FILE``, or the embedded default when None.

    The argument is always a file path, never JSON text. A missing, unreadable
    or invalid file raises :class:`~election.errors.DefinitionError`.
    """
    if path is None:
        return default_election()
    return load_election(Path(path))
