"""The crash-safe store: every state change as a numbered record on two media.

* **Internal flash:** SQLite in WAL mode with ``synchronous=FULL``. Each
  commit writes its records into ``records`` and its ``meta`` and ``cache`` rows
  in one transaction. The ``sheets`` and ``audit`` rows are views of ``records``
  (a database made before nat12 has them as tables, still written with every
  record and read as before: the same columns either way).
* **Removable card:** the same records, framed with length and CRC32, in an
  append-only :mod:`firmware.journal`.

A commit goes to both media at once (the card's append and fsync run in a
helper thread while SQLite commits), so a batch costs one fsync time, not
two. A medium that declares ``cheap_sync = True`` (a tmpfs directory in the
simulations, where fsync costs nothing and the thread hand-off costs more than
it saves) is written after SQLite in the calling thread instead: same records,
same fsync calls, same order of durability cases. An internal medium that declares
``private_db = True`` (no other process opens the database while the device runs:
the national day's tmpfs media) has its SQLite connection in exclusive locking mode:
the lock is taken once and held to close instead of taken and released around every
transaction (about a tenth of a sheet's store time here); the file contents, the
durability and the recovery are the same. A power cut in between leaves
one medium at most one batch behind the other, which the next boot copies over.
On boot
both media are read and compared (:meth:`Store.open`):

* the card's torn tail is cut off;
* a medium behind the other by no more than the other's last batch is
  caught up (a normal recovery); any other difference, a missing medium, an unreadable database
  or a bad journal is a *problem*: the device goes on from the good medium
  and closing polls then needs the operator's acknowledgement.

Each record is encoded once (:func:`encode_record`: canonical JSON, the same bytes on
both media); an old database's tables reuse the encoded sheet and audit event. A
sheet's ``body`` is the sheet as first recorded; its later state, decision time and
note are columns (the last ``sheet-state`` record's; in an old database one ``UPDATE``
per state change); :meth:`Store.stored_sheets` merges them back.

A new database writes one B-tree page of ``records`` per ``pending`` (one autocommitted
``INSERT``) and that page and the ``cache`` row's per ``cast``; an old one wrote the
``sheets`` table and its id index besides, and the ``audit`` table. On a medium that
declares ``cheap_sync`` every SQLite commit is synced (the ``cast`` mark too): the WAL
fsync costs less there than switching ``PRAGMA synchronous`` off and on per cast.

Records (canonical JSON, ``seq`` and batch ``b`` added here)::

    {"op": "meta", "key": K, "value": V}
    {"op": "sheet", "sheet": {"id", "mode", "state", ...}}     # a new sheet record
    {"op": "sheet-state", "id": ID, "state": S, "t": T, "note": N}
    {"op": "audit", "event": {...}}                            # firmware.audit
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from election.errors import PcosError
from firmware.audit import encode_event
from firmware.crypto import FastJsonEncoder, canonical_json
from firmware.faults import FaultPoints
from firmware.hal.storage import MediumRole, StorageMedium
from firmware.journal import Journal, JournalError, read_journal

DB_NAME = "pcos-internal.sqlite"
JOURNAL_NAME = "pcos-removable.journal"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# A database made before nat12 has the sheets and the audit events copied into tables of
# their own, written with every record (three more B-tree pages per sheet). Such a database
# keeps them and they are still written and read; a new database derives the same columns
# from ``records`` in the views below instead.
_LEGACY_DERIVED = """
CREATE TABLE IF NOT EXISTS sheets (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL,
    body TEXT NOT NULL, decided TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, body TEXT NOT NULL);
"""

# The same columns as the legacy tables, read from the records: a sheet is its ``sheet``
# record (``body``: the sheet as first recorded) with the state, time and note of the last
# ``sheet-state`` record for its id (what the legacy table's UPDATE left there); an audit
# row is an ``audit`` record's event (``json_extract`` rather than the ``->``/``->>``
# operators of SQLite 3.38, so that an older SQLite still loads the schema). ``instr`` only
# skips, without parsing it, a record whose text cannot hold the ``op`` looked for (every
# record that does is also matched by the ``instr``: canonical JSON writes these names
# unescaped); the JSON function decides.
_VIEWS = """
CREATE VIEW IF NOT EXISTS sheets (id, seq, mode, state, body, decided, note) AS
SELECT json_extract(s.body, '$.sheet.id'), s.seq, json_extract(s.body, '$.sheet.mode'),
       coalesce(u.state, json_extract(s.body, '$.sheet.state')),
       json_extract(s.body, '$.sheet'), u.t, nullif(u.note, '')
