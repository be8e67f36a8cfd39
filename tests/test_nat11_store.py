"""The national day's cheaper store path gives the same records and the same recount.

* ``Store.stored_outcomes`` (what the recount reads: each cast sheet's ``seq`` and
  ``outcome`` picked by SQLite's JSON operators) equals ``stored_sheets`` on the database
  and on the journal alone;
* an internal medium that declares ``private_db`` (exclusive locking) writes byte-identical
  records, reopens after a close, and its database is readable by others once closed;
* the multi-row ``INSERT`` of a batch longer than one statement holds stores every record;
* ``image_sha256`` (header memoised per shape) is the SHA-256 it was defined as.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.device import image_sha256
from firmware.hal.storage import DirectoryMedium, MediumRole
from firmware.store import _MULTI_INSERT_MAX, DB_NAME, SheetMode, SheetState, Store


class CheapMedium(DirectoryMedium):
    cheap_sync: ClassVar[bool] = True


class PrivateMedium(DirectoryMedium):
    cheap_sync: ClassVar[bool] = True
    private_db: ClassVar[bool] = True


OUTCOMES = st.dictionaries(st.sampled_from(["list", "d1", "пр"]),
                           st.dictionaries(st.sampled_from(["options", "status", "ы"]),
                                           st.one_of(st.text(max_size=5),
                                                     st.lists(st.text(max_size=3),
                                                              max_size=3)),
                                           max_size=3),
                           min_size=1, max_size=3)


def _media(tmp: Path, cls: type[DirectoryMedium]) -> tuple[DirectoryMedium, DirectoryMedium]:
    (tmp / "int").mkdir(parents=True, exist_ok=True)
    (tmp / "rem").mkdir(parents=True, exist_ok=True)
    return cls(MediumRole.INTERNAL, tmp / "int"), cls(MediumRole.REMOVABLE, tmp / "rem")


def _fill(s: Store, outcomes: list[dict[str, Any]]) -> None:
    for i, outcome in enumerate(outcomes, start=1):
        sid = f"d/{i:06d}"
        s.commit([{"op": "sheet", "sheet": {"id": sid, "mode": "official", "state": "pending",
                                            "outcome": outcome, "seq": s.seq + 1}}])
        state = "voided" if i % 4 == 0 else "cast"
        s.commit([{"op": "sheet-state", "id": sid, "state": state, "t": f"t{i}", "note": ""}],
                 {"running-tally": {"casts": i}}, sync=False)


def _expected(s: Store) -> list[tuple[int, Any]]:
    return [(x["seq"], x["outcome"])
            for x in s.stored_sheets(SheetMode.OFFICIAL, SheetState.CAST)]


@settings(max_examples=25, deadline=None)
@given(outcomes=st.lists(OUTCOMES, min_size=1, max_size=8))
def test_stored_outcomes_equal_the_stored_sheets(tmp_path_factory: Any,
                                                  outcomes: list[dict[str, Any]]) -> None:
    import json

    tmp = tmp_path_factory.mktemp("outcomes")
    s = Store(*_media(tmp, CheapMedium))
    s.open()
    _fill(s, outcomes)
    want = _expected(s)
    got = [(seq, json.loads(text or "null")) for seq, text in
           s.stored_outcomes(SheetMode.OFFICIAL, SheetState.CAST)]
    assert got == want and len(want) == sum(1 for i in range(1, len(outcomes) + 1) if i % 4)
    s.close()
    # the journal alone (the internal medium gone): the same answer from the replay
    (tmp / "int" / DB_NAME).unlink()
    for suffix in ("-wal", "-shm"):
        (tmp / "int" / (DB_NAME + suffix)).unlink(missing_ok=True)
    s2 = Store(DirectoryMedium(MediumRole.INTERNAL, tmp / "missing"),
               CheapMedium(MediumRole.REMOVABLE, tmp / "rem"))
    s2.open()
    assert not s2.internal_ok
    got2 = [(seq, json.loads(text or "null")) for seq, text in
            s2.stored_outcomes(SheetMode.OFFICIAL, SheetState.CAST)]
    assert got2 == want
    s2.close()


def _records(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [b for (b,) in db.execute("SELECT body FROM records ORDER BY seq")]
    finally:
        db.close()


def test_private_db_media_write_the_same_records_and_reopen(tmp_path: Path) -> None:
    outcomes = [{"list": {"options": [f"p{i % 3}"]}} for i in range(2 * _MULTI_INSERT_MAX)]
    stores = {}
    for name, cls in (("plain", CheapMedium), ("private", PrivateMedium)):
        s = Store(*_media(tmp_path / name, cls))
        s.open()
        _fill(s, outcomes)
        # one batch longer than one multi-row INSERT statement holds
        s.commit([{"op": "meta", "key": f"k{i}", "value": i}
                  for i in range(_MULTI_INSERT_MAX + 3)])
        stores[name] = s
    private_db = stores["private"]._db
    assert private_db is not None
    assert private_db.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
    for s in stores.values():
        s.close()
    plain = _records(tmp_path / "plain" / "int" / DB_NAME)
    assert plain == _records(tmp_path / "private" / "int" / DB_NAME)  # readable once closed
    assert len(plain) == 2 * len(outcomes) + _MULTI_INSERT_MAX + 3
    again = Store(*_media(tmp_path / "private", PrivateMedium))
    check = again.open()
    assert not check.problems and not check.decisions
    assert again.seq == len(plain) and again.meta(f"k{_MULTI_INSERT_MAX + 2}") == \
        _MULTI_INSERT_MAX + 2
    again.close()


def test_image_sha256_is_the_defined_digest() -> None:
    rng = np.random.default_rng(11)
    for img in (rng.integers(0, 255, (1, 16, 3), dtype=np.uint8),
                rng.integers(0, 65535, (7, 5), dtype=np.uint16),
                rng.integers(0, 255, (9, 8, 3), dtype=np.uint8)[:, ::2]):  # not contiguous
        h = hashlib.sha256(f"{img.shape}|{img.dtype}|".encode("ascii"))
        h.update(np.ascontiguousarray(img).tobytes())
        assert image_sha256(img) == h.hexdigest()


@settings(max_examples=40, deadline=None)
@given(datas=st.lists(st.dictionaries(st.text(max_size=4),
                                      st.one_of(st.integers(), st.text(max_size=4),
                                                st.lists(st.booleans(), max_size=2)),
                                      max_size=3), min_size=1, max_size=4))
def test_an_event_encoded_with_its_hash_is_its_canonical_json(
        datas: list[dict[str, Any]]) -> None:
    import datetime as dt

    from firmware.audit import EventType, encode_event, make_event, make_event_encoded
    from firmware.crypto import canonical_json

    t = dt.datetime(2021, 11, 28, 8, 0, tzinfo=dt.UTC)
    head = None
    for d in datas:
        event, encoded = make_event_encoded(head, EventType.SHEET_CAST, d, t)
        assert event == make_event(head, EventType.SHEET_CAST, d, t)
        assert encoded == encode_event(event) == canonical_json(event)
        head = event
