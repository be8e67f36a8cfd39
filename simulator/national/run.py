"""The coordinator of the national day: one CEC, the stations on a pool or a cluster.

:func:`run_national`:

1. provisions the CEC (deterministic keys from the seed; the package's station
   assignments: ``<station>-D1``, ``<station>-D2`` at each station and, at each TEC,
   one spare ``<tec>-S<k>`` per station of that TEC whose device fails; a CEC-signed
   certificate per device, a spare's naming no station: it speaks for the station it
   replaces a device at, and the CEC counts it there) and starts ONE real CEC server
   (:class:`protocol.cec.server.CecServer`, asyncio TCP on 127.0.0.1, SQLite store in
   ``OUT/cec.sqlite``);
2. draws each station's faults and sends :class:`~simulator.national.station.StationTask` s
   to a local spawn process pool (default) or to Dask (``dask://HOST:PORT`` or a
   LocalCluster), streaming records back as stations finish, with a progress bar;
   a lost worker's stations are rerun (the local pool is rebuilt; Dask reschedules);
3. checks: the CEC's station, district, region and national results against the
   ground truth from the simulated ballot boxes; every message each device holds a
   receipt for stored exactly once at the CEC with the hash the device signed, and
   none stored twice; missing stations exactly the ones that never reported;
4. writes ``OUT/national.json``, ``OUT/stations.jsonl`` and the HTML report.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import json
import multiprocessing as mp
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from election.errors import PcosError
from election.fileio import write_atomically
from election.model import PARTY_LIST_CONTEST, Election
from election.tally import Tally, TallyBuilder
from firmware import package as packages
from firmware.crypto import CertificateRole, issue_certificate, key_from_seed, public_bytes
from firmware.package import StationAssignments, spare_device_id
from protocol.cec.consolidate import consolidate
from protocol.cec.ingest import Ingestor
from protocol.cec.provision import VALID_FROM, VALID_UNTIL, cec_keys, device_identity
from protocol.cec.registry import CecRegistry
from protocol.cec.server import ServerSettings, ServerThread
from protocol.cec.store import open_store
from simulator.national.faults import NationalFaults, draw_station_faults, sample_stations
from simulator.national.station import DeviceKeys, StationTask, run_station, worker_election


class ImagesMode:
    NONE = "none"
    SAMPLE = "sample"
    ALL = "all"


@dataclass(frozen=True)
class NationalSettings:
    stations: int | None = None  # None: all
    images: str = ImagesMode.NONE
    sample_rate: float = 0.01
    faults: NationalFaults = field(default_factory=NationalFaults)
    scheduler: str = "local"  # local | dask-local | dask://HOST:PORT
    workers: int | None = None  # local pool / LocalCluster size (default: CPU count)
    seed: int = 2021
    out: Path = Path("national-out")
    workdir: Path | None = None  # device media; default a tmpfs directory if there is one
    kill_worker_at: tuple[str, ...] = ()  # tests: SIGKILL the worker running these stations
    keep: bool = False
    report: bool = True
    website: str = "check"  # none | check (serve on loopback, fetch, compare) | serve (and stay)
    http_port: int = 0  # --website serve: the port (0: a free one)
    profile: bool = False  # cProfile each station in its worker: OUT/profile/, profile.txt
    # tests: the TECs hand their spares a copy of the package with one byte of the election
    # definition changed (OUT/election-package-tampered.bin): every spare must refuse it
    tamper_spare_package: bool = False

    def check(self) -> None:
        if self.stations is not None and self.stations < 1:
            raise PcosError("--stations must be at least 1 (or 'all')")
        if self.images not in (ImagesMode.NONE, ImagesMode.SAMPLE, ImagesMode.ALL):
            raise PcosError(f"--images must be none, sample or all, not {self.images!r}")
        if not 0.0 < self.sample_rate <= 1.0:
            raise PcosError("--sample-rate must be in (0, 1]")
        if self.seed < 0:
            raise PcosError("--seed must be 0 or more")
        if not (self.scheduler in ("local", "dask-local")
                or self.scheduler.startswith("dask://")):
            raise PcosError(f"--scheduler must be local, dask-local or dask://HOST:PORT, not "
                            f"{self.scheduler!r}")
        if self.workers is not None and self.workers < 1:
            raise PcosError("--workers must be at least 1")
        if self.website not in ("none", "check", "serve"):
            raise PcosError(f"--website must be none, check or serve, not {self.website!r}")
        if not 0 <= self.http_port <= 65535:
            raise PcosError("--http-port must be 0-65535")
        self.faults.check()


def pick_stations(election: Election, n: int | None) -> list[str]:
    """All stations, or ``n`` spread evenly over the country's list (every region)."""
    numbers = [s.number for s in election.stations]
    if n is None or n >= len(numbers):
        return numbers
    step = len(numbers) / n
    return [numbers[int(i * step)] for i in range(n)]


