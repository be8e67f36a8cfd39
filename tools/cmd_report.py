"""``pcos verify-report`` and ``pcos report render``: check a printed report, make sample ones.

``verify-report IMAGE...`` decodes the quick-results QR codes from photos or
scans of the paper, reassembles them, checks the device's signature against
its certificate (and, when given, the certificate chain up to the CEC root)
and prints the figures. An observer can so check that the paper says what the
device signed.

``report render`` lays out a sample report (the default election and a
seeded random tally), sends its ESC/POS bytes through the virtual printer on a
pseudo-terminal, and writes the decoded paper roll as PNG, the raw bytes as
``.escpos``, and the demo device key and certificate used for the codes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.model import Election, Language
from firmware import crypto, escpos, qrphoto, quickresults, reports
from firmware.crypto import CertificateRole
from firmware.hal.printer import SerialPrinter, print_job
from firmware.quickresults import QuickResults
from firmware.reportdata import ReportMode
from simulator.printer import VirtualPrinter
from tools.common import add_election_option, load_election_arg

DEMO_DEVICE_SEED = bytes(range(32))
DEMO_CEC_SEED = bytes(range(100, 132))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = subparsers.add_parser("verify-report", help="check the signed QR codes on a photo of "
                              "a printed report", description=__doc__.split("\n\n")[1])
    v.add_argument("images", nargs="+", metavar="IMAGE", help="photo(s) or scan(s) of the paper")
    v.add_argument("--cert", required=True, metavar="FILE", help="the device certificate")
    v.add_argument("--cec-cert", metavar="FILE",
                   help="the CEC signing certificate that issued the device certificate")
    v.add_argument("--cec-root", metavar="FILE",
                   help="the CEC root certificate (self-signed) that issued --cec-cert")
    v.add_argument("--engine", choices=[e.value for e in qrphoto.Engine], default="opencv",
                   help="QR decoder (default opencv; zxing needs zxing-cpp)")
    v.add_argument("--lang", choices=["ky", "ru"], default="ru", help="language of the names")
    v.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_election_option(v)
    v.set_defaults(func=run_verify)

    r = subparsers.add_parser("report", help="printed reports")
    rs = r.add_subparsers(dest="report_command", metavar="COMMAND")
    rs.required = True
    render = rs.add_parser("render", help="render a sample report to PNG and ESC/POS bytes",
                           description=__doc__.split("\n\n")[2])
    render.add_argument("--kind", choices=[k.value for k in reports.ReportKind],
                        default="results")
    render.add_argument("--out", default="out/reports", metavar="DIR")
    render.add_argument("--lang", choices=["ky", "ru", "both"], default="both")
    render.add_argument("--copies", type=int, default=1, help="copies of a results report")
    render.add_argument("--ballots", type=int, default=300,
                        help="random sheets in the sample tally (ignored for zero)")
    render.add_argument("--seed", type=int, default=2021)
    render.add_argument("--part-chars", type=int, default=quickresults.DEFAULT_PART_CHARS,
                        help="Base45 characters per QR code")
    add_election_option(render)
    render.set_defaults(func=run_render)


# --- verify-report ---------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    cert = crypto.load_certificate(args.cert)
    issuers = [crypto.load_certificate(p) for p in (args.cec_cert, args.cec_root) if p]
    texts = qrphoto.decode_files(args.images, qrphoto.Engine(args.engine))
    message = quickresults.reassemble(texts)
    results = quickresults.verify(message, cert)
    if issuers:
        quickresults.verify_chain(cert, issuers, at=results.time)
    election = load_election_arg(args.election)
    if args.json:
        print(json.dumps(_results_json(results, len(texts), bool(issuers)), sort_keys=True,
                         ensure_ascii=False))
    else:
        print(_results_text(results, election, Language(args.lang), bool(issuers)))
    return 0


def _results_json(q: QuickResults, codes: int, chain: bool) -> dict[str, Any]:
    return {
        "verified": True, "codes": codes, "chain_checked": chain,
        "device": q.device_id, "station": q.station, "time": q.time, "mode": q.mode.value,
        "election": q.election_id, "election_hash": q.election_hash,
        "package_hash": q.package_hash, "software_hash": q.software_hash,
        "audit_head_hash": q.audit_head_hash, "signer_key_id": q.signer_key_id,
        "sheets_cast": q.sheets_cast, "marginal_sheets": q.marginal_sheets,
        "returned": {r.value: n for r, n in q.returned},
        "tally": q.tally.to_json(),
    }


def _results_text(q: QuickResults, election: Election, lang: Language, chain: bool) -> str:
    lines = [
        f"signature OK: device {q.device_id} (key {q.signer_key_id}), station {q.station}"
        + (", certificate chain OK" if chain else ""),
        f"{q.mode.value} results at {q.time}; election {q.election_id} {q.election_hash[:16]}",
        f"sheets cast {q.sheets_cast}, with marginal marks {q.marginal_sheets}, returned "
        f"{sum(n for _, n in q.returned)}"
        + "".join(f"; {r.value} {n}" for r, n in q.returned),
    ]
    for c in q.tally.contests:
        try:
            title = reports.contest_name(election, c.contest, lang)
        except PcosError:
            title = c.contest
        lines.append(f"{c.contest} ({title}): ballots {c.ballots}, blank {c.blank}, "
                     f"overvote {c.overvote}, withdrawn {c.withdrawn}")
        for oid, n in c.options:
            try:
                name = reports.option_name(election, c.contest, oid, lang)
            except PcosError:
                name = oid
            lines.append(f"  {oid:<14} {n:>6}  {name}")
        if c.preferences:
            lines.append(f"  preferences: {len(c.preferences)} non-zero, "
                         f"{sum(n for _, n in c.preferences)} votes")
    return "\n".join(lines)


# --- report render ---------------------------------------------------------------------------


def demo_identity(election: Election, station: str, out: Path
                  ) -> tuple[crypto.Ed25519PrivateKey, Path, Path]:
    """A deterministic demo device key, its certificate and the CEC root that issued it."""
    device = crypto.key_from_seed(DEMO_DEVICE_SEED)
    cec = crypto.key_from_seed(DEMO_CEC_SEED)
    root = crypto.issue_certificate(cec, role=CertificateRole.CEC_ROOT, subject="CEC-DEMO",
                                    public_key=crypto.public_bytes(cec),
                                    valid_from="2021-01-01T00:00:00Z",
                                    valid_until="2022-12-31T23:59:59Z")
    cert = crypto.issue_certificate(cec, role=CertificateRole.DEVICE, subject="DEV-0001",
                                    public_key=crypto.public_bytes(device), station=station,
                                    election_id=election.election_id,
                                    valid_from="2021-11-01T00:00:00Z",
                                    valid_until="2021-12-31T23:59:59Z")
    return (device, crypto.save_certificate(cert, out / "device-cert.json"),
            crypto.save_certificate(root, out / "cec-root.json"))


def run_render(args: argparse.Namespace) -> int:
    election = load_election_arg(args.election)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kind = reports.ReportKind(args.kind)
    mode = ReportMode.TEST if kind is reports.ReportKind.TEST else ReportMode.OFFICIAL
    ballots = 0 if kind is reports.ReportKind.ZERO else args.ballots
    data = reports.sample_report_data(election, ballots=ballots, seed=args.seed, mode=mode)
    key, cert_path, root_path = demo_identity(election, data.station, out)
    langs = [Language.KY, Language.RU] if args.lang == "both" else [Language(args.lang)]
    summary = []
    for lang in langs:
        if kind is reports.ReportKind.ZERO:
            report = reports.zero_report(election, data, lang)
        elif kind is reports.ReportKind.RESULTS:
            report = reports.results_report(election, data, lang, args.copies, key,
                                            args.part_chars)
        elif kind is reports.ReportKind.TEST:
            report = reports.test_report(election, data, lang, key, args.part_chars)
        else:
            audit = reports.AuditSummary(entries=412, head_hash=data.audit_head_hash,
                                         first_time="2021-11-28T01:58:00Z",
                                         last_time=data.time, checkpoints=4,
                                         by_kind=(("power-on", 2), ("polls-opened", 1),
                                                  ("sheet-cast", 300), ("sheet-returned", 7),
                                                  ("polls-closed", 1)))
            report = reports.audit_summary(election, data, audit, lang)
        stem = f"report-{kind.value}-{lang.value}"
        preview, raw = report.save(out, stem)
        roll_png = out / f"{stem}-roll.png"
        stream = raw.read_bytes()
        with VirtualPrinter() as printer:
            with SerialPrinter(printer.port) as port:
                print_job(port, stream)
            if not printer.wait_received(len(stream) + 6) or printer.error is not None:
                raise escpos.EscPosError(f"virtual printer: {printer.error or 'timed out'}")
            printer.save_png(roll_png)
            decoded_ok = escpos.same_paper(printer.pieces(), report.pages)
        summary.append(f"{stem}: {report.copies} cop{'y' if report.copies == 1 else 'ies'}, "
                       f"{sum(p.shape[0] for p in report.pages)} dot rows, {len(stream)} bytes, "
                       f"{len(report.qr_texts)} QR codes, roll decoded "
                       f"{'OK' if decoded_ok else 'DIFFERENT'} -> {preview}, {raw}, {roll_png}")
    print("\n".join(summary))
    print(f"device certificate {cert_path}, CEC root {root_path}")
    return 0
