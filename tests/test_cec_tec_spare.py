"""A TEC spare certified for no station, at the CEC (issue 7).

``pcos device provision`` may certify a TEC's spare for no station: it may serve any
station of its TEC. The CEC registers it as a spare of the TEC the package's
assignments name; the station it speaks for is the one its signed messages name (it
loaded the package for that station). The CEC accepts its messages only for stations
of that TEC (another TEC's: ``wrong-tec``, naming the device, the station and the
TEC), binds it to the station of its first accepted report (a later one for another
station: ``wrong-station``) and counts it there, once.

The election: stations 0001, 0002, 0003 at TEC T1 and 0004 at T2; the package assigns
two devices to 0001, 0002 and 0004 and one spare to each TEC (``T1-S1``, ``T2-S1``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from package_fixtures import two_tec_election
from protocol_fixtures import ingestor, make_world

from election.default import default_election
from election.model import PARTY_LIST_CONTEST, BallotKind
from election.rules import judge_ballot
from election.tally import Tally, merge
from firmware import package, provision
from firmware.crypto import Certificate
from firmware.install import PackageTrust
from firmware.states import PollsState
from protocol.cec.consolidate import consolidate, station_view
from protocol.cec.ingest import Ingestor
from protocol.cec.package_registry import registry_from_package
from protocol.cec.registry import CecRegistry, RegistryError, check_spare_station
from protocol.cec.server import ServerThread
from protocol.cec.store import open_store
from protocol.channel import OutboxChannel, make_sender
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.errors import ProtocolError, Reason
from protocol.messages import ZeroReport
from protocol.outbox import Outbox, OutboxState, TcpTransport
from protocol.receipts import ReceiptStatus, parse_receipt
from simulator.devices import SimWorld
from simulator.drive import run_day
from simulator.packaged import sim_cec_keys, sim_device
from simulator.rig import Rig, TableReader, build_device
from vision.config import Thresholds
from vision.result import Outcome, SheetInterpretation

NOW = "2021-11-28T06:00:00Z"


ELECTION = two_tec_election()
KEYS = sim_cec_keys()
ASSIGNMENTS = package.StationAssignments.per_station(
    ELECTION, 2, stations=("0001", "0002", "0004"), spares_per_tec=1)
PACKAGE = package.build_package(
    election=ELECTION, assignments=ASSIGNMENTS, thresholds=Thresholds(),
    hpke_public_key=KEYS.hpke_public_key, signing_key=KEYS.signing_key,
    signing_certificate=KEYS.signing_certificate, version=1, created="2021-11-20T12:00:00Z")
SPARE = package.spare_device_id("T1", 1)


def _cec(tmp: Path, certificates: list[Certificate]) -> CecRegistry:
    provision.save_cec_keys(KEYS, tmp / "keys")
    (tmp / "package.bin").write_bytes(PACKAGE)
    return registry_from_package(tmp / "package.bin", tmp / "keys", certificates, now=NOW)


# --- the rule, and the registry ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(station=st.sampled_from([s.number for s in ELECTION.stations] + ["0009"]),
       tec=st.sampled_from(["T1", "T2"]))
def test_a_tec_spare_may_speak_for_its_tecs_stations_only(station: str, tec: str) -> None:
    known = {s.number: s.tec for s in ELECTION.stations}
    if known.get(station) == tec:
        check_spare_station(ELECTION, f"{tec}-S1", tec, station)
        return
    with pytest.raises(ProtocolError) as err:
        check_spare_station(ELECTION, f"{tec}-S1", tec, station)
    expected = Reason.WRONG_TEC if station in known else Reason.WRONG_STATION
    assert err.value.reason is expected
    for named in (f"{tec}-S1", station, f"TEC {tec}"):
        assert named in err.value.detail


@pytest.mark.parametrize(("device_id", "station", "outcome"), [
    (SPARE, None, "spare of T1"),                  # the case this issue adds
    ("T2-S1", None, "spare of T2"),
    (SPARE, "0002", "device of 0002"),            # a spare certified for a station of its TEC
    (SPARE, "0004", "assigns it"),                # ... of another TEC
    ("0001-D1", None, "no TEC's spare"),          # a station's device certified for none
    ("T1-S9", None, "no TEC's spare"),            # not in the package at all
])
def test_registry_acceptance_rules(tmp_path: Path, device_id: str, station: str | None,
                                   outcome: str) -> None:
    cert = sim_device(KEYS, device_id, station).certificate
    if not outcome.startswith(("spare of", "device of")):
        with pytest.raises(RegistryError, match=outcome):
            _cec(tmp_path, [cert])
        return
    registry = _cec(tmp_path, [cert])
    if outcome.startswith("spare of"):
        assert registry.tec_spare(device_id) == outcome.removeprefix("spare of ")
        assert all(device_id not in registry.devices_of_station(s.number)
                   for s in ELECTION.stations)
    else:
        assert registry.tec_spare(device_id) is None
        assert registry.devices_of_station(outcome.removeprefix("device of ")) == [device_id]


def test_registry_build_needs_the_tec_of_a_station_less_certificate() -> None:
    cert = sim_device(KEYS, SPARE, None).certificate
    encryption = provision.generate_cec_keys(seed=bytes(32)).hpke_key
    from protocol.envelope import CecEncryptionKeys

    keys = CecEncryptionKeys(encryption)
    with pytest.raises(RegistryError, match="no TEC's spare"):
        CecRegistry.build(ELECTION, KEYS.signing_key, keys, [cert])
    with pytest.raises(RegistryError, match="TEC T9, not in the election"):
        CecRegistry.build(ELECTION, KEYS.signing_key, keys, [cert], spare_tecs={SPARE: "T9"})
    assert CecRegistry.build(ELECTION, KEYS.signing_key, keys, [cert],
                             spare_tecs={SPARE: "T1"}).tec_spare(SPARE) == "T1"


# --- the ingestor: binding, refusals, idempotence, restart -----------------------------------


def test_ingest_binds_a_tec_spare_to_the_station_of_its_first_report(tmp_path: Path) -> None:
    e = default_election()
    tec = e.station("1002").tec
    assert e.station("1001").tec == tec != e.station("1087").tec
    spare = package.spare_device_id(tec, 1)
    world = make_world(tec_spares={spare: "1002"})
    assert world.registry.devices[spare].station is None
    ing, store = ingestor(world, tmp_path / "cec.db")

    def send(seq: int, content: object, station: str) -> tuple[ReceiptStatus, Reason | None,
                                                                 str, bytes]:
        envelope = world.envelope(world.message(spare, content, sequence=seq,  # type: ignore[arg-type]
                                                station=station))
        out = ing.process(envelope)
        store.commit()
        r = parse_receipt(out.receipt, world.registry.signing_public)
        return r.status, r.reason, r.detail, out.receipt

    # a status for a station of its TEC before any report: accepted, binds nothing
    early = send(1, world.status(), "1001")
    assert early[0] is ReceiptStatus.ACCEPTED
    # another TEC's station: refused, typed, naming the device, the station and the TEC
    status, reason, detail, _ = send(2, world.zero("1087"), "1087")
    assert (status, reason) == (ReceiptStatus.REFUSED, Reason.WRONG_TEC)
    assert spare in detail and "1087" in detail and tec in detail
    # its reports for 1002 (the refusal consumed no number)
    r1, r2 = world.results("1002", 21), world.results("1002", 22)
    assert send(2, world.zero("1002"), "1002")[0] is ReceiptStatus.ACCEPTED
    assert send(3, r2, "1002")[0] is ReceiptStatus.ACCEPTED
    # now bound to 1002: a new message for 1001 (same TEC) is refused, naming both
    status, reason, detail, _ = send(4, world.results("1001", 5), "1001")
    assert (status, reason) == (ReceiptStatus.REFUSED, Reason.WRONG_STATION)
    assert "1002" in detail and "1001" in detail and spare in detail
    # the early status sent again: the same stored receipt, byte for byte
    assert send(1, world.status(), "1001")[3] == early[3]
    # 1002's own device
    did = package.station_device_id("1002", 1)
    for content in (world.zero("1002"), r1):
        assert ing.process(world.envelope(world.message(did, content))).reason is None
    store.commit()
    c = consolidate(world.registry, store)
    assert c.station_tallies["1002"] == merge(r1.tally, r2.tally)
    assert "1001" not in c.station_tallies and "1087" not in c.station_tallies
    assert c.spares_at == {"1002": (spare,)}
    view = station_view(c, "1002")
    assert view["devices_reported"] == sorted([did, spare])
    assert spare in view["devices_registered"] and view["tec_spares"] == [spare]
    assert view["zero_reports"] == 2
    # a restarted CEC reads the binding back from its store
    again = Ingestor(world.registry, store)
    out = again.process(world.envelope(world.message(spare, world.zero("1001"), sequence=4,
                                                     station="1001")))
    assert out.reason is Reason.WRONG_STATION
    store.close()


# --- end to end: provisioned, installed, a day, loopback TCP to a real CEC server -----------


def _device(tmp: Path, provisioned: provision.ProvisionedDevice, registry: CecRegistry,
            station: str, seed: int) -> tuple[Rig, Outbox, set[str]]:
    """A device on simulated hardware with its uplink; installed for ``station`` from the
    signed package; voters' sheets queued."""
    ids = [f"{provisioned.device_id}-V{i:02d}" for i in range(12)]
    rng = random.Random(seed)
    options = list(ELECTION.party_list.option_ids)
    table = {}
    for sid in ids:  # a party-list ballot: one party marked, or none (blank)
        marked = frozenset(rng.sample(options, rng.choice([0, 1, 1, 1])))
        outcome = judge_ballot(ELECTION, BallotKind.PARTY_LIST, PARTY_LIST_CONTEST,
                               {PARTY_LIST_CONTEST: marked})
        table[sid] = SheetInterpretation(Outcome.ACCEPTED, kind=BallotKind.PARTY_LIST.value,
                                         contest=PARTY_LIST_CONTEST,
                                         contests=outcome.to_json())
    world = SimWorld()
    world.queue = list(ids)
    # built for the first station of the election: a spare does not know its station yet
    r = build_device(tmp, world, ELECTION, ELECTION.stations[0], TableReader(table),
                     trust=PackageTrust(root=KEYS.root_certificate, device=provisioned))
    outbox = Outbox(tmp / "internal" / "outbox.db")
    ident = DeviceIdentity(provisioned.device_id, r.device.config.station.number,
                           provisioned.key, provisioned.certificate)
    r.device.hw.results = OutboxChannel(
        DeviceMessenger(ident, registry.election_hash, registry.package_hash), outbox,
        ELECTION, station_of=lambda: r.device.config.station.number)
    r.device.boot()
    assert r.device.load_package(PACKAGE, station=station) is PollsState.PACKAGE_LOADED
    genuine = {s for s, i in table.items() if i.outcome is not Outcome.REJECTED}
    return r, outbox, genuine


