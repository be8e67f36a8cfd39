"""The CEC's database: SQLite by default, PostgreSQL with a ``postgresql://`` URL.

Three tables, written only by :mod:`protocol.cec.ingest`:

* ``messages``: one row per (device, sequence) the CEC has answered with a
  stored receipt: accepted messages and authenticated refusals (which still
  consume their sequence number). Never updated, never deleted.
* ``incidents``: other content presented under a used sequence number, kept
  whole beside the original, which is never overwritten.
* ``refusals``: the log of every refusal with its typed reason.

The SQL is shared; the two backends differ only in the connection, the
parameter marker and the blob type. Writes are grouped: the caller commits
once per batch (group commit) and only then sends the receipts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from election.errors import PcosError


class StoreError(PcosError):
    """The database cannot be opened or used."""


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
        device_id TEXT NOT NULL, sequence INTEGER NOT NULL, station TEXT NOT NULL,
        kind TEXT NOT NULL, message_hash TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, device_time TEXT NOT NULL, received_at TEXT NOT NULL,
        content TEXT NOT NULL, signed {blob} NOT NULL, receipt {blob} NOT NULL,
        PRIMARY KEY (device_id, sequence))""",
    "CREATE INDEX IF NOT EXISTS messages_station ON messages (station, kind)",
    """CREATE TABLE IF NOT EXISTS incidents (
        id {serial}, received_at TEXT NOT NULL, device_id TEXT NOT NULL,
        sequence INTEGER NOT NULL, reason TEXT NOT NULL, message_hash TEXT NOT NULL,
        original_hash TEXT NOT NULL, signed {blob} NOT NULL, detail TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS refusals (
        id {serial}, received_at TEXT NOT NULL, peer TEXT NOT NULL, reason TEXT NOT NULL,
        device_id TEXT, sequence INTEGER, detail TEXT NOT NULL)""",
)


@dataclass(frozen=True)
class StoredMessage:
    device_id: str
    sequence: int
    station: str
    kind: str
    message_hash: str
    status: str
    reason: str | None
    device_time: str
    received_at: str
    content: str
    receipt: bytes


_MESSAGE_COLUMNS = ("device_id, sequence, station, kind, message_hash, status, reason, "
                    "device_time, received_at, content, receipt")


