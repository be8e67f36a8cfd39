"""A TEC spare loads the package for the station it is installed at (issue 7).

The package assigns two devices to each of stations 0001, 0002 (TEC T1) and 0004 (TEC T2),
and one spare to each TEC; station 0003 (T1) is not in the package. A spare provisioned
for no station loads the package for any station of its TEC in the package; any other
choice is refused with a typed reason, audited, and the polls state does not move. A
restart verifies the installed package for the station chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from package_fixtures import two_tec_election

from firmware.device import DeviceError
from firmware.install import PackageTrust
from firmware.package import PackageError, PackageRefusal
from firmware.states import PollsState
from firmware.store import SheetMode
from simulator.devices import SimWorld
from simulator.packaged import sim_cec_keys, sim_device, sim_package
from simulator.rig import Rig, SelectionReader, build_device

ELECTION = two_tec_election()
KEYS = sim_cec_keys()
PACKAGE = sim_package(ELECTION, KEYS, ("0001", "0002", "0004"), 2, spares_per_tec=1)
SPARE = "T1-S1"


def _rig(tmp: Path, device_id: str = SPARE, station: str | None = None,
         world: SimWorld | None = None) -> Rig:
    reader = SelectionReader(ELECTION, ELECTION.station("0001"), {})
    trust = PackageTrust(root=KEYS.root_certificate,
                         device=sim_device(KEYS, device_id, station))
    # built before installation: the spare does not know its station yet (first of its TEC)
    r = build_device(tmp, world or SimWorld(), ELECTION, ELECTION.station("0001"), reader,
                     trust=trust, reader_for=reader.for_election)
    r.device.boot()
    return r


def test_spare_loads_the_package_for_a_station_of_its_tec(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    assert r.device.load_package(PACKAGE, station="0002") is PollsState.PACKAGE_LOADED
    c = r.device.config
    assert (c.device_id, c.station.number) == (SPARE, "0002")
    loaded = [e for e in r.device.store.audit_events() if e["type"] == "package-loaded"]
    assert loaded[-1]["data"]["station"] == "0002" and loaded[-1]["data"]["spare"] is True
    report = r.device.report_data("audit")
    assert report["station"] == "0002" and report["device"] == SPARE
    r.device.close()
    # a restart verifies the installed package again for the station chosen at install
    again = _rig(tmp_path, world=r.world)
    assert again.device.config.station.number == "0002"
    assert again.device.config.package_hash == c.package_hash
    again.device.enter_test_mode()
    assert again.device.report_data("test")["station"] == "0002"
    assert again.device.sheets_cast(SheetMode.TEST) == 0
    again.device.close()


@pytest.mark.parametrize(("device_id", "station", "reason", "detail"), [
    (SPARE, "0004", PackageRefusal.ANOTHER_STATION, "spare T1-S1 belongs to T1"),
    (SPARE, "0003", PackageRefusal.ANOTHER_STATION, "station 0003 is not in this package"),
    (SPARE, None, PackageRefusal.NOT_ASSIGNED, "name the station it replaces"),
    ("0001-D1", "0002", PackageRefusal.ANOTHER_STATION, "assigned to station 0001"),
])
def test_wrong_station_is_refused_typed_and_audited(tmp_path: Path, device_id: str,
                                                    station: str | None,
                                                    reason: PackageRefusal,
                                                    detail: str) -> None:
    r = _rig(tmp_path, device_id, "0001" if device_id == "0001-D1" else None)
    with pytest.raises(PackageError) as err:
        r.device.load_package(PACKAGE, station=station)
    assert err.value.reason is reason and detail in str(err.value)
    refused = [e for e in r.device.store.audit_events() if e["type"] == "package-refused"]
    assert refused[-1]["data"]["reason"] == reason.value
    assert refused[-1]["data"].get("station") == station
    assert r.device.polls is PollsState.NO_PACKAGE
    assert r.display.current is not None and r.display.current.screen == "package-refused"
    # the operator then names a right station: it loads
    assert r.device.load_package(PACKAGE, station="0001") is PollsState.PACKAGE_LOADED
    r.device.close()


def test_assigned_device_may_name_its_own_station(tmp_path: Path) -> None:
    r = _rig(tmp_path, "0004-D2", "0004")
    r.device.load_package(PACKAGE, station="0004")
    assert r.device.config.station.number == "0004" and r.device.config.device_id == "0004-D2"
    loaded = [e for e in r.device.store.audit_events() if e["type"] == "package-loaded"]
    assert "spare" not in loaded[-1]["data"]
    r.device.close()


def test_unsigned_configuration_cannot_be_moved_to_another_station(tmp_path: Path) -> None:
    r = build_device(tmp_path, SimWorld(), ELECTION, ELECTION.station("0001"),
                     SelectionReader(ELECTION, ELECTION.station("0001"), {}))
    r.device.boot()
    with pytest.raises(DeviceError, match="configured for station 0001, not 0002"):
        r.device.load_package(station="0002")
    assert r.device.polls is PollsState.NO_PACKAGE
    r.device.close()


def test_console_installs_a_spare_at_its_station(tmp_path: Path) -> None:
    """``pcos device console --station S --package F --device-keys SPARE``: `l` loads the
    package for the console's station."""
    from tools.console.session import ConsoleSession, day_clock

    station = ELECTION.station("0002")
    reader = SelectionReader(ELECTION, station, {})
    session = ConsoleSession(tmp_path, ELECTION, station, reader, clock=day_clock(),
                             package=PACKAGE,
                             trust=PackageTrust(KEYS.root_certificate,
                                                sim_device(KEYS, SPARE, None)),
                             reader_for=reader.for_election)
    try:
        session.power_on()
        assert "signed package" in session.load_package()
        d = session.device
        assert d is not None and (d.config.device_id, d.config.station.number) == (SPARE,
                                                                                   "0002")
    finally:
        session.close()
