"""``pcos cec ...``: the CEC side of the results protocol.

* ``pcos cec provision --out DIR``: write a CEC directory (election, CEC keys, device
  certificates and, for demos, the device keys) — see :mod:`protocol.cec.registry`;
* ``pcos cec serve --dir DIR [--db postgresql://...]``: the device listener (TCP) and the
  JSON API (HTTP) in one process;
* ``pcos cec send --dir DIR --device ID``: play one device's day (zero report, results,
  DEC protocol) through its outbox to a running server;
* ``pcos cec export --dir DIR``: the NIST SP 1500-100 results file;
* ``pcos cec results --dir DIR``: the national results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from election.default import default_election
from election.definition import load_election
from election.errors import PcosError
from election.fileio import write_atomically
from protocol.cec.registry import CecRegistry
from protocol.cec.store import Store, open_store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("cec", help="the CEC server: receive, consolidate, publish",
                              description="The CEC side of the results protocol.")
    subs = p.add_subparsers(dest="cec_command", metavar="ACTION")
    subs.required = True

    prov = subs.add_parser("provision", help="write a CEC directory with device certificates")
    prov.add_argument("--out", required=True, help="directory to create")
    prov.add_argument("--election", help="election definition (default: the embedded one)")
    prov.add_argument("--stations", default="1001,1002,1003",
                      help="comma list of stations, or 'all'")
    prov.add_argument("--devices-per-station", type=int, default=2)
    prov.add_argument("--seed", default="demo", help="key seed (simulation only)")
    prov.set_defaults(func=_provision)

    serve = subs.add_parser("serve", help="run the device listener and the JSON API")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7800, help="device (TCP) port")
    serve.add_argument("--http-port", type=int, default=8080, help="JSON API port (0: none)")
    serve.add_argument("--idle-timeout-s", type=float, default=30.0)
    serve.add_argument("--frame-timeout-s", type=float, default=60.0)
    serve.set_defaults(func=_serve)

    send = subs.add_parser("send", help="play one device's day to a running server")
    send.add_argument("--dir", required=True, help="CEC directory (from provision)")
    send.add_argument("--device", required=True, help="device id, e.g. 1001-D1")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=7800)
    send.add_argument("--outbox", help="outbox file (default: DIR/outbox-<device>.db)")
    send.add_argument("--seed", type=int, default=1, help="seed of the simulated results")
    send.add_argument("--timeout-s", type=float, default=60.0)
    send.add_argument("--suite", default="x25519-hkdf-sha256-aes256gcm",
                      choices=["x25519-hkdf-sha256-aes256gcm",
                               "mlkem768x25519-hkdf-sha256-aes256gcm"],
                      help="HPKE suite (the second is the post-quantum hybrid)")
    send.add_argument("--with-dec", action="store_true",
                      help="also send a DEC protocol (figures = this device's count only)")
    send.set_defaults(func=_send)

    export = subs.add_parser("export", help="write the NIST SP 1500-100 results file")
    _common(export)
    export.add_argument("--out", required=True, help="JSON file to write")
    export.set_defaults(func=_export)

    results = subs.add_parser("results", help="print the national results as JSON")
    _common(results)
    results.set_defaults(func=_results)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, help="CEC directory (see pcos cec provision); with "
                   "--package only the database lives there")
    p.add_argument("--db", help="database: a SQLite file (default DIR/cec.db) or "
                   "postgresql://user@host:port/db")
    p.add_argument("--package", help="the signed election package (pcos package build): "
                   "read the election and registry from it instead of DIR")
    p.add_argument("--keys", help="with --package: the CEC key directory (pcos package keygen)")
    p.add_argument("--device-certs", action="append", default=[], metavar="PATH",
                   help="with --package: device certificate files or directories "
                   "(pcos device provision), repeatable")
    p.add_argument("--revoked", help="with --package: file of revoked device ids, one a line")
    p.add_argument("--now", help="with --package: check certificates at this UTC time "
                   "(default: now)")


def _registry(args: argparse.Namespace) -> CecRegistry:
    if not getattr(args, "package", None):
        return CecRegistry.load(args.dir)
    from protocol.cec.package_registry import load_certificates, registry_from_package

    if not args.keys or not args.device_certs:
        raise PcosError("--package needs --keys and at least one --device-certs")
    revoked: frozenset[str] = frozenset()
    if args.revoked:
        try:
            lines = Path(args.revoked).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PcosError(f"{args.revoked}: cannot read ({exc.strerror or exc})") from None
        revoked = frozenset(x.strip() for x in lines if x.strip())
    return registry_from_package(args.package, args.keys,
                                 load_certificates(args.device_certs), now=args.now,
                                 revoked=revoked)


def _open(args: argparse.Namespace) -> tuple[CecRegistry, Store]:
    registry = _registry(args)
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    return registry, open_store(args.db or Path(args.dir) / "cec.db")


def _provision(args: argparse.Namespace) -> int:
    from protocol.cec.provision import provision

    election = load_election(args.election) if args.election else default_election()
    if args.stations == "all":
        stations = [s.number for s in election.stations]
    else:
        stations = [s.strip() for s in args.stations.split(",") if s.strip()]
    for s in stations:
        try:
            election.station(s)
        except KeyError:
            raise PcosError(f"--stations: no station {s} in {election.election_id}") from None
    if args.devices_per_station < 1:
        raise PcosError("--devices-per-station must be at least 1")
    devices = provision(args.out, election, stations,
                        devices_per_station=args.devices_per_station, seed=args.seed)
    print(f"wrote {args.out}: {len(devices)} device certificates for {len(stations)} stations")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from protocol.cec.cache import CachedResultsApi
    from protocol.cec.ingest import Ingestor
    from protocol.cec.server import CecServer, ServerSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    registry, store = _open(args)
    server = CecServer(Ingestor(registry, store), ServerSettings(
        host=args.host, port=args.port, idle_timeout_s=args.idle_timeout_s,
        frame_timeout_s=args.frame_timeout_s))

    async def main() -> None:
        port = await server.start()
        print(f"CEC: devices on {args.host}:{port}, {len(registry.devices)} devices registered,"
              f" database {store.url}", flush=True)
        if args.http_port:
            import uvicorn

            from protocol.cec.web import create_app

            reader = open_store(args.db or Path(args.dir) / "cec.db")  # the API's own
            # views built once per store change, not per poll (docs/readme/website.md)
            config = uvicorn.Config(create_app(CachedResultsApi(registry, reader)),
                                    host=args.host, port=args.http_port, log_level="warning")
            print(f"CEC: website on http://{args.host}:{args.http_port}/ (JSON API under "
                  f"/api)", flush=True)
            await uvicorn.Server(config).serve()
        else:
            await asyncio.Event().wait()
        await server.stop()

    asyncio.run(main())
    return 0


def _send(args: argparse.Namespace) -> int:
    import hashlib
    import time

    import numpy as np

    from benchmarks.cec_data import PNG_1X1, dec_figures_for, random_tally
    from election.tally import Tally
    from firmware.crypto import load_certificate, load_private_key
    from protocol.cec.registry import CecRegistry
    from protocol.channel import make_sender
    from protocol.device import DeviceIdentity, DeviceMessenger
    from protocol.envelope import SuiteName
    from protocol.messages import Content, DecProtocol, Results, SheetCounts, ZeroReport
    from protocol.outbox import Outbox, TcpTransport
    from protocol.receipts import parse_receipt

    root = Path(args.dir)
    registry = CecRegistry.load(root)
    cert = load_certificate(root / "devices" / f"{args.device}.cert.json")
    key = load_private_key(root / "device-keys" / f"{args.device}.key")
    assert cert.station is not None
    ident = DeviceIdentity(args.device, cert.station, key, cert)
    election = registry.election
    station = election.station(cert.station)
    outbox = Outbox(args.outbox or root / f"outbox-{args.device}.db")
    if outbox.next_sequence() == 1:
        messenger = DeviceMessenger(ident, registry.election_hash, registry.package_hash)
        tally = random_tally(election, station, np.random.default_rng(args.seed), 300)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        contents: list[Content] = [ZeroReport(Tally.empty(election, station.contest_ids())),
                                   Results(tally, SheetCounts(300, 0, 0))]
        if args.with_dec:
            contents.append(DecProtocol((PNG_1X1,), dec_figures_for(station, tally)))
        for i, content in enumerate(contents):
            head = hashlib.sha256(f"{args.device}/{i}".encode()).hexdigest()
            messenger.queue(outbox, content, time=now, audit_head=head)
    sender = make_sender(outbox, TcpTransport, args.host, args.port,
                         registry.encryption_keys.public(), registry.signing_public,
                         args.device, suite=SuiteName(args.suite))
    done = sender.run(deadline_s=time.time() + args.timeout_s)
    for e in outbox.entries():
        why = e.last_error if e.state.value == "pending" else ""
        if e.receipt is not None:
            receipt = parse_receipt(e.receipt, registry.signing_public)
            why = receipt.reason.value + ": " + receipt.detail if receipt.reason else ""
        print(f"#{e.sequence} {e.kind}: {e.state.value} after {e.attempts} failed attempts"
              + (f" ({why})" if why else ""))
    if not done:
        raise PcosError(f"{len(outbox.pending())} messages still without a receipt")
    return 0


def _export(args: argparse.Namespace) -> int:
    from protocol.cec.api import ResultsApi

    registry, store = _open(args)
    doc = ResultsApi(registry, store).nist()
    write_atomically(args.out, json.dumps(doc, ensure_ascii=False, indent=1).encode() + b"\n")
    print(f"wrote {args.out}: {doc['Status']}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from protocol.cec.api import ResultsApi

    registry, store = _open(args)
    print(json.dumps(ResultsApi(registry, store).national(), ensure_ascii=False, indent=1))
    return 0
