"""The virtual printer on a real pty, driven by the firmware's SerialPrinter (pyserial)."""

from __future__ import annotations

import numpy as np
import printer_fixtures as fx
import pytest

from election.model import Language
from firmware import escpos, reports
from firmware.hal.printer import (
    PrinterError,
    PrinterStatus,
    SerialPrinter,
    parse_status,
    print_job,
    status_byte,
)
from simulator.printer import VirtualPrinter


def _send(printer: VirtualPrinter, data: bytes) -> None:
    with SerialPrinter(printer.port) as port:
        print_job(port, data)
    # print_job asks DLE EOT 2 and 4 first: 6 bytes before the job itself.
    assert printer.wait_received(len(data) + 6, timeout_s=10), printer.error


def test_report_bytes_through_the_pty_decode_to_the_rendered_raster() -> None:
    report = reports.results_report(fx.election(), fx.data(), Language.KY, copies=2,
                                    device_key=fx.key(fx.DEVICE))
    stream = report.escpos()
    with VirtualPrinter() as printer:
        _send(printer, stream)
        assert printer.error is None
        assert len(printer.cuts) == 2
        assert escpos.same_paper(printer.pieces(), report.pages)
        assert printer.received_bytes == len(stream) + 6


def test_one_changed_dot_on_the_wire_is_seen() -> None:
    report = reports.zero_report(fx.election(), fx.data(ballots=0), Language.RU)
    stream = bytearray(report.escpos())
    stream[5000] ^= 0x10  # inside the first band's raster data
    with VirtualPrinter() as printer:
        _send(printer, bytes(stream))
        assert not escpos.same_paper(printer.pieces(), report.pages)


def test_garbage_on_the_wire_stops_the_printer_with_a_typed_error() -> None:
    with VirtualPrinter() as printer:
        with SerialPrinter(printer.port) as port:
            port.write(escpos.init() + b"PRINT ME")
        assert not printer.wait_received(10, timeout_s=5)
        assert isinstance(printer.error, escpos.EscPosError)
        assert "text byte 0x50" in str(printer.error)


@pytest.mark.parametrize(("setup", "message"), [
    ("paper", "out of paper"), ("cover", "cover open")])
def test_print_job_refuses_when_the_printer_cannot_print(setup: str, message: str) -> None:
    with VirtualPrinter() as printer:
        if setup == "paper":
            printer.set_paper_out()
        else:
            printer.set_cover_open()
        with SerialPrinter(printer.port) as port:
            status = port.status()
            assert not status.ready
            with pytest.raises(PrinterError, match=message):
                print_job(port, escpos.job([np.ones((8, 8), dtype=bool)]))
        assert printer.roll().shape[0] == 0


def test_status_bytes_round_trip_and_paper_near_end() -> None:
    for cover in (False, True):
        for out in (False, True):
            for near in (False, True):
                s = PrinterStatus(cover, out, near)
                assert parse_status(status_byte(2, s), status_byte(4, s)) == s
    with VirtualPrinter() as printer:
        printer.set_paper_near_end()
        with SerialPrinter(printer.port) as port:
            status = port.status()
        assert status.paper_near_end and status.ready
    with pytest.raises(PrinterError, match="not a status byte"):
        parse_status(0xFF, 0x12)


def test_no_printer_on_the_port_is_a_typed_error() -> None:
    with pytest.raises(PrinterError, match="cannot open"):
        SerialPrinter("/dev/nonexistent-printer")
