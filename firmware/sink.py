"""Where the device sends its printed reports. The printer part provides the real sink.

The device calls :meth:`ReportSink.print_report` at each polls transition
(``zero`` at opening, ``results`` at closing, ``test`` when test ballots are
cleared) with the report's data; the sink turns it into paper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from election.fileio import write_atomically


class ReportSink(Protocol):
    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        ...


@dataclass
class RecordingReportSink:
    """Keeps every report it is given (for tests, the simulation, and headless runs)."""

    reports: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        self.reports.append((kind, data))


@dataclass
class JsonFileReportSink:
    """Writes each report as ``NN-KIND.json`` into a directory (atomically), for the
    headless device and the station simulation; the printer part adds paper."""

    directory: Path
    written: list[Path] = field(default_factory=list)

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        n = len(list(self.directory.glob("*.json"))) + 1
        path = self.directory / f"{n:02d}-{kind}.json"
        write_atomically(path, (json.dumps(data, ensure_ascii=False, indent=1) + "\n")
                         .encode("utf-8"))
        self.written.append(path)
