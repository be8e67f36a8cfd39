"""The test deck through a real device in test mode (``pcos testdeck run``).

:class:`DeviceCounter` implements ``calibration.testdeck_run.TestModeCounter``
with the firmware itself on simulated hardware: a :class:`firmware.device.Device`
with its two media in a working directory, the real reader, a signed package
(simulated CEC keys) loaded and verified, test mode entered, and each deck
sheet put at the entry and fed through the paper path, scanned (its two image
files), read, decided by the ballot policy and recorded. The report is the
device's own test-mode figures (``Device.report_data("test")``), converted to
the test report format ``pcos testdeck verify`` reads. Afterwards the device
prints and clears the test report and opens polls: the official tally must be
zero (:attr:`DeviceCounter.official_after_open`), i.e. no test ballot reached
it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from calibration.testdeck_run import FedSheet, TestReport
from election.errors import PcosError
from election.model import Election, Language, Station
from election.tally import Tally
from firmware.device import SheetReader
from firmware.hal.files import load_duplex
from firmware.hal.imaging import DuplexImages
from firmware.printsink import lay_out
from firmware.reader_setup import make_reader
from firmware.sink import RecordingReportSink
from firmware.states import PollsState
from firmware.store import SheetMode, SheetState
from simulator.devices import SimWorld
from simulator.drive import _feed_one
from simulator.packaged import device_ids, sim_cec_keys, sim_device, sim_package
from simulator.rig import build_device
from vision.config import Thresholds
from vision.imageio import ImageFileError
from vision.result import Outcome, SheetInterpretation


class _Noting:
    """The reader, noting what it said of each deck sheet (by its name)."""

    def __init__(self, reader: SheetReader, world: SimWorld) -> None:
        self.reader, self.world = reader, world
        self.said: dict[str, SheetInterpretation] = {}

    def interpret(self, front: Any, back: Any) -> SheetInterpretation:
        interp = self.reader.interpret(front, back)
        if self.world.last_fed is not None:
            self.said[self.world.last_fed] = interp
        return interp


class DeviceCounter:
    """A device in test mode counting the deck (see the module docstring)."""

    source = "device (firmware test mode on simulated hardware)"

    def __init__(self, election: Election, station: Station, workdir: Path,
                 report_dir: Path | None = None, language: Language = Language.KY) -> None:
        self.election, self.station, self.workdir = election, station, workdir
        self.report_dir, self.language = report_dir, language
        self.official_after_open: Tally | None = None

    def count(self, sheets: Iterable[FedSheet]) -> TestReport:
        by_name = {s.name: s for s in sheets}
        if (self.workdir / "internal").exists():
            raise PcosError(f"{self.workdir}: a device store is already there")
        world = SimWorld(test_queue=list(by_name))
        keys = sim_cec_keys()
        device_id = device_ids(self.station.number, 1)[0]
        notes: list[_Noting] = []

        def reader_for(election: Election, station: Station, th: Thresholds) -> _Noting:
            notes.append(_Noting(make_reader(election, station, th), world))
            return notes[-1]

        def images_of(name: str) -> DuplexImages:
            sheet = by_name[name]
            try:
                return load_duplex(sheet.front, sheet.back)
            except ImageFileError as exc:
                raise PcosError(f"sheet {name}: {exc}") from exc

        sink = RecordingReportSink()
        from firmware.install import PackageTrust

        trust = PackageTrust(root=keys.root_certificate,
                             device=sim_device(keys, device_id, self.station.number))
        rig = build_device(self.workdir, world, self.election, self.station,
                           reader_for(self.election, self.station, Thresholds()),
                           images_of=images_of, reports=sink, trust=trust,
                           reader_for=reader_for)
        device = rig.device
        device.boot()
        try:
            device.load_package(sim_package(self.election, keys, (self.station.number,), 1))
            device.enter_test_mode()
            while _feed_one(device, world, lambda _s: False, test=True):
                pass
            data = device.report_data("test")
            store_returned = device.store.sheets(mode=SheetMode.TEST, state=SheetState.RETURNED)
            device.clear_test()  # prints the test report
            device.open_polls()  # refused unless the official figures are zero
            self.official_after_open = device.tally(SheetMode.OFFICIAL)
            if self.report_dir is not None:
                test_data = next(d for k, d in sink.reports if k == "test")
                lay_out("test", test_data, device.config.election, device.config.signing_key,
                        self.language, 1).save(self.report_dir, "device-test-report")
                (self.report_dir / "device-test-report.json").write_text(
                    json.dumps(test_data, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
            assert device.polls is PollsState.POLLS_OPEN
        finally:
            device.close()
        said = notes[-1].said if notes else {}
        report = TestReport(self.source, self.station.number, Tally.from_json(data["tally"]))
        report.sheets = len(by_name)
        report.accepted = int(data["sheets_cast"])
        report.returned = Counter({k: int(v) for k, v in data["returned_by_reason"].items()})
        for name, interp in said.items():
            if interp.outcome is Outcome.REJECTED:
                report.rejected.append({"sheet": name, "reason": interp.reason.value
                                        if interp.reason else "?", "detail": interp.detail})
        if len(report.rejected) != len(store_returned):
            raise PcosError(f"the device returned {len(store_returned)} sheets but the reader "
                            f"rejected {len(report.rejected)}")
        return report
