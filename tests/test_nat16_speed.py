"""nat16: the national day's per-sheet CPU, cut without changing a byte.

Each faster implementation is checked against the one it replaced: the JSON encoders
built once per thread against ``json.JSONEncoder.encode``, ``iso`` against the
``isoformat`` formula, and the station's day leaves no reference cycles for the
collector (the plan, the intents and the devices are freed by reference counting).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.crypto import FastJsonEncoder, canonical_json
from firmware.hal.clock import iso

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200)
@given(JSON)
def test_canonical_json_is_the_encoders_output(doc: object) -> None:
    ref = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(doc) == ref.encode(doc).encode("utf-8")


@settings(max_examples=100)
@given(JSON, st.booleans(), st.booleans())
def test_fast_encoder_equals_encode_for_any_options(doc: object, sort_keys: bool,
                                                    ensure_ascii: bool) -> None:
    ref = json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=ensure_ascii,
                           separators=(",", ":"))
    assert FastJsonEncoder(ref).encode(doc) == ref.encode(doc)


def test_fast_encoder_errors_as_before_and_recovers() -> None:
    """A cycle is still a ValueError, an unknown type a TypeError; the thread's encoder is
    rebuilt after a failure, so the same containers encode afterwards."""
    a: list[object] = []
    a.append(a)
    for _ in range(2):
        try:
            canonical_json(a)
        except ValueError as exc:
            assert "Circular" in str(exc)
        else:
            raise AssertionError("a cycle was encoded")
    shared = {"k": [1]}
    try:
        canonical_json({"x": shared, "y": object()})
    except TypeError:
        pass
    else:
        raise AssertionError("an object was encoded")
    assert canonical_json({"again": shared}) == b'{"again":{"k":[1]}}'


def test_fast_encoder_in_threads() -> None:
    docs = [{"n": i, "s": "é" * (i % 7), "l": list(range(i % 5))} for i in range(200)]
    want = [json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            for d in docs]
    got: dict[int, list[bytes]] = {}

    def work(k: int) -> None:
        got[k] = [canonical_json(d) for d in docs]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == want for v in got.values())


ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=6)),
                         dt.timezone(dt.timedelta(hours=-3, minutes=-30))])


@settings(max_examples=300)
@given(st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
       ZONES)
def test_iso_is_the_isoformat_formula(naive: dt.datetime, zone: dt.tzinfo) -> None:
    t = naive.replace(tzinfo=zone)
    old = t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso(t) == old


def test_a_station_day_leaves_no_cycles(tmp_path: Path) -> None:
    """One station's day in this process (its CEC a real server in a thread), the
    collector off: afterwards the collector finds none of the day's objects (plan events,
    voters, intents, devices, stores) unreachable: reference counting freed them."""
    from election.fileio import write_atomically
    from firmware.crypto import public_bytes
    from protocol.cec.ingest import Ingestor
    from protocol.cec.server import ServerSettings, ServerThread
    from protocol.cec.store import open_store
    from simulator.national.run import (
        PACKAGE_FILE,
        NationalSettings,
        draw_plans,
        pick_stations,
        provision,
    )
    from simulator.national.station import StationTask, run_station, worker_election

    settings = NationalSettings(stations=1)
    election = worker_election()
    numbers = pick_stations(election, 1)
    plans = draw_plans(settings, numbers)
    cec = provision(election, numbers, plans, settings.seed)
    write_atomically(tmp_path / PACKAGE_FILE, cec.package)
    store = open_store(tmp_path / "cec.sqlite")
    (tmp_path / "work").mkdir()
    watched = {"Event", "FedSheet", "Voter", "Intents", "IntentReader", "Device", "Store",
               "Unit", "_Day", "DecDesk", "Sender", "SheetInterpretation"}
    with ServerThread(Ingestor(cec.registry, store), ServerSettings()) as srv:
        n = numbers[0]
        task = StationTask(n, settings.seed, plans[n], settings.faults, cec.keys[n],
                           "127.0.0.1", srv.port,
                           cec.encryption.public().x25519.public_bytes_raw(),
                           public_bytes(cec.signing.public_key()), cec.registry.package_hash,
                           str(tmp_path / "work"), package_path=str(tmp_path / PACKAGE_FILE),
                           cec_root=cec.root_certificate)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            record = run_station(task)
            gc.collect()
            left = sorted({type(o).__name__ for o in gc.garbage} & watched)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    store.close()
    assert record["sheets"] > 0 and record["box"] > 0
    assert left == []
