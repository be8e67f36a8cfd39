"""The pages' sum checks (static/app.js), run in a real browser on generated views.

Every view the server builds (:func:`protocol.cec.consolidate.contest_view` over a
real :class:`~election.tally.Tally`) must pass — rounding of up to 24 shares must
never raise a false alarm — and each kind of wrong number must be caught.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_fixtures import make_world

from election.default import default_election
from election.tally import Tally
from protocol.cec import consolidate as cons
from protocol.cec.live import LiveCec
from protocol.cec.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONTEST = "district-01"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium (/usr/bin/chromium) is not installed")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    world = make_world(stations=("1001",))
    store = open_store(tmp_path_factory.mktemp("checks") / "cec.db")
    with LiveCec(world.registry, store) as cec, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        p = browser.new_page()
        p.goto(f"{cec.url}/?poll=60000")
        p.wait_for_function("window.PcosChecks !== undefined")
        yield p
        browser.close()


def server_view(votes: list[int], blank: int, overvote: int) -> dict[str, Any]:
    options = {f"c{i:02d}": n for i, n in enumerate(votes)}
    valid = sum(votes)
    doc = {"ballots": valid + blank + overvote, "blank": blank, "overvote": overvote,
           "withdrawn": 0, "options": options, "valid": valid, "invalid": blank + overvote}
    tally = Tally.from_json({"election": "x", "contests": {CONTEST: doc}})
    view = cons.contest_view(tally, CONTEST, default_election())
    return json.loads(json.dumps(view))


def js_check(page: Any, view: dict[str, Any]) -> list[str]:
    return list(page.evaluate("v => window.PcosChecks.checkContest(v, 'c')", view))


contests = st.tuples(st.lists(st.integers(0, 4000), min_size=2, max_size=24),
                     st.integers(0, 60), st.integers(0, 60))


@settings(max_examples=60, deadline=None)
@given(contests, st.data())
def test_checks_pass_every_server_view_and_catch_each_fault(
        page: Any, contest: tuple[list[int], int, int], data: st.DataObject) -> None:
    votes, blank, overvote = contest
    view = server_view(votes, blank, overvote)
    assert js_check(page, view) == [], view
    i = data.draw(st.integers(0, len(votes) - 1))

    one_vote_more = json.loads(json.dumps(view))
    one_vote_more["options"][i]["votes"] += 1
    assert js_check(page, one_vote_more)

    invalid_off = json.loads(json.dumps(view))
    invalid_off["invalid"] += 1
    assert any("invalid" in f for f in js_check(page, invalid_off))

    if view["valid"]:
        share_off = json.loads(json.dumps(view))
        share_off["options"][i]["share_pct"] = round(share_off["options"][i]["share_pct"]
                                                     + data.draw(st.sampled_from([-0.02, 0.02,
                                                                                  1.0])), 2)
        assert js_check(page, share_off)
        if any(o["share_pct"] for o in view["options"]):
            like_2021 = json.loads(json.dumps(view))
            for o in like_2021["options"]:
                o["share_pct"] = round(o["share_pct"] * 1.5, 2)
            assert any("shares add up to" in f for f in js_check(page, like_2021))
    else:
        assert all(o["share_pct"] == 0 for o in view["options"])


def test_progress_and_station_list_checks(page: Any) -> None:
    ok = [{"time": f"2021-11-28T20:0{i}:00Z", "stations_reported": i + 1, "share_pct": 0}
          for i in range(3)]
    check = "a => window.PcosChecks.checkProgress(a, 10)"
    assert page.evaluate(check, ok) == []
    assert page.evaluate(check, [ok[0], ok[2]])           # a station skipped
    assert page.evaluate(check, [ok[0], {**ok[1], "time": "2021-11-28T19:00:00Z"}])
    lines = [{"station": "1", "reported": True, "devices_reported": 1, "ballots_cast": 10},
             {"station": "2", "reported": False, "devices_reported": 0, "ballots_cast": 0}]
    nat = {"stations": 2, "stations_reported": 1, "ballots_cast": 10}
    stations = "d => window.PcosChecks.checkStations(d)"
    assert page.evaluate(stations, {"stations": lines, "nat": nat}) == []
    assert page.evaluate(stations, {"stations": lines, "nat": {**nat, "ballots_cast": 11}})
    assert page.evaluate(stations, {"stations": lines, "nat": {**nat, "stations_reported": 2}})
    bad = [lines[0], {**lines[1], "devices_reported": 1}]
    assert page.evaluate(stations, {"stations": bad, "nat": nat})
