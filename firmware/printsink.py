"""The device's real report sink: report data -> laid-out report -> ESC/POS -> the printer.

:class:`PrinterReportSink` implements :class:`firmware.sink.ReportSink`. The
device hands it ``Device.report_data(kind)`` (a JSON-able dict built from the
store and the audit log); the sink turns it into :class:`ReportData`, lays it
out with :mod:`firmware.reports` (zero, test, results in N copies with the
signed QR quick results, audit summary), and sends the ESC/POS bytes with
:func:`firmware.hal.printer.print_job`. After the job it asks the printer's
status again: paper that ran out (or a cover opened) in the middle of the job
is a :class:`PrinterError`, so the device reports the fault and prints again.

The election (for names) and the device key (for the QR codes) come from the
device the sink is bound to (:attr:`PrinterReportSink.device`): they change
when a package or a withdrawal is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.fileio import write_atomically
from election.model import Election, Language
from election.reject import RejectReason
from election.tally import Tally
from firmware import reports
from firmware.calibration_report import calibration_report
from firmware.hal.printer import Printer, PrinterError, print_job
from firmware.reportdata import ReportData, ReportMode, Withdrawals

_REASONS = {r.value for r in RejectReason}


class _Config(Protocol):
    @property
    def election(self) -> Election: ...

    @property
    def signing_key(self) -> Ed25519PrivateKey: ...


class ReportSource(Protocol):
    """What the sink needs of the device: its current configuration."""

    @property
    def config(self) -> _Config: ...


def report_data_from_device(data: dict[str, Any]) -> ReportData:
    """``Device.report_data`` as the typed :class:`ReportData` the reports lay out.

    Returns by a reason that is not a reader's reject reason (the voter took a
    held ballot back) are not printed as returned sheets.
    """
    w = data.get("withdrawals") or {}
    return ReportData(
        election_id=data["election"], election_hash=data["election_hash"],
        package_hash=data["package_hash"], software_hash=data["software_hash"],
        device_id=data["device"], station=str(data["station"]),
        audit_head_hash=data["audit_head"], time=data["time"],
        mode=ReportMode(data["mode"]), sheets_cast=int(data["sheets_cast"]),
        tally=Tally.from_json(data["tally"]),
        returned=tuple((RejectReason(r), int(n))
                       for r, n in sorted(data["returned_by_reason"].items())
                       if r in _REASONS and n),
        marginal_sheets=int(data["marginal_sheets"]),
        withdrawals=Withdrawals(tuple((str(p), int(n)) for p, n in w.get("positions", [])),
                                tuple(str(c) for c in w.get("candidates", []))))


def audit_summary_of(doc: dict[str, Any]) -> reports.AuditSummary:
    return reports.AuditSummary(entries=int(doc["entries"]), head_hash=doc["head_hash"],
                                first_time=doc["first_time"], last_time=doc["last_time"],
                                checkpoints=int(doc["checkpoints"]),
                                by_kind=tuple((str(k), int(n)) for k, n in doc["by_kind"]))


def lay_out(kind: str, data: dict[str, Any], election: Election, key: Ed25519PrivateKey,
            language: Language, results_copies: int) -> reports.Report:
    """The report a device's ``report_data(kind)`` prints as (``calibration``: the data
    calibration mode hands over, :func:`firmware.calibration_report.report_data`)."""
    if kind == "calibration":
        return calibration_report(data, language)
    rd = report_data_from_device(data)
    if kind == "zero":
        return reports.zero_report(election, rd, language)
    if kind == "test":
        return reports.test_report(election, rd, language, device_key=key)
    if kind == "results":
        return reports.results_report(election, rd, language, copies=results_copies,
                                      device_key=key)
    if kind == "audit":
        return reports.audit_summary(election, rd, audit_summary_of(data["audit_summary"]),
                                     language)
    raise PrinterError(f"no such report: {kind}")


@dataclass
class Printed:
    """One report that went to the printer whole."""

    kind: str
    report: reports.Report
    escpos: bytes
    files: tuple[Path, ...] = ()


@dataclass
class PrinterReportSink:
    """Prints the device's reports on an ESC/POS printer (``SerialPrinter`` on its port).

    ``out_dir``: also keep each job's bytes as ``NN-KIND.escpos`` (exactly what the
    printer was sent), the rendered preview ``NN-KIND.png`` and the device's data
    ``NN-KIND.json``. ``after_print`` is
    called with each job once it printed (the simulation saves the decoded roll).
    """

    printer: Printer
    device: ReportSource | None = None
    language: Language = Language.KY
    results_copies: int = 2
    out_dir: Path | None = None
    after_print: Callable[[Printed], None] | None = None
    printed: list[Printed] = field(default_factory=list)

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        if self.device is None:
            raise PrinterError("the report sink is not bound to a device")
        config = self.device.config
        report = lay_out(kind, data, config.election, config.signing_key, self.language,
                         self.results_copies)
        raw = report.escpos()
        print_job(self.printer, raw)
        problem = self.printer.status().problem()  # answered after the job's bytes
        if problem is not None:
            raise PrinterError(f"{problem} while printing the {kind} report")
        files: tuple[Path, ...] = ()
        if self.out_dir is not None:
            files = self._save(kind, report, data)
        job = Printed(kind, report, raw, files)
        self.printed.append(job)
        if self.after_print is not None:
            self.after_print(job)

    def _save(self, kind: str, report: reports.Report, data: dict[str, Any]
              ) -> tuple[Path, ...]:
        assert self.out_dir is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        n = len(list(self.out_dir.glob("*.escpos"))) + 1
        stem = f"{n:02d}-{kind}"
        png, raw_path = report.save(self.out_dir, stem)
        write_atomically(self.out_dir / f"{stem}.json",
                         (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
        return (raw_path, png)
