"""Render speed: a 200 DPI ballot from its layout (target: <= 100 ms median)."""

from __future__ import annotations

import time

from benchmarks.common import Figure, ms_stats, one_core
from calibration.render_raster import render_layout
from election.default import default_election
from election.layout import ballot_layout
from election.model import BallotKind, Language


def run(count: int = 30) -> list[Figure]:
    e = default_election()
    cases = {
        "party_list": ballot_layout(e, BallotKind.PARTY_LIST, None, Language.KY),
        "district": ballot_layout(e, BallotKind.DISTRICT, e.districts[0].number, Language.RU),
    }
    figures = []
    with one_core():
        for name, layout in cases.items():
            render_layout(layout, 200)
            times = []
            for _i in range(count):
                t = time.perf_counter()
                render_layout(layout, 200)
                times.append(time.perf_counter() - t)
            figures += ms_stats(f"render_{name}_200dpi_ms", times)[:2]
    return figures
