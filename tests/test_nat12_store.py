"""nat12: a new database derives ``sheets`` and ``audit`` from ``records``; old ones still work.

* The same commits give the same records (database and journal) on a database made with the
  old schema (``sheets`` and ``audit`` tables, written with every record) and on a new one
  (views over ``records``), and every read gives the same answer on both: the SQL of the
  ``sheets``, ``audit`` and ``meta`` tables or views, ``stored_sheets``, ``stored_outcomes``,
  ``audit_events``, ``pcos audit verify``'s reader (``firmware.inspect.internal_events``),
  before and after a reopen (hypothesis over batches of sheets, state changes with notes,
  returned sheets, test-mode sheets, audit events with non-ASCII data and meta records).
* A database made with the old schema is written the old way after the change.
* A state change for an unknown sheet is refused before anything is written.
* A new database writes about 3 WAL pages per sheet (an old one 6-8), and the cache row is
  updated in place.
* An internal medium that declares ``cheap_sync`` keeps ``synchronous=FULL`` for an unsynced
  commit; another medium is switched back to FULL after it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import audit
from firmware.faults import FaultPoints
from firmware.hal.storage import DirectoryMedium, MediumRole
from firmware.inspect import internal_events
from firmware.store import DB_NAME, JOURNAL_NAME, SheetMode, SheetState, StorageError, Store

# the schema of every database made before nat12 (firmware/store.py at main e64c267)
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sheets (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL,
    body TEXT NOT NULL, decided TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CheapMedium(DirectoryMedium):
    cheap_sync: ClassVar[bool] = True


def _media(tmp: Path, cls: type[DirectoryMedium] = DirectoryMedium
           ) -> tuple[DirectoryMedium, DirectoryMedium]:
    (tmp / "int").mkdir(parents=True, exist_ok=True)
    (tmp / "rem").mkdir(parents=True, exist_ok=True)
    return cls(MediumRole.INTERNAL, tmp / "int"), cls(MediumRole.REMOVABLE, tmp / "rem")


def _old_database(tmp: Path) -> None:
    (tmp / "int").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(tmp / "int" / DB_NAME)
    db.executescript(OLD_SCHEMA)
    db.close()


T0 = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)

# one step of a day: ("sheet", mode, initial state, outcome), ("state", which sheet, new
# state, note), ("event", data), ("meta", key, value); a batch is a few steps
OUTCOME = st.dictionaries(st.sampled_from(["list", "пр"]),
                          st.one_of(st.integers(-3, 3), st.text(max_size=4),
                                    st.floats(allow_nan=False, allow_infinity=False)),
                          max_size=2)
STEP = st.one_of(
    st.tuples(st.just("sheet"), st.sampled_from(["official", "test"]),
              st.sampled_from(["pending", "returned"]), OUTCOME),
    st.tuples(st.just("state"), st.integers(0, 30), st.sampled_from(["cast", "voided"]),
              st.sampled_from(["", "eject not confirmed", "ы"])),
    st.tuples(st.just("event"), st.dictionaries(st.sampled_from(["sheet", "why", "ё"]),
                                                st.one_of(st.text(max_size=6),
                                                          st.integers(), st.floats(
                                                              allow_nan=False,
                                                              allow_infinity=False)),
                                                max_size=3)),
    st.tuples(st.just("meta"), st.sampled_from(["polls", "test-cleared"]),
              st.one_of(st.booleans(), st.text(max_size=4))))
DAY = st.lists(st.lists(STEP, min_size=1, max_size=4), min_size=1, max_size=12)


def _play(stores: list[Store], day: list[list[tuple[Any, ...]]]) -> None:
    """Commit the same batches to every store (steps that make no sense are skipped)."""
    head: dict[str, Any] | None = None
    ids: list[str] = []
    for n, batch in enumerate(day):
        recs: list[dict[str, Any]] = []
        for step in batch:
            if step[0] == "sheet":
                sid = f"d/{len(ids) + 1:06d}"
                ids.append(sid)
                recs.append({"op": "sheet", "sheet": {
                    "id": sid, "mode": step[1], "state": step[2], "outcome": step[3],
                    "seq": stores[0].seq + len(recs) + 1}})
            elif step[0] == "state" and ids:
                recs.append({"op": "sheet-state", "id": ids[step[1] % len(ids)],
                             "state": step[2], "t": f"2026-11-29T08:{n:02d}:00Z",
                             "note": step[3]})
            elif step[0] == "event":
                head = audit.make_event(head, audit.EventType.SHEET_CAST, step[1],
                                        T0 + dt.timedelta(seconds=n))
                recs.append({"op": "audit", "event": head})
            elif step[0] == "meta":
                recs.append({"op": "meta", "key": step[1], "value": step[2]})
        for s in stores:
            s.commit([dict(r) for r in recs], {"running-tally": {"casts": n}},
                     sync=n % 2 == 0)


def _reads(s: Store, db_path: Path) -> dict[str, Any]:
    """Everything that reads the derived tables, through the store and through SQL."""
    out: dict[str, Any] = {}
    for mode in SheetMode:
        for state in SheetState:
            out[f"sheets/{mode}/{state}"] = list(s.stored_sheets(mode, state))
            out[f"outcomes/{mode}/{state}"] = [
                (seq, None if text is None else json.loads(text))
                for seq, text in s.stored_outcomes(mode, state)]
    out["audit_events"] = s.audit_events()
    out["cache"] = s.cache("running-tally")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        out["sql_sheets"] = [(i, q, m, st_, json.loads(b), d, nt) for i, q, m, st_, b, d, nt in
                             db.execute("SELECT id, seq, mode, state, body, decided, note "
                                        "FROM sheets ORDER BY seq")]
        out["sql_cast"] = [json.loads(b) for (b,) in db.execute(
            "SELECT body FROM sheets WHERE state = 'cast' ORDER BY seq")]  # simulator.crash
        out["sql_audit"] = db.execute("SELECT seq, hash, body FROM audit ORDER BY seq"
                                      ).fetchall()  # the same text as the old table held
        out["sql_meta"] = sorted(db.execute("SELECT key, value FROM meta"))
        out["records"] = db.execute("SELECT seq, body FROM records ORDER BY seq").fetchall()
    finally:
        db.close()
    out["inspect"] = internal_events(db_path)
    return out


@settings(max_examples=30, deadline=None)
@given(day=DAY)
def test_old_and_new_databases_hold_and_read_the_same(tmp_path_factory: Any,
                                                      day: list[list[tuple[Any, ...]]]) -> None:
    old_dir, new_dir = tmp_path_factory.mktemp("old"), tmp_path_factory.mktemp("new")
    _old_database(old_dir)
    old, new = Store(*_media(old_dir, CheapMedium)), Store(*_media(new_dir))
    old.open()
    new.open()
    assert old._legacy_tables and not new._legacy_tables
    _play([old, new], day)
    want = _reads(old, old_dir / "int" / DB_NAME)
    assert _reads(new, new_dir / "int" / DB_NAME) == want
    assert new.view.sheets == old.view.sheets
    old.close()
    new.close()
    assert (old_dir / "rem" / JOURNAL_NAME).read_bytes() == \
        (new_dir / "rem" / JOURNAL_NAME).read_bytes()
    for d in (old_dir, new_dir):  # reopened: no problem, no decision, the same reads
        again = Store(*_media(d))
        check = again.open()
        assert not check.problems and not check.decisions
        assert _reads(again, d / "int" / DB_NAME) == want
        again.close()


def test_an_old_database_keeps_its_tables_and_is_written_the_old_way(tmp_path: Path) -> None:
    _old_database(tmp_path)
    s = Store(*_media(tmp_path))
    s.open()
    head = audit.make_event(None, audit.EventType.POWER_ON, {}, T0)
    s.commit([{"op": "sheet", "sheet": {"id": "d/000001", "mode": "official",
                                        "state": "pending", "outcome": {"a": 1}, "seq": 1}},
              {"op": "audit", "event": head}])
    s.commit([{"op": "sheet-state", "id": "d/000001", "state": "cast", "t": "t1",
               "note": ""}], sync=False)
    s.close()
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    kinds = dict(db.execute("SELECT name, type FROM sqlite_master WHERE name IN "
                            "('sheets', 'audit')"))
    assert kinds == {"sheets": "table", "audit": "table"}
    assert db.execute("SELECT id, state, decided FROM sheets").fetchall() == \
        [("d/000001", "cast", "t1")]
    assert [json.loads(b) for (b,) in db.execute("SELECT body FROM audit")] == [head]
    db.close()


def test_a_new_database_has_views_and_refuses_a_state_of_no_sheet(tmp_path: Path) -> None:
    s = Store(*_media(tmp_path))
    s.open()
    s.commit([{"op": "sheet", "sheet": {"id": "d/000001", "mode": "official",
                                        "state": "pending", "seq": 1}}])
    with pytest.raises(StorageError, match="record 2: no sheet d/000002"):
        s.commit([{"op": "sheet-state", "id": "d/000002", "state": "cast", "t": "t",
                   "note": ""}])
    # a state change of a sheet recorded earlier in the same batch is fine
    s.commit([{"op": "sheet", "sheet": {"id": "d/000002", "mode": "official",
                                        "state": "pending", "seq": 2}},
              {"op": "sheet-state", "id": "d/000002", "state": "voided", "t": "t",
               "note": "n"}])
    assert s.seq == 3
    s.close()
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    kinds = dict(db.execute("SELECT name, type FROM sqlite_master WHERE name IN "
                            "('sheets', 'audit')"))
    assert kinds == {"sheets": "view", "audit": "view"}
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 3
    assert db.execute("SELECT id, state, note FROM sheets ORDER BY seq").fetchall() == \
        [("d/000001", "pending", None), ("d/000002", "voided", "n")]
    db.close()


@dataclass
class _SyncProbe(FaultPoints):
    """Notes ``PRAGMA synchronous`` at the moment each SQLite commit is made."""

    db: sqlite3.Connection | None = None
    seen: list[int] = field(default_factory=list)

    def hit(self, name: str) -> None:
        if name == "sqlite-commit" and self.db is not None:
            self.seen.append(self.db.execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize("cls, during", [(CheapMedium, 2), (DirectoryMedium, 1)])
def test_unsynced_commits_switch_synchronous_only_where_fsync_costs(
        tmp_path: Path, cls: type[DirectoryMedium], during: int) -> None:
    probe = _SyncProbe()
    s = Store(*_media(tmp_path, cls), faults=probe)
    s.open()
    assert s._db is not None
    probe.db = s._db
    s.commit([{"op": "meta", "key": "k", "value": 1}], sync=False)
    s.commit([{"op": "meta", "key": "k", "value": 2}])
    assert probe.seen == [during, 2]  # 2: FULL, 1: NORMAL
    assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    s.close()


def _wal_frames(tmp: Path) -> int:
    size = (tmp / "int" / (DB_NAME + "-wal")).stat().st_size
    return (size - 32) // (4096 + 24)  # WAL header, then frames of a header and a page


@pytest.mark.parametrize("old_schema, per_sheet", [(False, (3, 3.4)), (True, (6, 8.5))])
def test_a_sheet_writes_few_wal_pages(tmp_path: Path, old_schema: bool,
                                      per_sheet: tuple[float, float]) -> None:
    """A new database writes a sheet's ``pending`` as one page (records) and its ``cast``
    as two (records, cache: upserted in place, its key index untouched), besides the
    occasional leaf split; an old one also its sheets table, id index and audit table."""
    if old_schema:
        _old_database(tmp_path)
    s = Store(*_media(tmp_path, CheapMedium))
    s.open()
    _play([s], [[("sheet", "official", "pending", {})]])  # the first pages and cache row
    assert s._db is not None
    s._db.execute("PRAGMA wal_autocheckpoint=0")  # keep every frame in the WAL to count
    before, head, n = _wal_frames(tmp_path), None, 60
    rowid = s._db.execute("SELECT rowid FROM cache").fetchone()
    for i in range(2, n + 2):
        sid = f"d/{i:06d}"
        s.commit([{"op": "sheet", "sheet": {"id": sid, "mode": "official", "state": "pending",
                                            "outcome": {"list": "P1"}, "seq": s.seq + 1}}])
        head = audit.make_event(head, audit.EventType.SHEET_CAST, {"sheet": sid}, T0)
        s.commit([{"op": "sheet-state", "id": sid, "state": "cast", "t": "t", "note": ""},
                  {"op": "audit", "event": head}], {"running-tally": {"casts": i}}, sync=False)
    frames = _wal_frames(tmp_path) - before
    assert s._db.execute("SELECT rowid FROM cache").fetchone() == rowid  # updated in place
    s.close()
    assert per_sheet[0] * n <= frames <= per_sheet[1] * n, frames
