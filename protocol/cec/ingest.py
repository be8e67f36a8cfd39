"""Every check the CEC makes on an envelope, and the receipt it answers with.

:meth:`Ingestor.process` takes the bytes of one frame and returns the signed
receipt bytes. Order of checks (the first failure is the reason):

1. envelope header parses, HPKE opens with the header bound    MALFORMED / DECRYPTION_FAILED
2. the signed message parses; header agrees with it             MALFORMED / HEADER_MISMATCH
3. the device is registered, not revoked                        UNKNOWN_DEVICE / REVOKED_DEVICE
4. its certificate is the registered one, CEC-signed, valid at
   the message time, for the station the message claims (a
   TEC spare certified for no station: a station of its TEC)    BAD_CERTIFICATE / WRONG_STATION
                                                                / WRONG_TEC
5. the device's signature                                       BAD_SIGNATURE
6. election and package hash                                    WRONG_ELECTION / WRONG_PACKAGE
7. sequence: the same message again -> the stored receipt, byte
   for byte, nothing changes; other content under a used
   number -> incident, kept whole; a TEC spare's new message
   for another station than the one its first accepted report
   named (it is counted there, once); a gap                     CONFLICTING_CONTENT /
                                                                WRONG_STATION /
                                                                OUT_OF_ORDER_SEQUENCE
8. content fits the election and the station                    BAD_CONTENT (authenticated:
                                                                stored, consumes the number)

Refusals before step 7 are not stored as messages (nothing authenticated to
store); every refusal is logged in ``refusals``. The ingestor does not
commit: the server commits a batch, then sends its receipts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from election.tally import Tally
from firmware.crypto import canonical_json, sha256_hex
from protocol.cec.registry import SPARE_BINDING_KINDS, CecRegistry, check_spare_station
from protocol.cec.store import Store, StoredMessage
from protocol.envelope import open_and_parse, split
from protocol.errors import ProtocolError, Reason
from protocol.messages import (
    DecProtocol,
    Results,
    SignedMessage,
    ZeroReport,
    content_to_json,
)
from protocol.receipts import Receipt, ReceiptStatus


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class IngestOutcome:
    receipt: bytes
    status: ReceiptStatus
    reason: Reason | None
    duplicate: bool = False


class Ingestor:
    """Checks and stores envelopes for one registry and one store (single writer)."""

    def __init__(self, registry: CecRegistry, store: Store,
                 clock: Callable[[], str] = utc_now) -> None:
        self.registry, self.store, self.clock = registry, store, clock
        self._highest = store.highest_sequences()
        self._spare_station = self._spare_stations()
        self._option_cache: dict[str, dict[str, tuple[str, ...]]] = {}

    def _spare_stations(self) -> dict[str, str]:
        """TEC spare -> the station of its first accepted report (the one it is bound to)."""
        if not self.registry.spare_tecs:
            return {}
        out: dict[str, str] = {}
        for device, station in self.store.device_stations(SPARE_BINDING_KINDS):
            if self.registry.tec_spare(device) is not None:
                out.setdefault(device, station)
        return out

    def _options(self, contest_ids: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Option ids per contest, as the election defines them (cached)."""
        key = ",".join(contest_ids)
        if key not in self._option_cache:
            empty = Tally.empty(self.registry.election, contest_ids)
            self._option_cache[key] = {c.contest: tuple(o for o, _ in c.options)
                                       for c in empty.contests}
        return self._option_cache[key]

    def reload(self) -> None:
        """Re-read the per-device sequence high-water marks and the TEC spares' stations
        (after a rollback)."""
        self._highest = self.store.highest_sequences()
        self._spare_station = self._spare_stations()

    def _receipt(self, status: ReceiptStatus, reason: Reason | None, detail: str,
                 message_hash: str | None, envelope_hash: str, device_id: str | None,
                 sequence: int | None) -> bytes:
        return Receipt(status, reason, detail[:300], message_hash, envelope_hash, device_id,
                       sequence, self.clock()).sign(self.registry.signing_key)

    def _refuse(self, err: ProtocolError, envelope_hash: str, peer: str, device_id: str | None,
                sequence: int | None, message_hash: str | None) -> IngestOutcome:
        self.store.log_refusal(received_at=self.clock(), peer=peer, reason=err.reason.value,
                               device_id=device_id, sequence=sequence, detail=err.detail)
        return IngestOutcome(self._receipt(ReceiptStatus.REFUSED, err.reason, err.detail,
                                           message_hash, envelope_hash, device_id, sequence),
                             ReceiptStatus.REFUSED, err.reason)

    def refuse_frame(self, err: ProtocolError, peer: str, data: bytes = b"") -> bytes:
        """A refusal for a frame that never became an envelope (oversized, truncated, slow)."""
        return self._refuse(err, sha256_hex(data), peer, None, None, None).receipt

    def process(self, envelope: bytes, peer: str = "-") -> IngestOutcome:
        """Check and store one envelope; its writes are all or nothing (a savepoint), so an
        unexpected failure (a database error) leaves no partial trace in the batch."""
        self.store.savepoint()
        try:
            outcome = self._process(envelope, peer)
        except BaseException:
            self.store.rollback_to_savepoint()
            self.reload()
            raise
        self.store.release()
        return outcome

    def _process(self, envelope: bytes, peer: str) -> IngestOutcome:
        envelope_hash = sha256_hex(envelope)
        device_id: str | None = None
        sequence: int | None = None
        try:
            header = split(envelope)[0]
            device_id, sequence = header.device_id, header.sequence
            _, signed = open_and_parse(envelope, self.registry.encryption_keys)
        except ProtocolError as err:
            return self._refuse(err, envelope_hash, peer, device_id, sequence, None)
        m = signed.message
        try:
            self._authenticate(signed)
        except ProtocolError as err:
            return self._refuse(err, envelope_hash, peer, m.device_id, m.sequence,
                                signed.message_hash)
        return self._sequence_and_store(signed, envelope_hash, peer)

    def _authenticate(self, signed: SignedMessage) -> None:
        m, reg = signed.message, self.registry
        registered = reg.devices.get(m.device_id)
        if registered is None:
            raise ProtocolError(Reason.UNKNOWN_DEVICE, f"device {m.device_id} is not registered")
        if m.device_id in reg.revoked:
            raise ProtocolError(Reason.REVOKED_DEVICE, f"device {m.device_id} is revoked")
        cert = m.certificate
        if cert.station != registered.station:
            raise ProtocolError(Reason.WRONG_STATION,
                                f"certificate names station {cert.station}; device "
                                f"{m.device_id} is registered for {registered.station}")
        if cert.public_key != registered.public_key:
            raise ProtocolError(Reason.BAD_CERTIFICATE,
                                f"certificate of {m.device_id} is not the registered one")
        tec = reg.tec_spare(m.device_id)
        if tec is not None:
            check_spare_station(reg.election, m.device_id, tec, m.station)
        elif m.station != registered.station:
            raise ProtocolError(Reason.WRONG_STATION, f"device {m.device_id} is registered for "
                                f"station {registered.station}, message claims {m.station}")
        signed.verify(reg.signing_public, at=m.time, trusted=registered)
        if m.election_hash != reg.election_hash:
            raise ProtocolError(Reason.WRONG_ELECTION,
                                f"election hash {m.election_hash[:16]}... is not this election's")
        if m.package_hash != reg.package_hash:
            raise ProtocolError(Reason.WRONG_PACKAGE,
                                f"package hash {m.package_hash[:16]}... is not the published one")

    def _sequence_and_store(self, signed: SignedMessage, envelope_hash: str,
                            peer: str) -> IngestOutcome:
        m = signed.message
        highest = self._highest.get(m.device_id, 0)
        # Numbers above the high-water mark cannot be stored yet: no lookup needed.
        existing = self.store.message(m.device_id, m.sequence) if m.sequence <= highest else None
        if existing is not None:
            if existing.message_hash == signed.message_hash:
                return IngestOutcome(existing.receipt, ReceiptStatus(existing.status),
                                     Reason(existing.reason) if existing.reason else None,
                                     duplicate=True)
            err = ProtocolError(Reason.CONFLICTING_CONTENT,
                                f"{m.device_id}#{m.sequence} already holds message "
                                f"{existing.message_hash[:16]}...; kept as an incident")
            self.store.insert_incident(received_at=self.clock(), device_id=m.device_id,
                                       sequence=m.sequence, reason=err.reason.value,
                                       message_hash=signed.message_hash,
                                       original_hash=existing.message_hash,
                                       signed=signed.dumps(), detail=err.detail)
            return self._refuse(err, envelope_hash, peer, m.device_id, m.sequence,
                                signed.message_hash)
        bound = self._spare_station.get(m.device_id)
        if bound is not None and bound != m.station:  # checked after duplicates: idempotent
            err = ProtocolError(Reason.WRONG_STATION,
                                f"spare {m.device_id} of TEC {self.registry.tec_spare(m.device_id)}"
                                f" reported for station {bound}; it may not speak for "
                                f"station {m.station} too")
            return self._refuse(err, envelope_hash, peer, m.device_id, m.sequence,
                                signed.message_hash)
        expected = highest + 1
        if m.sequence != expected:
            err = ProtocolError(Reason.OUT_OF_ORDER_SEQUENCE,
                                f"{m.device_id} sent #{m.sequence}, expected #{expected}")
            return self._refuse(err, envelope_hash, peer, m.device_id, m.sequence,
                                signed.message_hash)
        status, reason, detail = ReceiptStatus.ACCEPTED, None, "accepted"
        try:
            self._check_content(signed)
        except ProtocolError as err:
            status, reason, detail = ReceiptStatus.REFUSED, err.reason, err.detail
            self.store.log_refusal(received_at=self.clock(), peer=peer, reason=err.reason.value,
                                   device_id=m.device_id, sequence=m.sequence, detail=detail)
        receipt = self._receipt(status, reason, detail, signed.message_hash, envelope_hash,
                                m.device_id, m.sequence)
        content = m.content
        summary = content_to_json(content)
        if isinstance(content, DecProtocol):  # pages stay in the signed blob only
            summary = {"figures": summary["figures"], "pages": len(content.pages_png)}
        self.store.insert_message(StoredMessage(
            m.device_id, m.sequence, m.station, m.kind.value, signed.message_hash, status.value,
            reason.value if reason else None, m.time, self.clock(),
            canonical_json(summary).decode(), receipt), signed.dumps())
        self._highest[m.device_id] = m.sequence
        if (status is ReceiptStatus.ACCEPTED and m.kind.value in SPARE_BINDING_KINDS
                and self.registry.tec_spare(m.device_id) is not None):
            self._spare_station.setdefault(m.device_id, m.station)
        return IngestOutcome(receipt, status, reason)

    def _check_content(self, signed: SignedMessage) -> None:
        m, election = signed.message, self.registry.election
        station = election.station(m.station)
        content = m.content
        if isinstance(content, ZeroReport | Results):
            tally = content.tally
            if tally.election != election.election_id:
                raise ProtocolError(Reason.BAD_CONTENT, f"tally of election {tally.election}")
            if set(tally.contest_ids) != set(station.contest_ids()):
                raise ProtocolError(Reason.BAD_CONTENT, f"tally counts {list(tally.contest_ids)}; "
                                    f"station {station.number} has {list(station.contest_ids())}")
            expected = self._options(station.contest_ids())
            for contest in tally.contests:
                if tuple(o for o, _ in contest.options) != expected[contest.contest]:
                    raise ProtocolError(Reason.BAD_CONTENT, f"{contest.contest}: options are not "
                                        "this election's")
        elif isinstance(content, DecProtocol):
            votes = content.figures.votes_dict()
            unknown = sorted(set(votes) - set(station.contest_ids()))
            if unknown:
                raise ProtocolError(Reason.BAD_CONTENT, f"DEC figures for contests {unknown} "
                                    f"not at station {station.number}")