PACKAGE_FILE = "election-package.bin"
TAMPERED_PACKAGE_FILE = "election-package-tampered.bin"
PACKAGE_CREATED = "2021-11-20T12:00:00Z"


def build_run_package(election: Election, assignments: StationAssignments, signing: Any,
                      hpke_public: bytes, seed: int) -> tuple[bytes, dict[str, Any]]:
    """The run's signed election package (what the CEC ships to the TECs): the whole
    election, the run's assignments (two devices a station, the TECs' spares), default
    thresholds, the CEC's HPKE key and signing certificate, signed with the CEC signing key
    that certifies every device. Returns its bytes and the CEC root certificate (JSON), the
    trust anchor the devices hold (keys deterministic from the seed: simulation only)."""
    from vision.config import Thresholds

    root = key_from_seed(hashlib.sha256(f"cec-root/national-{seed}".encode()).digest())
    root_cert = issue_certificate(root, role=CertificateRole.CEC_ROOT, subject="CEC root",
                                  public_key=public_bytes(root), valid_from=VALID_FROM,
                                  valid_until=VALID_UNTIL)
    signing_cert = issue_certificate(root, role=CertificateRole.CEC_SIGNING,
                                     subject="CEC signing", public_key=public_bytes(signing),
                                     valid_from=VALID_FROM, valid_until=VALID_UNTIL,
                                     election_id=election.election_id)
    data = packages.build_package(election=election, assignments=assignments,
                                  thresholds=Thresholds(), hpke_public_key=hpke_public,
                                  signing_key=signing, signing_certificate=signing_cert,
                                  version=1, created=PACKAGE_CREATED)
    return data, root_cert.to_json()


def tampered(data: bytes) -> bytes:
    """``data`` with one byte of its election definition changed (a vote count, a name:
    what an attacker between the CEC and a TEC might try); the signature is left as it was."""
    members = packages.read_container(data)
    body = bytearray(members[packages.ELECTION])
    i = body.index(b'"voters"') + len(b'"voters"')
    while not chr(body[i]).isdigit():
        i += 1
    body[i] = ord("9") if body[i] != ord("9") else ord("8")
    return packages.write_container({**members, packages.ELECTION: bytes(body)})


def _progress(out: TextIO, done: int, total: int, t0: float, sheets: int) -> None:
    elapsed = time.perf_counter() - t0
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("nan")
    width = 30
    fill = int(width * done / total) if total else width
    eta_txt = f"{int(eta // 60)}:{int(eta % 60):02d}" if eta == eta else "--:--"
    out.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} stations "
              f"{sheets} sheets {elapsed:6.1f} s  ETA {eta_txt} ")
    out.flush()


# --- schedulers ------------------------------------------------------------------------------


