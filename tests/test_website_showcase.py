"""publish_station: one station's day over real TCP to a live CEC and its website."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.cec_data import random_tally, station_total
from election.default import default_election
from election.model import PARTY_LIST_CONTEST
from protocol.cec import consolidate as cons
from protocol.cec.registry import CecRegistry
from protocol.cec.showcase import PublishError, publish_station
from protocol.cec.store import open_store


def test_publish_station_reaches_the_website_once(tmp_path: Path) -> None:
    election = default_election()
    station = election.stations[0].number
    st = election.station(station)
    tallies = [random_tally(election, st, np.random.default_rng(i), 120 + i) for i in (1, 2)]
    seen: list[str] = []
    pub = publish_station(tmp_path / "cec", election, station, tallies,
                          keep_serving=lambda cec: seen.append(cec.url))
    assert pub.accepted == 5  # 2 zero reports, 2 results, 1 DEC protocol
    assert pub.station_url == f"{seen[0]}/station/{station}"
    assert f"--dir {tmp_path / 'cec'}" in pub.serve_command
    assert any(station in line for line in pub.lines())

    def station_votes() -> tuple[int, dict[str, int], int]:
        c = cons.consolidate(CecRegistry.load(tmp_path / "cec"),
                             open_store(tmp_path / "cec" / "cec.db"))
        view = cons.station_view(c, station)
        votes = {o["option"]: o["votes"] for o in view["results"][PARTY_LIST_CONTEST]["options"]}
        return c.messages, votes, len(view["discrepancies"])

    messages, votes, discrepancies = station_votes()
    assert votes == station_total(tallies).contest(PARTY_LIST_CONTEST).counts
    assert discrepancies == 0 and messages == 5
    again = publish_station(tmp_path / "cec", election, station, tallies)
    assert again.accepted == 5 and station_votes() == (messages, votes, discrepancies)


def test_publish_station_refuses_bad_input(tmp_path: Path) -> None:
    election = default_election()
    with pytest.raises(PublishError, match="at least one"):
        publish_station(tmp_path / "a", election, election.stations[0].number, [])
    st = election.stations[0]
    with pytest.raises(PublishError, match="no station"):
        publish_station(tmp_path / "b", election, "nope",
                        [random_tally(election, st, np.random.default_rng(1), 10)])
