"""Driver for the SIMCom SIM7600 over a serial port (pyserial), TCP/IP AT dialect.

Implements :class:`firmware.hal.modem.ModemLink` for one TCP connection on link 0::

    AT, ATE0, AT+CPIN?, AT+CSQ, AT+CREG?, AT+CGREG?     (attach: polled until usable)
    AT+CGDCONT=1,"IP","<apn>"                           (packet data context)
    AT+NETOPEN            → OK, +NETOPEN: 0
    AT+CIPOPEN=0,"TCP","<host>",<port>  → OK, +CIPOPEN: 0,0
    AT+CIPSEND=0,<n> → ">" → <n bytes> → OK, +CIPSEND: 0,<n>,<n>   (n ≤ 1,500)
    RECV FROM:<ip>:<port> / +IPD<len> / <len bytes>     (incoming, unsolicited)
    AT+CIPCLOSE=0 → +CIPCLOSE: 0,0 ;  AT+NETCLOSE → +NETCLOSE: 0

Unsolicited ``+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY``, ``+IPCLOSE: 0,<reason>`` and
``+CIPERROR: <n>`` are tracked whenever they arrive; stray echo and line noise are
ignored (:mod:`protocol.at`). Every wait has a deadline from :class:`ModemTimeouts`;
when a step times out the driver sends a bare ``AT``: an answer means the modem is alive
but the step stalled (:class:`ModemTimeoutError`), silence or a vanished port means the
modem is gone (:class:`ModemNotRespondingError`).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass

import serial

from firmware.hal.modem import (
    MAX_SEND_CHUNK_BYTES,
    LinkDroppedError,
    ModemConnectError,
    ModemError,
    ModemNotRespondingError,
    ModemProtocolError,
    ModemStatus,
    ModemTimeoutError,
    NetworkOpenError,
    NoSignalError,
    NoSimError,
    NotRegisteredError,
    Registration,
    RegistrationDeniedError,
    SignalQuality,
    SimState,
)
from protocol.at import (
    AtStreamParser,
    CipError,
    Data,
    Event,
    Final,
    Info,
    LinkClosed,
    NetworkClosed,
    Prompt,
    RecvFrom,
    parse_cpin,
    parse_csq,
    parse_ints,
    parse_registration,
)

#: ``<err>`` of ``+CIPOPEN``/``+CIPERROR``/``+NETOPEN`` (SIMCom SIM7500/7600 TCP/IP notes).
CIP_ERRORS: dict[int, str] = {
    0: "operation succeeded", 1: "network failure", 2: "network not opened",
    3: "wrong parameter", 4: "operation not supported", 5: "failed to create socket",
    6: "failed to bind socket", 7: "TCP server is already listening", 8: "busy",
    9: "sockets opened", 10: "timeout", 11: "DNS parse failed", 255: "unknown error",
}
#: ``<reason>`` of ``+IPCLOSE``.
IPCLOSE_REASONS = {0: "closed by local, active", 1: "closed by remote, passive",
                   2: "closed for sending timeout"}


def cip_error_text(code: int) -> str:
    return CIP_ERRORS.get(code, f"error {code}")


@dataclass(frozen=True)
class ModemTimeouts:
    """Deadlines for each step, seconds. Defaults suit a real SIM7600 on a weak cell."""

    command_s: float = 3.0  # an ordinary AT command until its final result
    probe_s: float = 1.0  # the liveness probe after a timeout
    attach_s: float = 60.0  # SIM ready + signal + registration, polled
    poll_interval_s: float = 1.0  # between attach polls
    netopen_s: float = 30.0  # AT+NETOPEN until +NETOPEN
    cipopen_s: float = 30.0  # AT+CIPOPEN until +CIPOPEN
    prompt_s: float = 5.0  # AT+CIPSEND until ">"
    send_ack_s: float = 30.0  # payload written until +CIPSEND: 0,n,n
    close_s: float = 5.0  # AT+CIPCLOSE / AT+NETCLOSE until their report

    @classmethod
    def fast(cls, scale_s: float = 1.0) -> ModemTimeouts:
        """Short deadlines for tests against the emulator (everything within ~scale_s)."""
        return cls(command_s=scale_s, probe_s=0.5 * scale_s, attach_s=scale_s,
                   poll_interval_s=0.1 * scale_s, netopen_s=scale_s, cipopen_s=scale_s,
                   prompt_s=scale_s, send_ack_s=scale_s, close_s=scale_s)


class _AtFailed(Exception):
    """A command ended in ERROR / +CME ERROR (internal; callers turn it into a ModemError)."""

    def __init__(self, final: str, info: list[str]) -> None:
        super().__init__(final)
        self.final = final
        self.info = info


class Sim7600Modem:
    """A SIM7600 on ``port`` (e.g. ``/dev/ttyUSB2`` or an emulator's pty). One link (0)."""

    def __init__(self, port: str, *, apn: str = "internet", baudrate: int = 115_200,
                 timeouts: ModemTimeouts | None = None,
                 chunk_bytes: int = MAX_SEND_CHUNK_BYTES) -> None:
        if not 1 <= chunk_bytes <= MAX_SEND_CHUNK_BYTES:
            raise ModemError(f"send chunk must be 1..{MAX_SEND_CHUNK_BYTES} bytes, "
                             f"not {chunk_bytes}")
        if '"' in apn or any(ord(c) < 0x20 for c in apn):
            raise ModemError(f"APN {apn!r} contains a quote or control character")
        self.port = port
        self.apn = apn
        self.baudrate = baudrate
        self.timeouts = timeouts or ModemTimeouts()
        self.chunk_bytes = chunk_bytes
        self._serial: serial.Serial | None = None
        self._parser = AtStreamParser()
        self._responses: deque[Event] = deque()
        self._rx = bytearray()
        self._net_open = False
        self._link_open = False
        self._peer_closed = False
        self._dropped: str | None = None
        #: Counters for diagnostics and tests: chunks sent, noise lines ignored.
        self.chunks_sent = 0
        self.noise_events = 0

    # --- ModemLink ----------------------------------------------------------------------

    def status(self) -> ModemStatus:
        """SIM, signal and registration now; raises only if the modem is unreachable."""
        self._hello()
        sim = self._sim_state()
        signal = self._signal()
        return ModemStatus(sim=sim, signal=signal, creg=self._registration("+CREG"),
                           cgreg=self._registration("+CGREG"))

    def open(self, host: str, port: int) -> None:
        """Attach, open the data session and connect to ``host:port`` over TCP."""
        if not host or any(c in host for c in '",') or any(ord(c) < 0x21 for c in host):
            raise ModemError(f"server host {host!r} is not a valid name or address")
        if not 1 <= port <= 65_535:
            raise ModemError(f"server port {port} is outside 1..65535")
        if self._link_open:
            self._close_link()
        self._attach()
        self._netopen()
        self._rx.clear()
        self._peer_closed = False
        self._dropped = None
        t = self.timeouts
        try:
            info = self._command(f'AT+CIPOPEN=0,"TCP","{host}",{port}', t.command_s)
            report = self._find(info, "+CIPOPEN:") or self._wait_info("+CIPOPEN:", t.cipopen_s,
                                                                     "connect to the server")
        except _AtFailed as exc:
            found = self._find(exc.info, "+CIPOPEN:")
            if found is None:
                raise ModemConnectError(f"modem refused to connect to {host}:{port} "
                                        f"({exc.final})") from None
            report = found
        nums = parse_ints(report, "+CIPOPEN")
        err = nums[1] if len(nums) >= 2 else -1
        if err != 0:
            raise ModemConnectError(f"server {host}:{port} refused or unreachable "
                                    f"(+CIPOPEN: 0,{err})")
        self._link_open = True

    def send(self, data: bytes) -> None:
        """Send every byte, in ``AT+CIPSEND`` chunks of at most ``chunk_bytes``."""
        view = memoryview(bytes(data))
        while view:
            n = min(len(view), self.chunk_bytes)
            confirmed = self._send_chunk(bytes(view[:n]))
            view = view[confirmed:]

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        """1..max_bytes bytes; ``b""`` after an orderly close by the peer. See ModemLink."""
        if max_bytes < 1:
            raise ModemError(f"recv needs max_bytes >= 1, not {max_bytes}")
        deadline = time.monotonic() + timeout_s
        while True:
            if self._rx:
                out = bytes(self._rx[:max_bytes])
                del self._rx[:max_bytes]
                return out
            if self._peer_closed:
                return b""
            self._raise_if_dropped()
            if not self._link_open:
                raise LinkDroppedError("no open connection to receive from")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(f"receive data within {timeout_s:.1f} s")
            self._pump(min(remaining, 0.05))

    def close(self) -> None:
        """Close the connection and the data session, release the port. Never raises."""
        try:
            if self._serial is not None:
                if self._link_open:
                    self._close_link()
                if self._net_open:
                    self._command("AT+NETCLOSE", self.timeouts.command_s, probe=False)
                    self._wait_info("+NETCLOSE:", self.timeouts.close_s, "close the session",
                                    probe=False)
        except (ModemError, _AtFailed):
            pass
        finally:
            self._net_open = False
            self._link_open = False
            if self._serial is not None:
                with contextlib.suppress(serial.SerialException, OSError):
                    self._serial.close()
                self._serial = None

    def __enter__(self) -> Sim7600Modem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- attach -------------------------------------------------------------------------

    def _hello(self) -> None:
        """``AT`` until OK (a modem may need a few tries after power-up), then ``ATE0``."""
        deadline = time.monotonic() + self.timeouts.command_s
        while True:
            try:
                self._command("AT", min(self.timeouts.probe_s, self.timeouts.command_s),
                              probe=False)
                break
            except ModemTimeoutError:
                if time.monotonic() >= deadline:
                    raise ModemNotRespondingError(
                        f"modem on {self.port} does not answer AT "
                        "(powered off, unplugged or wrong port?)") from None
            except _AtFailed as exc:  # noise glued to our command: try again
                if time.monotonic() >= deadline:
                    raise ModemProtocolError(f"modem answers AT with {exc.final}") from None
                self._idle(0.05)
        try:
            self._command("ATE0", self.timeouts.command_s)
        except _AtFailed as exc:
            raise ModemProtocolError(f"modem refused ATE0 ({exc.final})") from None

    def _sim_state(self) -> SimState:
        try:
            info = self._command("AT+CPIN?", self.timeouts.command_s)
        except _AtFailed as exc:
            return parse_cpin(exc.final)
        report = self._find(info, "+CPIN:")
        if report is None:
            raise ModemProtocolError("modem answered AT+CPIN? without a +CPIN report")
        return parse_cpin(report)

    def _signal(self) -> SignalQuality:
        try:
            info = self._command("AT+CSQ", self.timeouts.command_s)
        except _AtFailed as exc:
            raise ModemProtocolError(f"modem refused AT+CSQ ({exc.final})") from None
        report = self._find(info, "+CSQ:")
        if report is None:
            raise ModemProtocolError("modem answered AT+CSQ without a +CSQ report")
        return parse_csq(report)

    def _registration(self, prefix: str) -> Registration | None:
        try:
            info = self._command(f"AT{prefix}?", self.timeouts.command_s)
        except _AtFailed:
            return None
        report = self._find(info, prefix + ":")
        return parse_registration(report, prefix) if report is not None else None

    def _attach(self) -> None:
        """SIM ready, then poll signal and registration until usable or ``attach_s``."""
        self._hello()
        sim = self._sim_state()
        if sim is SimState.ABSENT:
            raise NoSimError("no SIM card in the modem: insert the SIM card and retry")
        if sim is SimState.LOCKED:
            raise NoSimError("the SIM card is locked by a PIN: use an unlocked SIM card")
        if sim is not SimState.READY:
            raise NoSimError("the modem cannot read the SIM card: reseat or replace it")
        deadline = time.monotonic() + self.timeouts.attach_s
        while True:
            signal = self._signal()
            regs = [self._registration("+CREG"), self._registration("+CGREG")]
            if Registration.DENIED in regs:
                raise RegistrationDeniedError(
                    "the mobile network denied registration: check the SIM's subscription")
            if signal.known and any(r is not None and r.usable for r in regs):
                break
            if time.monotonic() >= deadline:
                if not signal.known:
                    raise NoSignalError(
                        f"no mobile signal after {self.timeouts.attach_s:.0f} s: move the "
                        "device or antenna and retry")
                raise NotRegisteredError(
                    f"modem not registered on a network after {self.timeouts.attach_s:.0f} s "
                    f"(signal {signal.rssi}/31)")
            self._idle(self.timeouts.poll_interval_s)
        try:
            self._command(f'AT+CGDCONT=1,"IP","{self.apn}"', self.timeouts.command_s)
        except _AtFailed as exc:
            raise NetworkOpenError(f"modem refused APN {self.apn!r} ({exc.final})") from None

    def _netopen(self) -> None:
        if self._net_open:
            return
        try:
            info = self._command("AT+NETOPEN", self.timeouts.command_s)
            report = self._find(info, "+NETOPEN:") or self._wait_info(
                "+NETOPEN:", self.timeouts.netopen_s, "open the mobile data session")
        except _AtFailed as exc:
            if any("already opened" in line for line in exc.info):
                self._net_open = True
                return
            raise NetworkOpenError(f"mobile data session could not be opened ({exc.final}): "
                                   f"check the APN {self.apn!r}") from None
        code = parse_ints(report, "+NETOPEN")[0]
        if code != 0:
            raise NetworkOpenError(f"mobile data session could not be opened (+NETOPEN: {code}"
                                   f", {cip_error_text(code)}): check the APN {self.apn!r}")
        self._net_open = True

    # --- send / close -------------------------------------------------------------------

    def _send_chunk(self, chunk: bytes) -> int:
        """One ``AT+CIPSEND``; returns how many bytes the modem confirmed (≥ 1)."""
        self._raise_if_dropped()
        if not self._link_open:
            raise LinkDroppedError("no open connection to send on")
        t = self.timeouts
        self._start_command(f"AT+CIPSEND=0,{len(chunk)}")
        deadline = time.monotonic() + t.prompt_s
        while True:
            ev = self._next_response(deadline)
            if ev is None:
                raise self._timed_out(f"give the send prompt within {t.prompt_s:.1f} s")
            if isinstance(ev, Prompt):
                break
            self._send_failure(ev)
        self._write(chunk)
        deadline = time.monotonic() + t.send_ack_s
        while True:
            ev = self._next_response(deadline)
            if ev is None:
                raise self._timed_out(f"confirm {len(chunk)} sent bytes within "
                                      f"{t.send_ack_s:.1f} s")
            if isinstance(ev, Info) and ev.text.startswith("+CIPSEND:"):
                nums = parse_ints(ev.text, "+CIPSEND")
                confirmed = nums[-1] if len(nums) == 3 else -1
                if confirmed < 0:
                    self._link_open = False
                    raise LinkDroppedError("connection lost while sending "
                                           f"(+CIPSEND: {ev.text.split(':', 1)[1].strip()})")
                if confirmed == 0 or confirmed > len(chunk):
                    raise ModemProtocolError(f"modem confirmed {confirmed} of {len(chunk)} bytes")
                self.chunks_sent += 1
                return confirmed
            if isinstance(ev, Final) and ev.ok:
                continue
            self._send_failure(ev)

    def _send_failure(self, ev: Event) -> None:
        """Raise for an event that ends a send, ignore the rest (stray Info, OK)."""
        self._raise_if_dropped()
        if isinstance(ev, CipError):
            self._link_open = False
            raise LinkDroppedError(f"modem could not send (+CIPERROR: {ev.code}, "
                                   f"{cip_error_text(ev.code)})")
        if isinstance(ev, Final) and not ev.ok:
            raise LinkDroppedError(f"modem refused to send ({ev.text})")

    def _close_link(self) -> None:
        self._link_open = False
        try:
            self._command("AT+CIPCLOSE=0", self.timeouts.command_s, probe=False)
            self._wait_info("+CIPCLOSE:", self.timeouts.close_s, "close the connection",
                            probe=False)
        except (_AtFailed, ModemTimeoutError):
            pass  # already closed by the peer or the network

    # --- state from unsolicited codes ----------------------------------------------------

    def _raise_if_dropped(self) -> None:
        if self._dropped is not None:
            raise LinkDroppedError(self._dropped)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, Data):
            self._rx += ev.payload
        elif isinstance(ev, NetworkClosed):
            self._net_open = False
            if self._link_open:
                self._link_open = False
                self._dropped = "the mobile network closed the data session unexpectedly"
        elif isinstance(ev, LinkClosed):
            if ev.link != 0:
                return
            was_open = self._link_open
            self._link_open = False
            if ev.reason == 1:
                self._peer_closed = True
            elif was_open:
                self._dropped = f"connection closed ({IPCLOSE_REASONS.get(ev.reason, ev.reason)})"
        elif isinstance(ev, Final | Info | Prompt | CipError):
            self._responses.append(ev)
        elif not isinstance(ev, RecvFrom):  # Echo, Noise: ignored, counted
            self.noise_events += 1

    # --- serial plumbing ------------------------------------------------------------------

    def _port(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.Serial(self.port, self.baudrate, timeout=0.05,
                                             write_timeout=self.timeouts.command_s)
            except (serial.SerialException, OSError) as exc:
                raise ModemNotRespondingError(f"cannot open modem port {self.port}: "
                                              f"{exc.strerror or exc}") from None
        return self._serial

    def _gone(self) -> ModemNotRespondingError:
        self._link_open = False
        self._net_open = False
        return ModemNotRespondingError(f"modem port {self.port} went away "
                                       "(modem powered off or unplugged)")

    def _write(self, data: bytes) -> None:
        port = self._port()
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException:
            raise ModemNotRespondingError(f"modem on {self.port} does not take data "
                                          "(powered off or flow control stuck)") from None
        except (serial.SerialException, OSError):
            raise self._gone() from None

    def _pump(self, wait_s: float) -> bool:
        """Read what arrives within ``wait_s`` and dispatch it; True if anything came."""
        port = self._port()
        try:
            port.timeout = max(wait_s, 0.0)
            data = port.read(max(1, min(port.in_waiting, 65_536)))
        except (serial.SerialException, OSError, TypeError):
            raise self._gone() from None
        for ev in self._parser.feed(data):
            self._on_event(ev)
        return bool(data)

    def _idle(self, seconds: float) -> None:
        """Wait, still reading (URCs and data keep arriving)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._pump(min(left, 0.05))

    def _next_response(self, deadline: float) -> Event | None:
        while not self._responses:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pump(min(left, 0.05))
        return self._responses.popleft()

    def _start_command(self, cmd: str) -> None:
        self._responses.clear()  # answers to nothing we still wait for
        self._write(cmd.encode("ascii") + b"\r")

    def _command(self, cmd: str, timeout_s: float, *, probe: bool = True) -> list[str]:
        """Send one command; its information lines until the final result. ERROR → _AtFailed."""
        self._start_command(cmd)
        deadline = time.monotonic() + timeout_s
        info: list[str] = []
        while True:
            ev = self._next_response(deadline)
            if ev is None:
                step = f"answer {cmd.split('=')[0]} within {timeout_s:.1f} s"
                if probe:
                    raise self._timed_out(step)
                raise ModemTimeoutError(f"modem did not {step}")
            if isinstance(ev, Final):
                if ev.ok:
                    return info
                raise _AtFailed(ev.text, info)
            if isinstance(ev, Info):
                info.append(ev.text)
            elif isinstance(ev, CipError):
                info.append(f"+CIPERROR: {ev.code}")

    def _wait_info(self, prefix: str, timeout_s: float, step: str, *,
                   probe: bool = True) -> str:
        """Wait for the report line starting with ``prefix`` (after a command's OK)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ev = self._next_response(deadline)
            if ev is None:
                what = f"{step} within {timeout_s:.1f} s"
                if probe:
                    raise self._timed_out(what)
                raise ModemTimeoutError(f"modem did not {what}")
            if isinstance(ev, Info) and ev.text.startswith(prefix):
                return ev.text
            if isinstance(ev, CipError):
                raise _AtFailed(f"+CIPERROR: {ev.code}", [])
            if isinstance(ev, Final) and not ev.ok:
                raise _AtFailed(ev.text, [])

    def _timed_out(self, step: str) -> ModemError:
        """A step timed out: alive modem → ModemTimeoutError, silent one → NotResponding."""
        self._raise_if_dropped()
        try:
            self._command("AT", self.timeouts.probe_s, probe=False)
        except ModemTimeoutError:
            self._link_open = self._net_open = False  # nothing left to close politely
            return ModemNotRespondingError(f"modem on {self.port} stopped answering "
                                           "(powered off or hung?) while waiting to " + step)
        except _AtFailed:
            pass
        if self._dropped is not None:
            return LinkDroppedError(self._dropped)
        return ModemTimeoutError(f"modem did not {step}")

    @staticmethod
    def _find(lines: list[str], prefix: str) -> str | None:
        return next((line for line in lines if line.startswith(prefix)), None)
