"""``pcos bench devint``: the signed package on the device.

* the national package built (simulated CEC keys, one station's devices assigned);
* ``Device.load_package`` of it: full verification (chain, hashes, definition);
* a restart with the package installed: the file's SHA-256 against the stored
  package hash and the thresholds member (``firmware.install.reinstall_quick``),
  against the full re-verification it replaces.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure
from election.default import default_election
from firmware.install import PackageTrust
from simulator.devices import SimWorld
from simulator.packaged import sim_cec_keys, sim_device, sim_package
from simulator.rig import TableReader, build_device
from simulator.sheets import default_station


def run(count: int | None = None, **_kwargs: object) -> list[Figure]:
    repeats = count or 5
    election = default_election()
    station = default_station(election)
    keys = sim_cec_keys()
    t = time.perf_counter()
    package = sim_package(election, keys, (station.number,), 2)
    build_s = time.perf_counter() - t
    trust = PackageTrust(keys.root_certificate,
                         sim_device(keys, f"{station.number}-D1", station.number))
    loads, boots, full = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="pcos-bench-devint-") as tmp:
            world = SimWorld()
            rig = build_device(Path(tmp), world, election, station, TableReader({}),
                               trust=trust)
            rig.device.boot()
            t = time.perf_counter()
            rig.device.load_package(package)
            loads.append(time.perf_counter() - t)
            rig.device.close()
            rig = build_device(Path(tmp), world, election, station, TableReader({}),
                               trust=trust)
            t = time.perf_counter()
            rig.device.boot()
            boots.append(time.perf_counter() - t)
            t = time.perf_counter()
            rig.device._verify_package(package, audit_refusal=False)  # what a full check costs
            full.append(time.perf_counter() - t)
            rig.device.close()
    return [Figure("package_bytes", len(package), "B"),
            Figure("package_build", build_s, "s"),
            Figure("device_load_package_median", statistics.median(loads), "s"),
            Figure("restart_with_package_installed_median", statistics.median(boots), "s"),
            Figure("full_reverification_median", statistics.median(full), "s")]