def _local_pool(tasks: list[StationTask], workers: int) -> Iterator[dict[str, Any]]:
    """A spawn process pool (OpenCV + fork deadlocks were seen in this repo). A worker
    that dies breaks the pool: a new pool reruns every station not yet finished."""
    pending = {t.station: t for t in tasks}
    ctx = mp.get_context("spawn")
    while pending:
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_station, t): s for s, t in pending.items()}
            try:
                for fut in cf.as_completed(futures):
                    exc = fut.exception()
                    if exc is not None and not isinstance(exc, cf.process.BrokenProcessPool):
                        raise PcosError(f"station {futures[fut]} failed: "
                                        f"{type(exc).__name__}: {exc}") from exc
                    rec = fut.result()
                    pending.pop(futures[fut], None)
                    yield rec
            except cf.process.BrokenProcessPool:
                for s, t in list(pending.items()):
                    pending[s] = _again(t)


def _again(t: StationTask) -> StationTask:
    from dataclasses import replace

    return replace(t, attempt=t.attempt + 1)


def _dask(tasks: list[StationTask], scheduler: str, workers: int
          ) -> Iterator[dict[str, Any]]:
    """Dask distributed: each station a task; a lost worker's stations are rescheduled
    by the scheduler (``distributed.scheduler.allowed-failures``)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise PcosError("Dask is not installed: pip install 'dask[distributed]'") from None
    cluster = None
    if scheduler == "dask-local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    else:
        client = Client(scheduler.removeprefix("dask://"), timeout="30s")
    try:
        futures = client.map(run_station, tasks, pure=False, retries=2,
                             key=[f"station-{t.station}" for t in tasks])
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Provisioned:
    registry: CecRegistry
    keys: dict[str, tuple[DeviceKeys, ...]]
    signing: Any
    encryption: Any
    assignments: StationAssignments
    package: bytes
    root_certificate: dict[str, Any]


def station_assignments(election: Election, numbers: list[str], plans: dict[str, Any]
                        ) -> tuple[StationAssignments, dict[str, str]]:
    """The package's assignments for the run, and which spare goes to which station.

    Two devices per station (``<station>-D1``, ``-D2``); at each TEC one spare
    (``<tec>-S1``, ``-S2``, ...) per station of that TEC whose device fails, the
    ``k``-th such station in the run's order getting ``<tec>-S<k>``."""
    failing: dict[str, list[str]] = {}
    for n in numbers:
        if plans[n].failed_device is not None:
            failing.setdefault(election.station(n).tec, []).append(n)
    base = StationAssignments.per_station(election, 2, stations=tuple(numbers))
    spares = {tec: tuple(spare_device_id(tec, k) for k in range(1, len(ns) + 1))
              for tec, ns in failing.items()}
    spare_for = {n: spares[tec][k] for tec, ns in failing.items() for k, n in enumerate(ns)}
    return StationAssignments(stations=base.stations, spares=spares), spare_for


def provision(election: Election, numbers: list[str], plans: dict[str, Any],
              seed: int) -> Provisioned:
    """CEC keys (deterministic from the seed) and a CEC-signed certificate per device of
    :func:`station_assignments`: a station's two devices are certified for it; a TEC
    spare for no station (it may serve any station of its TEC). The CEC registers the
    spares with their TEC and counts each for the station it reports for."""
    signing, encryption = cec_keys(f"national-{seed}")
    assignments, spare_for = station_assignments(election, numbers, plans)
    keys: dict[str, tuple[DeviceKeys, ...]] = {}
    certs = []
    for n in numbers:
        ids = [(did, False) for did in assignments.stations[n]]
        if n in spare_for:
            ids.append((spare_for[n], True))
        dk = []
        for did, spare in ids:
            ident = device_identity(signing, did, n, f"national-{seed}", election.election_id,
                                    tec_spare=spare)
            certs.append(ident.certificate)
            dk.append(DeviceKeys(did, ident.key.private_bytes_raw(),
                                 ident.certificate.to_json()))
        keys[n] = tuple(dk)
    spare_tecs = {d: tec for tec, ds in assignments.spares.items() for d in ds}
    data, root_cert = build_run_package(election, assignments, signing,
                                        encryption.public().x25519.public_bytes_raw(), seed)
    registry = CecRegistry.build(election, signing, encryption, certs,
                                 package_hash=hashlib.sha256(data).hexdigest(),
                                 spare_tecs=spare_tecs)
    return Provisioned(registry, keys, signing, encryption, assignments, data, root_cert)


