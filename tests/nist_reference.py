"""Where the official NIST JSON schemas are: ``../shared/reference/nist/`` beside the
repository (as the README links it), else the workplace's copy under /work/shared."""

from __future__ import annotations

from pathlib import Path

_BESIDE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "nist"
_WORKPLACE = Path("/work/shared/reference/nist")


def nist_schema(name: str) -> Path:
    """The schema file ``name`` (e.g. ``NIST_V0_cast_vote_records.json``)."""
    beside = _BESIDE / name
    return beside if beside.exists() else _WORKPLACE / name
