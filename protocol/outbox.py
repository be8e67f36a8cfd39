"""The device's crash-safe outbox and the sender that empties it.

:class:`Outbox` is one SQLite file (WAL, ``synchronous=FULL``): every signed
message is written there *before* anything is sent, and stays until the
device holds a valid receipt for it (the receipt is stored beside it; the
message itself is never deleted, so the operator can print what was sent).
A power cut at any point loses nothing: reopening the file gives the same
pending messages, the same attempt counters and the same next-attempt times.

:class:`Sender` sends pending messages strictly in sequence order over any
blocking byte-stream :class:`~protocol.frames.Transport` (a loopback TCP socket
here; the modem driver's link has the same four methods). Each message is
sealed afresh per attempt (HPKE is randomised; the signed message, hence its
hash, stays the same, so the CEC sees a duplicate as a duplicate). After a
failure the message waits ``Backoff.delay_s(attempts)``: exponential with a cap
and jitter drawn from a seeded ``random.Random``, so fleets do not retry in
lock-step and tests are reproducible.

A refusal the CEC signs for a reason that retrying cannot fix (bad signature,
wrong election, ...) is stored as the message's final state ``refused`` and
the message is not sent again; transient ones (out of order, timeouts, link
drops) are retried.
"""

from __future__ import annotations

import random
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.envelope import CecPublicKeys, SuiteName, seal
from protocol.errors import ProtocolError, Reason
from protocol.frames import MAX_FRAME_BYTES, FrameReader, Transport, encode_frame
from protocol.messages import SignedMessage
from protocol.receipts import Receipt, ReceiptStatus, parse_receipt

TRANSIENT = frozenset({Reason.OUT_OF_ORDER_SEQUENCE, Reason.TIMEOUT, Reason.TRUNCATED_FRAME,
                       Reason.CONNECTION_CLOSED, Reason.BAD_RECEIPT})


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"   # holds an accepted receipt
    REFUSED = "refused"       # holds a signed refusal for a permanent reason


@dataclass(frozen=True)
class OutboxEntry:
    sequence: int
    kind: str
    message_hash: str
    signed: bytes
    state: OutboxState
    attempts: int
    next_attempt_s: float
    receipt: bytes | None
    last_error: str


class Outbox:
    """Messages waiting for (or holding) their receipts, in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS outbox (
            sequence INTEGER PRIMARY KEY, kind TEXT NOT NULL, message_hash TEXT NOT NULL,
            signed BLOB NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
            next_attempt_s REAL NOT NULL, receipt BLOB, last_error TEXT NOT NULL)""")

    def close(self) -> None:
        self._db.close()

    def add(self, signed: SignedMessage) -> None:
        """Keep ``signed`` until receipted. Adding the same message again is a no-op;
        other content under a used sequence number is refused (never overwritten)."""
        m = signed.message
        row = self._db.execute("SELECT message_hash FROM outbox WHERE sequence=?",
                               (m.sequence,)).fetchone()
        if row is not None:
            if row[0] == signed.message_hash:
                return
            raise ProtocolError(Reason.CONFLICTING_CONTENT,
                                f"outbox already holds other content as #{m.sequence}")
        self._db.execute("INSERT INTO outbox VALUES (?,?,?,?,?,?,?,?,?)",
                         (m.sequence, m.kind.value, signed.message_hash, signed.dumps(),
                          OutboxState.PENDING.value, 0, 0.0, None, ""))

    def has_kind(self, kind: str) -> bool:
        """Whether a message of ``kind`` is held (pending, delivered or refused)."""
        return self._db.execute("SELECT 1 FROM outbox WHERE kind=? LIMIT 1",
                                (kind,)).fetchone() is not None

    def audit_heads(self, kind: str) -> set[str]:
        """The audit-log heads the held messages of ``kind`` were signed with (read from
        the signed messages themselves, so nothing beside them can disagree)."""
        rows = self._db.execute("SELECT signed FROM outbox WHERE kind=?", (kind,)).fetchall()
        return {SignedMessage.loads(r[0]).message.audit_head for r in rows}

    def next_sequence(self) -> int:
        row = self._db.execute("SELECT MAX(sequence) FROM outbox").fetchone()
        return int(row[0] or 0) + 1

    def entries(self, state: OutboxState | None = None) -> list[OutboxEntry]:
        sql = "SELECT * FROM outbox" + (" WHERE state=?" if state else "") + " ORDER BY sequence"
        rows = self._db.execute(sql, (state.value,) if state else ()).fetchall()
        return [OutboxEntry(r[0], r[1], r[2], r[3], OutboxState(r[4]), r[5], r[6], r[7], r[8])
                for r in rows]

    def pending(self) -> list[OutboxEntry]:
        return self.entries(OutboxState.PENDING)

    def record_receipt(self, sequence: int, receipt: bytes, state: OutboxState) -> None:
        self._db.execute("UPDATE outbox SET state=?, receipt=? WHERE sequence=?",
                         (state.value, receipt, sequence))

    def record_failure(self, sequence: int, next_attempt_s: float, error: str) -> None:
        self._db.execute("UPDATE outbox SET attempts=attempts+1, next_attempt_s=?, last_error=? "
                         "WHERE sequence=?", (next_attempt_s, error[:200], sequence))


