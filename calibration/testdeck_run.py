"""Feed a test deck's scans through a counter in test mode and write its test report.

The seam
--------
``pcos testdeck run`` needs "a device in test mode": something that takes the
fed sheets one by one, returns the ones it cannot accept (with a reason) and
counts the rest, then reports a tally. That is the :class:`TestModeCounter`
protocol: ``count(sheets) -> TestReport``. :func:`run_deck` gives it the
deck's sheets and nothing else (never the expected results).

**Today** the only implementation is :class:`ReaderCounter`: the vision
reader (``vision.interpret.Reader``) reads each pair of images, and accepted
sheets are tallied through ``election.tally`` from the contest outcomes the
reader judged (``election.rules``). It follows the device's test-mode
semantics as far as they are specified: a returned sheet is counted by its
reject reason and never tallied; a sheet the reader flags for review (a
marginal mark) is neither tallied nor returned, it is listed under
``review`` (a clean deck has none, so the ballot counts then fail verify).
It is a **stand-in for the device**: no state machine, no crash-safe store,
no paper path. When the firmware's test mode lands, the lead replaces it with
a counter that feeds the same images to the virtual device and returns that
device's own test report; nothing else changes.

Test report JSON (what ``pcos testdeck verify`` compares)::

    {"format": "pcos-kg/testdeck-report", "source": "reader (stand-in for the device)",
     "station": "0001", "sheets": 56, "accepted": 48,
     "tally": <Tally JSON>, "returned": {"not-a-ballot": 2, ...},
     "review": [], "rejected": [{"sheet": "000048", "reason": "security-missing"}, ...]}
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from calibration.render_raster import render_layout
from calibration.testdeck_verify import REPORT_FORMAT
from election.errors import PcosError
from election.fileio import write_atomically
from election.model import Election, Station
from election.reject import RejectReason
from election.rules import BallotOutcome, RuleError
from election.tally import Tally, TallyBuilder, TallyError
from vision.config import ReaderConfig
from vision.imageio import ImageFileError, load_image
from vision.interpret import Reader
from vision.result import Outcome

_FRONT = re.compile(r"^(?P<id>.+)-front(?P<ext>\.(?:png|tif|tiff|jpg|jpeg))$", re.IGNORECASE)


@dataclass(frozen=True)
class FedSheet:
    """One fed sheet: its name and the paths of its two images (the device's cameras)."""

    name: str
    front: Path
    back: Path


@dataclass
class TestReport:
    """A test-mode report: the tally of accepted sheets and the returned ones by reason."""

    __test__ = False  # not a pytest class

    source: str
    station: str
    tally: Tally
    returned: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, str]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    sheets: int = 0
    accepted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "source": self.source, "station": self.station,
                "sheets": self.sheets, "accepted": self.accepted,
                "tally": self.tally.to_json(), "returned": dict(sorted(self.returned.items())),
                "review": self.review, "rejected": self.rejected}


class TestModeCounter(Protocol):
    """A device in test mode, as ``pcos testdeck run`` sees it."""

    def count(self, sheets: Iterable[FedSheet]) -> TestReport:
        """Feed every sheet in order; return the test report."""
        ...


def fed_sheets(directory: str | os.PathLike[str]) -> list[FedSheet]:
    """Every ``NAME-front.EXT`` / ``NAME-back.EXT`` pair in a directory, sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise PcosError(f"{d}: not a directory")
    out = []
    for f in sorted(d.iterdir()):
        m = _FRONT.match(f.name)
        if not m:
            continue
        back = f.with_name(f"{m.group('id')}-back{m.group('ext')}")
        if not back.exists():
            raise PcosError(f"{f}: no matching back image {back.name}")
        out.append(FedSheet(m.group("id"), f, back))
    if not out:
        raise PcosError(f"{d}: no *-front/*-back image pairs")
    return out


class ReaderCounter:
    """Stand-in for the device in test mode: the vision reader plus ``election.tally``."""

    source = "reader (stand-in for the device in test mode)"

    def __init__(self, election: Election, station: Station) -> None:
        self.election = election
        self.station = station
        self.reader = Reader(ReaderConfig(election, station, render_layout))

    def _images(self, sheet: FedSheet) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            return load_image(sheet.front), load_image(sheet.back)
        except ImageFileError:
            return None

    def count(self, sheets: Iterable[FedSheet]) -> TestReport:
        builder = TallyBuilder.empty(self.election, self.station.contest_ids())
        report = TestReport(self.source, self.station.number, builder.build())
        for sheet in sheets:
            report.sheets += 1
            images = self._images(sheet)
            if images is None:
                reason, detail = RejectReason.IMAGE_INVALID.value, "unreadable image file"
            else:
                res = self.reader.interpret(*images)
                if res.outcome is Outcome.REVIEW:
                    report.review.append({"sheet": sheet.name, "marginal": list(res.marginal)})
                    continue
                if res.outcome is Outcome.ACCEPTED:
                    try:
                        builder.add(BallotOutcome.from_json(res.contests))
                    except (RuleError, TallyError) as exc:
                        raise PcosError(f"sheet {sheet.name}: accepted, but cannot be "
                                        f"counted here ({exc})") from exc
                    report.accepted += 1
                    continue
                assert res.reason is not None
                reason, detail = res.reason.value, res.detail
            report.returned[reason] += 1
            report.rejected.append({"sheet": sheet.name, "reason": reason, "detail": detail})
        report.tally = builder.build()
        report.tally.check()
        return report


def run_deck(counter: TestModeCounter, scans_dir: str | os.PathLike[str]) -> TestReport:
    """Feed the sheets in ``scans_dir`` (in name order) through ``counter``."""
    return counter.count(fed_sheets(scans_dir))


def write_report(report: TestReport, path: str | os.PathLike[str]) -> None:
    data = json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n"
    write_atomically(Path(path), data.encode("utf-8"))

