"""Devices' messages over an emulated SIM7600 on a real pty, bridged to a real CEC (device
listener + website) on loopback, with link faults: each message is accepted exactly once,
every receipt is stored on the device, and the CEC's totals equal what the devices signed."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from transmit_fixtures import (
    STATION,
    SimDevice,
    cec_station_tally,
    cec_store,
    device_ids,
    make_registry,
    run_sim_day,
    sim_device,
    sum_tallies,
)

from firmware.hal.modem import ModemError, ModemNotRespondingError
from protocol.cec.live import LiveCec
from protocol.channel import ModemTransport, make_sender
from protocol.modem import ModemTimeouts, Sim7600Modem
from protocol.outbox import OutboxState, Sender
from protocol.receipts import ReceiptStatus, parse_receipt
from simulator.modem_emulator import ModemEmulator

FAST = ModemTimeouts.fast(1.0)


def test_modem_transport_maps_errors_to_retries_and_keeps_the_operator_message() -> None:
    seen: list[ModemError] = []
    with ModemEmulator() as emu:
        emu.faults.no_signal = True
        t = ModemTransport(Sim7600Modem(emu.port_path, timeouts=FAST), seen.append)
        try:
            t.open("127.0.0.1", 9)
            raise AssertionError("open without signal must fail")
        except ConnectionError as exc:
            assert "no mobile signal" in str(exc)
        assert t.last_error is not None and "no mobile signal" in str(t.last_error)
        assert seen == [t.last_error]
        t.close()


class _Link:
    """One device's modem: an emulator on a pty and the driver on it; replaced when the
    modem loses power and comes back (a new pty)."""

    def __init__(self, seed: int) -> None:
        self.errors: list[ModemError] = []
        self.emu = ModemEmulator(seed=seed).start()
        self.modem = Sim7600Modem(self.emu.port_path, timeouts=FAST)

    def transport(self) -> ModemTransport:
        return ModemTransport(self.modem, self.errors.append)

    def power_back(self, seed: int) -> None:
        self.emu.stop()
        self.emu = ModemEmulator(seed=seed).start()
        self.modem = Sim7600Modem(self.emu.port_path, timeouts=FAST)

    def set_fault(self, fault: str, first_frame_bytes: int) -> None:
        f = self.emu.faults
        f.drop_after_bytes = f.stall_after_bytes = None
        f.duplicate_ipd = False
        if fault == "drop":  # the network drops in the middle of the first frame
            f.drop_after_bytes = self.emu.uplink_bytes + first_frame_bytes // 2
        elif fault == "stall":  # the modem swallows data and never confirms it
            f.stall_after_bytes = self.emu.uplink_bytes + 1000
        elif fault == "duplicate-ipd":  # every incoming block reported twice
            f.duplicate_ipd = True
        elif fault == "power-loss":  # the modem dies a few commands into attaching
            f.power_loss_after_commands = self.emu.commands + 8


def _deliver(d: SimDevice, link: _Link, sender: Sender, clock: list[float], fault: str
             ) -> tuple[int, int]:
    link.set_fault(fault, len(d.outbox.entries()[0].signed))
    clock[0] += 1000.0  # past any backoff: the test drives the rounds
    r = sender.send_due()
    return r.delivered, r.failed


def test_devices_over_emulated_modems_with_faults_reach_the_cec_once(tmp_path: Path) -> None:
    ids = device_ids(2)
    registry = make_registry(ids)
    store = cec_store(tmp_path / "cec.db")
    tallies, outboxes = [], []
    with LiveCec(registry, store) as cec:
        for n, did in enumerate(ids):
            d = sim_device(tmp_path / did, did, registry, sheets=10 + 2 * n, seed=11 + n)
            tallies.append(run_sim_day(d))
            link, clock = _Link(seed=n), [0.0]

            def now(c: list[float] = clock) -> float:
                return c[0]
            sender = make_sender(d.outbox, link.transport, "127.0.0.1", cec.device_port,
                                 registry.encryption_keys.public(), registry.signing_public,
                                 did, receipt_timeout_s=3.0, clock=now)
            assert _deliver(d, link, sender, clock, "drop") == (0, 1)
            assert "network closed" in str(link.errors[-1]).lower(), link.errors
            assert _deliver(d, link, sender, clock, "stall") == (0, 1)
            assert "within" in str(link.errors[-1]), link.errors  # the stall timed out
            if n == 1:
                assert _deliver(d, link, sender, clock, "power-loss") == (0, 1)
                assert isinstance(link.errors[-1], ModemNotRespondingError), link.errors
                link.power_back(seed=99)
            assert _deliver(d, link, sender, clock, "duplicate-ipd") == (3, 0)
            assert sender.stale_receipts == 2  # receipts 1 and 2 came twice, skipped
            (first, *_) = d.outbox.entries()
            assert first.attempts == (3 if n == 1 else 2)  # failures counted, in the file
            link.emu.stop()
            outboxes.append(d.outbox)
        api_station = json.loads(urllib.request.urlopen(
            f"{cec.url}/api/station/{STATION.number}", timeout=10).read())
    for did, outbox in zip(ids, outboxes, strict=True):
        for e in outbox.entries():
            assert e.state is OutboxState.DELIVERED and e.receipt is not None
            r = parse_receipt(e.receipt, registry.signing_public)
            assert r.status is ReceiptStatus.ACCEPTED and r.message_hash == e.message_hash
            stored = store.message(did, e.sequence)
            assert stored is not None and stored.receipt == e.receipt
    assert sorted((m.device_id, m.sequence) for m in store.messages()) == sorted(
        (did, s) for did in ids for s in (1, 2, 3))
    assert cec_station_tally(registry, store, STATION.number) == sum_tallies(tallies)
    assert api_station["reported"] and sorted(api_station["devices_reported"]) == ids
    assert api_station["zero_reports"] == 2
    refused = {r["reason"] for r in store.refusals()}
    assert refused <= {"truncated-frame", "timeout"}, refused
