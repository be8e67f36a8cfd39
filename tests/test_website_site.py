"""The website's routes without a browser: shells, languages, names, local assets, CLI."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from protocol_fixtures import make_world
from starlette.testclient import TestClient

from election.model import AGAINST_ALL, Language
from protocol.cec.api import ResultsApi
from protocol.cec.site import STATIC_DIR, names
from protocol.cec.store import open_store
from protocol.cec.web import create_app


def _client(tmp_path: Path) -> TestClient:
    world = make_world()
    return TestClient(create_app(ResultsApi(world.registry, open_store(tmp_path / "c.db"))))


def test_pages_are_shells_in_the_asked_language(tmp_path: Path) -> None:
    client = _client(tmp_path)
    for path, page in (("/", "national"), ("/districts", "districts"),
                       ("/stations", "stations"), ("/station/1001", "station"),
                       ("/progress", "progress"), ("/area/district/1", "area")):
        ky = client.get(path)
        assert ky.status_code == 200 and f'data-page="{page}"' in ky.text
        assert '<html lang="ky">' in ky.text and 'data-lang="ky"' in ky.text
        ru = client.get(path, params={"lang": "ru"})
        assert '<html lang="ru">' in ru.text and "Результаты выборов" in ru.text
        assert '<html lang="ky">' in client.get(path, params={"lang": "xx"}).text
    assert 'data-key="1001"' in client.get("/station/1001").text
    region = make_world().election.station("1001").region
    assert f'data-key="region/{region}"' in client.get(f"/area/region/{region}").text
    assert client.get("/area/district/1").status_code == 200
    for bad in ("/area/planet/x", "/area/region/nowhere", "/area/district/99"):
        assert client.get(bad).status_code == 404, bad
    assert client.get("/station/9999999").status_code == 404
    assert client.get("/station/%3Cscript%3E").status_code == 404
    assert client.get("/api").status_code == 200  # the API index moved from / to /api
    assert client.get("/static/app.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))


def test_names_in_both_languages_from_the_model(tmp_path: Path) -> None:
    world = make_world()
    doc = _client(tmp_path).get("/site/names.json").json()
    assert doc == names(world.election)
    election = world.election
    for p in election.party_list.parties:
        assert doc["parties"][p.id] == {"ky": p.name.ky, "ru": p.name.ru}
    assert doc["parties"][AGAINST_ALL] == {"ky": "Баарына каршы", "ru": "Против всех"}
    d = election.districts[0]
    for cand in d.candidates:
        assert doc["contests"][d.id][cand.id] == {lang.value: cand.name.full(lang)
                                                 for lang in Language}
    assert doc["contest_names"][d.id] == {"ky": d.name.ky, "ru": d.name.ru,
                                          "kind": "district", "number": str(d.number)}
    assert set(doc["regions"]) == {r.id for r in election.regions}


def test_assets_are_local_only() -> None:
    """No CDN, no external font: every URL the pages load is on the same server."""
    for f in STATIC_DIR.iterdir():
        text = f.read_text(encoding="utf-8")
        urls = re.findall(r"https?://[^\s\"'`)]+", text)
        assert urls in ([], ["http://www.w3.org/2000/svg"]), (f.name, urls)
        for ref in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert ref.startswith("/"), (f.name, ref)
        for ref in re.findall(r'getJson\(\s*[`"]([^`"]+)', text):
            assert ref.startswith("/"), (f.name, ref)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pcos_cec_serve_serves_the_website_at_root(tmp_path: Path) -> None:
    pcos = [sys.executable, "-m", "tools.cli"]
    subprocess.run([*pcos, "cec", "provision", "--out", str(tmp_path / "cec"),
                    "--devices-per-station", "1"], check=True, capture_output=True)
    http = _free_port()
    proc = subprocess.Popen([*pcos, "cec", "serve", "--dir", str(tmp_path / "cec"),
                             "--port", str(_free_port()), "--http-port", str(http)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, text = time.time() + 30, ""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/?lang=ru", timeout=2) as r:
                    text = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert 'data-page="national"' in text and '<html lang="ru">' in text
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/static/app.js", timeout=2) as r:
            assert b"checkContest" in r.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_cached_api_serves_each_view_once_per_store_change(tmp_path: Path) -> None:
    from protocol_fixtures import ingestor

    from protocol.cec.cache import CachedResultsApi

    world = make_world()
    ing, store = ingestor(world, tmp_path / "cec.db")
    cached, plain = CachedResultsApi(world.registry, store), ResultsApi(world.registry, store)
    first = cached.national()
    assert cached.national() is first and first == plain.national()
    r = world.results("1001", 4)
    for content in (world.zero("1001"), r, world.dec("1001", r.tally)):
        ing.process(world.envelope(world.message("1001-D1", content)))
    store.commit()
    after = cached.national()
    assert after is not first and after == plain.national()
    assert after["stations_reported"] == 1
    for view in ("districts", "stations", "progress"):
        assert getattr(cached, view)() == getattr(plain, view)()
    assert cached.station("1001") == plain.station("1001")
    assert cached.station("1001") is cached.station("1001")
    assert cached.area("district", "1") == plain.area("district", "1")
    for bad in (lambda: cached.station("nope"), lambda: cached.area("planet", "x")):
        try:
            bad()
        except KeyError:
            pass
        else:
            raise AssertionError("an unknown station or area must raise KeyError")
