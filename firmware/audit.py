"""The hash-chained audit log.

Each event is a typed JSON object chained to the one before it::

    {"seq": N, "t": "2021-11-28T08:00:00.000Z", "type": "polls-opened",
     "data": {...}, "prev": "<hash of event N-1>", "hash": "<SHA-256 of this event without
     its hash, canonical JSON>"}

At every polls transition the device adds a ``checkpoint`` event: its data
carries an Ed25519 signature (``SignatureKind.AUDIT_CHECKPOINT``) over the
device id, the sequence number and the hash of the event before it. Editing
an event breaks its hash; deleting or reordering breaks ``seq`` and ``prev``;
rewriting every hash after an edit breaks the next checkpoint's signature.
Events go into the same store batch as the state change they describe, so
they are on both media and survive any power cut together with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from election.errors import PcosError
from firmware.crypto import (
    CryptoError,
    SignatureKind,
    b64,
    canonical_json,
    key_id,
    sha256_hex,
    sign,
    unb64,
    verify,
)
from firmware.hal.clock import iso

GENESIS = "0" * 64


class AuditError(PcosError):
    """The audit log does not verify."""


class EventType(StrEnum):
    POWER_ON = "power-on"
    POWER_OFF = "power-off"
    PACKAGE_LOADED = "package-loaded"
    PACKAGE_REFUSED = "package-refused"
    WITHDRAWAL_APPLIED = "withdrawal-applied"
    WITHDRAWAL_REFUSED = "withdrawal-refused"
    MODE_CHANGED = "mode-changed"
    TEST_CLEARED = "test-cleared"
    POLLS_OPENED = "polls-opened"
    POLLS_PAUSED = "polls-paused"
    POLLS_RESUMED = "polls-resumed"
    POLLS_CLOSED = "polls-closed"
    RESULTS_REPORTED = "results-reported"
    SHEET_PENDING = "sheet-pending"
    SHEET_CAST = "sheet-cast"
    SHEET_RETURNED = "sheet-returned"
    SHEET_VOIDED = "sheet-voided"
    JAM = "jam"
    JAM_CLEARED = "jam-cleared"
    DOUBLE_FEED = "double-feed"
    COVER_OPENED = "cover-opened"
    COVER_CLOSED = "cover-closed"
    STORAGE_ERROR = "storage-error"
    STORAGE_ACKNOWLEDGED = "storage-acknowledged"
    REPORT_PRINTED = "report-printed"
    PRINTER_FAULT = "printer-fault"
    RECOVERY = "recovery"
    TALLY_MISMATCH = "tally-mismatch"
    TRANSITION_REFUSED = "transition-refused"
    CHECKPOINT = "checkpoint"
    # device calibration mode (firmware.calibration_mode)
    CALIBRATION_STARTED = "calibration-started"
    CALIBRATION_SHEET = "calibration-sheet"  # one blank fed: measured, or not usable (why)
    CALIBRATION_STORED = "calibration-stored"  # the signed profile written (its sha256)
    CALIBRATION_REFUSED = "calibration-refused"  # the set refused (fault, detail)
    CALIBRATION_CANCELLED = "calibration-cancelled"


_EVENT_KEYS = frozenset({"seq", "t", "type", "data", "prev", "hash"})


def event_hash(event: dict[str, Any]) -> str:
    return sha256_hex(canonical_json({k: v for k, v in event.items() if k != "hash"}))


def _text(value: Any) -> bytes:
    """A JSON string as canonical JSON writes it (not ASCII-escaped, UTF-8)."""
    return encode_basestring(value).encode("utf-8")


def encode_event(event: dict[str, Any]) -> bytes:
    """``canonical_json(event)`` for a well-formed event, composed from its fields (only
    ``data`` goes through the JSON encoder): the store writes every event once per batch.
    Anything unusual is encoded whole."""
    seq = event.get("seq")
    if event.keys() != _EVENT_KEYS or type(seq) is not int or not all(
            isinstance(event[k], str) for k in ("t", "type", "prev", "hash")):
        return canonical_json(event)
    return b'{"data":%s,"hash":%s,"prev":%s,"seq":%d,"t":%s,"type":%s}' % (
        canonical_json(event["data"]), _text(event["hash"]), _text(event["prev"]), seq,
        _text(event["t"]), _text(event["type"]))


def make_event(head: dict[str, Any] | None, type_: EventType, data: dict[str, Any],
               t: dt.datetime, stamp: str | None = None) -> dict[str, Any]:
    """The next event after ``head`` (None: the first event). Pure. Its hash is the
    SHA-256 of the canonical JSON of the event without ``hash`` (:func:`event_hash`),
    composed here from the encoded ``data`` and the other fields' strings. ``stamp``:
    ``iso(t)``, if the caller has it already."""
    return make_event_encoded(head, type_, data, t, stamp)[0]


def make_event_encoded(head: dict[str, Any] | None, type_: EventType, data: dict[str, Any],
                       t: dt.datetime, stamp: str | None = None
                       ) -> tuple[dict[str, Any], bytes | None]:
    """:func:`make_event`, and the event's canonical JSON (what :func:`encode_event` gives
    for it) composed from the same encoded ``data``: the store writes it as it is, so
    ``data`` goes through the JSON encoder once. None for an unusual head (the store
    encodes that event whole)."""
    seq = 1 if head is None else head["seq"] + 1
    stamp, kind = iso(t) if stamp is None else stamp, type_.value
    prev = GENESIS if head is None else head["hash"]
    if type(seq) is not int or not isinstance(prev, str):
        ev: dict[str, Any] = {"seq": seq, "t": stamp, "type": kind, "data": data,
                              "prev": prev}
        ev["hash"] = event_hash(ev)
        return ev, None
    encoded_data, prev_text, stamp_text, kind_text = (canonical_json(data), _text(prev),
                                                      _text(stamp), _text(kind))
    hash_ = sha256_hex(b'{"data":%s,"prev":%s,"seq":%d,"t":%s,"type":%s}' % (
        encoded_data, prev_text, seq, stamp_text, kind_text))
    return ({"seq": seq, "t": stamp, "type": kind, "data": data, "prev": prev, "hash": hash_},
            b'{"data":%s,"hash":%s,"prev":%s,"seq":%d,"t":%s,"type":%s}' % (
                encoded_data, _text(hash_), prev_text, seq, stamp_text, kind_text))


def checkpoint_contents(device: str, seq: int, head_hash: str) -> bytes:
    return canonical_json({"device": device, "seq": seq, "head": head_hash})


def make_checkpoint(head: dict[str, Any] | None, key: Ed25519PrivateKey, device: str,
                    reason: str, t: dt.datetime) -> dict[str, Any]:
    """A signed checkpoint over everything up to ``head``."""
    seq = 0 if head is None else head["seq"]
    head_hash = GENESIS if head is None else head["hash"]
    sig = sign(key, SignatureKind.AUDIT_CHECKPOINT, checkpoint_contents(device, seq, head_hash))
    return make_event(head, EventType.CHECKPOINT,
                      {"device": device, "covers_seq": seq, "covers_hash": head_hash,
                       "key_id": key_id(key), "reason": reason, "signature": b64(sig)}, t)


@dataclass
class VerifyReport:
    events: int = 0
    checkpoints: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)
    unsigned_tail: int = 0  # events after the last checkpoint (chained, not yet signed)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "checkpoints": self.checkpoints,
                "head": self.head, "unsigned_tail": self.unsigned_tail,
                "problems": self.problems}


def verify_chain(events: Sequence[dict[str, Any]],
                 public: Ed25519PublicKey | None = None,
                 expect_head: str | None = None) -> VerifyReport:
    """Check every hash, link and sequence number, and every checkpoint signature.

    ``public``: the device's key; without it checkpoint signatures are not checked
    (the report says so in ``problems``). ``expect_head``: the head hash printed on a
    report or held by the other medium; cutting events off the end of a log can only
    be seen against such a known head.
    """
    rep = VerifyReport(events=len(events))
    prev = GENESIS
    valid_types = {t.value for t in EventType}
    last_cp = 0
    for i, ev in enumerate(events):
        where = f"event {i + 1}"
        if not isinstance(ev, dict) or set(ev) != {"seq", "t", "type", "data", "prev", "hash"}:
            rep.problems.append(f"{where}: malformed")
            break
        if ev["seq"] != i + 1:
            rep.problems.append(f"{where}: sequence number {ev['seq']} (deleted or reordered)")
        if ev["prev"] != prev:
            rep.problems.append(f"{where}: does not follow the event before it "
                                "(deleted, inserted or reordered)")
        if event_hash(ev) != ev["hash"]:
            rep.problems.append(f"{where} ({ev['type']}): contents edited (hash mismatch)")
        if ev["type"] not in valid_types:
            rep.problems.append(f"{where}: unknown event type {ev['type']!r}")
        if ev["type"] == EventType.CHECKPOINT.value:
            rep.checkpoints += 1
            last_cp = i + 1
            d = ev["data"]
            if d.get("covers_seq") != i or d.get("covers_hash") != prev:
                rep.problems.append(f"{where}: checkpoint covers the wrong events")
            elif public is not None:
                try:
                    verify(public, SignatureKind.AUDIT_CHECKPOINT,
                           checkpoint_contents(d["device"], d["covers_seq"], d["covers_hash"]),
                           unb64(d.get("signature"), f"{where} signature"), f"{where} checkpoint")
                except (CryptoError, KeyError) as exc:
                    rep.problems.append(str(exc))
        prev = ev["hash"]
    rep.head = prev
    if expect_head is not None and expect_head not in {e.get("hash") for e in events
                                                       if isinstance(e, dict)}:
        rep.problems.append(f"the head {expect_head[:12]} is not in the log (events cut off "
                            "the end)")
    rep.unsigned_tail = len(events) - last_cp
    if public is None and rep.checkpoints:
        rep.problems.append("checkpoint signatures not checked: no device key given")
    return rep


def compare_media(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> list[str]:
    """Differences between the audit logs of the two media (empty when identical)."""
    problems = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            problems.append(f"event {i + 1} differs between the media")
            break
    if len(a) != len(b):
        problems.append(f"internal has {len(a)} events, removable {len(b)}")
    return problems
