"""The console's printer: the device's reports as ESC/POS on a thermal printer on a real pty.

The device calls :meth:`firmware.sink.ReportSink.print_report` with the report's
data at each polls transition (``zero`` at opening, ``test`` when the test ballots
are cleared, ``results`` at closing) and when the operator asks for a copy. The
console's sink is the firmware's own :class:`firmware.printsink.PrinterReportSink`
(report layout, signed QR quick results, ESC/POS raster bytes) writing through
pyserial (:class:`firmware.hal.printer.SerialPrinter`) to the simulator's
:class:`simulator.printer.VirtualPrinter`, which sits on a real pseudo-terminal
and decodes the byte stream back into paper. For every job the console keeps, in
``DIR/reports/``: ``NN-KIND.escpos`` (the bytes sent), ``NN-KIND.png`` (the
layout's preview), ``NN-KIND.json`` (the device's data) and ``NN-KIND.roll.png``
(the paper the printer decoded from the bytes), and shows the figures with the
paths of those files. A printer fault (paper out, cover open) is the firmware's:
the device reports it and the operator prints again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.model import Language
from firmware.hal.printer import SerialPrinter
from firmware.printsink import Printed, PrinterReportSink
from simulator.printer import VirtualPrinter
from simulator.station_day import save_roll

PAPER_LEFT_BYTES = 4096  # what is left on the roll when the trainer arms a paper-out


class NothingPrinted(PcosError):
    """A copy was asked for before the device printed any report."""


def report_text(kind: str, data: dict[str, Any]) -> str:
    """The report's figures, one per line, as the device handed them to the printer."""
    title = {"zero": "ZERO REPORT", "results": "RESULTS REPORT", "audit": "AUDIT SUMMARY",
             "test": "TEST REPORT - NOT OFFICIAL"}.get(kind, kind.upper())
    lines = [title, "=" * len(title),
             f"device {data['device']}  station {data['station']}",
             f"election {data['election']}  mode {data['mode']}",
             f"time {data['time']}",
             f"sheets cast {data['sheets_cast']}"]
    returned = data.get("returned_by_reason") or {}
    lines.append("returned " + (", ".join(f"{r} {n}" for r, n in returned.items())
                                if returned else "0"))
    lines.append(f"sheets with marginal marks {data.get('marginal_sheets', 0)}")
    for cid, c in sorted(data["tally"]["contests"].items()):
        lines.append("")
        lines.append(f"{cid}: ballots {c['ballots']}, valid {c['valid']}, invalid "
                     f"{c['invalid']} (blank {c['blank']}, overvote {c['overvote']}, "
                     f"withdrawn {c['withdrawn']})")
        votes = [(o, n) for o, n in c["options"].items() if n]
        for option, n in sorted(votes, key=lambda v: (-v[1], v[0])):
            lines.append(f"  {option:<14} {n}")
        for p in c.get("preferences", []):
            lines.append(f"  pref {p['party']}/{p['position']:<4} {p['count']}")
    lines += ["", f"election hash {data['election_hash']}",
              f"package {data['package_hash']}", f"software {data['software_hash']}",
              f"audit head {data['audit_head']}"]
    return "\n".join(lines) + "\n"


@dataclass
class PrintedReport:
    """One job the printer printed whole, and where its files are."""

    kind: str
    text: str  # the figures, for the console's panel
    escpos: Path
    preview: Path
    roll: Path  # the paper the virtual printer decoded from the ESC/POS bytes
    escpos_bytes: int
    copies: int


@dataclass
class ConsolePrinter:
    """The thermal printer beside the console's device. :meth:`start` opens the pty
    printer and the serial port; :meth:`close` closes them."""

    directory: Path
    language: Language = Language.RU
    results_copies: int = 2
    printed: list[PrintedReport] = field(default_factory=list)
    virtual: VirtualPrinter | None = field(init=False, default=None)
    port: SerialPrinter | None = field(init=False, default=None)
    sink: PrinterReportSink | None = field(init=False, default=None)
    _data: dict[str, Any] | None = field(init=False, default=None)
    paper_short: bool = field(init=False, default=False)  # the trainer armed a paper-out

    def start(self) -> ConsolePrinter:
        self.virtual = VirtualPrinter().start()
        self.port = SerialPrinter(self.virtual.port)
        self.sink = PrinterReportSink(self.port, language=self.language,
                                      results_copies=self.results_copies,
                                      out_dir=self.directory, after_print=self._after)
        return self

    def bind(self, device: Any) -> None:
        """The device whose election and key lay out and sign the reports (after a boot)."""
        if self.sink is None:
            self.start()
        assert self.sink is not None
        self.sink.device = device

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        if self.sink is None:
            self.start()
        assert self.sink is not None
        self._data = data
        self.sink.print_report(kind, data)  # PrinterError: the device reports the fault

    def _after(self, job: Printed) -> None:
        assert self.virtual is not None and self._data is not None
        save_roll(self.virtual, job)
        escpos_path, preview = job.files
        self.printed.append(PrintedReport(
            kind=job.kind, text=report_text(job.kind, self._data), escpos=escpos_path,
            preview=preview, roll=escpos_path.with_suffix(".roll.png"),
            escpos_bytes=len(job.escpos), copies=job.report.copies))

    @property
    def last(self) -> tuple[str, str] | None:
        """(kind, what the console's panel shows) of the last report printed."""
        if not self.printed:
            return None
        p = self.printed[-1]
        port = self.virtual.port if self.virtual is not None else "?"
        paper = [f"printed on the thermal printer at {port}: {p.escpos_bytes} bytes of "
                 f"ESC/POS, {p.copies} cop{'y' if p.copies == 1 else 'ies'}",
                 f"paper (decoded by the printer): {p.roll}",
                 f"preview: {p.preview}", ""]
        title, _, rest = p.text.partition("\n")
        return p.kind, "\n".join([title, *paper, rest])

    def last_kind(self) -> str:
        if not self.printed:
            raise NothingPrinted("no report printed yet (the device prints one when it opens "
                                 "polls, clears test ballots or closes polls)")
        return self.printed[-1].kind

    def toggle_paper(self) -> str:
        """The trainer makes the roll run out in the middle of the next report, or the
        operator loads a new roll (when it ran out or was armed to)."""
        if self.virtual is None or self.port is None:
            self.start()
        assert self.virtual is not None and self.port is not None
        if self.paper_short or self.port.status().paper_out:
            self.virtual.set_paper_out(False)
            self.paper_short = False
            return "printer: a new paper roll is loaded"
        self.virtual.set_paper_left(PAPER_LEFT_BYTES)
        self.paper_short = True
        return "armed: the printer's paper runs out in the middle of the next report"

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None
        if self.virtual is not None:
            self.virtual.close()
            self.virtual = None
        self.sink = None
