"""The store's fast path for the national day: the same bytes, the same guarantees.

* records encoded from their parts (:func:`firmware.store.encode_record`) and audit events
  composed from their fields (:func:`firmware.audit.encode_event`, :func:`make_event`)
  are byte-identical to the canonical JSON of the whole (any unicode, any data);
* a medium that declares ``cheap_sync`` gets its card written in the calling thread,
  after SQLite: no helper thread, both media identical, a power cut between the two
  media leaves the card one batch behind and the next boot catches it up;
* sheet state in columns: the stored sheets read back equal the in-memory replay, and a
  database from before the columns is migrated;
* SIGKILLed again and again on cheap-sync media (the national day's path), the device
  loses no sheet, counts none twice, and both media and the audit log agree.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.audit import EventType, encode_event, event_hash, make_event, verify_chain
from firmware.crypto import canonical_json
from firmware.faults import FaultPoints
from firmware.hal.storage import DirectoryMedium, MediumRole
from firmware.journal import scan
from firmware.store import DB_NAME, JOURNAL_NAME, SheetMode, SheetState, Store, encode_record
from simulator.crash import crash_test
from simulator.devices import tiny_images
from simulator.national.station import fast_tiny_images

TEXT = st.text(min_size=0, max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(value=VALUES, key=TEXT, seq=st.integers(1, 10**7), sheet=st.dictionaries(
    TEXT, VALUES, max_size=5), t=TEXT, data=st.dictionaries(TEXT, VALUES, max_size=4))
def test_encoded_records_are_the_canonical_json_of_the_whole(
        value: Any, key: str, seq: int, sheet: dict[str, Any], t: str,
        data: dict[str, Any]) -> None:
    event = {"seq": seq, "t": t, "type": "sheet-cast", "data": data, "prev": "ä" * 3,
             "hash": "0" * 64}
    records = [{"op": "meta", "key": key, "value": value},
               {"op": "sheet", "sheet": sheet},
               {"op": "audit", "event": event},
               {"op": "sheet-state", "id": key, "state": "cast", "t": t, "note": ""},
               {"op": "sheet-state", "id": key, "state": "voided", "t": t, "note": t + key},
               {"op": "sheet-state", "id": key, "state": "cast", "t": None, "note": ""},
               {"op": "meta", "key": key, "value": value, "extra": 1}]
    for i, rec in enumerate(records):
        enc = encode_record(rec, seq + i, seq)
        assert enc.payload == canonical_json({**rec, "seq": seq + i, "b": seq})
    assert encode_event(event) == canonical_json(event)
    odd = {**event, "seq": True}  # not a well-formed event: encoded whole, still canonical
    assert encode_event(odd) == canonical_json(odd)


@settings(max_examples=40, deadline=None)
@given(datas=st.lists(st.dictionaries(TEXT, VALUES, max_size=4), min_size=1, max_size=6))
def test_composed_event_hashes_are_the_defined_hashes(datas: list[dict[str, Any]]) -> None:
    t = dt.datetime(2021, 11, 28, 8, 0, tzinfo=dt.UTC)
    head = None
    events = []
    for d in datas:
        head = make_event(head, EventType.SHEET_CAST, d, t)
        assert head["hash"] == event_hash(head)
        events.append(head)
    rep = verify_chain(events)
    assert rep.ok and rep.head == events[-1]["hash"]
    edited = [dict(e) for e in events]
    edited[0]["data"] = {**edited[0]["data"], "x": "tampered"}
    assert not verify_chain(edited).ok


class CheapMedium(DirectoryMedium):
    cheap_sync: ClassVar[bool] = True


class Cut(BaseException):
    pass


class CutAt(FaultPoints):
    def hit(self, name: str) -> None:
        if name == self.name:
            self.name = None
            raise Cut(name)


def _cheap(tmp: Path) -> tuple[CheapMedium, CheapMedium]:
    (tmp / "int").mkdir(exist_ok=True)
    (tmp / "rem").mkdir(exist_ok=True)
    return (CheapMedium(MediumRole.INTERNAL, tmp / "int"),
            CheapMedium(MediumRole.REMOVABLE, tmp / "rem"))


def _sheet(i: int) -> dict[str, Any]:
    return {"op": "sheet", "sheet": {"id": f"d/{i:06d}", "mode": "official",
                                     "state": "pending", "outcome": {"c": "ы"}, "seq": i}}


def _state(i: int, state: str) -> dict[str, Any]:
    return {"op": "sheet-state", "id": f"d/{i:06d}", "state": state, "t": f"t{i}",
            "note": "returned" if state == "voided" else ""}


def _journal(tmp: Path) -> list[bytes]:
    return scan((tmp / "rem" / JOURNAL_NAME).read_bytes()).payloads


def _records(tmp: Path) -> list[bytes]:
    db = sqlite3.connect(tmp / "int" / DB_NAME)
    try:
        return [b.encode() for (b,) in db.execute("SELECT body FROM records ORDER BY seq")]
    finally:
        db.close()


def test_cheap_sync_media_are_written_inline_and_identical(tmp_path: Path) -> None:
    s = Store(*_cheap(tmp_path))
    s.open()
    for i in range(1, 6):
        s.commit([_sheet(i)])
        s.commit([_state(i, "voided" if i == 3 else "cast")], cache={"k": {"n": i}},
                 sync=False)
    assert s._pool is None  # no helper thread was started
    assert s.cache("k") == {"n": 5}
    s.close()
    assert _records(tmp_path) == _journal(tmp_path) and len(_journal(tmp_path)) == 10
    # the threaded path (a medium without cheap_sync) writes the same bytes
    other = tmp_path / "threaded"
    other.mkdir()
    (other / "int").mkdir()
    (other / "rem").mkdir()
    t = Store(DirectoryMedium(MediumRole.INTERNAL, other / "int"),
              DirectoryMedium(MediumRole.REMOVABLE, other / "rem"))
    t.open()
    for i in range(1, 6):
        t.commit([_sheet(i)])
        t.commit([_state(i, "voided" if i == 3 else "cast")], cache={"k": {"n": i}},
                 sync=False)
    assert t._pool is not None
    t.close()
    assert _journal(other) == _journal(tmp_path)


def test_a_cut_between_the_media_is_caught_up_at_boot(tmp_path: Path) -> None:
    faults = CutAt()
    s = Store(*_cheap(tmp_path), faults)
    s.open()
    s.commit([_sheet(1)])
    faults.name = "store.between-media"
    with pytest.raises(Cut):
        s.commit([_state(1, "cast")], sync=False)
    s.close()
    assert len(_records(tmp_path)) == 2 and len(_journal(tmp_path)) == 1  # card behind
    s2 = Store(*_cheap(tmp_path))
    check = s2.open()
    assert not check.problems and any("caught up" in d for d in check.decisions)
    assert _records(tmp_path) == _journal(tmp_path)
    assert [x["state"] for x in s2.stored_sheets(SheetMode.OFFICIAL, SheetState.CAST)] == \
        ["cast"]
    s2.close()


def test_stored_sheets_equal_the_replay_and_old_databases_migrate(tmp_path: Path) -> None:
    s = Store(*_cheap(tmp_path))
    s.open()
    for i in range(1, 5):
        s.commit([_sheet(i)])
        s.commit([_state(i, "voided" if i == 2 else "cast")])
    stored = {x["id"]: x for st_ in SheetState
              for x in s.stored_sheets(SheetMode.OFFICIAL, st_)}
    assert stored == s.view.sheets
    assert stored["d/000002"]["note"] == "returned" and stored["d/000001"]["decided"] == "t1"
    s.close()
    # a database from before the state columns: body rewritten, no decided/note columns
    # (and a sheets table, as every database had before nat12)
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    rows = db.execute("SELECT id, seq, mode, state, body FROM sheets").fetchall()
    db.executescript("DROP VIEW sheets; CREATE TABLE sheets (id TEXT PRIMARY KEY, "
                     "seq INTEGER NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL, "
                     "body TEXT NOT NULL);")
    import json
    for sid, seq, mode, state, body in rows:
        doc = {**json.loads(body), "state": state, "decided": stored[sid]["decided"]}
        if stored[sid].get("note"):
            doc["note"] = stored[sid]["note"]
        db.execute("INSERT INTO sheets VALUES (?, ?, ?, ?, ?)",
                   (sid, seq, mode, state, json.dumps(doc)))
    db.commit()
    db.close()
    s2 = Store(*_cheap(tmp_path))
    assert not s2.open().problems
    again = {x["id"]: x for st_ in SheetState
             for x in s2.stored_sheets(SheetMode.OFFICIAL, st_)}
    assert again == stored
    s2.commit([_sheet(5)])
    s2.commit([_state(5, "cast")])
    assert len(list(s2.stored_sheets(SheetMode.OFFICIAL, SheetState.CAST))) == 4
    s2.close()


def test_fast_tiny_images_are_the_tiny_images() -> None:
    for sid in ("7001/12p", "7001/T0p", "1234/99999d", "ы"):
        a, b = fast_tiny_images(sid), tiny_images(sid)
        for x, y in ((a.front, b.front), (a.back, b.back)):
            assert x.shape == y.shape and x.dtype == y.dtype and (x == y).all()


def test_sigkilled_on_cheap_sync_media_nothing_lost_or_doubled(tmp_path: Path) -> None:
    result = crash_test(14, tmp_path, seed=7, sheets=40, flash_media=True)
    assert result["kills"] >= 14 and len(result["kills_by_point"]) >= 4, result
    assert result["kills_by_point"].get("store.between-media", 0) >= 1, result
    assert (result["lost"], result["doubled"], result["phantom"]) == (0, 0, 0), result
    assert result["tally_matches_truth"] is True
    assert result["sheets_cast"] == result["sheets_in_box"] > 0
    assert result["media_identical"] and result["audit_ok"]
    assert "results" in result["reports"]
