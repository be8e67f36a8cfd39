"""A simulated device's uplink to a running CEC (``pcos station run --cec``).

The CEC directory written by ``pcos cec provision`` holds, for the simulation, each
device's key and CEC-signed certificate (``device-keys/``, ``devices/``) beside the CEC's
own keys; a device process takes its identity and the CEC's public keys from it, queues
its hand-overs in an outbox on its internal medium (:class:`protocol.channel.OutboxChannel`)
and, after the day, delivers them with :class:`protocol.outbox.Sender` over loopback TCP
or over an emulated SIM7600 on a real pty (:mod:`simulator.modem_emulator`), until every
message holds a receipt. The outbox survives the day's power cuts (SIGKILLs of the
device process); whatever a cut interrupted is sent after the restart.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.hashing import election_hash
from election.model import Election
from firmware.crypto import load_certificate, load_private_key
from firmware.device import Device
from protocol.cec.registry import CecRegistry
from protocol.channel import ModemTransport, OutboxChannel, make_sender
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.frames import Transport
from protocol.modem import ModemTimeouts, Sim7600Modem
from protocol.outbox import Outbox, OutboxState, TcpTransport

OUTBOX_FILE = "outbox.db"


class UplinkError(PcosError):
    """The station run cannot talk to the CEC as asked."""


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UplinkError(f"--cec {text!r}: expected HOST:PORT")
    return host, int(port)


@dataclass(frozen=True)
class UplinkSettings:
    host: str
    port: int
    cec_dir: str
    device_id: str
    modem: bool = False
    deadline_s: float = 120.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def attach(device: Device, settings: UplinkSettings, election: Election
           ) -> tuple[Outbox, CecRegistry]:
    """Give ``device`` (not booted yet) its certified key and an outbox channel."""
    root = Path(settings.cec_dir)
    registry = CecRegistry.load(root)
    if registry.election_hash != election_hash(election):
        raise UplinkError(f"{root}: the CEC's election is not the station's")
    try:
        cert = load_certificate(root / "devices" / f"{settings.device_id}.cert.json")
        key = load_private_key(root / "device-keys" / f"{settings.device_id}.key")
    except PcosError as exc:
        raise UplinkError(f"{root}: no identity for device {settings.device_id} ({exc})") \
            from None
    # a certificate for no station is a TEC spare's: it speaks for the station it loads
    # the package for (the channel asks the device at each hand-over)
    if cert.station is not None and cert.station != device.config.station.number:
        raise UplinkError(f"device {settings.device_id} is certified for station "
                          f"{cert.station}, not {device.config.station.number}")
    trust = device.config.trust
    if trust is not None and trust.device is not None and (
            trust.device.device_id != settings.device_id
            or trust.device.certificate.public_key != cert.public_key):
        raise UplinkError(f"device {trust.device.device_id} (package) and "
                          f"{settings.device_id} (CEC) are not one identity: the same id and "
                          "key must be in the package's certificate and the CEC's")
    ident = DeviceIdentity(settings.device_id, device.config.station.number, key, cert)
    device.config = dataclasses.replace(device.config, signing_key=key)
    outbox = Outbox(device.hw.internal.root() / OUTBOX_FILE)
    device.hw.results = OutboxChannel(DeviceMessenger(ident, registry.election_hash,
                                                      registry.package_hash), outbox, election,
                                      station_of=lambda: device.config.station.number)
    return outbox, registry


def deliver(outbox: Outbox, registry: CecRegistry, settings: UplinkSettings) -> dict[str, Any]:
    """Send until every message holds a receipt (or the deadline); a summary for the run."""
    from simulator.modem_emulator import ModemEmulator

    emulator = ModemEmulator(seed=len(settings.device_id)).start() if settings.modem else None
    errors: list[str] = []
    factory: Any
    if emulator is not None:
        modem = Sim7600Modem(emulator.port_path, timeouts=ModemTimeouts.fast(2.0))

        def factory() -> Transport:
            return ModemTransport(modem, lambda e: errors.append(str(e)))
    else:
        factory = TcpTransport
    sender = make_sender(outbox, factory, settings.host, settings.port,
                         registry.encryption_keys.public(), registry.signing_public,
                         settings.device_id, base_s=0.2, cap_s=5.0)
    t0 = time.monotonic()
    try:
        done = sender.run(deadline_s=time.time() + settings.deadline_s)
    finally:
        if emulator is not None:
            emulator.stop()
    entries = outbox.entries()
    return {
        "device_id": settings.device_id, "transport": "modem" if settings.modem else "tcp",
        "all_receipted": done,
        "messages": [{"sequence": e.sequence, "kind": e.kind, "state": e.state.value,
                      "message_hash": e.message_hash, "attempts": e.attempts}
                     for e in entries],
        "messages_sent": sum(1 for e in entries if e.state is not OutboxState.PENDING),
        "receipts": sum(1 for e in entries if e.receipt is not None),
        "modem_errors": errors[-5:], "send_s": round(time.monotonic() - t0, 3),
    }


def write_summary(workdir: Path, summary: dict[str, Any]) -> None:
    (workdir / "uplink.json").write_text(json.dumps(summary), encoding="utf-8")
