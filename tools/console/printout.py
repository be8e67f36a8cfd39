"""The console's printer: the device's reports as plain text files.

This is the seam where the thermal printer goes. The device calls
:meth:`firmware.sink.ReportSink.print_report` with the report's data at each
polls transition (``zero`` at opening, ``test`` when the test ballots are
cleared, ``results`` at closing). The ESC/POS printer and PNG preview
(``firmware.reports``, on main) are not on this branch, so the console writes
each report as text to ``DIR/reports/NNN-KIND.txt`` and shows it. Plugging the
real printer in means passing its sink instead of :class:`TextReportSink`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.fileio import write_atomically


class NothingPrinted(PcosError):
    """A copy was asked for before the device printed any report."""


def report_text(kind: str, data: dict[str, Any]) -> str:
    """The report's figures, one per line, as the device handed them to the printer."""
    title = {"zero": "ZERO REPORT", "results": "RESULTS REPORT",
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
class TextReportSink:
    """Writes every report the device prints to ``directory`` (and keeps the last)."""

    directory: Path
    printed: list[Path] = field(default_factory=list)
    last: tuple[str, str] | None = None  # (kind, text)

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        self.last = (kind, report_text(kind, data))
        self._write(kind, self.last[1])

    def reprint(self) -> Path:
        if self.last is None:
            raise NothingPrinted("no report printed yet (the device prints one when it opens "
                                 "polls, clears test ballots or closes polls)")
        kind, text = self.last
        return self._write(f"{kind}-copy", text)

    def _write(self, kind: str, text: str) -> Path:
        n = len(list(self.directory.glob("*.txt"))) + 1 if self.directory.is_dir() else 1
        path = write_atomically(self.directory / f"{n:03d}-{kind}.txt", text.encode("utf-8"))
        self.printed.append(path)
        return path