class Store:
    """Common SQL over a DB-API connection. Use :func:`open_store`."""

    marker = "?"
    blob = "BLOB"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, conn: Any, url: str) -> None:
        self.conn = conn
        self.url = url
        for statement in SCHEMA:
            self._exec(statement.format(blob=self.blob, serial=self.serial))
        self.commit()

    def _sql(self, sql: str) -> str:
        return sql if self.marker == "?" else sql.replace("?", self.marker)

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(self._sql(sql), tuple(params))

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(self._sql(sql), tuple(params))
        return list(cur.fetchall())

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def savepoint(self) -> None:
        """Mark the start of one message's writes inside the batch's transaction."""
        self._exec("SAVEPOINT one_message")

    def release(self) -> None:
        self._exec("RELEASE SAVEPOINT one_message")

    def rollback_to_savepoint(self) -> None:
        """Undo one message's partial writes; the rest of the batch stays."""
        self._exec("ROLLBACK TO SAVEPOINT one_message")
        self._exec("RELEASE SAVEPOINT one_message")

    def close(self) -> None:
        self.conn.close()

    # --- writes ------------------------------------------------------------------------
    def insert_message(self, m: StoredMessage, signed: bytes) -> None:
        self._exec(f"INSERT INTO messages ({_MESSAGE_COLUMNS}, signed) VALUES "
                   "(?,?,?,?,?,?,?,?,?,?,?,?)",
                   (m.device_id, m.sequence, m.station, m.kind, m.message_hash, m.status,
                    m.reason, m.device_time, m.received_at, m.content, m.receipt, signed))

    def insert_incident(self, *, received_at: str, device_id: str, sequence: int, reason: str,
                        message_hash: str, original_hash: str, signed: bytes,
                        detail: str) -> None:
        self._exec("INSERT INTO incidents (received_at, device_id, sequence, reason, "
                   "message_hash, original_hash, signed, detail) VALUES (?,?,?,?,?,?,?,?)",
                   (received_at, device_id, sequence, reason, message_hash, original_hash,
                    signed, detail))

    def log_refusal(self, *, received_at: str, peer: str, reason: str, device_id: str | None,
                    sequence: int | None, detail: str) -> None:
        self._exec("INSERT INTO refusals (received_at, peer, reason, device_id, sequence, "
                   "detail) VALUES (?,?,?,?,?,?)",
                   (received_at, peer, reason, device_id, sequence, detail[:500]))

    # --- reads -------------------------------------------------------------------------
    @staticmethod
    def _message(row: Sequence[Any]) -> StoredMessage:
        return StoredMessage(row[0], int(row[1]), row[2], row[3], row[4], row[5], row[6],
                             row[7], row[8], row[9], bytes(row[10]))

    def message(self, device_id: str, sequence: int) -> StoredMessage | None:
        rows = self._rows(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE device_id=? AND "
                          "sequence=?", (device_id, sequence))
        return self._message(rows[0]) if rows else None

    def messages(self, *, kind: str | None = None, station: str | None = None,
                 status: str | None = "accepted") -> list[StoredMessage]:
        where, params = [], []
        for column, value in (("kind", kind), ("station", station), ("status", status)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [self._message(r) for r in self._rows(sql + " ORDER BY device_id, sequence",
                                                     params)]

    def signed_message(self, device_id: str, sequence: int) -> bytes | None:
        rows = self._rows("SELECT signed FROM messages WHERE device_id=? AND sequence=?",
                          (device_id, sequence))
        return bytes(rows[0][0]) if rows else None

    def device_stations(self, kinds: Iterable[str]) -> list[tuple[str, str]]:
        """Each (device, station) pair of the accepted messages of ``kinds``, once, in order
        of device: the stations a TEC spare has reported for."""
        kinds = tuple(kinds)
        marks = ",".join("?" * len(kinds))
        return [(r[0], r[1]) for r in self._rows(
            f"SELECT DISTINCT device_id, station FROM messages WHERE status='accepted' AND "
            f"kind IN ({marks}) ORDER BY device_id, station", kinds)]

    def highest_sequences(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._rows(
            "SELECT device_id, MAX(sequence) FROM messages GROUP BY device_id")}

    def incidents(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT received_at, device_id, sequence, reason, message_hash, "
                          "original_hash, detail FROM incidents ORDER BY id")
        keys = ("received_at", "device_id", "sequence", "reason", "message_hash",
                "original_hash", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def refusals(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT received_at, peer, reason, device_id, sequence, detail "
                          "FROM refusals ORDER BY id")
        keys = ("received_at", "peer", "reason", "device_id", "sequence", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def count(self, table: str) -> int:
        if table not in ("messages", "incidents", "refusals"):
            raise StoreError(f"no table {table}")
        return int(self._rows(f"SELECT COUNT(*) FROM {table}")[0][0])


class SqliteStore(Store):
    def savepoint(self) -> None:
        # An outermost SAVEPOINT would open its own transaction, and its RELEASE would
        # commit (fsync) each message alone: open the batch's transaction first.
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
        super().savepoint()


class PostgresStore(Store):
    marker = "%s"
    blob = "BYTEA"
    serial = "BIGSERIAL PRIMARY KEY"


def open_store(url: str | Path) -> Store:
    """``postgresql://...`` opens PostgreSQL (psycopg 3); anything else is a SQLite file."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from None
        try:
            conn = psycopg.connect(text)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {text}: {exc}") from None
        return PostgresStore(conn, text)
    path = Path(text.removeprefix("sqlite:///"))
    try:
        lite = sqlite3.connect(path, check_same_thread=False)
        lite.execute("PRAGMA journal_mode=WAL")
        lite.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    return SqliteStore(lite, str(path))


def reset_postgres(url: str, tables: Iterable[str] = ("messages", "incidents",
                                                       "refusals")) -> None:
    """Drop the CEC tables (tests and benchmarks on a scratch database only)."""
    import psycopg

    with psycopg.connect(url) as conn:
        for t in tables:
            conn.execute(f"DROP TABLE IF EXISTS {t}")
