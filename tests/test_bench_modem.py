"""The modem bench runs end to end on small sizes (its figures' format; no timing asserted)."""

from __future__ import annotations

from benchmarks import modem


def test_modem_bench_figures() -> None:
    figures = {f.name: f.value for f in modem.run(count=20_000, slow_rate=50_000.0,
                                                   slow_bytes=5_000)}
    assert set(figures) == {"bytes_each_way", "open_ms", "uplink_unlimited",
                            "downlink_unlimited", "slow_link_rate", "slow_bytes_each_way",
                            "uplink_slow", "downlink_slow", "bytes_intact"}
    assert figures["bytes_intact"] == 1  # every byte crossed both ways, in order
    assert figures["bytes_each_way"] == 20_000 and figures["slow_link_rate"] == 50_000
    assert all(isinstance(v, int | float) and v > 0 for v in figures.values())
