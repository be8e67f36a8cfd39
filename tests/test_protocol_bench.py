"""``pcos bench cec`` at a small size: faulty links still give every message exactly once."""

from __future__ import annotations

from benchmarks import cec


def test_bench_cec_small_fleet_with_faulty_links() -> None:
    figures = {f.name: f.value for f in cec.run(devices=24, link_faults=0.5, seed=3)}
    assert figures["messages"] == 72
    assert figures["accepted_once"] == 72 and figures["lost"] == 0
    assert figures["extra_rows"] == 0 and figures["duplicated_in_totals"] == 0
    assert figures["totals_match"] is True
    assert isinstance(figures["faulty_links"], int) and figures["faulty_links"] > 0
    assert isinstance(figures["attempts"], int) and figures["attempts"] > 24  # retries happened
