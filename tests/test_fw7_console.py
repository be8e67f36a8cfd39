"""``pcos device console`` prints through the pty printer (issue 7), driven with textual's
headless pilot: the device's reports go as ESC/POS bytes through pyserial to the
simulator's virtual thermal printer on a real pseudo-terminal, which decodes them into a
paper roll; the console shows the decoded PNG's path. The paper equals what the bytes
say, and the results report's QR codes on that paper verify with the device certificate
and carry the device's tally."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from textual.widgets import Static

from election.default import default_election
from firmware import escpos
from firmware.hal.printer import PrinterStatus
from firmware.install import PackageTrust
from firmware.qrphoto import decode_files
from firmware.quickresults import reassemble, verify
from firmware.reader_setup import make_reader
from firmware.store import SheetMode
from simulator.packaged import sim_cec_keys, sim_device, sim_package
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from simulator.writer import ImageFormat, write_sheets
from tools.console.app import DeviceConsole
from tools.console.session import ConsoleSession, SheetFolder, day_clock

ELECTION = default_election()
STATION = default_station(ELECTION)
KEYS = sim_cec_keys()
DEVICE_ID = f"{STATION.number}-D1"


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sheets")
    factory = SheetFactory(ELECTION, STATION, preset("clean"), seed=11, fake_rate=0.0)
    write_sheets(factory, 2, out, fmt=ImageFormat.PNG, preset_name="clean")
    return out


def _session(workdir: Path, sheets: Path) -> ConsoleSession:
    device = sim_device(KEYS, DEVICE_ID, STATION.number)
    return ConsoleSession(workdir, ELECTION, STATION, make_reader(ELECTION, STATION),
                          SheetFolder(sheets), clock=day_clock(),
                          package=sim_package(ELECTION, KEYS, (STATION.number,), 2),
                          trust=PackageTrust(KEYS.root_certificate, device),
                          reader_for=make_reader)


def _text(app: DeviceConsole, widget: str) -> str:
    return str(app.query_one(widget, Static).content)


def _paper(path: Path) -> np.ndarray:
    """The roll PNG as printed dots (True = black)."""
    return ~np.asarray(Image.open(path).convert("1"), dtype=bool)


def test_console_reports_go_through_the_pty_printer(tmp_path: Path, sheets: Path) -> None:
    session = _session(tmp_path / "dev", sheets)
    seen: dict[str, Any] = {}

    async def run() -> None:
        app = DeviceConsole(session, language="ru")
        async with app.run_test(size=(150, 60)) as pilot:
            await app.settle()
            for key in ("l", "t", "c", "o", "f", "f", "x"):
                await pilot.press(key)
                await app.settle()
            seen["close"] = _text(app, "#message")
            seen["report"] = _text(app, "#report")
            await pilot.press("s")  # the audit-log summary
            await app.settle()
            seen["audit"] = _text(app, "#message")
            await pilot.press("r")  # a copy of the last report (the audit summary)
            await app.settle()
            seen["copy"] = _text(app, "#message")

    try:
        asyncio.run(run())
        port = session.printer.virtual.port if session.printer.virtual else ""
        status = session.printer.port.status() if session.printer.port else None
    finally:
        session.close()
    assert port.startswith("/dev/pts/"), port  # a real pseudo-terminal
    assert status == PrinterStatus(cover_open=False, paper_out=False, paper_near_end=False)
    assert seen["close"].startswith("results report printed; polls-closed"), seen["close"]
    report = seen["report"]
    assert report.startswith("RESULTS REPORT"), report
    assert f"printed on the thermal printer at {port}" in report
    m = re.search(r"paper \(decoded by the printer\): (\S+\.roll\.png)", report)
    assert m is not None, report
    roll = Path(m.group(1))
    assert roll.is_file() and roll.name == "03-results.roll.png"
    assert "printed the audit summary: " in seen["audit"] and "04-audit.roll.png" in seen["audit"]
    assert "printed a copy of the audit report: " in seen["copy"]
    assert "05-audit.roll.png" in seen["copy"]

    reports = tmp_path / "dev" / "reports"
    assert [p.name for p in sorted(reports.glob("*.escpos"))] == [
        "01-test.escpos", "02-zero.escpos", "03-results.escpos", "04-audit.escpos",
        "05-audit.escpos"]
    for raw in sorted(reports.glob("*.escpos")):
        # the paper the pty printer made of the bytes is exactly what the bytes say
        printed = _paper(raw.with_suffix(".roll.png"))
        decoded = escpos.decode(raw.read_bytes()).pieces()
        assert printed.shape[1] == escpos.DOTS_PER_LINE == 576
        assert np.array_equal(printed, np.concatenate(decoded)), raw.name
    results = reports / "03-results.roll.png"
    assert len(escpos.decode((reports / "03-results.escpos").read_bytes()).pieces()) == 2
    # the QR codes on the decoded paper verify with the device certificate
    device = session.device
    assert device is not None and session.trust is not None and session.trust.device
    quick = verify(reassemble(decode_files([results])), session.trust.device.certificate)
    assert quick.device_id == DEVICE_ID and quick.tally == device.tally()
    assert device.sheets_cast(SheetMode.OFFICIAL) == 2


def test_paper_runs_out_at_closing_and_the_results_print_after_a_new_roll(
        tmp_path: Path, sheets: Path) -> None:
    """`h` arms the roll to run out in the middle of the next report: closing polls leaves
    the results unprinted (the firmware's printer-fault), `h` loads a new roll, `r` prints
    the results, and only then may they be reported."""
    session = _session(tmp_path / "dev", sheets)
    seen: dict[str, str] = {}

    async def run() -> None:
        app = DeviceConsole(session, language="ru")
        async with app.run_test(size=(150, 60)) as pilot:
            await app.settle()
            for key in ("l", "t", "c", "o", "f", "h"):
                await pilot.press(key)
                await app.settle()
            seen["armed"] = _text(app, "#message")
            for key, name in (("x", "close"), ("m", "report_early"), ("h", "roll"),
                              ("r", "reprint"), ("m", "report")):
                await pilot.press(key)
                await app.settle()
                seen[name] = _text(app, "#message")
            seen["panel"] = _text(app, "#report")

    try:
        asyncio.run(run())
    finally:
        session.close()
    assert seen["armed"].startswith("armed: the printer's paper runs out")
    assert seen["close"].startswith("REFUSED (ReportNotPrinted): results report not printed")
    assert seen["report_early"].startswith("REFUSED (IllegalTransition)")
    assert seen["roll"] == "printer: a new paper roll is loaded"
    assert seen["reprint"].startswith("printed a copy of the results report: ")
    assert seen["report"] == "results-reported", seen["report"]
    assert seen["panel"].startswith("RESULTS REPORT")
    d = session.device
    assert d is not None
    types = [e["type"] for e in d.store.audit_events()]
    assert types.count("printer-fault") == 1 and "results-reported" in types
    reports = tmp_path / "dev" / "reports"
    # the job cut short left no files: the results are the third job that printed whole
    assert [p.name for p in sorted(reports.glob("*.roll.png"))] == [
        "01-test.roll.png", "02-zero.roll.png", "03-results.roll.png"]
    raw = reports / "03-results.escpos"
    assert np.array_equal(_paper(raw.with_suffix(".roll.png")),
                          np.concatenate(escpos.decode(raw.read_bytes()).pieces()))