def test_station_less_spare_is_counted_for_its_station_over_tcp(tmp_path: Path) -> None:
    spare = sim_device(KEYS, SPARE, None)
    assert spare.station is None
    d1 = sim_device(KEYS, "0002-D1", "0002")
    registry = _cec(tmp_path / "cec", [spare.certificate, d1.certificate])
    assert registry.tec_spare(SPARE) == "T1"
    store = open_store(tmp_path / "cec" / "cec.db")
    tallies = {}
    outboxes = {}
    for dev, seed in ((d1, 3), (spare, 4)):
        r, outbox, genuine = _device(tmp_path / dev.device_id, dev, registry, "0002", seed)
        assert r.device.config.station.number == "0002"
        run_day(r.device, r.world, lambda s, g=genuine: s in g)  # type: ignore[misc]
        tallies[dev.device_id] = r.device.tally()
        outboxes[dev.device_id] = outbox
        r.device.close()
    with ServerThread(Ingestor(registry, store)) as srv:
        for did, outbox in outboxes.items():
            sender = make_sender(outbox, TcpTransport, "127.0.0.1", srv.port,
                                 registry.encryption_keys.public(), registry.signing_public, did)
            assert sender.run(deadline_s=time.time() + 30)
            for entry in outbox.entries():
                assert entry.state is OutboxState.DELIVERED, entry
        # the same spare's message for a station of another TEC: refused, typed
        spare_outbox = outboxes[SPARE]
        messenger = DeviceMessenger(DeviceIdentity(SPARE, "0002", spare.key,
                                                   spare.certificate),
                                    registry.election_hash, registry.package_hash)
        zero = ZeroReport(Tally.empty(ELECTION, ELECTION.station("0004").contest_ids()))
        signed = messenger.queue(spare_outbox, zero, time=NOW, audit_head="ab" * 32,
                                 station="0004")
        sender = make_sender(spare_outbox, TcpTransport, "127.0.0.1", srv.port,
                             registry.encryption_keys.public(), registry.signing_public, SPARE)
        assert sender.run(deadline_s=time.time() + 30)
    last = spare_outbox.entries()[-1]
    assert last.message_hash == signed.message_hash and last.state is OutboxState.REFUSED
    assert last.receipt is not None
    receipt = parse_receipt(last.receipt, registry.signing_public)
    assert receipt.reason is Reason.WRONG_TEC
    assert all(n in receipt.detail for n in (SPARE, "0004", "TEC T1"))
    # the CEC counts the spare for 0002, once, beside 0002-D1
    c = consolidate(registry, store)
    assert c.station_tallies == {"0002": merge(tallies["0002-D1"], tallies[SPARE])}
    assert [d.device_id for d in c.device_reports["0002"]] == ["0002-D1", SPARE]
    assert {m.station for m in store.messages() if m.device_id == SPARE} == {"0002"}
    assert c.spares_at == {"0002": (SPARE,)}
    store.close()
