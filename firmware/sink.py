"""Where the device sends its printed reports. The printer part provides the real sink.

The device calls :meth:`ReportSink.print_report` at each polls transition
(``zero`` at opening, ``results`` at closing, ``test`` when test ballots are
cleared) with the report's data; the sink turns it into paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ReportSink(Protocol):
    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        ...


@dataclass
class RecordingReportSink:
    """Keeps every report it is given (for tests, the simulation, and headless runs)."""

    reports: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def print_report(self, kind: str, data: dict[str, Any]) -> None:
        self.reports.append((kind, data))
