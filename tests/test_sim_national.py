"""``pcos sim national``: small national days through the real firmware, protocol and CEC.

* a run of a dozen stations with heavy faults (failed devices and spares, power cuts
  mid-sheet, late and silent stations, a modem station): the CEC equals the ground
  truth from the ballot boxes at every level, every message is delivered once;
* the checks can fail: a tally changed by one vote is named at the station, its
  district, its region and the nation;
* a Dask LocalCluster gives the same result as the local pool for the same seed;
* a worker SIGKILLed mid-station (after its zero reports reached the CEC): the station
  is rerun, the CEC sees the resent messages as duplicates and counts them once.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from election.errors import PcosError
from election.tally import Tally
from protocol.cec.store import open_store
from simulator.national.faults import NationalFaults
from simulator.national.run import (
    NationalSettings,
    draw_plans,
    pick_stations,
    provision,
    run_national,
    verify,
)
from simulator.national.station import worker_election
from tools.cli import main

HEAVY = NationalFaults(paper_jam_per_sheet=0.004, power_cuts_per_device_day=1.5,
                       modem_outages_per_day=1.0, device_failure=0.4, late_station=0.3,
                       never_reports=0.15, modem_sample=0.1, modem_sample_max=1)


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "stations.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def heavy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[NationalSettings,
                                                                   dict[str, Any]]:
    out = tmp_path_factory.mktemp("national")
    settings = NationalSettings(stations=8, faults=HEAVY, workers=2, seed=9, out=out)
    return settings, run_national(settings, progress=None)


def test_heavy_faults_totals_match_truth(heavy_run: tuple[NationalSettings, dict[str, Any]]
                                         ) -> None:
    settings, s = heavy_run
    assert s["totals_match_truth"], s["differences"]
    assert s["delivered_once"]
    assert s["stations"] == 8 and s["sheets"] > 3000
    # the faults really happened
    inc = s["incidents"]
    assert inc.get("device-failure", 0) >= 1 and inc.get("spare-took-over", 0) >= 1
    assert inc.get("power-cut", 0) >= 3 and inc.get("paper-jam", 0) >= 3
    assert s["modem_stations"] == 1
    # silent stations are exactly the missing ones, and there were some
    assert s["stations_missing"] == s["stations_silent_by_plan"] != []
    assert s["messages_stored_at_cec"] == s["messages_delivered"] < s["messages"]
    records = _records(settings.out)
    assert all(r["not_in_box"] == [] for r in records)
    spares = [d for r in records for d in r["devices"] if d["role"] == "spare"]
    assert spares and all(d["sheets_cast_on_record"] > 0 for d in spares)
    assert (settings.out / "report.html").is_file()
    assert (settings.out / "plots" / "reported.png").stat().st_size > 1000


def test_a_changed_vote_is_named_at_every_level(
        heavy_run: tuple[NationalSettings, dict[str, Any]]) -> None:
    settings, s = heavy_run
    election = worker_election()
    records = _records(settings.out)
    numbers = pick_stations(election, settings.stations)
    cec = provision(election, numbers, draw_plans(settings, numbers), settings.seed)
    target = next(r for r in records if r["station"] not in s["stations_missing"])
    doc = target["truth"]
    options = doc["contests"]["party-list"]["options"]
    first = sorted(options)[0]
    options[first] += 1  # one more vote in the truth than the CEC has
    doc["contests"]["party-list"]["valid"] += 1
    doc["contests"]["party-list"]["ballots"] += 1
    doc["contests"]["party-list"]["preference_statuses"]["none"] += 1
    assert Tally.from_json(doc).contest("party-list").count(first) == options[first]
    store = open_store(settings.out / "cec.sqlite")
    try:
        summary, _ = verify(election, cec.registry, store, records)
    finally:
        store.close()
    assert not summary["totals_match_truth"]
    where = {d["where"] for d in summary["differences"]}
    st = election.station(target["station"])
    assert f"station {st.number}" in where and "national" in where
    assert f"region {st.region}" in where
    assert any(w.startswith("district ") for w in where)
    named = [d for d in summary["differences"] if d["where"] == "national"]
    assert any(d.get("what") == f"options/{first}" and d["truth"] == d["cec"] + 1
               for d in named)


def test_the_website_shows_the_national_result(
        heavy_run: tuple[NationalSettings, dict[str, Any]]) -> None:
    """The run served the CEC's website on its store and fetched it over loopback HTTP:
    the national page, its figures, the districts and stations equal the truth."""
    _, s = heavy_run
    web = s["website"]
    assert web["matches_truth"] and web["differences"] == [], web
    assert web["url"].startswith("http://127.0.0.1:")
    assert web["pages"]["/"] == web["pages"]["/api/national"] == 200
    assert web["pages"]["/api/districts"] == web["pages"]["/api/stations"] == 200
    assert sum(1 for p in web["pages"] if p.startswith("/api/station/")) >= 2
    assert web["checked_figures"] > 100


def test_the_website_check_names_a_figure_that_differs(
        heavy_run: tuple[NationalSettings, dict[str, Any]]) -> None:
    """Served again from the run's CEC store, fetched for real: a truth changed by one
    vote is named on the national page, the district and the station page."""
    from simulator.national.website import check_website, serving

    settings, s = heavy_run
    election = worker_election()
    records = _records(settings.out)
    numbers = pick_stations(election, settings.stations)
    cec = provision(election, numbers, draw_plans(settings, numbers), settings.seed)
    with serving(cec.registry, settings.out / "cec.sqlite") as url:
        assert check_website(url, election, records).matches_truth
        target = sorted(r["station"] for r in records
                        if r["station"] not in s["stations_missing"])[0]
        rec = next(r for r in records if r["station"] == target)
        district = next(c for c in rec["truth"]["contests"]
                        if c in {d.id for d in election.districts})
        for cid in ("party-list", district):
            doc = rec["truth"]["contests"][cid]
            first = sorted(doc["options"])[0]
            doc["options"][first] += 1
            doc["valid"] += 1
            doc["ballots"] += 1
            if cid == "party-list":
                doc["preference_statuses"]["none"] += 1
        check = check_website(url, election, records)
    assert not check.matches_truth
    where = {d["where"] for d in check.differences}
    assert {"website /api/national", f"website /api/station/{target}",
            f"website /api/districts {district}"} <= where, where
    national = [d for d in check.differences if d["where"] == "website /api/national"]
    assert any(d["what"] == "ballots" and d["truth"] == d["web"] + 1 for d in national)


def test_dask_local_cluster_equals_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    faults = NationalFaults(device_failure=0.5, power_cuts_per_device_day=1.0,
                            modem_sample=0.0)
    results = {}
    for scheduler in ("local", "dask-local"):
        out = tmp_path / scheduler
        s = run_national(NationalSettings(stations=3, faults=faults, workers=2, seed=5,
                                          out=out, scheduler=scheduler, report=False,
                                          website="none"),
                         progress=None)
        assert s["totals_match_truth"] and s["delivered_once"], s["differences"]
        db = sqlite3.connect(out / "cec.sqlite")
        rows = sorted(db.execute("SELECT device_id, sequence, message_hash, content FROM "
                                 "messages").fetchall())
        db.close()
        recs = sorted((r["station"], json.dumps(r["truth"], sort_keys=True),
                        json.dumps([d["messages"] for d in r["devices"]], sort_keys=True))
                       for r in _records(out))
        results[scheduler] = (rows, recs)
    assert results["local"][0] == results["dask-local"][0]
    assert results["local"][1] == results["dask-local"][1]
    assert len(results["local"][0]) >= 3 * 3


def test_killed_worker_station_counted_once(tmp_path: Path) -> None:
    settings = NationalSettings(stations=3, faults=NationalFaults.none(), workers=2, seed=3,
                                out=tmp_path, report=False, website="none")
    victim = pick_stations(worker_election(), 3)[1]
    from dataclasses import replace

    s = run_national(replace(settings, kill_worker_at=(victim,)), progress=None)
    assert s["reruns"] >= 1
    rec = next(r for r in _records(tmp_path) if r["station"] == victim)
    assert rec["attempt"] >= 1
    # the zero reports of the first attempt reached the CEC; the rerun sent them again
    assert s["server"]["duplicates"] >= 2
    assert s["delivered_once"] and s["totals_match_truth"], s["differences"]
    assert s["messages_stored_at_cec"] == s["messages"] == 3 * 5


def test_faults_file_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    bad = tmp_path / "faults.json"
    bad.write_text(json.dumps({"device_failures": 0.2}))
    with pytest.raises(PcosError, match="unknown field"):
        NationalFaults.load(str(bad))
    bad.write_text(json.dumps({"device_failure": 2}))
    with pytest.raises(PcosError, match="device_failure"):
        NationalFaults.load(str(bad))
    good = tmp_path / "ok.json"
    good.write_text(json.dumps({"never_reports": 0.5}))
    assert NationalFaults.load(str(good)).never_reports == 0.5
    assert main(["sim", "national", "--stations", "x", "--out", str(tmp_path / "o")]) == 2
    assert "--stations" in capsys.readouterr().err
    assert main(["sim", "national", "--scheduler", "yarn", "--out", str(tmp_path / "o")]) == 2
    assert "--scheduler" in capsys.readouterr().err
    assert main(["sim", "national", "--stations", "1", "--website", "serve", "--http-port",
                 "70000", "--out", str(tmp_path / "o")]) == 2
    assert "--http-port" in capsys.readouterr().err


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sim", "national", "--stations", "2", "--images", "none", "--faults", "none",
               "--workers", "2", "--out", str(tmp_path), "--json", "--no-report"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert set(doc) == {"stations", "devices", "sheets", "messages", "delivered_once",
                        "totals_match_truth", "differences", "seconds"}
    assert doc["stations"] == 2 and doc["devices"] == 4 and doc["messages"] == 2 * 2 * 2 + 2
    assert doc["delivered_once"] and doc["totals_match_truth"] and doc["differences"] == []
    web = json.loads((tmp_path / "national.json").read_text())["website"]
    assert web["matches_truth"] and web["pages"]["/api/national"] == 200


def test_spares_are_tec_spares_counted_for_the_station_they_replace(
        heavy_run: tuple[NationalSettings, dict[str, Any]]) -> None:
    """One device identity: a station's devices are ``<station>-D1``/``-D2`` and a failed
    device's replacement is a spare ``<tec>-S<k>`` of the package's assignments, certified
    for no station. The CEC registers it with its TEC and counts it, once, for the
    station it took over at (and for no other)."""
    from firmware.package import station_device_id
    from protocol.cec.consolidate import consolidate

    settings, s = heavy_run
    election = worker_election()
    numbers = pick_stations(election, settings.stations)
    cec = provision(election, numbers, draw_plans(settings, numbers), settings.seed)
    records = _records(settings.out)
    for r in records:
        assert [d["device_id"] for d in r["devices"] if d["role"] != "spare"] == [
            station_device_id(r["station"], k) for k in (1, 2)]
    spares = [(r["station"], d["device_id"]) for r in records for d in r["devices"]
              if d["role"] == "spare"]
    counted = [(n, did) for n, did in spares if n not in s["stations_silent_by_plan"]]
    assert counted, "the heavy run has a reporting station whose spare took over"
    store = open_store(settings.out / "cec.sqlite")
    try:
        c = consolidate(cec.registry, store)
        spoken = {(m.device_id, m.station) for m in store.messages()}
    finally:
        store.close()
    for station, did in spares:
        tec = election.station(station).tec
        assert did in cec.assignments.spares[tec]
        assert cec.registry.devices[did].station is None
        assert cec.registry.tec_spare(did) == tec
    for station, did in counted:
        assert {st for d, st in spoken if d == did} == {station}
        assert c.spares_at[station] == (did,)
        assert [d.device_id for d in c.device_reports[station]].count(did) == 1
