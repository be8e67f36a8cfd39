"""SIM7600 AT stream parsing: bytes from the serial line → typed events. Pure, no I/O.

Why a stream parser and not ``readline()``: the line carries three things interleaved —
text lines (final results, information responses, unsolicited result codes), the bare
``>`` prompt of ``AT+CIPSEND`` (no line end), and raw TCP payload announced by
``+IPD<len>`` (any bytes, including CR/LF). Line noise, stray echo and bytes split at any
point must never raise: every input maps to events, unknown or undecodable lines become
:class:`Noise`. The line-content parsers (``parse_csq`` …) raise only
:class:`~firmware.hal.modem.ModemProtocolError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware.hal.modem import ModemProtocolError, Registration, SignalQuality, SimState

#: Longest text line kept; longer runs without a line end are noise.
MAX_LINE_BYTES = 512
#: Largest ``+IPD`` block accepted (the SIM7600 reports at most 1,500 per block).
MAX_IPD_BYTES = 65_536

_WS = b" \t\r\n"


@dataclass(frozen=True)
class Final:
    """A final result code: ``OK`` (ok=True), ``ERROR``, ``+CME ERROR: n``, ``+CMS ERROR: n``."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Info:
    """Any other printable line: an information response (``+CSQ: 20,99``) or a URC."""

    text: str


@dataclass(frozen=True)
class Prompt:
    """The ``>`` that invites the payload of ``AT+CIPSEND``."""


@dataclass(frozen=True)
class NetworkClosed:
    """``+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY``: the packet data session is gone."""


@dataclass(frozen=True)
class LinkClosed:
    """``+IPCLOSE: <link>,<reason>``: 0 closed locally, 1 by the remote, 2 send timeout."""

    link: int
    reason: int


@dataclass(frozen=True)
class CipError:
    """``+CIPERROR: <code>``: a TCP/IP command failed."""

    code: int


@dataclass(frozen=True)
class RecvFrom:
    """``RECV FROM:<ip>:<port>``: the next ``+IPD`` block comes from this peer."""

    peer: str


@dataclass(frozen=True)
class Data:
    """Payload bytes of an ``+IPD`` block (a long block may arrive as several events)."""

    payload: bytes


@dataclass(frozen=True)
class Echo:
    """A command line echoed back (echo on, or a stray echo after ``ATE0``)."""

    text: str


@dataclass(frozen=True)
class Noise:
    """Bytes that are no valid line: garbage, a malformed URC, an over-long run."""

    raw: bytes


Event = Final | Info | Prompt | NetworkClosed | LinkClosed | CipError | RecvFrom | Data | Echo \
    | Noise

_IPD = re.compile(r"\+IPD(\d{1,6})")
_INTS = re.compile(r"-?\d{1,9}")


def _ints(text: str) -> list[int] | None:
    """The comma-separated integers after ``PREFIX:``; None if any field is not one."""
    _, sep, rest = text.partition(":")
    if not sep:
        return None
    fields = [f.strip() for f in rest.split(",")]
    if not fields or not all(_INTS.fullmatch(f) for f in fields):
        return None
    return [int(f) for f in fields]


def classify_line(raw: bytes) -> Event | int:
    """One line (without its line end) → an event, or the length of an ``+IPD`` header."""
    if any(b < 0x20 or b > 0x7E for b in raw):
        return Noise(bytes(raw))
    text = raw.decode("ascii").strip()
    if text == "OK":
        return Final(True, text)
    if text == "ERROR" or text.startswith(("+CME ERROR", "+CMS ERROR")):
        return Final(False, text)
    if text.startswith("+CIPEVENT:"):
        if "NETWORK CLOSED" in text.upper():
            return NetworkClosed()
        return Info(text)
    if text.startswith("+IPCLOSE:"):
        nums = _ints(text)
        return LinkClosed(nums[0], nums[1]) if nums and len(nums) == 2 else Noise(bytes(raw))
    if text.startswith("+CIPERROR:"):
        nums = _ints(text)
        return CipError(nums[0]) if nums and len(nums) == 1 else Noise(bytes(raw))
    if text.startswith("RECV FROM:"):
        return RecvFrom(text[len("RECV FROM:"):].strip())
    if text.startswith("+IPD"):
        m = _IPD.fullmatch(text)
        if m and 0 < int(m.group(1)) <= MAX_IPD_BYTES:
            return int(m.group(1))
        return Noise(bytes(raw))
    if text[:2].upper() == "AT":
        return Echo(text)
    return Info(text)


