"""A virtual 80 mm thermal printer on a real pseudo-terminal.

The firmware opens :attr:`VirtualPrinter.port` (the pty's slave path) with
pyserial exactly as it would open ``/dev/ttyUSB0``; this printer reads the
master side in a thread, decodes the ESC/POS stream with
:class:`firmware.escpos.Decoder` and keeps the paper roll it would have
printed. It answers ``DLE EOT`` status requests from its modelled paper and
cover state. A malformed stream stops it, as a real printer stops making
sense: :attr:`error` holds the typed :class:`~firmware.escpos.EscPosError`.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from firmware import escpos
from firmware.hal.printer import PrinterStatus, status_byte


class VirtualPrinter:
    """Start with :meth:`start` (or ``with``), then point a ``SerialPrinter`` at :attr:`port`."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation before pyserial opens it
        self.port = os.ttyname(self._slave)
        self._decoder = escpos.Decoder()
        self._roll = escpos.Roll()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._status = PrinterStatus(cover_open=False, paper_out=False, paper_near_end=False)
        self._received = 0
        self._paper_left: int | None = None
        self._dropped = 0
        self._error: escpos.EscPosError | None = None
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="virtual-printer", daemon=True)

    # --- life ------------------------------------------------------------------------------
    def start(self) -> VirtualPrinter:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> VirtualPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- modelled state -------------------------------------------------------------------
    def set_paper_out(self, out: bool = True) -> None:
        with self._lock:
            self._status = replace(self._status, paper_out=out)
            if not out:
                self._paper_left = None

    def set_paper_left(self, n_bytes: int | None) -> None:
        """Paper for ``n_bytes`` more bytes of the stream: the roll runs out in the middle
        of a job (None: plenty). Loading paper (``set_paper_out(False)``) refills it."""
        with self._lock:
            self._paper_left = n_bytes

    def set_cover_open(self, open_: bool = True) -> None:
        with self._lock:
            self._status = replace(self._status, cover_open=open_)

    def set_paper_near_end(self, near: bool = True) -> None:
        with self._lock:
            self._status = replace(self._status, paper_near_end=near)

    # --- what came out --------------------------------------------------------------------
    @property
    def received_bytes(self) -> int:
        with self._lock:
            return self._received

    @property
    def dropped_commands(self) -> int:
        """Print commands that arrived while the paper was out or the cover open (not printed)."""
        with self._lock:
            return self._dropped

    @property
    def error(self) -> escpos.EscPosError | None:
        with self._lock:
            return self._error

    def wait_received(self, n_bytes: int, timeout_s: float = 10.0) -> bool:
        """Wait until ``n_bytes`` in total have arrived (or an error stopped decoding)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._received < n_bytes and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return self._error is None

    def roll(self) -> np.ndarray:
        """The printed paper so far (bool, 576 wide, True = black)."""
        with self._lock:
            return self._roll.image()

    def pieces(self) -> list[np.ndarray]:
        with self._lock:
            return self._roll.pieces()

    @property
    def cuts(self) -> list[int]:
        with self._lock:
            return list(self._roll.cuts)

    def save_png(self, path: str | os.PathLike[str]) -> Path:
        """Write the roll as a 1-bit PNG (black dots on white paper)."""
        target = Path(path)
        Image.fromarray(~self.roll()).convert("1").save(target, format="PNG")
        return target

    # --- the printer's loop ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            if not data:
                return
            self._consume(data)

    def _consume(self, data: bytes) -> None:
        with self._lock:
            left = self._paper_left
        if left is not None and len(data) > left:
            if left > 0:
                self._consume_part(data[:left])
            with self._lock:
                self._status = replace(self._status, paper_out=True)
                self._paper_left = None
            data = data[max(left, 0):]
        elif left is not None:
            with self._lock:
                self._paper_left = left - len(data)
        self._consume_part(data)

    def _consume_part(self, data: bytes) -> None:
        answers = bytearray()
        with self._changed:
            self._received += len(data)
            if self._error is None:
                try:
                    cmds = self._decoder.feed(data)
                except escpos.EscPosError as exc:
                    self._error = exc
                    cmds = []
                printable: list[escpos.Command] = []
                for c in cmds:
                    if isinstance(c, escpos.StatusRequest):
                        answers.append(status_byte(c.n, self._status))
                    elif self._status.ready:
                        printable.append(c)
                    else:
                        self._dropped += 1  # one command
                self._roll.apply(printable)
            self._changed.notify_all()
        if answers:
            os.write(self._master, bytes(answers))
