"""A TEC spare takes over a failed device's card through the signed package (nat13).

Device ``0001-D1`` opens polls and casts a sheet; it fails. Its removable card goes into
the TEC spare ``T1-S1`` (certified for no station), which boots on it: it holds another
device's records, so it takes no paper and moves no polls until it loads the signed
package itself. The wrong station and a tampered file are refused (typed, audited);
the right one loads (``package-loaded`` with the hash and ``took_over_from``), and the
spare counts on from the card: the failed device's sheet and its own, closed once.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from package_fixtures import two_tec_election

from election.model import BallotKind
from firmware.install import PackageTrust
from firmware.package import PackageError, PackageRefusal
from firmware.states import IllegalTransition, PollsState
from firmware.store import SheetMode
from simulator.devices import SimWorld
from simulator.packaged import sim_cec_keys, sim_device, sim_package
from simulator.rig import Rig, SelectionReader, build_device

ELECTION = two_tec_election()
STATION = ELECTION.station("0001")
KEYS = sim_cec_keys()
PACKAGE = sim_package(ELECTION, KEYS, ("0001", "0002", "0004"), 2, spares_per_tec=1)
PL = {"party-list": frozenset({"P01"})}
MARKS = {"V1": (BallotKind.PARTY_LIST, "party-list", PL),
         "V2": (BallotKind.PARTY_LIST, "party-list", PL)}


def _rig(tmp: Path, world: SimWorld, device_id: str, station: str | None) -> Rig:
    reader = SelectionReader(ELECTION, STATION, MARKS)
    trust = PackageTrust(root=KEYS.root_certificate,
                         device=sim_device(KEYS, device_id, station))
    r = build_device(tmp, world, ELECTION, STATION, reader, trust=trust,
                     reader_for=reader.for_election)
    r.device.boot()
    return r


def _events(r: Rig, kind: str) -> list[dict[str, object]]:
    return [e["data"] for e in r.device.store.audit_events() if e["type"] == kind]


def test_spare_on_a_failed_devices_card_counts_on_only_after_loading_the_package(
        tmp_path: Path) -> None:
    world = SimWorld()
    d1 = _rig(tmp_path / "d1", world, "0001-D1", "0001")
    d1.device.load_package(PACKAGE)
    d1.device.enter_test_mode()
    d1.device.clear_test()
    d1.device.open_polls()
    world.insert("V1")
    d1.device.step()
    assert d1.device.sheets_cast(SheetMode.OFFICIAL) == 1
    d1.device.close()  # it fails; its card goes into the spare
    shutil.copytree(tmp_path / "d1" / "removable", tmp_path / "spare" / "removable")

    spare = _rig(tmp_path / "spare", world, "T1-S1", None)
    d = spare.device
    assert d.takeover_pending and d.polls is PollsState.POLLS_OPEN
    world.insert("V2")
    assert d.step() is None and world.entry == ["V2"]  # no paper taken
    with pytest.raises(IllegalTransition, match="load the signed package"):
        d.pause()
    with pytest.raises(PackageError) as other:
        d.load_package(PACKAGE, station="0002")
    assert other.value.reason is PackageRefusal.ANOTHER_STATION
    bad = bytearray(PACKAGE)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(PackageError) as tampered:
        d.load_package(bytes(bad), station="0001")
    assert tampered.value.reason is PackageRefusal.TAMPERED
    assert [e["reason"] for e in _events(spare, "package-refused")] == [
        "another-station", "tampered"]
    assert d.takeover_pending and d.sheets_cast(SheetMode.OFFICIAL) == 1

    assert d.load_package(PACKAGE, station="0001") is PollsState.POLLS_OPEN
    assert not d.takeover_pending
    loaded = _events(spare, "package-loaded")[-1]
    assert loaded == {"package_hash": hashlib.sha256(PACKAGE).hexdigest(),
                      "election_hash": loaded["election_hash"], "station": "0001",
                      "device": "T1-S1", "took_over_from": "0001-D1", "spare": True}
    assert (d.config.device_id, d.config.station.number) == ("T1-S1", "0001")
    d.step()  # the sheet waiting at the entry is taken now
    assert d.sheets_cast(SheetMode.OFFICIAL) == 2
    assert d.tally().contest("party-list").ballots == 2
    if d.storage_ack_needed:
        d.acknowledge_storage()
    assert d.close_polls() is PollsState.POLLS_CLOSED
    d.close()
    # a restart re-verifies the installed file for the spare; nothing pending any more
    again = _rig(tmp_path / "spare", world, "T1-S1", None)
    assert not again.device.takeover_pending
    assert again.device.config.package_hash == hashlib.sha256(PACKAGE).hexdigest()
    assert again.device.polls is PollsState.POLLS_CLOSED
    assert again.device.sheets_cast(SheetMode.OFFICIAL) == 2
    again.device.close()
