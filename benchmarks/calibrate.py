"""Device calibration speed (filled in below)."""

from benchmarks.common import Figure


def run(count: int = 10) -> list[Figure]:
    raise NotImplementedError
