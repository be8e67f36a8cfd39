"""Consolidation (stations, areas, spares, missing stations, machine vs protocol) and the
NIST SP 1500-100 export, validated against NIST's schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from election_fixtures import small_election
from nist_reference import nist_schema
from protocol_fixtures import World, ingestor, make_world

from election.default import default_election
from election.model import PARTY_LIST_CONTEST
from election.tally import Tally, merge
from firmware.package import spare_device_id, station_device_id
from protocol.cec.consolidate import (
    area_view,
    consolidate,
    districts_view,
    national_view,
    progress_view,
    station_view,
    stations_view,
)
from protocol.cec.nist import election_report
from protocol.receipts import ReceiptStatus

# a spare of 1002's TEC certified for station 1002 (test_cec_tec_spare.py: one for no station)
SPARE_1002 = spare_device_id(default_election().station("1002").tec, 1)
SCHEMA = json.loads(nist_schema("NIST_V2_election_results_reporting.json").read_text())


def _deliver(world: World, ing, device: str, *contents) -> None:  # type: ignore[no-untyped-def]
    for content in contents:
        out = ing.process(world.envelope(world.message(device, content)))
        assert out.status is ReceiptStatus.ACCEPTED, out.reason
    ing.store.commit()


@pytest.fixture()
def scenario(tmp_path: Path):  # type: ignore[no-untyped-def]
    """1001: two devices, protocol 2 votes off for P07. 1002: device 1 failed after its zero
    report, the spare finished the day; protocol matches. 1003: nothing arrived."""
    world = make_world(spares={SPARE_1002: "1002"})
    ing, store = ingestor(world, tmp_path / "cec.db")
    r11, r12 = world.results("1001", 11), world.results("1001", 12, ballots=150)
    _deliver(world, ing, "1001-D1", world.zero("1001"), r11)
    _deliver(world, ing, "1001-D2", world.zero("1001"), r12)
    s1001 = merge(r11.tally, r12.tally)
    _deliver(world, ing, "1001-D1", world.dec("1001", s1001, shift={"P07": 2}))
    r21, r22 = world.results("1002", 21), world.results("1002", 22)
    _deliver(world, ing, "1002-D1", world.zero("1002"))
    _deliver(world, ing, "1002-D2", world.zero("1002"), r21)
    _deliver(world, ing, SPARE_1002, world.zero("1002"), r22)
    s1002 = merge(r21.tally, r22.tally)
    _deliver(world, ing, "1002-D2", world.dec("1002", s1002))
    return world, consolidate(world.registry, store), {"1001": s1001, "1002": s1002}


def test_station_is_sum_of_its_devices_including_a_spare(scenario) -> None:  # type: ignore[no-untyped-def]
    _world, c, expected = scenario
    assert c.station_tallies == expected
    view = station_view(c, "1002")
    assert view["devices_reported"] == ["1002-D2", SPARE_1002]
    assert view["zero_reports"] == 3 and view["checks"]["devices_add_up"]
    party = view["results"][PARTY_LIST_CONTEST]
    assert party["ballots"] == 400 and party["checks"]["shares_sum_to_100"]


def test_latest_results_of_a_device_count_once(scenario, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, _, _expected = scenario
    ing, store = ingestor(world, tmp_path / "again.db")
    first, final = world.results("1003", 1), world.results("1003", 2)
    world.seq.clear()
    _deliver(world, ing, "1003-D1", first, final)
    c = consolidate(world.registry, store)
    assert c.station_tallies["1003"] == final.tally


def test_machine_vs_protocol_flags_every_discrepancy(scenario) -> None:  # type: ignore[no-untyped-def]
    _world, c, expected = scenario
    (d,) = station_view(c, "1001")["discrepancies"]
    assert d["option"] == "P07" and d["difference"] == 2
    assert d["machine"] == expected["1001"].contest(PARTY_LIST_CONTEST).count("P07")
    assert station_view(c, "1002")["discrepancies"] == []
    assert national_view(c)["discrepant_stations"] == ["1001"]


def test_areas_reporting_and_turnout(scenario) -> None:  # type: ignore[no-untyped-def]
    world, c, expected = scenario
    total = merge(expected["1001"], expected["1002"])
    nat = national_view(c)
    assert nat["status"] == "unofficial-partial"
    assert nat["stations_reported"] == 2 and nat["stations"] == len(world.election.stations)
    party = nat["party_list"]
    assert {r["option"]: r["votes"] for r in party["options"]} == total.contest(
        PARTY_LIST_CONTEST).counts
    assert party["checks"]["shares_sum_to_100"]
    assert abs(sum(r["share_pct"] for r in party["options"]) - 100) < 0.2
    s1001 = world.election.station("1001")
    tec = area_view(c, "tec", s1001.tec)
    assert "1003" in tec["stations_missing"] or world.election.station("1003").tec != s1001.tec
    region = area_view(c, "region", s1001.region)
    ballots = sum(expected[s].contest(PARTY_LIST_CONTEST).ballots for s in expected
                  if world.election.station(s).region == s1001.region)
    assert region["ballots_cast"] == ballots
    voters = sum(world.election.station(s).voters for s in expected
                 if world.election.station(s).region == s1001.region)
    assert region["turnout_pct"] == round(100 * ballots / voters, 2)
    rows = {r["station"]: r for r in stations_view(c)}
    assert rows["1003"]["reported"] is False and rows["1001"]["discrepancies"] == 1
    districts = {d["district"]: d for d in districts_view(c)}
    d1 = districts[s1001.district]
    assert d1["leader"] == d1["results"]["leader"] is not None
    assert len(progress_view(c)) == 2


def test_nist_export_valid_and_partial(scenario) -> None:  # type: ignore[no-untyped-def]
    _world, c, expected = scenario
    doc = election_report(c, "2021-11-28T21:00:00Z")
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["Status"] == "unofficial-partial"
    sel = doc["Election"][0]["Contest"][0]["ContestSelection"][0]
    country = next(v for v in sel["VoteCounts"] if v["GpUnitId"] == "gpu-country")
    assert country["Count"] == merge(expected["1001"], expected["1002"]).contest(
        PARTY_LIST_CONTEST).count("P01")


def test_nist_export_complete_on_a_small_election(tmp_path: Path) -> None:
    world = make_world(stations=("0001", "0002"), election=small_election())
    ing, store = ingestor(world, tmp_path / "cec.db")
    tallies: list[Tally] = []
    for station in ("0001", "0002"):
        for i in (1, 2):
            r = world.results(station, hash((station, i)) % 1000)
            tallies.append(r.tally)
            _deliver(world, ing, station_device_id(station, i), world.zero(station), r)
    c = consolidate(world.registry, store)
    doc = election_report(c, "2021-11-28T23:00:00Z")
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["Status"] == "unofficial-complete"
    assert national_view(c)["status"] == "unofficial-complete"
    broken = json.loads(json.dumps(doc))
    broken["Status"] = "preliminary"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(broken)


def test_nist_export_has_every_contest_the_stations_report(tmp_path: Path) -> None:
    """Districts and local councils alike: each contest a reporting station holds is in the
    export, and every option's national count equals the merged device tallies."""
    world = make_world(stations=("6007", "1001"))
    ing, store = ingestor(world, tmp_path / "cec.db")
    tallies = []
    for station in ("6007", "1001"):
        for i in (1, 2):
            r = world.results(station, 40 + i)
            tallies.append(r.tally)
            _deliver(world, ing, station_device_id(station, i), world.zero(station), r)
    total = tallies[0]
    for t in tallies[1:]:
        total = merge(total, t)
    doc = election_report(consolidate(world.registry, store), "2021-11-28T21:00:00Z")
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    contests = {k["@id"]: k for k in doc["Election"][0]["Contest"]}
    assert any(cid.startswith("council-") for cid in total.contest_ids)
    for cid in total.contest_ids:
        if cid == "preference":
            continue  # preferences are counts per (party, position), not NIST selections
        shown = {}
        for sel in contests[f"contest-{cid}"]["ContestSelection"]:
            option = (sel["CandidateIds"][0].removeprefix("cand-") if "CandidateIds" in sel
                      else sel["PartyIds"][0].removeprefix("party-") if "PartyIds" in sel
                      else "against-all")
            shown[option] = next(v["Count"] for v in sel["VoteCounts"]
                                 if v["GpUnitId"] == "gpu-country")
        assert sum(shown.values()) == total.contest(cid).valid, cid
        for option, count in shown.items():
            assert total.contest(cid).count(option) == count, (cid, option)
