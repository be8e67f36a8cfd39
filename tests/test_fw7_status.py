"""The device reports its status to the CEC by itself (issue 7): every polls transition and
every fault or recovery (jam, storage error, recovery at boot) becomes a signed ``status``
message in the device's crash-safe outbox, without the operator asking; it is delivered once
to a CEC over loopback TCP and survives a power cut (in process: the device object is dropped
with no shutdown, the outbox reopened from its SQLite file)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fw_fixtures import ELECTION, STATION, table_for
from transmit_fixtures import identity_for, make_registry

from firmware.device import STATUS_EVENTS, Device
from protocol.cec.ingest import Ingestor
from protocol.cec.server import ServerThread
from protocol.cec.store import open_store
from protocol.channel import OutboxChannel, make_sender
from protocol.device import DeviceMessenger
from protocol.messages import MessageKind, SignedMessage, Status
from protocol.outbox import Outbox, OutboxState, TcpTransport
from simulator.devices import MediumRole, SimWorld
from simulator.rig import Rig, TableReader, build_device

DID = f"{STATION.number}-D1"
SHEETS = [f"S{i:03d}" for i in range(4)]
TABLE = table_for(SHEETS, seed=5)


class _Cut(BaseException):
    """A power cut inside a call (the device object is then dropped)."""


def _device(tmp: Path, world: SimWorld, registry: Any) -> tuple[Rig, Outbox]:
    r = build_device(tmp, world, ELECTION, STATION, TableReader(TABLE), device_id=DID)
    outbox = Outbox(tmp / "internal" / "outbox.db")
    ident = identity_for(DID)
    r.device.config = dataclasses.replace(r.device.config, signing_key=ident.key)
    r.device.hw.results = OutboxChannel(DeviceMessenger(ident, registry.election_hash,
                                                        registry.package_hash), outbox, ELECTION)
    r.device.boot()
    return r, outbox


def _statuses(outbox: Outbox) -> list[tuple[SignedMessage, Any]]:
    out = []
    for e in outbox.entries():
        if e.kind == MessageKind.STATUS.value:
            signed = SignedMessage.loads(e.signed)
            out.append((signed, e))
    return out


def _status_events(d: Device) -> dict[str, dict[str, Any]]:
    wanted = {t.value for t in STATUS_EVENTS}
    return {e["hash"]: e for e in d.store.audit_events() if e["type"] in wanted}


def _feed(r: Rig) -> None:
    r.world.insert_next()
    res = r.device.step()
    if res is not None and res.action == "returned":
        r.world.take_from_entry()
        r.device.step()


def test_device_queues_signed_status_on_transitions_and_faults(tmp_path: Path) -> None:
    registry = make_registry([DID])
    world = SimWorld(queue=list(SHEETS), file=str(tmp_path / "world.json"))
    r, outbox = _device(tmp_path, world, registry)
    d = r.device
    d.load_package()
    d.enter_test_mode()
    d.clear_test()
    d.open_polls()
    _feed(r)
    world.jam_ejects(1)  # a jam at the eject: the pending record is voided
    _feed(r)
    assert d.scanner.value == "jammed"
    world.clear_jam(requeue=True)
    d.step()  # the device sees the path clear: jam cleared
    world.fail_medium(MediumRole.REMOVABLE)  # the card fails during the day
    _feed(r)
    statuses = _statuses(outbox)
    # one status per status event of the audit log, in the log's order, under its hash
    events = _status_events(d)
    assert [s.message.audit_head for s, _ in statuses] == list(events)
    types = [events[s.message.audit_head]["type"] for s, _ in statuses]
    for wanted in ("package-loaded", "mode-changed", "polls-opened", "jam", "jam-cleared",
                   "storage-error"):
        assert wanted in types, types
    assert "sheet-cast" not in types and "report-printed" not in types
    for signed, _entry in statuses:
        m = signed.message
        signed.verify(registry.signing_public, m.time)  # device-signed, CEC-certified
        assert m.device_id == DID and m.station == STATION.number
        assert isinstance(m.content, Status)
        ev = events[m.audit_head]
        assert m.content.detail.startswith(f"{ev['type']} #{ev['seq']} ")
        assert len(m.content.detail) <= 200  # what the CEC accepts
    jam = next(s for s, _ in statuses if events[s.message.audit_head]["type"] == "jam")
    assert isinstance(jam.message.content, Status)
    assert jam.message.content.state == "polls-open"
    assert json.loads(jam.message.content.detail.split(" ", 2)[2])["where"] == "eject"
    d.close()


def test_status_survives_a_power_cut_and_is_delivered_once(tmp_path: Path) -> None:
    registry = make_registry([DID])
    world = SimWorld(queue=list(SHEETS), file=str(tmp_path / "world.json"))
    r, outbox = _device(tmp_path, world, registry)
    d = r.device
    d.load_package()
    d.enter_test_mode()
    d.clear_test()
    channel = d.hw.results
    assert isinstance(channel, OutboxChannel)
    real_status = channel.status

    def cut(*_: Any) -> None:
        raise _Cut

    # the power fails after "polls opened" is stored, before its status is queued
    channel.status = cut  # type: ignore[method-assign, assignment]
    with pytest.raises(_Cut):
        d.open_polls()
    channel.status = real_status  # type: ignore[method-assign]
    assert d.polls.value == "polls-open"
    opened = [h for h, e in _status_events(d).items() if e["type"] == "polls-opened"]
    assert opened and opened[0] not in {s.message.audit_head for s, _ in _statuses(outbox)}
    before = len(_statuses(outbox))
    outbox.close()  # the device object is dropped; files stay as they are

    r2, outbox2 = _device(tmp_path, SimWorld.load(tmp_path / "world.json"), registry)
    statuses = _statuses(outbox2)
    heads = [s.message.audit_head for s, _ in statuses]
    assert len(heads) == len(set(heads)), "a status was queued twice"
    assert opened[0] in heads  # handed over at boot
    assert heads[:before] == [s.message.audit_head for s, _ in statuses[:before]]
    assert set(heads) == set(_status_events(r2.device)), "every status event, once"
    _feed(r2)

    store = open_store(tmp_path / "cec.db")
    with ServerThread(Ingestor(registry, store)) as srv:
        for _attempt in range(2):  # sending again delivers nothing twice
            sender = make_sender(outbox2, TcpTransport, "127.0.0.1", srv.port,
                                 registry.encryption_keys.public(), registry.signing_public,
                                 DID, base_s=0.05, cap_s=0.2)
            assert sender.run(deadline_s=time.time() + 20)
    assert all(e.state is OutboxState.DELIVERED for e in outbox2.entries())
    at_cec = [m for m in store.messages() if m.kind == MessageKind.STATUS.value]
    assert len(at_cec) == len(_statuses(outbox2)) >= 3
    assert sorted(m.sequence for m in at_cec) == sorted(
        e.sequence for _, e in _statuses(outbox2))
    assert {m.device_id for m in at_cec} == {DID}
    r2.device.close()


def test_status_can_be_switched_off(tmp_path: Path) -> None:
    registry = make_registry([DID])
    world = SimWorld(queue=list(SHEETS))
    r, outbox = _device(tmp_path, world, registry)
    r.device.config = dataclasses.replace(r.device.config, send_status=False)
    r.device.load_package()
    assert any(e["type"] == "package-loaded" for e in _status_events(r.device).values())
    assert _statuses(outbox) == []
    r.device.close()