@dataclass
class Backoff:
    """Exponential backoff with a cap and "equal jitter" from a seeded generator."""

    base_s: float = 1.0
    cap_s: float = 300.0
    rng: random.Random | None = None

    def delay_s(self, attempts: int) -> float:
        """Wait after the ``attempts``-th failure (1, 2, ...): in [d/2, d], d = base*2^(n-1)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, min(attempts - 1, 30)))
        rng = self.rng if self.rng is not None else random.Random(attempts)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class TcpTransport:
    """:class:`~protocol.frames.Transport` over a plain TCP socket."""

    def __init__(self, connect_timeout_s: float = 5.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._sock: socket.socket | None = None

    def open(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port), timeout=self.connect_timeout_s)

    def send(self, data: bytes) -> None:
        if self._sock is None:
            raise ConnectionError("transport not open")
        self._sock.sendall(data)

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        if self._sock is None:
            raise ConnectionError("transport not open")
        self._sock.settimeout(max(timeout_s, 0.001))
        try:
            return self._sock.recv(max_bytes)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectionError(str(exc)) from None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass
class SendReport:
    delivered: int = 0
    refused: int = 0
    failed: int = 0


class Sender:
    """Empties an :class:`Outbox` to the CEC over fresh transports, in sequence order."""

    def __init__(self, outbox: Outbox, transport_factory: Callable[[], Transport], host: str,
                 port: int, cec: CecPublicKeys, cec_signing_key: Ed25519PublicKey, *,
                 suite: SuiteName = SuiteName.X25519, backoff: Backoff | None = None,
                 receipt_timeout_s: float = 10.0, clock: Callable[[], float] = time.time
                 ) -> None:
        self.outbox, self.transport_factory = outbox, transport_factory
        self.host, self.port, self.cec, self.cec_signing_key = host, port, cec, cec_signing_key
        self.suite = suite
        # Default jitter seed: the outbox file, so that devices differ (no retry in lock-step)
        # while each device stays reproducible. The device core may pass its device id.
        self.backoff = backoff or Backoff(rng=random.Random(str(outbox.path)))
        self.receipt_timeout_s = receipt_timeout_s
        self.clock = clock
        #: Stale copies of earlier receipts skipped (a modem reporting a block twice).
        self.stale_receipts = 0

    def _exchange(self, transport: Transport, reader: FrameReader,
                  entry: OutboxEntry) -> Receipt:
        signed = SignedMessage.loads(entry.signed)
        transport.send(encode_frame(seal(signed, self.cec, self.suite), MAX_FRAME_BYTES))
        while True:
            receipt_bytes = reader.read(self.receipt_timeout_s)
            receipt = parse_receipt(receipt_bytes, self.cec_signing_key)
            # A stale copy of an earlier message's receipt (a modem that reported the
            # same incoming block twice) is skipped; the answer to this one follows.
            if not (receipt.sequence is not None and receipt.sequence < entry.sequence
                    and receipt.message_hash not in (None, entry.message_hash)):
                break
            self.stale_receipts += 1
        if receipt.message_hash not in (entry.message_hash, None) or (
                receipt.status is ReceiptStatus.ACCEPTED
                and receipt.message_hash != entry.message_hash):
            raise ProtocolError(Reason.BAD_RECEIPT, f"receipt for another message "
                                f"({receipt.message_hash}) than #{entry.sequence}")
        if receipt.status is ReceiptStatus.ACCEPTED:
            self.outbox.record_receipt(entry.sequence, receipt_bytes, OutboxState.DELIVERED)
        elif receipt.reason is not None and receipt.reason not in TRANSIENT:
            self.outbox.record_receipt(entry.sequence, receipt_bytes, OutboxState.REFUSED)
        else:
            raise ProtocolError(receipt.reason or Reason.BAD_RECEIPT,
                                f"CEC refused #{entry.sequence}: {receipt.detail}")
        return receipt

    def send_due(self) -> SendReport:
        """One round: send every due pending message in order, over one connection.

        Stops at the first failure (a later message would only be out of order) and
        schedules that message's next attempt.
        """
        report = SendReport()
        now = self.clock()
        due = self.outbox.pending()
        if not due or due[0].next_attempt_s > now:
            return report
        transport = self.transport_factory()
        try:
            transport.open(self.host, self.port)
        except OSError as exc:
            self._fail(due[0], f"connect: {exc}")
            report.failed += 1
            return report
        reader = FrameReader(transport)
        try:
            for entry in due:
                try:
                    receipt = self._exchange(transport, reader, entry)
                except (ProtocolError, OSError) as exc:
                    self._fail(entry, str(exc))
                    report.failed += 1
                    break
                if receipt.status is ReceiptStatus.ACCEPTED:
                    report.delivered += 1
                else:
                    report.refused += 1
        finally:
            transport.close()
        return report

    def _fail(self, entry: OutboxEntry, error: str) -> None:
        self.outbox.record_failure(entry.sequence,
                                   self.clock() + self.backoff.delay_s(entry.attempts + 1), error)

    def run(self, *, deadline_s: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Send until nothing is pending or the clock passes ``deadline_s``; True if empty."""
        while True:
            self.send_due()
            pending = self.outbox.pending()
            if not pending:
                return True
            now = self.clock()
            if now >= deadline_s:
                return False
            sleep(max(0.0, min(pending[0].next_attempt_s, deadline_s) - now))
