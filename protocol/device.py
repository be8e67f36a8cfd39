"""The device side of the protocol: build, sign and queue messages.

:class:`DeviceMessenger` is what the device core calls when polls open, close,
the DEC protocol is fed, or the audit log is due: it numbers the message
(next sequence of the outbox), binds the election, package, station, device,
certificate, time and audit-log head, signs it with the device key and
stores it in the crash-safe outbox *before* anything goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.crypto import Certificate
from protocol.messages import Content, Message, SignedMessage
from protocol.outbox import Outbox


@dataclass(frozen=True)
class DeviceIdentity:
    """A device's id, station, private key and CEC-signed certificate.

    ``station`` is the station its messages speak for: the one its certificate names,
    or, for a TEC spare certified for no station, the one it loaded the package for.
    """

    device_id: str
    station: str
    key: Ed25519PrivateKey
    certificate: Certificate


@dataclass
class DeviceMessenger:
    identity: DeviceIdentity
    election_hash: str
    package_hash: str

    def build(self, content: Content, *, sequence: int, time: str, audit_head: str,
              station: str | None = None) -> SignedMessage:
        """``station``: the station this message speaks for, when not the identity's (a TEC
        spare names the station it loaded the package for, see :class:`OutboxChannel`)."""
        ident = self.identity
        return Message(self.election_hash, self.package_hash, station or ident.station,
                       ident.device_id, ident.certificate, sequence, time, audit_head,
                       content).sign(ident.key)

    def queue(self, outbox: Outbox, content: Content, *, time: str, audit_head: str,
              station: str | None = None) -> SignedMessage:
        """Sign ``content`` as the outbox's next sequence number and keep it there."""
        signed = self.build(content, sequence=outbox.next_sequence(), time=time,
                            audit_head=audit_head, station=station)
        outbox.add(signed)
        return signed
