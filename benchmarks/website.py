"""``pcos bench website``: the results website with a whole election night in the database.

Every station (``--count`` limits them) reports through one device: results
and the DEC protocol, signed, sealed and run through the CEC's real
:class:`~protocol.cec.ingest.Ingestor` into a real SQLite store (the TCP path
and its faults are ``pcos bench cec``'s job). Then a real CEC
(:class:`~protocol.cec.live.LiveCec`) serves the website and the figures are:

* ``consolidate_s``: the first consolidation of the whole store;
* ``<endpoint>_first_ms``: the first GET of each JSON endpoint a page polls (the
  view is built), ``<endpoint>_ms``: median of the next 20 (as pages poll it while
  nothing new arrives; :class:`~protocol.cec.cache.CachedResultsApi`, the website's
  default, serves them from its per-snapshot cache), ``<endpoint>_kb``: its size;
* ``uncached_<endpoint>_ms``: the same median with the plain :class:`ResultsApi`
  (``pcos cec serve`` as of this commit);
* ``<page>_page_ms`` (when Debian's Chromium is installed): median of 3 loads of
  the page in a headless browser until its sums are checked and it is drawn
  (``#content[data-integrity]`` set), and ``<page>_integrity`` (must be ``ok``).
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.cec_data import PNG_1X1, dec_figures_for, random_tally
from benchmarks.common import Figure
from election.default import default_election
from election.errors import PcosError
from firmware.package import station_device_id
from protocol.cec.api import ResultsApi
from protocol.cec.ingest import Ingestor
from protocol.cec.live import LiveCec
from protocol.cec.provision import cec_keys, device_identity
from protocol.cec.registry import CecRegistry
from protocol.cec.store import open_store
from protocol.device import DeviceMessenger
from protocol.envelope import seal
from protocol.messages import Content, DecProtocol, Results, SheetCounts

TIME = "2021-11-28T20:05:00Z"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ENDPOINTS = ("national", "progress", "districts", "stations", "station")
PAGES = {"national": "/", "districts": "/districts", "stations": "/stations"}


def _fill(db: Path, count: int | None, seed: int) -> tuple[CecRegistry, str, int]:
    election = default_election()
    stations = list(election.stations)[: count or None]
    signing, encryption = cec_keys("bench-website")
    devices = [device_identity(signing, station_device_id(s.number, 1), s.number, "bench-website",
                               election.election_id) for s in stations]
    registry = CecRegistry.build(election, signing, encryption,
                                 [d.certificate for d in devices])
    store = open_store(db)
    ingestor = Ingestor(registry, store, clock=lambda: TIME)
    rng = np.random.default_rng(seed)
    public = encryption.public()
    for st, ident in zip(stations, devices, strict=True):
        messenger = DeviceMessenger(ident, registry.election_hash, registry.package_hash)
        tally = random_tally(election, st, rng, int(rng.integers(100, 900)))
        ballots = tally.contest("party-list").ballots
        contents: list[Content] = [Results(tally, SheetCounts(ballots, 0, 0)),
                                   DecProtocol((PNG_1X1,), dec_figures_for(st, tally))]
        for seq, content in enumerate(contents, 1):
            head = hashlib.sha256(f"{ident.device_id}/{seq}".encode()).hexdigest()
            signed = messenger.build(content, sequence=seq, time=TIME, audit_head=head)
            ingestor.process(seal(signed, public))
    store.commit()
    return registry, stations[0].number, len(stations)


def _get_ms(url: str, times: int = 20) -> tuple[float, float, int]:
    """The first GET (view computed) and the median of the next ``times`` (as polled)."""
    walls, size = [], 0
    for _ in range(times + 1):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            size = len(r.read())
        walls.append((time.perf_counter() - t0) * 1000)
    return walls[0], statistics.median(walls[1:]), size


def _browser(base: str) -> list[Figure]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        for name, path in PAGES.items():
            walls, state = [], ""
            for _ in range(3):
                t0 = time.perf_counter()
                page.goto(f"{base}{path}?lang=ru")
                page.wait_for_function("document.getElementById('content').dataset.integrity "
                                       "!== 'pending'", timeout=120_000)
                walls.append((time.perf_counter() - t0) * 1000)
                state = str(page.eval_on_selector("#content", "e => e.dataset.integrity"))
            out += [Figure(f"{name}_page_ms", round(statistics.median(walls), 1), "ms"),
                    Figure(f"{name}_integrity", state)]
        browser.close()
    return out


def run(count: int | None = None, seed: int = 1) -> list[Figure]:
    if count is not None and count < 1:
        raise PcosError("--count must be at least 1")
    with tempfile.TemporaryDirectory(prefix="pcos-bench-website-") as tmp:
        t0 = time.perf_counter()
        registry, first, stations = _fill(Path(tmp) / "cec.db", count, seed)
        figures = [Figure("stations", stations), Figure("fill_s", round(
            time.perf_counter() - t0, 2), "s")]
        with LiveCec(registry, open_store(Path(tmp) / "cec.db")) as cec:
            t1 = time.perf_counter()
            cec.api.snapshot()
            figures.append(Figure("consolidate_s", round(time.perf_counter() - t1, 2), "s"))
            for name in ENDPOINTS:
                path = f"/api/station/{first}" if name == "station" else f"/api/{name}"
                cold, ms, size = _get_ms(cec.url + path)
                figures += [Figure(f"{name}_first_ms", round(cold, 1), "ms"),
                            Figure(f"{name}_ms", round(ms, 1), "ms"),
                            Figure(f"{name}_kb", round(size / 1024, 1), "KiB")]
            if CHROMIUM.exists():
                figures += _browser(cec.url)
        plain = ResultsApi(registry, open_store(Path(tmp) / "cec.db"))
        with LiveCec(registry, plain.store, api=plain) as cec:
            plain.snapshot()
            for name in ("national", "districts", "stations"):
                plain_ms = _get_ms(f"{cec.url}/api/{name}", times=5)[1]
                figures.append(Figure(f"uncached_{name}_ms", round(plain_ms, 1), "ms"))
    return figures
