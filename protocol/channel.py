"""The device's uplink to the CEC: the protocol side of ``firmware.hal.results_channel``.

:class:`OutboxChannel` implements :class:`firmware.hal.results_channel.ResultsChannel`:
each hand-over from the device core (zero report, results + audit log, status,
and the DEC protocol fed by the operator) becomes a signed message
(:class:`protocol.device.DeviceMessenger`) kept in the crash-safe
:class:`protocol.outbox.Outbox` before the call returns. Nothing goes on the
wire here: :func:`make_sender` gives the :class:`protocol.outbox.Sender` that
delivers them, with backoff and jitter seeded by the device id, until each
holds a signed receipt, across power cuts (the outbox is a SQLite file on the
device's internal medium; reopening it after a restart resumes).

Transports: :class:`protocol.outbox.TcpTransport` (a wired link, the bench and
tests) and :class:`ModemTransport`, which runs the same sender over the SIM7600
driver (:class:`protocol.modem.Sim7600Modem`, any ``firmware.hal.modem.ModemLink``):
every :class:`~firmware.hal.modem.ModemError` becomes a retry with backoff, and its
one-line operator message is kept (``last_error``) for the display and the log.

Idempotent hand-overs: the device hands its reports over again after every
boot; a kind already in the outbox is not queued again (the first one is what
was printed and signed). A zero report handed over late (after a power cut
struck between opening the polls and the hand-over, with ballots cast since)
carries the zero tally the device checked before opening, not the running one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from election.model import Election
from election.tally import Tally
from firmware import audit
from firmware.crypto import canonical_json
from firmware.hal.modem import ModemError, ModemLink, ModemTimeoutError
from protocol.device import DeviceMessenger
from protocol.envelope import CecPublicKeys, SuiteName
from protocol.errors import ProtocolError, Reason
from protocol.frames import Transport
from protocol.messages import (
    AuditLog,
    Content,
    DecFigures,
    DecProtocol,
    MessageKind,
    Results,
    SheetCounts,
    SignedMessage,
    Status,
    ZeroReport,
)
from protocol.outbox import Backoff, Outbox, Sender

_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def message_time(device_time: str) -> str:
    """The device clock's ISO time (``...T08:00:00.123Z``) in the message's whole seconds."""
    m = _TIME.match(device_time)
    if m is None:
        raise ProtocolError(Reason.MALFORMED, f"device time {device_time!r} is not UTC ISO 8601")
    return m.group(1) + "Z"


def _head(value: str) -> str:
    if not _HEX64.match(value):
        raise ProtocolError(Reason.MALFORMED, f"audit head {value!r} is not 64 hex digits")
    return value


def audit_blob(events: Sequence[dict[str, Any]]) -> bytes:
    """The audit log as sent: one canonical JSON event per line, in chain order."""
    return b"".join(canonical_json(e) + b"\n" for e in events)


@dataclass
class OutboxChannel:
    """A device's :class:`~firmware.hal.results_channel.ResultsChannel` into its outbox.

    ``station_of``: the station the device runs for now (``device.config.station``),
    asked at each hand-over. A TEC spare certified for no station learns it only when
    it loads the package for the station it is installed at (and again at each boot),
    so its messages name that station; without it, the messenger's identity's station.
    """

    messenger: DeviceMessenger
    outbox: Outbox
    election: Election
    station_of: Callable[[], str] | None = None
    _status_heads: set[str] | None = field(default=None, init=False, repr=False)

    def _queued(self, kind: MessageKind) -> bool:
        return self.outbox.has_kind(kind.value)

    def _queue(self, content: Content, time: str, audit_head: str) -> SignedMessage:
        return self.messenger.queue(self.outbox, content, time=message_time(time),
                                    audit_head=_head(audit_head),
                                    station=self.station_of() if self.station_of else None)

    def polls_opened(self, zero_report: dict[str, Any]) -> None:
        if self._queued(MessageKind.ZERO_REPORT):
            return
        tally = Tally.from_json(zero_report["tally"])
        if any(c.ballots for c in tally.contests):
            # handed over late (see the module docstring): the device opened on a zero tally
            tally = Tally.empty(self.election, tally.contest_ids)
        self._queue(ZeroReport(tally), zero_report["time"], zero_report["audit_head"])

    def polls_closed(self, results_report: dict[str, Any],
                     audit_events: Sequence[dict[str, Any]]) -> None:
        r = results_report
        if not self._queued(MessageKind.RESULTS):
            sheets = SheetCounts(int(r["sheets_cast"]), sum(r["returned_by_reason"].values()),
                                 int(r["marginal_sheets"]))
            self._queue(Results(Tally.from_json(r["tally"]), sheets), r["time"], r["audit_head"])
        if not self._queued(MessageKind.AUDIT_LOG):
            head = audit_events[-1]["hash"] if audit_events else audit.GENESIS
            self._queue(AuditLog(audit_blob(audit_events), _head(head)), r["time"], head)

    def status(self, state: str, detail: str, time: str, audit_head: str) -> None:
        """One status message per audit head: the device hands the status of an audit
        event again after a restart, and the outbox keeps the first."""
        if self._status_heads is None:  # read once from the outbox (it survives restarts)
            self._status_heads = self.outbox.audit_heads(MessageKind.STATUS.value)
        if audit_head in self._status_heads:
            return
        self._queue(Status(state, detail), time, audit_head)
        self._status_heads.add(audit_head)

    def dec_protocol(self, pages_png: Sequence[bytes], first: DecFigures | dict[str, Any],
                     second: DecFigures | dict[str, Any], time: str,
                     audit_head: str) -> SignedMessage:
        """The DEC's paper protocol: its pages as the image sensor saw them (PNG) and its key
        figures typed twice by the operator. Refuses (``dec-figures-mismatch``) before
        anything is signed when the two entries differ."""
        a = first if isinstance(first, DecFigures) else DecFigures.from_json(first)
        b = second if isinstance(second, DecFigures) else DecFigures.from_json(second)
        return self._queue(DecProtocol.from_entries(tuple(pages_png), a, b), time, audit_head)


def make_sender(outbox: Outbox, transport_factory: Callable[[], Transport], host: str,
                port: int, cec: CecPublicKeys, cec_signing_key: Any, device_id: str, *,
                suite: SuiteName = SuiteName.X25519, base_s: float = 1.0, cap_s: float = 300.0,
                receipt_timeout_s: float = 10.0,
                clock: Callable[[], float] | None = None) -> Sender:
    """The sender that empties ``outbox``: backoff jitter seeded by ``device_id`` (devices
    do not retry in lock-step; each device is reproducible)."""
    kw: dict[str, Any] = {} if clock is None else {"clock": clock}
    return Sender(outbox, transport_factory, host, port, cec, cec_signing_key, suite=suite,
                  backoff=Backoff(base_s, cap_s, random.Random(device_id)),
                  receipt_timeout_s=receipt_timeout_s, **kw)


class ModemTransport:
    """A :class:`~protocol.frames.Transport` over a modem link (the SIM7600 driver).

    The link stays the caller's (one serial port for the device's life); ``open`` and
    ``close`` here open and close its TCP connection and data session. Every
    :class:`ModemError` is turned into the ``OSError`` the sender retries with backoff:
    a modem timeout into ``TimeoutError``, anything else into ``ConnectionError``. The
    operator message of the last one is kept in :attr:`last_error` (and passed to
    ``on_error``, e.g. the device's display).
    """

    def __init__(self, link: ModemLink,
                 on_error: Callable[[ModemError], None] | None = None) -> None:
        self.link = link
        self.on_error = on_error
        self.last_error: ModemError | None = None

    def _mapped(self, exc: ModemError) -> OSError:
        self.last_error = exc
        if self.on_error is not None:
            self.on_error(exc)
        if isinstance(exc, ModemTimeoutError):
            return TimeoutError(f"modem: {exc}")
        return ConnectionError(f"modem: {exc}")

    def open(self, host: str, port: int) -> None:
        try:
            self.link.open(host, port)
        except ModemError as exc:
            raise self._mapped(exc) from None

    def send(self, data: bytes) -> None:
        try:
            self.link.send(data)
        except ModemError as exc:
            raise self._mapped(exc) from None

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            return self.link.recv(max_bytes, timeout_s)
        except ModemError as exc:
            raise self._mapped(exc) from None

    def close(self) -> None:
        self.link.close()
