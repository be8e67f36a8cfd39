"""``pcos bench cec``: N simulated devices report to a real CEC server over loopback TCP.

Each device sends its zero report, results and DEC protocol through the real
protocol (signed messages, HPKE envelopes, frames, signed receipts) to a
real :class:`~protocol.cec.server.CecServer` in its own process (SQLite WAL,
``synchronous=FULL``, group commit). A fraction ``link_faults`` of the device
links is faulty: each attempt over such a link may drop (cut mid-frame, or
after the frame before the receipt), duplicate the frame, or delay it. A
device resends until it holds a valid, matching receipt, with the outbox's
seeded exponential backoff (scaled to a LAN: 20 ms base, 1 s cap).

The devices keep their outbox in memory here (the durable SQLite outbox is
exercised in ``tests/test_protocol_outbox.py``); envelopes are sealed before
the clock starts, as a device seals at polls close, and a retry resends the
same envelope.

Figures: ``devices``, ``messages``, ``accepted_once`` (messages stored exactly
once, with the hash the device signed), ``lost``, ``duplicated_in_totals``
(stations whose consolidated count differs from the sum of what their devices
signed), ``totals_match`` (national consolidated tally == sum of every signed
tally), ``ingest_s`` (first byte sent to last receipt), plus the server's
duplicate and refusal counts and ``prepare_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing as mp
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from benchmarks.cec_data import PNG_1X1, dec_figures_for, random_tally
from benchmarks.common import Figure
from election.default import default_election
from election.errors import PcosError
from election.model import Election
from election.tally import Tally, TallyBuilder
from firmware.package import station_device_id
from protocol.cec.consolidate import consolidate, national_view
from protocol.cec.ingest import Ingestor
from protocol.cec.nist import election_report
from protocol.cec.provision import cec_keys, device_identity
from protocol.cec.registry import CecRegistry
from protocol.cec.server import CecServer, ServerSettings
from protocol.cec.store import open_store
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.envelope import seal
from protocol.errors import ProtocolError, Reason
from protocol.frames import encode_frame, read_frame_async
from protocol.messages import Content, DecProtocol, Results, SheetCounts, ZeroReport
from protocol.outbox import Backoff
from protocol.receipts import ReceiptStatus, parse_receipt

TIME = "2021-11-28T20:05:00Z"


@dataclass
class SimDevice:
    identity: DeviceIdentity
    envelopes: list[bytes]
    hashes: list[str]
    tally: Tally
    faulty: bool


def _assign(election: Election, devices: int) -> list[tuple[str, str]]:
    """(device id, station): two per station first, the rest spares spread over stations."""
    stations = [s.number for s in election.stations]
    out = []
    for i in range(devices):
        station = stations[i % len(stations)]
        out.append((station_device_id(station, i // len(stations) + 1), station))
    return out


def _prepare(election: Election, devices: int, link_faults: float, seed: int
             ) -> tuple[CecRegistry, list[SimDevice]]:
    signing, encryption = cec_keys(f"bench-{seed}")
    public = encryption.public()
    rng = np.random.default_rng(seed)
    faults = random.Random(seed)
    idents = [device_identity(signing, did, st, f"bench-{seed}", election.election_id)
              for did, st in _assign(election, devices)]
    registry = CecRegistry.build(election, signing, encryption,
                                 [d.certificate for d in idents])
    tallies = {d.device_id: random_tally(election, election.station(d.station), rng,
                                         int(rng.integers(50, 400))) for d in idents}
    station_totals: dict[str, TallyBuilder] = {}
    for d in idents:
        station_totals.setdefault(d.station, TallyBuilder.from_tally(
            Tally.empty(election, ()))).merge(tallies[d.device_id])
    sims = []
    for d in idents:
        station = election.station(d.station)
        m = DeviceMessenger(d, registry.election_hash, registry.package_hash)
        contents: list[Content] = [ZeroReport(Tally.empty(election, station.contest_ids())),
                    Results(tallies[d.device_id], SheetCounts(
                        tallies[d.device_id].contest("party-list").ballots, 0, 0)),
                    DecProtocol((PNG_1X1,), dec_figures_for(station,
                                                            station_totals[d.station].build()))]
        signed = [m.build(c, sequence=i + 1, time=TIME,
                          audit_head=hashlib.sha256(f"{d.device_id}/{i}".encode()).hexdigest())
                  for i, c in enumerate(contents)]
        sims.append(SimDevice(d, [seal(s, public) for s in signed],
                              [s.message_hash for s in signed], tallies[d.device_id],
                              faults.random() < link_faults))
    return registry, sims


def _serve(registry: CecRegistry, db: str, ready: Any, stop: Any) -> None:
    logging.getLogger("pcos.cec").setLevel(logging.ERROR)  # refusals are counted, not printed

    async def main() -> None:
        store = open_store(db)
        server = CecServer(Ingestor(registry, store),
                           ServerSettings(idle_timeout_s=30, frame_timeout_s=30))
        port = await server.start()
        cpu0 = time.process_time()
        ready.put(port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()
        s = server.stats
        ready.put({"cpu_s": time.process_time() - cpu0, "duplicates": s.duplicates,
                   "refused": s.refused, "batches": s.batches, "reasons": s.reasons})
        store.close()

    asyncio.run(main())


async def _device(sim: SimDevice, port: int, rng: random.Random, cec_key: Ed25519PublicKey,
                  sem: asyncio.Semaphore) -> int:
    """Deliver every envelope; returns the number of attempts used."""
    backoff = Backoff(base_s=0.02, cap_s=1.0, rng=rng)
    attempts = 0
    i = 0
    async with sem:
        while i < len(sim.envelopes):
            attempts += 1
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                while i < len(sim.envelopes):
                    frame = encode_frame(sim.envelopes[i])
                    fault = rng.choice(("drop-mid", "drop-after", "duplicate", "delay", None,
                                        None)) if sim.faulty else None
                    if fault == "delay":
                        await asyncio.sleep(rng.uniform(0.01, 0.2))
                    if fault == "drop-mid":
                        writer.write(frame[: rng.randrange(1, len(frame))])
                        await writer.drain()
                        raise ConnectionResetError("link dropped mid-frame")
                    writer.write(frame * (2 if fault == "duplicate" else 1))
                    await writer.drain()
                    if fault == "drop-after":
                        raise ConnectionResetError("link dropped before the receipt")
                    for _ in range(2 if fault == "duplicate" else 1):
                        data = await read_frame_async(reader, idle_timeout_s=60,
                                                      frame_timeout_s=60)
                        if data is None:
                            raise ConnectionResetError("closed")
                        receipt = parse_receipt(data, cec_key)
                        if (receipt.status is not ReceiptStatus.ACCEPTED
                                or receipt.message_hash != sim.hashes[i]):
                            raise ProtocolError(receipt.reason or Reason.BAD_RECEIPT,
                                                receipt.detail)
                    i += 1
            except (OSError, ProtocolError, asyncio.IncompleteReadError):
                await asyncio.sleep(backoff.delay_s(attempts))
            finally:
                if writer is not None:
                    writer.close()
    return attempts


async def _drive(sims: list[SimDevice], port: int, cec_key: Ed25519PublicKey, seed: int,
                 concurrency: int) -> list[int]:
    sem = asyncio.Semaphore(concurrency)
    rngs = [random.Random(seed * 100003 + i) for i in range(len(sims))]
    return await asyncio.gather(*(_device(s, port, r, cec_key, sem)
                                  for s, r in zip(sims, rngs, strict=True)))


def run(devices: int = 200, link_faults: float = 0.3, seed: int = 1, db: str | None = None,
        concurrency: int = 256) -> list[Figure]:
    if devices < 1 or not 0 <= link_faults <= 1:
        raise PcosError("--devices must be at least 1 and --link-faults within 0..1")
    election = default_election()
    t0 = time.perf_counter()
    registry, sims = _prepare(election, devices, link_faults, seed)
    prepare_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="pcos-bench-cec-") as tmp:
        url = db or str(Path(tmp) / "cec.db")
        if url.startswith("postgres"):
            from protocol.cec.store import reset_postgres

            reset_postgres(url)
        ctx = mp.get_context("fork")
        ready, stop = ctx.Queue(), ctx.Event()
        proc = ctx.Process(target=_serve, args=(registry, url, ready, stop), daemon=True)
        proc.start()
        try:
            port = ready.get(timeout=60)
            t1, c1 = time.perf_counter(), time.process_time()
            attempts = asyncio.run(_drive(sims, port, registry.signing_public, seed,
                                          concurrency))
            ingest_s = time.perf_counter() - t1
            client_cpu_s = time.process_time() - c1
            stop.set()
            stats = ready.get(timeout=60)
        finally:
            stop.set()
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        store = open_store(url)
        stored = {(m.device_id, m.sequence): m.message_hash for m in store.messages()}
        expected = {(s.identity.device_id, i + 1): h for s in sims for i, h in enumerate(s.hashes)}
        accepted_once = sum(1 for k, h in expected.items() if stored.get(k) == h)
        lost = sum(1 for k in expected if k not in stored)
        t2 = time.perf_counter()
        c = consolidate(registry, store)
        national_view(c)
        consolidate_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        election_report(c, "2021-11-29T06:00:00Z")
        nist_s = time.perf_counter() - t3
        signed_per_station: dict[str, TallyBuilder] = {}
        for s in sims:
            signed_per_station.setdefault(s.identity.station, TallyBuilder.from_tally(
                Tally.empty(election, ()))).merge(s.tally)
        dup = sum(1 for st, b in signed_per_station.items() if c.station_tallies.get(st)
                  != b.build())
        national_signed = TallyBuilder.from_tally(Tally.empty(election, ()))
        for s in sims:
            national_signed.merge(s.tally)
        national = TallyBuilder.from_tally(Tally.empty(election, ()))
        for t in c.station_tallies.values():
            national.merge(t)
        totals_match = national.build() == national_signed.build()
        extra = store.count("messages") - len(expected)
        store.close()
    return [
        Figure("devices", devices), Figure("messages", len(expected)),
        Figure("accepted_once", accepted_once), Figure("lost", lost),
        Figure("duplicated_in_totals", dup), Figure("totals_match", totals_match),
        Figure("ingest_s", round(ingest_s, 2), "s"),
        Figure("extra_rows", extra),
        Figure("faulty_links", sum(s.faulty for s in sims)),
        Figure("attempts", sum(attempts)),
        Figure("server_duplicates", stats["duplicates"]),
        Figure("server_refusals", stats["refused"]),
        Figure("server_batches", stats["batches"]),
        Figure("server_cpu_s", round(stats["cpu_s"], 2), "s"),
        Figure("devices_cpu_s", round(client_cpu_s, 2), "s"),
        Figure("load_average", round(os.getloadavg()[0], 1)),
        Figure("prepare_s", round(prepare_s, 2), "s"),
        Figure("consolidate_s", round(consolidate_s, 2), "s"),
        Figure("nist_export_s", round(nist_s, 2), "s"),
    ]
