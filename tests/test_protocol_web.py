"""The JSON API over HTTP (Starlette) reads only the consolidation API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from protocol_fixtures import ingestor, make_world

from election.model import PARTY_LIST_CONTEST
from protocol.cec.api import ResultsApi
from protocol.cec.web import create_app


@contextmanager
def _serving(api: ResultsApi) -> Iterator[httpx.Client]:
    """The app on a real uvicorn server on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(20)


def test_json_api_serves_consolidated_results(tmp_path: Path) -> None:
    world = make_world()
    ing, store = ingestor(world, tmp_path / "cec.db")
    api = ResultsApi(world.registry, store)
    with _serving(api) as client:
        _exercise(world, ing, store, client)


def _exercise(world, ing, store, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/national").json()["stations_reported"] == 0
    r = world.results("1001", 4)
    for content in (world.zero("1001"), r, world.dec("1001", r.tally)):
        ing.process(world.envelope(world.message("1001-D1", content)))
    store.commit()
    nat = client.get("/api/national").json()  # the cache sees the new messages
    assert nat["stations_reported"] == 1
    assert {o["option"]: o["votes"] for o in nat["party_list"]["options"]} == r.tally.contest(
        PARTY_LIST_CONTEST).counts
    st = client.get("/api/station/1001").json()
    assert st["devices_reported"] == ["1001-D1"] and st["discrepancies"] == []
    png = client.get("/api/station/1001/dec/0.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/api/station/nope").status_code == 404
    assert client.get("/api/area/planet/x").status_code == 404
    region = world.election.station("1001").region
    assert client.get(f"/api/area/region/{region}").json()["stations_reported"] == 1
    assert client.get("/api/nist").json()["Status"] == "unofficial-partial"
    assert len(client.get("/api/districts").json()) == len(world.election.districts)
    assert client.get("/api/progress").json()[0]["stations_reported"] == 1
