"""A SIMCom SIM7600 emulator on a real pseudo-terminal, bridged to real TCP on loopback.

Why: the driver (``protocol.modem``) must be tested through a real serial port with the
real byte-level dialect, including the ugly parts of a real modem (noise, echo, URCs at
any time, a network that drops, a module that loses power). The emulator opens a pty
(``os.openpty``), answers AT commands on the master side, and turns ``AT+CIPOPEN`` /
``AT+CIPSEND`` / incoming data into a real TCP connection to ``127.0.0.1`` (only
loopback hosts are dialled; anything else is answered ``+CIPOPEN: 0,1``).

Faults (:class:`ModemFaults`, changeable while running, or ``--fault`` on the CLI):

- ``no_sim``: ``AT+CPIN?`` → ``+CME ERROR: 10``.
- ``no_signal``: ``+CSQ: 99,99`` and registration "searching".
- ``registration_denied``: ``+CREG: 0,3`` / ``+CGREG: 0,3``.
- ``netopen_fails``: ``AT+NETOPEN`` → ``OK`` then ``+NETOPEN: 1``.
- ``connection_refused``: ``+CIPOPEN: 0,4`` whatever the server does (a closed port
  on loopback gives the same answer for real).
- ``drop_after_bytes=N``: once more than N payload bytes went up, the network drops:
  the bytes up to N are delivered, the TCP socket closes, and the modem reports
  ``+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY`` then ``+CIPERROR: 1``.
- ``stall_after_bytes=N``: once more than N bytes went up, payloads are swallowed and
  never confirmed (no ``+CIPSEND``), while ``AT`` is still answered: the modem is alive.
- ``garbage``: 1–16 bytes of line noise (bytes 0x80–0xFF, never a valid line, never
  ``>``) and a line end before every response.
- ``stray_echo``: commands are echoed even after ``ATE0``.
- ``duplicate_ipd``: every ``RECV FROM``/``+IPD`` block is reported twice.
- ``link_bytes_per_s=R``: the air link carries R bytes a second each way.
- ``partial_send_bytes=N``: each ``AT+CIPSEND`` takes only its first N bytes and says so
  (``+CIPSEND: 0,n,N``); the driver must send the rest again.
- ``power_loss_after_commands=N``: after N commands the modem dies: silent, or with
  ``power_loss_closes_port`` the pty itself is closed (the driver's port vanishes).
  :meth:`ModemEmulator.power_off` does the same at any moment, and
  :meth:`ModemEmulator.drop_network` drops the data session at any moment.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import re
import select
import signal
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from election.errors import PcosError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
MAX_CIPSEND_BYTES = 1500
IPD_BLOCK_BYTES = 1500
_CIPOPEN = re.compile(r'AT\+CIPOPEN=0,"TCP","([^"]*)",(\d{1,5})', re.IGNORECASE)
_CIPSEND = re.compile(r"AT\+CIPSEND=0,(\d{1,6})", re.IGNORECASE)
_CGDCONT = re.compile(r'AT\+CGDCONT=1,"IP","([^"]*)"', re.IGNORECASE)


@dataclass
class ModemFaults:
    """Injectable faults; see the module docstring. All off by default."""

    no_sim: bool = False
    no_signal: bool = False
    registration_denied: bool = False
    netopen_fails: bool = False
    connection_refused: bool = False
    drop_after_bytes: int | None = None
    stall_after_bytes: int | None = None
    garbage: bool = False
    stray_echo: bool = False
    duplicate_ipd: bool = False
    link_bytes_per_s: float | None = None
    partial_send_bytes: int | None = None
    power_loss_after_commands: int | None = None
    power_loss_closes_port: bool = False

    @classmethod
    def parse(cls, specs: Sequence[str]) -> ModemFaults:
        """``["no-sim", "drop-after-bytes=3000", "link-bytes-per-s=2400"]`` → faults."""
        faults = cls()
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}
        for spec in specs:
            name, sep, value = spec.partition("=")
            key = name.strip().replace("-", "_")
            if key not in kinds:
                known = ", ".join(k.replace("_", "-") for k in kinds)
                raise PcosError(f"unknown modem fault {name!r} (known: {known})")
            kind = str(kinds[key])
            try:
                if kind == "bool":
                    if sep and value not in ("0", "1", "true", "false"):
                        raise ValueError(value)
                    setattr(faults, key, not sep or value in ("1", "true"))
                elif not sep:
                    raise ValueError("missing value")
                elif "float" in kind:
                    setattr(faults, key, float(value))
                else:
                    setattr(faults, key, int(value))
            except ValueError:
                raise PcosError(f"modem fault {name!r} needs a valid value, not {value!r}") \
                    from None
        return faults


@dataclass
class _Timer:
    due: float
    action: Callable[[], None]


class ModemEmulator:
    """One emulated SIM7600. ``start()`` runs it on a thread; ``serve()`` in the caller."""

    def __init__(self, faults: ModemFaults | None = None, *, seed: int = 7600) -> None:
        self.faults = faults or ModemFaults()
        self._rng = random.Random(seed)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port_path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._power_off_request: bool | None = None  # close_port flag when requested
        self._drop_request = False
        self._powered = True
        self._port_open = True
        self._echo = True
        self._in = bytearray()
        self._out = bytearray()
        self._expect_payload = 0
        self._payload = bytearray()
        self._net_open = False
        self._sock: socket.socket | None = None
        self._peer = ""
        self._stalled = False
        self._timers: list[_Timer] = []
        self._busy_until = 0.0  # the air link is busy sending until this time
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        #: Counters a test or bench may read: commands seen, payload bytes up and down.
        self.commands = 0
        self.uplink_bytes = 0
        self.downlink_bytes = 0
        self.cipsend_sizes: list[int] = []
        self.apn = ""

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> ModemEmulator:
        self._thread = threading.Thread(target=self.serve, name="modem-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._shutdown_port()

    def request_stop(self) -> None:
        """Ask ``serve()`` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    def drop_network(self) -> None:
        """The cell drops the data session now (``+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY``)."""
        self._drop_request = True

    def power_off(self, *, close_port: bool = False) -> None:
        """The modem loses power now: it falls silent (and closes the pty if asked)."""
        self._power_off_request = close_port

    def __enter__(self) -> ModemEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self) -> None:
        """The event loop: serial in/out, TCP in, timers. Returns after ``stop()``."""
        while not self._stop.is_set() and self._port_open:
            if self._power_off_request is not None:
                self._lose_power(self._power_off_request)
                continue
            if self._drop_request:
                self._drop_request = False
                if self._net_open:
                    self._close_sock()
                    self._net_open = False
                    self._emit("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
            now = time.monotonic()
            self._run_timers(now)
            rlist: list[int | socket.socket] = []
            wlist: list[int] = []
            if self._powered:
                rlist.append(self._master)
                if self._out:
                    wlist.append(self._master)
                if self._sock is not None and len(self._out) < 16_384 \
                        and self._downlink_budget(now) >= 1:
                    rlist.append(self._sock)
            wait_s = 0.05
            if self._timers:
                wait_s = max(0.0, min(wait_s, min(t.due for t in self._timers) - now))
            try:
                readable, writable, _ = select.select(rlist, wlist, [], wait_s)
            except (OSError, ValueError):
                break
            if self._master in writable:
                self._flush_serial()
            if self._master in readable:
                try:
                    data = os.read(self._master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""
                if data and self._powered:
                    self._on_serial(data)
            if self._sock is not None and self._sock in readable:
                self._on_tcp()
        self._close_sock()

    # --- serial side -------------------------------------------------------------------------

    def _emit(self, *lines: str) -> None:
        """Queue response lines, each as ``\\r\\n<line>\\r\\n`` (noise first if faulted)."""
        if self.faults.garbage:
            noise = bytes(self._rng.randrange(0x80, 0x100) for _ in range(self._rng.randint(1, 16)))
            self._out += b"\r\n" + noise + b"\r\n"
        for line in lines:
            self._out += b"\r\n" + line.encode("ascii") + b"\r\n"

    def _flush_serial(self) -> None:
        try:
            n = os.write(self._master, bytes(self._out[:4096]))
        except BlockingIOError:
            return
        except OSError:
            self._port_open = False
            return
        del self._out[:n]

    def _on_serial(self, data: bytes) -> None:
        self._in += data
        while self._in and self._powered:
            if self._expect_payload:
                take = min(self._expect_payload, len(self._in))
                self._payload += self._in[:take]
                del self._in[:take]
                self._expect_payload -= take
                if not self._expect_payload:
                    payload = bytes(self._payload)
                    self._payload.clear()
                    self._on_payload(payload)
                continue
            ends = [i for i in (self._in.find(b"\r"), self._in.find(b"\n")) if i >= 0]
            if not ends:
                if len(self._in) > 4096:
                    self._in.clear()
                break
            end = min(ends)
            line = bytes(self._in[:end]).decode("latin-1").strip()
            del self._in[:end + 1]
            if line:
                self._on_command(line)

    def _on_command(self, line: str) -> None:
        self.commands += 1
        limit = self.faults.power_loss_after_commands
        if limit is not None and self.commands > limit:
            self._lose_power(self.faults.power_loss_closes_port)
            return
        if self._echo or self.faults.stray_echo:
            self._out += line.encode("latin-1") + b"\r"
        f = self.faults
        cmd = line.upper()
        if cmd == "AT":
            self._emit("OK")
        elif cmd in ("ATE0", "ATE1"):
            self._echo = cmd == "ATE1"
            self._emit("OK")
        elif cmd == "AT+CPIN?":
            self._emit("+CME ERROR: 10") if f.no_sim else self._emit("+CPIN: READY", "OK")
        elif cmd == "AT+CSQ":
            self._emit("+CSQ: 99,99" if f.no_signal or f.no_sim else "+CSQ: 23,99", "OK")
        elif cmd in ("AT+CREG?", "AT+CGREG?"):
            stat = 3 if f.registration_denied else 2 if f.no_signal else 0 if f.no_sim else 1
            self._emit(f"{cmd[2:-1]}: 0,{stat}", "OK")
        elif m := _CGDCONT.fullmatch(line):
            self.apn = m.group(1)
            self._emit("OK")
        elif cmd == "AT+NETOPEN":
            if self._net_open:
                self._emit("+IP ERROR: Network is already opened", "ERROR")
            elif f.netopen_fails or f.no_sim or f.no_signal or f.registration_denied:
                self._emit("OK", "+NETOPEN: 1")
            else:
                self._net_open = True
                self._emit("OK", "+NETOPEN: 0")
        elif m := _CIPOPEN.fullmatch(line):
            self._cipopen(m.group(1), int(m.group(2)))
        elif m := _CIPSEND.fullmatch(line):
            n = int(m.group(1))
            if self._sock is None:
                self._emit("+CIPERROR: 4", "ERROR")
            elif not 1 <= n <= MAX_CIPSEND_BYTES:
                self._emit("ERROR")
            else:
                self.cipsend_sizes.append(n)
                self._expect_payload = n
                self._out += b"\r\n>"
        elif cmd == "AT+CIPCLOSE=0":
            if self._sock is None:
                self._emit("+CIPCLOSE: 0,4", "ERROR")
            else:
                self._close_sock()
                self._emit("OK", "+CIPCLOSE: 0,0")
        elif cmd == "AT+NETCLOSE":
            if not self._net_open:
                self._emit("+NETCLOSE: 2", "ERROR")
            else:
                if self._sock is not None:
                    self._close_sock()
                    self._emit("+IPCLOSE: 0,0")
                self._net_open = False
                self._emit("OK", "+NETCLOSE: 0")
        elif cmd == "ATI":
            self._emit("Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600E (emulated)",
                       "OK")
        elif cmd == "AT+CIPSRIP=1":
            self._emit("OK")
        else:
            self._emit("ERROR")

    def _cipopen(self, host: str, port: int) -> None:
        if not self._net_open:
            self._emit("OK", "+CIPOPEN: 0,2")
            return
        if self._sock is not None:
            self._emit("OK", "+CIPOPEN: 0,9")
            return
        if self.faults.connection_refused or host not in LOOPBACK_HOSTS:
            self._emit("OK", "+CIPOPEN: 0,4" if host in LOOPBACK_HOSTS else "+CIPOPEN: 0,1")
            return
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        except OSError:
            self._emit("OK", "+CIPOPEN: 0,4")
            return
        sock.setblocking(True)
        sock.settimeout(5.0)
        self._sock = sock
        self._peer = f"127.0.0.1:{port}"
        self._stalled = False
        self._emit("OK", "+CIPOPEN: 0,0")

    def _on_payload(self, payload: bytes) -> None:
        f = self.faults
        requested = len(payload)
        if f.partial_send_bytes is not None and 0 < f.partial_send_bytes < requested:
            payload = payload[:f.partial_send_bytes]
        n = len(payload)
        if self._stalled or (f.stall_after_bytes is not None
                             and self.uplink_bytes + n > f.stall_after_bytes):
            self._stalled = True  # swallowed; never confirmed
            return
        if f.drop_after_bytes is not None and self.uplink_bytes + n > f.drop_after_bytes:
            keep = max(0, f.drop_after_bytes - self.uplink_bytes)
            self._forward(payload[:keep])
            self._close_sock()
            self._net_open = False
            self._emit("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", "+CIPERROR: 1")
            return
        delay_s = 0.0
        if f.link_bytes_per_s:
            start = max(time.monotonic(), self._busy_until)
            self._busy_until = start + n / f.link_bytes_per_s
            delay_s = self._busy_until - time.monotonic()
        sock = self._sock

        def deliver() -> None:
            if self._sock is not sock or sock is None:
                self._emit("+CIPERROR: 4")  # link closed meanwhile
                return
            if self._forward(payload):
                self._emit("OK", f"+CIPSEND: 0,{requested},{n}")
            else:
                self._emit("OK", f"+CIPSEND: 0,{requested},-1")

        if delay_s > 0:
            self._timers.append(_Timer(time.monotonic() + delay_s, deliver))
        else:
            deliver()

    def _forward(self, data: bytes) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendall(data)
        except OSError:
            self._close_sock()
            self._emit("+IPCLOSE: 0,1")
            return False
        self.uplink_bytes += len(data)
        return True

    # --- TCP side ---------------------------------------------------------------------------

    def _downlink_budget(self, now: float) -> float:
        rate = self.faults.link_bytes_per_s
        if not rate:
            return float(IPD_BLOCK_BYTES)
        self._tokens = min(self._tokens + (now - self._tokens_at) * rate,
                           max(rate * 0.05, 1.0))
        self._tokens_at = now
        return self._tokens

    def _on_tcp(self) -> None:
        assert self._sock is not None
        budget = int(min(IPD_BLOCK_BYTES, self._downlink_budget(time.monotonic())))
        try:
            data = self._sock.recv(max(1, budget))
        except OSError:
            data = b""
        if not data:
            self._close_sock()
            self._emit("+IPCLOSE: 0,1")
            return
        if self.faults.link_bytes_per_s:
            self._tokens -= len(data)
        self.downlink_bytes += len(data)
        block = f"\r\nRECV FROM:{self._peer}\r\n+IPD{len(data)}\r\n".encode() + data
        self._out += block
        if self.faults.duplicate_ipd:
            self._out += block

    def _close_sock(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # --- timers and power -----------------------------------------------------------------------

    def _run_timers(self, now: float) -> None:
        due = [t for t in self._timers if t.due <= now]
        if due:
            self._timers = [t for t in self._timers if t.due > now]
            for timer in sorted(due, key=lambda t: t.due):
                if self._powered:
                    timer.action()

    def _lose_power(self, close_port: bool) -> None:
        self._power_off_request = None
        self._powered = False
        self._timers.clear()
        self._out.clear()
        self._close_sock()
        if close_port:
            self._shutdown_port()

    def _shutdown_port(self) -> None:
        if self._port_open or self._master >= 0:
            self._port_open = False
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.modem_emulator [--fault NAME[=VALUE]]...``: print the pty, serve."""
    parser = argparse.ArgumentParser(prog="modem_emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]")
    parser.add_argument("--seed", type=int, default=7600)
    args = parser.parse_args(argv)
    emulator = ModemEmulator(ModemFaults.parse(args.fault), seed=args.seed)
    signal.signal(signal.SIGTERM, lambda *_: emulator.request_stop())
    print(emulator.port_path, flush=True)
    try:
        emulator.serve()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
