"""``pcos bench national``: the national day's figures.

Runs :func:`simulator.national.run.run_national` (``--count`` stations spread over
the country, default 50; ``--count 2494`` for the whole country) with ``--images
none`` or ``sample`` (``--sample-rate``) on the local spawn pool, and reports:

* ``stations``, ``devices``, ``sheets``, ``messages``, ``delivered_once``,
  ``totals_match_truth``, ``seconds`` (wall, provisioning to the last check);
* ``cpu_us_per_sheet``: the workers' CPU time per sheet (firmware, store, audit,
  protocol: the whole station day), and ``sheets_per_s_per_core``;
* ``country_s_estimate``: the whole country's sheets (a station's mean at this
  turnout times 2,494) at this run's throughput, on this machine's cores;
* with images: ``image_sheets_per_s_per_core`` over the image stations;
* ``website_matches_truth``: the CEC's public website, served on the run's store and
  fetched over loopback HTTP, shows the truth (``website_figures_checked`` figures);
* ``load_average`` when it finished (the machine is shared: read figures with it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.common import Figure
from election.errors import PcosError
from simulator.national.faults import NationalFaults
from simulator.national.run import NationalSettings, run_national
from simulator.national.station import worker_election


def run(count: int | None = 50, seed: int = 2021, images: str = "none",
        sample_rate: float = 0.01, workers: int | None = None) -> list[Figure]:
    if count is not None and count < 1:
        raise PcosError("--count (stations) must be at least 1")
    with tempfile.TemporaryDirectory(prefix="pcos-bench-national-") as tmp:
        out = Path(tmp)
        s = run_national(NationalSettings(stations=count, images=images,
                                          sample_rate=sample_rate, faults=NationalFaults(),
                                          seed=seed, out=out, workers=workers, report=False),
                         progress=None)
        import json

        records = [json.loads(line) for line in
                   (out / "stations.jsonl").read_text().splitlines()]
    cores = s["workers"]
    cpu = s["cpu_s"]
    sheets = s["sheets"]
    election = worker_election()
    country_sheets = sheets / max(1, s["stations"]) * len(election.stations)
    rate = sheets / s["run_s"] if s["run_s"] > 0 else 0.0
    figures = [Figure(k, s[k]) for k in ("stations", "devices", "sheets", "messages",
                                          "delivered_once", "totals_match_truth")]
    figures += [
        Figure("differences", s["differences_total"]),
        Figure("seconds", s["seconds"], "s"),
        Figure("run_s", s["run_s"], "s"),
        Figure("workers", cores),
        Figure("sheets_per_s", round(rate, 1), "sheets/s"),
        Figure("cpu_us_per_sheet", round(1e6 * cpu / max(1, sheets), 1), "us"),
        Figure("sheets_per_s_per_core", round(sheets / cpu, 1) if cpu else None, "sheets/s"),
        Figure("country_sheets_estimate", round(country_sheets)),
        Figure("country_s_estimate", round(country_sheets / rate, 1) if rate else None, "s"),
        Figure("country_s_estimate_idle_cores",
               round(country_sheets * cpu / max(1, sheets) / cores, 1) if cpu else None, "s"),
        Figure("stations_reported", s["stations_reported"]),
        Figure("stations_missing", len(s["stations_missing"])),
        Figure("stations_with_failure", s["stations_with_failure"]),
        Figure("reruns", s["reruns"]),
        Figure("cec_duplicates", s["server"]["duplicates"]),
        Figure("website_matches_truth", s["website"]["matches_truth"]),
        Figure("spares_loaded_package", s["spares_loaded_package"]),
        Figure("spare_package_load_cpu_ms",
               round(1e3 * s["spares_package_load_cpu_s"] / s["spares_loaded_package"], 1)
               if s["spares_loaded_package"] else None, "ms"),
        Figure("verify_s", s["verify_s"], "s"),
        Figure("checks_s", s["checks_s"], "s"),
        Figure("website_figures_checked", s["website"]["checked_figures"]),
    ]
    image_recs = [r for r in records if r["faults"]["images"]]
    if image_recs:
        isheets = sum(r["sheets"] for r in image_recs)
        icpu = sum(r["cpu_s"] for r in image_recs)
        figures += [Figure("image_stations", len(image_recs)),
                    Figure("image_sheets", isheets),
                    Figure("image_sheets_per_s_per_core", round(isheets / icpu, 3), "sheets/s")]
    figures.append(Figure("load_average", round(os.getloadavg()[0], 1)))
    return figures