FROM records AS s LEFT JOIN (
    SELECT json_extract(body, '$.id') AS id, json_extract(body, '$.state') AS state,
           json_extract(body, '$.t') AS t, json_extract(body, '$.note') AS note,
           max(seq) AS last
    FROM records WHERE instr(body, '"sheet-state"') AND json_extract(body, '$.op') = 'sheet-state'
    GROUP BY 1) AS u
  ON u.id = json_extract(s.body, '$.sheet.id')
WHERE instr(s.body, '"sheet"') AND json_extract(s.body, '$.op') = 'sheet';
CREATE VIEW IF NOT EXISTS audit (seq, hash, body) AS
SELECT json_extract(body, '$.event.seq'), json_extract(body, '$.event.hash'),
       json_extract(body, '$.event')
FROM records WHERE instr(body, '"audit"') AND json_extract(body, '$.op') = 'audit';
"""

# the recount's fields of every sheet and sheet-state record of a new database, in one pass
# (as the sheets view has them; ``instr`` as there, on the record's own ``op``: canonical
# JSON writes it as ``"op":"sheet"`` or ``"op":"sheet-state"``, without whitespace, so
# every such record matches, and the audit records, whose events name a sheet, are
# skipped without parsing them)
_LEAN_OUTCOMES = """
SELECT body ->> '$.op', body ->> '$.sheet.id', body ->> '$.sheet.mode',
       body ->> '$.sheet.state', body ->> '$.sheet.seq', body -> '$.sheet.outcome',
       body ->> '$.id', body ->> '$.state'