def longest_first(election: Election, tasks: list[StationTask]) -> list[StationTask]:
    """The stations in the order to start them: the longest day first (longest processing
    time first: the last stations to finish are short ones, so the pool's tail, where a
    core idles, is short). A station's work is about its voters (its sheets); a station
    with full images costs some hundred times a sheet more, so those go first of all."""
    return sorted(tasks, key=lambda t: (not t.faults.images,
                                        -election.station(t.station).voters, t.station))


def draw_plans(settings: NationalSettings, numbers: list[str]) -> dict[str, Any]:
    """Each station's drawn faults (and whether it uses a modem, full images)."""
    faults, seed = settings.faults, settings.seed
    modem = sample_stations(numbers, faults.modem_sample, seed, 1, faults.modem_sample_max)
    if settings.images == ImagesMode.ALL:
        images = set(numbers)
    elif settings.images == ImagesMode.SAMPLE:
        images = sample_stations(numbers, settings.sample_rate, seed, 2)
    else:
        images = set()
    return {n: draw_station_faults(faults, n, seed, modem=n in modem, images=n in images)
            for n in numbers}


def run_national(settings: NationalSettings, progress: TextIO | None = sys.stderr,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    settings.check()
    t0 = time.perf_counter()
    election = worker_election()
    numbers = pick_stations(election, settings.stations)
    seed = settings.seed
    faults = settings.faults
    plans = draw_plans(settings, numbers)
    cec = provision(election, numbers, plans, seed)
    registry, keys, signing, encryption = cec.registry, cec.keys, cec.signing, cec.encryption
    package_hash = registry.package_hash
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "cec.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    tmp_root = settings.workdir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    work = Path(tempfile.mkdtemp(prefix="pcos-national-", dir=tmp_root))
    workers = settings.workers or max(1, mp.cpu_count())
    package_path = out / PACKAGE_FILE
    write_atomically(package_path, cec.package)
    if settings.tamper_spare_package:
        package_path = out / TAMPERED_PACKAGE_FILE
        write_atomically(package_path, tampered(cec.package))
    store = open_store(db_path)
    records: list[dict[str, Any]] = []
    truth: dict[str, Tally] = {}
    web = (_WebsiteProcess(settings, numbers, db_path) if settings.website != "none"
           else None)
    prepare_s = time.perf_counter() - t0
    try:
        with ServerThread(Ingestor(registry, store),
                          ServerSettings(idle_timeout_s=60, frame_timeout_s=60)) as srv:
            x_pub = encryption.public().x25519.public_bytes_raw()
            tasks = [StationTask(n, seed, plans[n], faults, keys[n], "127.0.0.1", srv.port,
                                 x_pub, public_bytes(signing.public_key()), package_hash,
                                 str(work), kill_after_zero=n in settings.kill_worker_at,
                                 keep=settings.keep,
                                 profile_dir=str(out / "profile") if settings.profile else "",
                                 package_path=str(package_path.resolve()),
                                 cec_root=cec.root_certificate)
                     for n in numbers]
            tasks = longest_first(election, tasks)
            source = (_local_pool(tasks, workers) if settings.scheduler == "local"
                      else _dask(tasks, settings.scheduler, workers))
            t_run = time.perf_counter()
            sheets = 0
            stream = (out / "stations.jsonl").open("w", encoding="utf-8")
            with stream:
                for rec in source:
                    records.append(rec)
                    truth[rec["station"]] = Tally.from_json(rec["truth"])  # while workers run
                    sheets += rec["sheets"]
                    stream.write(json.dumps(rec, sort_keys=True) + "\n")
                    if on_record is not None:
                        on_record(rec)
                    if progress is not None:
                        _progress(progress, len(records), len(tasks), t_run, sheets)
            if progress is not None:
                progress.write("\n")
            run_s = time.perf_counter() - t_run
            stats = srv.server.stats
            server = {"frames": stats.frames, "accepted": stats.accepted,
                      "duplicates": stats.duplicates, "refused": stats.refused,
                      "reasons": dict(stats.reasons)}
        t_check = time.perf_counter()
        if web is not None:  # the website check runs in its process meanwhile
            web.start(out / "stations.jsonl")
        summary, national_cec = verify(election, registry, store, records, truth)
        verify_s = time.perf_counter() - t_check
        if web is not None:
            summary["website"] = _merge_website(web.result(), summary)
        checks_s = time.perf_counter() - t_check
    finally:
        if web is not None:
            web.close()
        store.close()
        if not settings.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    summary.update(seconds=round(time.perf_counter() - t0, 2), run_s=round(run_s, 2),
                   prepare_s=round(prepare_s, 2), verify_s=round(verify_s, 2),
                   checks_s=round(checks_s, 2), scheduler=settings.scheduler,
                   workers=workers, images=settings.images, seed=seed, server=server,
                   image_stations=sum(p.images for p in plans.values()),
                   modem_stations=sum(p.modem for p in plans.values()),
                   reruns=sum(1 for r in records if r["attempt"] > 0),
                   faults=faults.to_json())
    (out / "national.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    if settings.report:
        from simulator.national.report import write_report

        write_report(out, election, summary, records, national_cec)
    if settings.profile:
        from simulator.national.profile import summarise

        (out / "profile.txt").write_text(summarise(out / "profile", summary["sheets"]),
                                         encoding="utf-8")
    if settings.website == "serve":
        _serve_website(registry, db_path, settings.http_port, progress)
    return summary


@functools.lru_cache(maxsize=1)
def _website_registry(settings: NationalSettings, numbers: tuple[str, ...]) -> CecRegistry:
    """The CEC registry of the run, rebuilt in the website's process (deterministic from
    the settings: the same keys, certificates and package as the coordinator's)."""
    election = worker_election()
    return provision(election, list(numbers), draw_plans(settings, list(numbers)),
                     settings.seed).registry


def _website_prepare(settings: NationalSettings, numbers: tuple[str, ...]) -> None:
    """Runs while the stations do: imports, the election, the registry."""
    from simulator.national import website  # noqa: F401

    _website_registry(settings, numbers)


def _website_job(settings: NationalSettings, numbers: tuple[str, ...], db_path: str,
                 records_path: str) -> dict[str, Any]:
    """The CEC's public website on the run's store, served on loopback and fetched over
    HTTP, every figure compared with the truth of the station records
    (:mod:`simulator.national.website`)."""
    from simulator.national.website import check_website, serving

    t0 = time.perf_counter()
    registry = _website_registry(settings, numbers)
    records = [json.loads(line) for line in
               Path(records_path).read_text(encoding="utf-8").splitlines()]
    with serving(registry, Path(db_path)) as url:
        web = check_website(url, worker_election(), records)
    doc = web.to_json()
    doc["all_differences"] = (web.differences
                              or ([] if web.matches_truth
                                  else [{"where": "website", "what": f"pages: {web.pages}"}]))
    doc["seconds"] = round(time.perf_counter() - t0, 2)
    return doc


class _WebsiteProcess:
    """The website check in a process of its own (spawned at the start, prepared while the
    stations run), so that at the end it runs beside the CEC check on the other core."""

    def __init__(self, settings: NationalSettings, numbers: list[str], db_path: Path) -> None:
        self.settings = settings
        self.numbers = tuple(numbers)
        self.db_path = db_path
        self.pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
        self.prepared = self.pool.submit(_website_prepare, settings, self.numbers)
        self.job: cf.Future[dict[str, Any]] | None = None

    def start(self, records_path: Path) -> None:
        self.job = self.pool.submit(_website_job, self.settings, self.numbers,
                                    str(self.db_path), str(records_path))

    def result(self) -> dict[str, Any]:
        assert self.job is not None
        self.prepared.result()
        return self.job.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _merge_website(doc: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The website's differences join the run's: the published result must equal the
    truth too."""
    found = doc.pop("all_differences")
    if found:
        summary["differences"] = (summary["differences"] + found)[:200]
        summary["differences_total"] += len(found)
        summary["totals_match_truth"] = False
    return doc


def _serve_website(registry: CecRegistry, db_path: Path, port: int,
                   progress: TextIO | None) -> None:
    """``--website serve``: keep the results website up until interrupted."""
    from simulator.national.website import serving

    with serving(registry, db_path, port) as url:
        if progress is not None:
            progress.write(f"results website: {url}/ (JSON under {url}/api; Ctrl-C stops)\n")
            progress.flush()
        stop = threading.Event()
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or kill: stop serving
                handlers[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    pass
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def _sum(election: Election, tallies: list[Tally]) -> Tally:
    b = TallyBuilder.from_tally(Tally.empty(election, ()))
    for t in tallies:
        b.merge(t)
    return b.build()


def _diff(where: str, cec: Tally | None, truth: Tally) -> list[dict[str, Any]]:
    """Each count that differs between the CEC and the truth, named."""
    if cec is None:
        return [{"where": where, "what": "missing at the CEC"}]
    if cec == truth:
        return []
    out = []
    a, b = cec.to_json()["contests"], truth.to_json()["contests"]
    for contest in sorted(set(a) | set(b)):
        ca, cb = a.get(contest, {}), b.get(contest, {})
        for key in sorted(set(ca) | set(cb)):
            if ca.get(key) != cb.get(key):
                if isinstance(ca.get(key), dict) and isinstance(cb.get(key), dict):
                    for opt in sorted(set(ca[key]) | set(cb[key])):
                        if ca[key].get(opt) != cb[key].get(opt):
                            out.append({"where": where, "contest": contest,
                                        "what": f"{key}/{opt}", "cec": ca[key].get(opt),
                                        "truth": cb[key].get(opt)})
                else:
                    out.append({"where": where, "contest": contest, "what": key,
                                "cec": ca.get(key), "truth": cb.get(key)})
    return out or [{"where": where, "what": "tallies differ"}]


def verify(election: Election, registry: CecRegistry, store: Any,
           records: list[dict[str, Any]], truth: dict[str, Tally] | None = None
           ) -> tuple[dict[str, Any], Tally]:
    """Compare the CEC with the truth at every level, and count message deliveries.
    ``truth``: the records' truth tallies, if already read (as the records came in).
    Returns the summary and the CEC's national tally (reported stations)."""
    c = consolidate(registry, store)
    by_station = {r["station"]: r for r in records}
    truth = {n: (truth[n] if truth is not None and n in truth
                 else Tally.from_json(r["truth"])) for n, r in by_station.items()}
    silent = {n for n, r in by_station.items() if r["faults"]["never_reports"]}
    differences: list[dict[str, Any]] = []
    for n in sorted(by_station):
        if n in silent:
            if n in c.station_tallies:
                differences.append({"where": f"station {n}", "what": "a silent station "
                                    "reported"})
            continue
        differences += _diff(f"station {n}", c.station_tallies.get(n), truth[n])
    reported = [n for n in by_station if n in c.station_tallies]
    levels: dict[str, dict[str, list[str]]] = {"district": {}, "region": {}}
    for n in reported:
        st = election.station(n)
        levels["region"].setdefault(st.region, []).append(n)
        key = f"{st.district:02d}" if st.district is not None else "abroad"
        levels["district"].setdefault(key, []).append(n)
    for level, groups in levels.items():
        for key, ns in sorted(groups.items()):
            differences += _diff(f"{level} {key}",
                                 _sum(election, [c.station_tallies[n] for n in ns]),
                                 _sum(election, [truth[n] for n in ns]))
    national_cec = _sum(election, [c.station_tallies[n] for n in reported])
    national_truth = _sum(election, [truth[n] for n in reported])
    differences += _diff("national", national_cec, national_truth)
    # messages: each one a device holds a receipt for, stored once with the signed hash
    stored = {(m.device_id, m.sequence): m.message_hash for m in store.messages()}
    messages = delivered = matched = 0
    undelivered_where_expected = 0
    for r in records:
        for d in r["devices"]:
            for m in d["messages"]:
                messages += 1
                if m["state"] == "delivered":
                    delivered += 1
                    if stored.get((d["device_id"], m["sequence"])) == m["hash"]:
                        matched += 1
                elif not r["faults"]["never_reports"]:
                    undelivered_where_expected += 1
    rows = store.count("messages")
    delivered_once = (matched == delivered and rows == delivered
                      and undelivered_where_expected == 0)
    # spares: each that took over loaded the run's package (its audit log says so, with
    # the hash); a refusal is named (the failed device's sheets then go unreported)
    spares_loaded, spares_refused, named, spares_cpu_s = 0, [], [], 0.0
    for r in records:
        for d in r["devices"]:
            if "package_loaded" not in d:
                continue
            got = (d["package_loaded"] or {}).get("package_hash")
            spares_cpu_s += d.get("package_load_cpu_s", 0.0)
            if got == registry.package_hash:
                spares_loaded += 1
            else:
                named.append({"where": f"station {r['station']}",
                              "what": f"spare {d['device_id']} runs package {got}, "
                                      f"not the run's {registry.package_hash}"})
        if r.get("spare_refused"):
            spares_refused.append({"station": r["station"], **r["spare_refused"]})
            named.append({"where": f"station {r['station']}",
                          "what": f"spare {r['spare_refused']['device']} refused the "
                                  f"package ({r['spare_refused']['reason']}): the failed "
                                  "device's sheets were not reported"})
    differences[:0] = named  # first: the count differences they explain follow
    # the DEC protocols' spoiled ballots: what each commission exchanged, as the CEC holds it
    spoiled = 0
    for r in records:
        n, exchanged = r["station"], len(r.get("spoiled", ()))
        spoiled += exchanged
        dec = c.dec_reports.get(n)
        if dec is not None and dec.figures.ballots_spoiled != exchanged:
            differences.append({"where": f"station {n}", "what": "ballots_spoiled",
                                "cec": dec.figures.ballots_spoiled, "truth": exchanged})
    not_in_box = sum(len(r["not_in_box"]) for r in records)
    if not_in_box:
        differences.append({"where": "ballot boxes", "what": f"{not_in_box} planned sheets "
                            "never reached a box"})
    pl_truth = national_truth.contest(PARTY_LIST_CONTEST)
    return {
        "stations": len(records),
        "devices": sum(len(r["devices"]) for r in records),
        "sheets": sum(r["sheets"] for r in records),
        "voters": sum(r["voters"] for r in records),
        "messages": messages,
        "messages_delivered": delivered,
        "messages_stored_at_cec": rows,
        "delivered_once": delivered_once,
        "totals_match_truth": not differences,
        "differences": differences[:200],
        "differences_total": len(differences),
        "stations_reported": len(reported),
        "stations_missing": sorted(n for n in by_station if n not in c.station_tallies),
        "stations_silent_by_plan": sorted(silent),
        "national_party_list_ballots": pl_truth.ballots,
        "ballots_spoiled": spoiled,
        "incidents": _incident_counts(records),
        "stations_with_failure": sum(1 for r in records if any(
            i["kind"] in ("device-failure", "power-cut", "modem-outage")
            for i in r["incidents"])),
        "spares_loaded_package": spares_loaded,
        "spares_refused": spares_refused,
        "spares_package_load_cpu_s": round(spares_cpu_s, 2),
        "cec_incidents": c.incidents,
        "cec_refusals": c.refusals,
        "cpu_s": round(sum(r["cpu_s"] for r in records), 2),
    }, national_cec


def _incident_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        for i in r["incidents"]:
            out[i["kind"]] = out.get(i["kind"], 0) + 1
    return dict(sorted(out.items()))
