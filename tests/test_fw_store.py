"""The crash-safe store: framed journal with torn tails, two media compared at boot."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.hal.storage import DirectoryMedium, MediumRole
from firmware.journal import HEADER, Journal, JournalError, frame, scan
from firmware.store import DB_NAME, JOURNAL_NAME, StorageError, Store


def _media(tmp: Path) -> tuple[DirectoryMedium, DirectoryMedium]:
    (tmp / "int").mkdir(exist_ok=True)
    (tmp / "rem").mkdir(exist_ok=True)
    return (DirectoryMedium(MediumRole.INTERNAL, tmp / "int"),
            DirectoryMedium(MediumRole.REMOVABLE, tmp / "rem"))


def _store(tmp: Path) -> Store:
    s = Store(*_media(tmp))
    s.open()
    return s


def _fill(s: Store, n: int) -> None:
    for i in range(n):
        s.commit([{"op": "meta", "key": f"k{i}", "value": i},
                  {"op": "meta", "key": "last", "value": i}])


def test_sqlite_is_wal_with_full_sync(tmp_path: Path) -> None:
    s = _store(tmp_path)
    db = s._db
    assert db is not None
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_records_survive_reopen_and_media_are_identical(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 5)
    s.close()
    s2 = Store(*_media(tmp_path))
    check = s2.open()
    assert not check.problems and not check.decisions
    assert s2.meta("last") == 4 and s2.seq == 10
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    internal = [b.encode() for (b,) in db.execute("SELECT body FROM records ORDER BY seq")]
    journal = scan((tmp_path / "rem" / JOURNAL_NAME).read_bytes())
    assert internal == journal.payloads and len(internal) == 10


def test_scan_stops_at_a_torn_or_corrupt_frame() -> None:
    good = [json.dumps({"seq": i}).encode() for i in range(1, 4)]
    data = HEADER + b"".join(frame(p) for p in good)
    assert scan(data).records == [{"seq": 1}, {"seq": 2}, {"seq": 3}] and not scan(data).torn
    flipped = bytearray(data)
    flipped[-3] ^= 0x20
    r = scan(bytes(flipped))
    assert len(r.records) == 2 and r.torn and "checksum" in r.problem
    with pytest.raises(JournalError):
        scan(b"NOTAJRNL" + data[8:])


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_torn_tail_at_any_byte_is_cut_back_to_whole_records(
        tmp_path_factory: pytest.TempPathFactory,
        cut: int) -> None:
    tmp = tmp_path_factory.mktemp("j")
    payloads = [json.dumps({"seq": i, "x": "y" * (i * 7)}).encode() for i in range(1, 30)]
    data = HEADER + b"".join(frame(p) for p in payloads)
    cut = cut % (len(data) + 1)
    path = tmp / "j"
    path.write_bytes(data[:cut])
    j = Journal(path)
    result = j.open()
    # Exactly the records whose frames end at or before the cut survive.
    ends, pos = [], len(HEADER)
    for p in payloads:
        pos += 8 + len(p)
        ends.append(pos)
    expect = sum(1 for e in ends if e <= cut)
    assert len(result.records) == expect
    j.append([json.dumps({"seq": 99}).encode()])
    j.close()
    again = scan(path.read_bytes())
    assert not again.torn and [r["seq"] for r in again.records][-1] == 99
    assert len(again.records) == expect + 1


def test_card_behind_by_the_last_write_is_caught_up_silently(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 3)
    s.close()
    jpath = tmp_path / "rem" / JOURNAL_NAME
    data = jpath.read_bytes()
    r = scan(data)
    last_two = sum(8 + len(p) for p in r.payloads[-2:])  # the last batch: 2 records
    jpath.write_bytes(data[:-last_two])
    s2 = Store(*_media(tmp_path))
    check = s2.open()
    assert not check.problems
    assert any("caught up" in d for d in check.decisions)
    assert len(scan(jpath.read_bytes()).records) == 6


def test_card_far_behind_is_a_problem_and_is_rebuilt(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 4)
    s.close()
    jpath = tmp_path / "rem" / JOURNAL_NAME
    data = jpath.read_bytes()
    jpath.write_bytes(data[: len(data) // 3])
    s2 = Store(*_media(tmp_path))
    check = s2.open()
    assert [p.role for p in check.problems] == [MediumRole.REMOVABLE]
    assert len(scan(jpath.read_bytes()).records) == 8 and s2.meta("last") == 3


def test_internal_database_lost_goes_on_from_the_card(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 3)
    s.close()
    for f in (tmp_path / "int").iterdir():
        f.write_bytes(b"garbage, not a database" * 10)
    s2 = Store(*_media(tmp_path))
    check = s2.open()
    assert check.problems and check.problems[0].role is MediumRole.INTERNAL
    assert s2.meta("last") == 2
    # the internal database was rebuilt from the card
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 6


def test_missing_card_is_reported_and_internal_carries_on(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 2)
    s.close()
    internal, _removable = _media(tmp_path)
    gone = DirectoryMedium(MediumRole.REMOVABLE, tmp_path / "no-card")
    s2 = Store(internal, gone)
    check = s2.open()
    assert [p.problem for p in check.problems] == ["removable card missing"]
    s2.commit([{"op": "meta", "key": "after", "value": 1}])
    assert s2.meta("after") == 1 and not s2.removable_ok


def test_media_that_disagree_are_reported(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 2)
    s.close()
    db = sqlite3.connect(tmp_path / "int" / DB_NAME)
    body = db.execute("SELECT body FROM records WHERE seq = 1").fetchone()[0]
    db.execute("UPDATE records SET body = ? WHERE seq = 1", (body.replace("0", "7"),))
    db.commit()
    db.close()
    s2 = Store(*_media(tmp_path))
    check = s2.open()
    assert any("disagree" in p.problem for p in check.problems)


def test_no_medium_at_all_is_a_storage_error(tmp_path: Path) -> None:
    s = Store(DirectoryMedium(MediumRole.INTERNAL, tmp_path / "x"),
              DirectoryMedium(MediumRole.REMOVABLE, tmp_path / "y"))
    with pytest.raises(StorageError, match="no storage medium"):
        s.open()


def test_a_failed_write_drops_that_medium_and_the_other_carries_on(tmp_path: Path) -> None:
    s = _store(tmp_path)
    _fill(s, 1)
    (tmp_path / "rem" / JOURNAL_NAME).unlink()
    (tmp_path / "rem").rmdir()  # the card is pulled
    s.commit([{"op": "meta", "key": "k", "value": "v"}])
    assert s.meta("k") == "v" and not s.removable_ok
    assert [p.role for p in s.new_problems] == [MediumRole.REMOVABLE]