FROM records WHERE instr(body, '"op":"sheet') ORDER BY seq
"""


class StorageError(PcosError):
    """No medium can be written, or the stored records are inconsistent."""


class SheetState(StrEnum):
    PENDING = "pending"  # recorded before the eject; not counted
    CAST = "cast"  # both rear sensors confirmed the drop: counted
    VOIDED = "voided"  # was pending, came back to the voter: never counted
    RETURNED = "returned"  # returned to the voter without a pending record


class SheetMode(StrEnum):
    TEST = "test"
    OFFICIAL = "official"


@dataclass(frozen=True)
class MediumProblem:
    role: MediumRole
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"medium": self.role.value, "problem": self.problem}


@dataclass
class BootCheck:
    """What :meth:`Store.open` found and did. Every decision is audited by the device."""

    internal_records: int = 0
    removable_records: int = 0
    problems: list[MediumProblem] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return bool(self.problems)


@dataclass
class _View:
    """In-memory state replayed from the records (the primary medium's)."""

    meta: dict[str, Any] = field(default_factory=dict)
    sheets: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit_head: dict[str, Any] | None = None
    audit_count: int = 0

    def apply(self, rec: dict[str, Any]) -> None:
        op = rec["op"]
        if op == "meta":
            self.meta[rec["key"]] = rec["value"]
        elif op == "sheet":
            self.sheets[rec["sheet"]["id"]] = dict(rec["sheet"])
        elif op == "sheet-state":
            sheet = self.sheets[rec["id"]]
            sheet["state"] = rec["state"]
            sheet["decided"] = rec.get("t")
            if rec.get("note"):
                sheet["note"] = rec["note"]
        elif op == "audit":
            self.audit_head = rec["event"]
            self.audit_count += 1
        else:
            raise StorageError(f"record {rec.get('seq')}: unknown op {op!r}")


class Store:
    """Both media, kept identical; queries answered from the in-memory replay."""

    def __init__(self, internal: StorageMedium, removable: StorageMedium,
                 faults: FaultPoints | None = None) -> None:
        self.internal = internal
        self.removable = removable
        self.faults = faults or FaultPoints()
        self._db: sqlite3.Connection | None = None
        self._journal: Journal | None = None
        self.view = _View()
        self.seq = 0
        self._pool: ThreadPoolExecutor | None = None
        self.new_problems: list[MediumProblem] = []
        self._cheap_card = bool(getattr(removable, "cheap_sync", False))
        self._private_db = bool(getattr(internal, "private_db", False))
        # fsync costs nothing on this medium: every commit is synced (the ``cast`` mark
        # too), which costs less than switching ``PRAGMA synchronous`` off and on per cast
        self._sync_always = bool(getattr(internal, "cheap_sync", False))
        self._legacy_tables = False  # the database has the pre-nat12 sheets/audit tables

    # --- boot ----------------------------------------------------------------------------------

    def open(self) -> BootCheck:
        check = BootCheck()
        internal = self._open_internal(check)
        removable = self._open_removable(check)
        if internal is None and removable is None:
            raise StorageError("no storage medium is usable: "
                               + "; ".join(p.problem for p in check.problems))
        check.internal_records = len(internal) if internal is not None else 0
        check.removable_records = len(removable) if removable is not None else 0
        primary: list[bytes]
        if internal is not None and removable is not None:
            primary = self._reconcile(internal, removable, check)
        elif internal is not None:
            primary = internal
        else:
            assert removable is not None
            primary = removable
        for payload in primary:
            self.view.apply(json.loads(payload))
        self.seq = len(primary)
        return check

    def _open_internal(self, check: BootCheck) -> list[bytes] | None:
        if not self.internal.available():
            check.problems.append(MediumProblem(MediumRole.INTERNAL, "internal flash missing"))
            return None
        path = self.internal.root() / DB_NAME
        try:
            db = self._connect(path)
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {ok}")
            rows = db.execute("SELECT seq, body FROM records ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            moved = _move_aside(path)
            check.problems.append(MediumProblem(
                MediumRole.INTERNAL, f"internal database unreadable ({exc}); moved to {moved}"))
            try:
                db = self._connect(path)
            except sqlite3.Error as exc2:
                check.problems.append(MediumProblem(MediumRole.INTERNAL,
                                                    f"cannot create a new database ({exc2})"))
                return None
            self._db = db
            return []
        for i, (seq, _) in enumerate(rows):
            if seq != i + 1:
                check.problems.append(MediumProblem(MediumRole.INTERNAL,
                                                    f"record {i + 1} missing in the database"))
                db.close()
                return None
        self._db = db
        return [body.encode("utf-8") for _, body in rows]

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if self._private_db:
            # the medium says no other process opens the database while the device runs:
            # hold SQLite's lock from the first access to close (WAL index in memory, no
            # lock and unlock system calls around every transaction); same file contents
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        kind = db.execute("SELECT type FROM sqlite_master WHERE name = 'sheets'").fetchone()
        self._legacy_tables = kind is not None and kind[0] == "table"
        if not self._legacy_tables:
            db.executescript(_VIEWS)
            return db
        db.executescript(_LEGACY_DERIVED)
        columns = {row[1] for row in db.execute("PRAGMA table_info(sheets)")}
        for column in ("decided", "note"):  # a database from before these columns
            if column not in columns:
                db.execute(f"ALTER TABLE sheets ADD COLUMN {column} TEXT")
        return db

    def _open_removable(self, check: BootCheck) -> list[bytes] | None:
        if not self.removable.available():
            check.problems.append(MediumProblem(MediumRole.REMOVABLE, "removable card missing"))
            return None
        path = self.removable.root() / JOURNAL_NAME
        journal = Journal(path, self.faults)
        try:
            result = journal.open()
        except (JournalError, OSError) as exc:
            moved = _move_aside(path)
            check.problems.append(MediumProblem(
                MediumRole.REMOVABLE, f"journal unreadable ({exc}); moved to {moved}"))
            journal = Journal(path, self.faults)
            try:
                result = journal.open()
            except (JournalError, OSError):
                return None
        if result.torn:
            check.decisions.append(f"removable journal: torn tail of "
                                   f"{result.file_bytes - result.good_bytes} bytes cut off "
                                   f"({result.problem})")
        self._journal = journal
        for i, rec in enumerate(result.records):
            if rec.get("seq") != i + 1:
                check.problems.append(MediumProblem(MediumRole.REMOVABLE,
                                                    f"journal record {i + 1} out of sequence"))
                return result.payloads[:i]
        return result.payloads

    def _reconcile(self, internal: list[bytes], removable: list[bytes],
                   check: BootCheck) -> list[bytes]:
        n = min(len(internal), len(removable))
        first_diff = next((i for i in range(n) if internal[i] != removable[i]), None)
        if first_diff is not None:
            check.problems.append(MediumProblem(
                MediumRole.REMOVABLE, f"media disagree from record {first_diff + 1}: the "
                                      "journal was rebuilt from the internal database"))
            assert self._journal is not None
            _move_aside_copy(self._journal.path)
            self._journal.rewrite(internal)
            return internal
        if len(removable) < len(internal):
            missing = internal[len(removable):]
            batches = {json.loads(p)["b"] for p in missing}
            last_batch = json.loads(internal[-1])["b"]
            if batches != {last_batch}:
                check.problems.append(MediumProblem(
                    MediumRole.REMOVABLE, f"journal {len(missing)} records behind (more than "
                                          "the last write)"))
            assert self._journal is not None
            self._journal.append(missing)
            check.decisions.append(f"removable journal caught up from the internal database: "
                                   f"records {len(removable) + 1}-{len(internal)}")
        elif len(internal) < len(removable):
            missing = removable[len(internal):]
            batches = {json.loads(p)["b"] for p in missing}
            if batches != {json.loads(removable[-1])["b"]}:
                check.problems.append(MediumProblem(
                    MediumRole.INTERNAL, f"internal database {len(missing)} records behind "
                                         "the journal (more than the last write)"))
            self._sqlite_write([decoded_record(p) for p in missing])
            check.decisions.append(f"internal database restored from the journal: records "
                                   f"{len(internal) + 1}-{len(removable)}")
            return removable
        return internal

    # --- writing -------------------------------------------------------------------------------

    def commit(self, records: list[dict[str, Any]], cache: dict[str, Any] | None = None,
               sync: bool = True, events: list[bytes | None] | None = None) -> None:
        """Write ``records`` as one batch to both media; apply them to the view.

        ``sync=False`` (used only for the ``cast`` mark, whose loss a restart re-derives from
        the ``pending`` record and the clear paper path): the batch is written to both media
        but not fsynced; the next synced batch (SQLite's WAL sync, the journal's fsync) makes
        it durable with itself. Everything else is durable when this returns.

        A medium that fails is dropped (its problem is put in ``new_problems`` for the
        device to audit); if both fail, :class:`StorageError`.

        ``events``: for each record, the canonical JSON of its audit event if the caller
        has it (``firmware.audit.make_event_encoded``), else None.
        """
        if not records:
            return
        batch = self.seq + 1
        if not self._legacy_tables:  # the legacy sheets table's UPDATE checked this
            known = self.view.sheets
            for i, rec in enumerate(records):
                if rec["op"] == "sheet-state" and rec["id"] not in known and not any(
                        r["op"] == "sheet" and r["sheet"]["id"] == rec["id"]
                        for r in records[:i]):
                    raise StorageError(f"record {batch + i}: no sheet {rec['id']}")
        rows = [encode_record(rec, batch + i, batch, events[i] if events else None)
                for i, rec in enumerate(records)]
        payloads = [r.payload for r in rows]
        wrote = False
        card: Future[None] | None = None
        inline_card = False
        if self._journal is not None:
            if not self.removable.available():
                self._fail(MediumRole.REMOVABLE, "removable card missing")
            elif self._cheap_card:
                inline_card = True
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="pcos-card")
                card = self._pool.submit(self._journal.append, payloads, sync)
        if self._db is not None:
            try:
                self._sqlite_write(rows, cache, sync)
                wrote = True
            except sqlite3.Error as exc:
                self._fail(MediumRole.INTERNAL, f"internal database write failed ({exc})")
        self.faults.hit("store.between-media")
        if inline_card and self._journal is not None:
            try:
                self._journal.append(payloads, sync)
                wrote = True
            except OSError as exc:
                self._fail(MediumRole.REMOVABLE, f"journal write failed ({exc.strerror})")
        if card is not None:
            try:
                card.result()
                wrote = True
            except OSError as exc:
                self._fail(MediumRole.REMOVABLE, f"journal write failed ({exc.strerror})")
        if not wrote:
            raise StorageError("no storage medium accepted the write: "
                               + "; ".join(p.problem for p in self.new_problems))
        apply = self.view.apply
        for rec in records:
            apply(rec)
        self.seq += len(records)

    def _fail(self, role: MediumRole, problem: str) -> None:
        self.new_problems.append(MediumProblem(role, problem))
        if role is MediumRole.INTERNAL and self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if role is MediumRole.REMOVABLE and self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.close()
            self._journal = None

    def _sqlite_write(self, rows: list[EncodedRecord], cache: dict[str, Any] | None = None,
                      sync: bool = True) -> None:
        db = self._db
        assert db is not None
        if not self.internal.available():
            raise sqlite3.OperationalError("internal flash not available")
        if sync or self._sync_always:
            self._sqlite_transaction(db, rows, cache)
            return
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: this commit is not fsynced
        try:
            self._sqlite_transaction(db, rows, cache)
        finally:
            db.execute("PRAGMA synchronous=FULL")

    def _sqlite_transaction(self, db: sqlite3.Connection, rows: list[EncodedRecord],
                            cache: dict[str, Any] | None) -> None:
        if not cache and not self._legacy_tables and len(rows) <= _MULTI_INSERT_MAX and \
                not any(row.rec["op"] == "meta" for row in rows):
            # one statement (a ``pending`` record): SQLite commits it as its own
            # transaction, without the BEGIN and COMMIT statements; the fault point comes
            # before it, where a cut leaves nothing written as it does before COMMIT
            self.faults.hit("sqlite-commit")
            db.execute(_INSERT_RECORDS[len(rows)],
                       [x for row in rows for x in (row.seq, row.payload.decode("utf-8"))])
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            # the batch's records in one statement (a multi-row INSERT), then each one's
            # derived row
            for i in range(0, len(rows), _MULTI_INSERT_MAX):
                part = rows[i:i + _MULTI_INSERT_MAX]
                db.execute(_INSERT_RECORDS[len(part)],
                           [x for row in part for x in (row.seq, row.payload.decode("utf-8"))])
            if self._legacy_tables:
                for row in rows:
                    _apply_sql(db, row)
            else:  # the sheets and audit views read the records themselves
                for row in rows:
                    if row.rec["op"] == "meta":
                        db.execute(_PUT_META, (row.rec["key"], row.part.decode("utf-8")))
            for key, value in (cache or {}).items():
                db.execute(_PUT_CACHE, (key, _COMPACT.encode(value)))
            self.faults.hit("sqlite-commit")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def set_cache(self, key: str, value: Any) -> None:
        """Internal-only cached values (the running tally); never part of the records."""
        if self._db is None:
            return
        try:
            self._db.execute(_PUT_CACHE, (key, _COMPACT.encode(value)))
        except sqlite3.Error as exc:
            self._fail(MediumRole.INTERNAL, f"internal database write failed ({exc})")

    def cache(self, key: str) -> Any:
        if self._db is None:
            return None
        row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    # --- reading -------------------------------------------------------------------------------

    @property
    def internal_ok(self) -> bool:
        return self._db is not None

    @property
    def removable_ok(self) -> bool:
        return self._journal is not None

    def meta(self, key: str, default: Any = None) -> Any:
        return self.view.meta.get(key, default)

    def sheets(self, mode: SheetMode | None = None, state: SheetState | None = None
               ) -> list[dict[str, Any]]:
        sheets = self.view.sheets.values()
        if mode is not None:
            m = mode.value
            sheets = [s for s in sheets if s["mode"] == m]  # type: ignore[assignment]
        if state is not None:
            st = state.value
            sheets = [s for s in sheets if s["state"] == st]  # type: ignore[assignment]
        return list(sheets)

    def stored_sheets(self, mode: SheetMode, state: SheetState) -> Iterator[dict[str, Any]]:
        """Sheet records read back from the primary medium (not the in-memory view):
        the tally is recomputed from these."""
        if self._db is not None:
            for body, now, decided, note in self._db.execute(
                    "SELECT body, state, decided, note FROM sheets WHERE mode = ? AND state = ? "
                    "ORDER BY seq", (mode.value, state.value)):
                sheet = json.loads(body)
                if sheet["state"] != now or decided is not None:  # as _View.apply has it
                    sheet["state"] = now
                    sheet["decided"] = decided
                    if note:
                        sheet["note"] = note
                yield sheet
            return
        if self._journal is None:
            raise StorageError("no storage medium to read the sheet records from")
        replay = _View()
        for rec in read_journal(self._journal.path).records:
            replay.apply(rec)
        for s in replay.sheets.values():
            if s["mode"] == mode.value and s["state"] == state.value:
                yield s

    def stored_outcomes(self, mode: SheetMode, state: SheetState
                        ) -> Iterator[tuple[int, str | None]]:
        """The ``seq`` (0 if absent) and ``outcome`` (as JSON text; None if absent) of the
        sheet records in ``mode`` and ``state``, read back from the primary medium in
        ``seq`` order, as :meth:`stored_sheets` has them: what the recount needs, without
        decoding the rest of each record (SQLite's JSON operators pick the two fields)."""
        if self._db is not None and not self._legacy_tables:
            yield from self._lean_outcomes(self._db, mode.value, state.value)
            return
        if self._db is not None:
            for seq, outcome in self._db.execute(
                    "SELECT body ->> '$.seq', body -> '$.outcome' FROM sheets "
                    "WHERE mode = ? AND state = ? ORDER BY seq", (mode.value, state.value)):
                yield (seq if type(seq) is int else 0), outcome
            return
        for sheet in self.stored_sheets(mode, state):
            seq = sheet.get("seq", 0)
            yield (seq if type(seq) is int else 0), (canonical_json(sheet["outcome"]).decode()
                                                     if "outcome" in sheet else None)

    @staticmethod
    def _lean_outcomes(db: sqlite3.Connection, mode: str, state: str
                       ) -> Iterator[tuple[int, str | None]]:
        """:meth:`stored_outcomes` on a new database: one pass over the sheet and
        sheet-state records (the sheets view's state: the last sheet-state record's for
        that id, its initial state if there is none or it has no ``state``)."""
        sheets: list[tuple[Any, Any, Any, Any, str | None]] = []
        last: dict[str, Any] = {}
        for op, sid, smode, initial, seq, outcome, state_id, new in db.execute(_LEAN_OUTCOMES):
            if op == "sheet":
                sheets.append((sid, smode, initial, seq, outcome))
            elif op == "sheet-state" and state_id is not None:
                last[state_id] = new
        for sid, smode, initial, seq, outcome in sheets:
            if smode == mode:
                now = last.get(sid) if sid is not None else None
                if (initial if now is None else now) == state:
                    yield (seq if type(seq) is int else 0), outcome

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit events, read back from the primary medium."""
        if self._db is not None:
            return [json.loads(b) for (b,) in
                    self._db.execute("SELECT body FROM audit ORDER BY seq")]
        if self._journal is None:
            return []
        return [r["event"] for r in read_journal(self._journal.path).records
                if r["op"] == "audit"]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None


# json.dumps(value, separators=(",", ":")) for the cache, with its encoder built once
_COMPACT = FastJsonEncoder(json.JSONEncoder(separators=(",", ":")))
_INSERT_RECORD = "INSERT INTO records (seq, body) VALUES (?, ?)"
_MULTI_INSERT_MAX = 16  # batches are a few records; a longer one is inserted in parts


def _insert_records(n: int) -> str:
    """``INSERT INTO records`` of ``n`` rows in one statement (same rows as ``n`` inserts)."""
    return _INSERT_RECORD + ", (?, ?)" * (n - 1)


# the statement for each batch length, built once (two or three statements per sheet)
_INSERT_RECORDS = tuple(_insert_records(n) if n else "" for n in range(_MULTI_INSERT_MAX + 1))
# an upsert changes the row in place: its key index is not written (INSERT OR REPLACE
# deletes and inserts the row again, a new rowid in the index: one more page per cast)
_PUT_CACHE = ("INSERT INTO cache (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
_PUT_META = ("INSERT INTO meta (key, value) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
_INSERT_SHEET = "INSERT INTO sheets (id, seq, mode, state, body) VALUES (?, ?, ?, ?, ?)"
_SHEET_STATE = "UPDATE sheets SET state = ?, decided = ?, note = ? WHERE id = ?"
_INSERT_AUDIT = "INSERT INTO audit (seq, hash, body) VALUES (?, ?, ?)"


@dataclass(slots=True)
class EncodedRecord:
    """A record as written: its ``seq``, its canonical JSON ``payload`` (``seq`` and ``b``
    included) and, for a sheet or an audit event, that part's canonical JSON (``part``),
    which the derived tables store as it is."""

    seq: int
    rec: dict[str, Any]
    payload: bytes
    part: bytes = b""


def _text(value: str) -> bytes:
    """A JSON string as canonical JSON writes it (not ASCII-escaped, UTF-8)."""
    return encode_basestring(value).encode("utf-8")


_STATE_KEYS = frozenset({"op", "id", "state", "t", "note"})


def encode_record(rec: dict[str, Any], seq: int, batch: int,
                  event: bytes | None = None) -> EncodedRecord:
    """``canonical_json({**rec, "seq": seq, "b": batch})``, composed from the record's
    encoded parts (the keys of a record are fixed per ``op``, so their sorted order is
    known) so that a sheet or an event is encoded once. Byte-identical to the canonical
    JSON of the whole record (a test checks it); an unusual record is encoded whole.
    ``event``: an audit record's event as :func:`firmware.audit.encode_event` gives it,
    if the caller composed it already."""
    op = rec.get("op")
    keys = rec.keys()
    if op == "sheet" and len(keys) == 2 and "sheet" in keys:
        part = canonical_json(rec["sheet"])
        return EncodedRecord(seq, rec, b'{"b":%d,"op":"sheet","seq":%d,"sheet":%s}'
                             % (batch, seq, part), part)
    if op == "audit" and len(keys) == 2 and "event" in keys:
        part = event if event is not None else encode_event(rec["event"])
        return EncodedRecord(seq, rec, b'{"b":%d,"event":%s,"op":"audit","seq":%d}'
                             % (batch, part, seq), part)
    if op == "sheet-state" and keys == _STATE_KEYS:
        sid, note, state, t = rec["id"], rec["note"], rec["state"], rec["t"]
        if type(sid) is str and type(note) is str and type(state) is str and type(t) is str:
            # one UTF-8 encoding of the composed text (the escaped strings are str)
            return EncodedRecord(seq, rec, (
                f'{{"b":{batch},"id":{encode_basestring(sid)},'
                f'"note":{encode_basestring(note)},"op":"sheet-state","seq":{seq},'
                f'"state":{encode_basestring(state)},"t":{encode_basestring(t)}}}'
            ).encode())
    if op == "meta" and len(keys) == 3 and "key" in keys and "value" in keys:
        part = canonical_json(rec["value"])
        return EncodedRecord(seq, rec, b'{"b":%d,"key":%s,"op":"meta","seq":%d,"value":%s}'
                             % (batch, _text(rec["key"]), seq, part), part)
    return EncodedRecord(seq, rec, canonical_json({**rec, "seq": seq, "b": batch}))


def decoded_record(payload: bytes) -> EncodedRecord:
    """A stored payload as an :class:`EncodedRecord` (boot: a medium restored from the
    other); its parts are encoded again from the parsed record."""
    rec = json.loads(payload)
    part = b""
    if rec.get("op") == "sheet":
        part = canonical_json(rec["sheet"])
    elif rec.get("op") == "audit":
        part = canonical_json(rec["event"])
    elif rec.get("op") == "meta":
        part = canonical_json(rec["value"])
    return EncodedRecord(int(rec["seq"]), rec, payload, part)


def _apply_sql(db: sqlite3.Connection, row: EncodedRecord) -> None:
    rec = row.rec
    op = rec["op"]
    if op == "sheet-state":
        cur = db.execute(_SHEET_STATE, (rec["state"], rec.get("t"), rec.get("note") or None,
                                        rec["id"]))
        if cur.rowcount != 1:
            raise StorageError(f"record {row.seq}: no sheet {rec['id']}")
    elif op == "sheet":
        s = rec["sheet"]
        db.execute(_INSERT_SHEET, (s["id"], row.seq, s["mode"], s["state"],
                                   row.part.decode("utf-8")))
    elif op == "audit":
        db.execute(_INSERT_AUDIT, (rec["event"]["seq"], rec["event"]["hash"],
                                   row.part.decode("utf-8")))
    elif op == "meta":
        db.execute(_PUT_META, (rec["key"], row.part.decode("utf-8")))


def _move_aside(path: Path) -> str:
    """Rename a bad file (and SQLite's -wal/-shm) out of the way; return the new name."""
    n = 1
    while path.with_name(f"{path.name}.bad-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.bad-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(target) + suffix))
    return target.name


def _move_aside_copy(path: Path) -> None:
    n = 1
    while path.with_name(f"{path.name}.bad-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.bad-{n}")
    target.write_bytes(path.read_bytes())
