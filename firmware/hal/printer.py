"""The thermal printer as the firmware sees it: send ESC/POS bytes, ask for paper/cover status.

:class:`SerialPrinter` drives a real 80 mm ESC/POS printer on a serial port
(pyserial); the simulator's virtual printer sits on a pseudo-terminal, so the
same driver talks to both. Status comes from the printer's real-time
``DLE EOT`` answers (ESC/POS): ``n = 2`` (offline causes: cover open, paper
end) and ``n = 4`` (roll sensor: near end, end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import serial

from election.errors import PcosError
from firmware import escpos


class PrinterError(PcosError):
    """The printer cannot print now (no answer, paper out, cover open) or the link failed."""


@dataclass(frozen=True)
class PrinterStatus:
    cover_open: bool
    paper_out: bool
    paper_near_end: bool

    @property
    def ready(self) -> bool:
        return not (self.cover_open or self.paper_out)

    def problem(self) -> str | None:
        """A short English reason when the printer cannot print, else None."""
        if self.cover_open:
            return "printer cover open"
        if self.paper_out:
            return "printer out of paper"
        return None


# DLE EOT answer bytes (ESC/POS): bits 1 and 4 are always set, bit 0 and 7 clear.
_FIXED_BITS = 0x12
OFFLINE_COVER_OPEN = 0x04
OFFLINE_PAPER_END = 0x20
PAPER_NEAR_END = 0x0C
PAPER_END = 0x60


def status_byte(n: int, status: PrinterStatus) -> int:
    """The byte a printer answers to ``DLE EOT n`` in ``status`` (shared with the simulator)."""
    value = _FIXED_BITS
    if n == 2:
        value |= OFFLINE_COVER_OPEN if status.cover_open else 0
        value |= OFFLINE_PAPER_END if status.paper_out else 0
    elif n == 4:
        value |= PAPER_NEAR_END if status.paper_near_end else 0
        value |= PAPER_END if status.paper_out else 0
    elif n == 1:
        value |= 0x08 if not status.ready else 0  # offline
    return value


def parse_status(offline: int, paper: int) -> PrinterStatus:
    """Status from the answers to ``DLE EOT 2`` and ``DLE EOT 4``."""
    for name, b in (("DLE EOT 2", offline), ("DLE EOT 4", paper)):
        if b & 0x93 != _FIXED_BITS:
            raise PrinterError(f"printer answered {name} with 0x{b:02x}, not a status byte")
    return PrinterStatus(cover_open=bool(offline & OFFLINE_COVER_OPEN),
                         paper_out=bool(offline & OFFLINE_PAPER_END) or bool(paper & PAPER_END),
                         paper_near_end=bool(paper & PAPER_NEAR_END))


class Printer(Protocol):
    """What the device needs from a printer."""

    def write(self, data: bytes) -> None:
        """Send ESC/POS bytes; returns when they have left the device."""

    def status(self) -> PrinterStatus:
        """Ask the printer for its paper and cover status."""

    def close(self) -> None: ...


def print_job(printer: Printer, data: bytes) -> None:
    """Check the printer is ready, then send ``data``. Raises :class:`PrinterError`."""
    problem = printer.status().problem()
    if problem is not None:
        raise PrinterError(f"cannot print: {problem}")
    printer.write(data)


class SerialPrinter:
    """An ESC/POS printer on a serial port (USB-serial on the device, a pty in the simulator)."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 2.0,
                 chunk_bytes: int = 4096) -> None:
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=timeout_s,
                                         write_timeout=max(timeout_s, 10.0))
        except (serial.SerialException, OSError) as exc:
            raise PrinterError(f"printer port {port}: cannot open ({exc})") from exc
        self._port = port
        self._chunk_bytes = chunk_bytes

    def write(self, data: bytes) -> None:
        try:
            for at in range(0, len(data), self._chunk_bytes):
                self._serial.write(data[at:at + self._chunk_bytes])
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise PrinterError(f"printer port {self._port}: write failed ({exc})") from exc

    def _ask(self, n: int) -> int:
        try:
            self._serial.reset_input_buffer()
            self._serial.write(escpos.status_request(n))
            self._serial.flush()
            answer = self._serial.read(1)
        except (serial.SerialException, OSError) as exc:
            raise PrinterError(f"printer port {self._port}: status failed ({exc})") from exc
        if len(answer) != 1:
            raise PrinterError(f"printer on {self._port} did not answer DLE EOT {n}")
        return answer[0]

    def status(self) -> PrinterStatus:
        return parse_status(self._ask(2), self._ask(4))

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> SerialPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