class AtStreamParser:
    """Incremental parser: ``feed(bytes)`` returns the events completed so far.

    The result does not depend on how the input is split into chunks (except that a
    payload may come as several :class:`Data` events); a property test checks this.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending_data = 0

    @property
    def in_payload(self) -> bool:
        """True while inside an ``+IPD`` block (bytes are payload, not lines)."""
        return self._pending_data > 0

    def feed(self, chunk: bytes) -> list[Event]:
        self._buf += chunk
        events: list[Event] = []
        while self._buf:
            if self._pending_data:
                take = min(self._pending_data, len(self._buf))
                events.append(Data(bytes(self._buf[:take])))
                del self._buf[:take]
                self._pending_data -= take
                continue
            start = 0
            while start < len(self._buf) and self._buf[start] in _WS:
                start += 1
            if start:
                del self._buf[:start]
                continue
            if self._buf[0] == ord(">"):
                del self._buf[:1]
                events.append(Prompt())
                continue
            end = self._line_end()
            if end is None or end > MAX_LINE_BYTES:
                if len(self._buf) > MAX_LINE_BYTES:
                    events.append(Noise(bytes(self._buf[:MAX_LINE_BYTES])))
                    del self._buf[:MAX_LINE_BYTES]
                    continue
                break
            line = bytes(self._buf[:end])
            result = classify_line(line)
            if isinstance(result, int):
                # The payload starts right after exactly one line end (CRLF, CR or LF).
                if self._buf[end] == 0x0D and end + 1 >= len(self._buf):
                    break  # a CR at the end: wait to see whether LF follows
                skip = 2 if self._buf[end:end + 2] == b"\r\n" else 1
                del self._buf[:end + skip]
                self._pending_data = result
                continue
            del self._buf[:end + 1]
            events.append(result)
        return events

    def _line_end(self) -> int | None:
        cr = self._buf.find(b"\r")
        lf = self._buf.find(b"\n")
        ends = [i for i in (cr, lf) if i >= 0]
        return min(ends) if ends else None


# --- line-content parsers (raise ModemProtocolError on malformed input) -----------------

def parse_csq(text: str) -> SignalQuality:
    """``+CSQ: <rssi>,<ber>`` → :class:`SignalQuality`."""
    nums = _ints(text) if text.startswith("+CSQ:") else None
    if not nums or len(nums) != 2:
        raise ModemProtocolError(f"modem sent a malformed signal report: {text[:60]!r}")
    return SignalQuality(nums[0], nums[1])


def parse_registration(text: str, prefix: str) -> Registration:
    """``+CREG: <n>,<stat>[,...]`` (reply to ``?``) or ``+CREG: <stat>`` (URC) → stat."""
    if not text.startswith(prefix + ":"):
        raise ModemProtocolError(f"modem sent no {prefix} report: {text[:60]!r}")
    fields = [f.strip() for f in text.split(":", 1)[1].split(",")]
    stat_field = fields[1] if len(fields) >= 2 else fields[0]
    if not stat_field.isdigit() or int(stat_field) not in {r.value for r in Registration}:
        raise ModemProtocolError(f"modem sent a malformed registration report: {text[:60]!r}")
    return Registration(int(stat_field))


def parse_cpin(text: str) -> SimState:
    """``+CPIN: READY`` / ``+CPIN: SIM PIN`` / ``+CME ERROR: 10`` → :class:`SimState`."""
    if text.startswith("+CPIN:"):
        value = text.split(":", 1)[1].strip()
        return SimState.READY if value == "READY" else SimState.LOCKED
    code = cme_code(text)
    if code == 10:  # SIM not inserted
        return SimState.ABSENT
    if code is not None or text == "ERROR":
        return SimState.ERROR
    raise ModemProtocolError(f"modem sent a malformed SIM report: {text[:60]!r}")


def cme_code(text: str) -> int | None:
    """The number of ``+CME ERROR: <n>``, else None."""
    if text.startswith("+CME ERROR:"):
        value = text.split(":", 1)[1].strip()
        return int(value) if value.isdigit() and len(value) < 6 else None
    return None


def parse_ints(text: str, prefix: str) -> list[int]:
    """``+NETOPEN: 0`` / ``+CIPOPEN: 0,0`` / ``+CIPSEND: 0,5,5`` → the integers."""
    nums = _ints(text) if text.startswith(prefix + ":") else None
    if nums is None:
        raise ModemProtocolError(f"modem sent a malformed {prefix} report: {text[:60]!r}")
    return nums
