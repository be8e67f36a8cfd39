"""Withdrawal amendments: the CEC withdraws list positions or candidates after printing.

A candidate may withdraw after the ballots are printed. The paper cannot change,
so the CEC signs an *amendment* that the operator applies on the device before polls
open. It changes what the rules make of a mark (a preference for a withdrawn list
position is void; a mark for a withdrawn district candidate makes the ballot
invalid), and never the election hash printed in every ballot code
(``election.hashing.election_hash`` leaves withdrawals out; ``definition_hash``
includes them, so reports can show which definition was counted).

File (``pcos-kg/amendment`` version 1): one canonical JSON object (sorted keys, no
whitespace, UTF-8; any other encoding of the same content is refused)::

    {"format": "pcos-kg/amendment", "format_version": 1,
     "amendment_id": "W-2021-11-25-1", "created": "2021-11-25T10:00:00Z",
     "election_id": ..., "election_hash": ...,
     "withdrawn_list_positions": [{"party": "P05", "position": 7}],
     "withdrawn_candidates": [{"contest": "district-12", "candidate": "D12-04"}],
     "signer_key_id": ...,
     "signature": "<base64 Ed25519, kind AMENDMENT, over the canonical body>",
     "certificate": {<the cec-signing certificate>}}

The body is every key but ``signature`` and ``certificate``. Refusals are
:class:`AmendmentError` with a typed :class:`AmendmentRefusal`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from election.errors import PcosError
from election.hashing import election_hash
from election.model import Election
from firmware import crypto
from firmware.crypto import Certificate, CertificateRole, CryptoError, SignatureKind
from firmware.package import (
    PackageError,
    PackageRefusal,
    TrustAnchor,
    strict_json,
    trusted_root_key,
)
from firmware.provision import instant

AMENDMENT_FORMAT = "pcos-kg/amendment"
AMENDMENT_FORMAT_VERSION = 1
MAX_AMENDMENT_BYTES = 1024 * 1024

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_BODY_KEYS = frozenset({"format", "format_version", "amendment_id", "created", "election_id",
                        "election_hash", "withdrawn_list_positions", "withdrawn_candidates",
                        "signer_key_id"})


class AmendmentRefusal(StrEnum):
    MALFORMED = "malformed"  # not an amendment file, or not in its canonical form
    TAMPERED = "tampered"  # the signature or the certificate does not verify
    WRONG_KEY = "wrong-key"  # signed by a key the trusted CEC root did not certify
    CERTIFICATE_EXPIRED = "certificate-expired"
    WRONG_ELECTION = "wrong-election"  # for another election (hash or id)
    UNKNOWN_POSITION = "unknown-position"  # party not on the list, or position beyond it
    UNKNOWN_CANDIDATE = "unknown-candidate"  # contest or candidate not in the election
    POLLS_OPENED = "polls-opened"  # withdrawals apply only before polls open


class AmendmentError(PcosError):
    """An amendment was refused; ``reason`` says why."""

    def __init__(self, reason: AmendmentRefusal, detail: str) -> None:
        super().__init__(f"withdrawal amendment refused ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


def _refuse(reason: AmendmentRefusal, detail: str) -> NoReturn:
    raise AmendmentError(reason, detail)


@dataclass(frozen=True, order=True)
class ListWithdrawal:
    """A withdrawn position (1-based) in a party's list."""

    party: str
    position: int


@dataclass(frozen=True, order=True)
class CandidateWithdrawal:
    """A withdrawn candidate of a district or local council contest."""

    contest: str
    candidate: str


@dataclass(frozen=True)
class Amendment:
    """A verified (or about to be signed) withdrawal amendment."""

    amendment_id: str
    created: str
    election_id: str
    election_hash: str
    list_positions: tuple[ListWithdrawal, ...]
    candidates: tuple[CandidateWithdrawal, ...]
    signer_key_id: str
    amendment_hash: str = ""  # SHA-256 of the file, once loaded

    def body(self) -> dict[str, Any]:
        return {
            "format": AMENDMENT_FORMAT,
            "format_version": AMENDMENT_FORMAT_VERSION,
            "amendment_id": self.amendment_id,
            "created": self.created,
            "election_id": self.election_id,
            "election_hash": self.election_hash,
            "withdrawn_list_positions": [{"party": w.party, "position": w.position}
                                         for w in self.list_positions],
            "withdrawn_candidates": [{"contest": w.contest, "candidate": w.candidate}
                                     for w in self.candidates],
            "signer_key_id": self.signer_key_id,
        }


# --- pure rules ---------------------------------------------------------------------------------


def check_withdrawals(election: Election, list_positions: Iterable[ListWithdrawal],
                      candidates: Iterable[CandidateWithdrawal]) -> None:
    """Every named party position and candidate exists in ``election`` (else refuse)."""
    parties = {p.id: p for p in election.party_list.parties}
    for w in list_positions:
        party = parties.get(w.party)
        if party is None:
            _refuse(AmendmentRefusal.UNKNOWN_POSITION, f"party {w.party!r} is not on the list")
        if not 1 <= w.position <= party.list_length:
            _refuse(AmendmentRefusal.UNKNOWN_POSITION, f"party {w.party} has positions "
                    f"1..{party.list_length}, not {w.position}")
    for c in candidates:
        try:
            contest = election.contest(c.contest)
        except KeyError:
            _refuse(AmendmentRefusal.UNKNOWN_CANDIDATE, f"no contest {c.contest!r}")
        if c.candidate not in {x.id for x in contest.candidates}:
            _refuse(AmendmentRefusal.UNKNOWN_CANDIDATE, f"no candidate {c.candidate!r} in "
                    f"{c.contest}")


def with_withdrawals(election: Election, list_positions: Iterable[ListWithdrawal],
                     candidates: Iterable[CandidateWithdrawal]) -> Election:
    """A new Election with these withdrawals added to those it already has.

    Withdrawals already present stay; adding one twice changes nothing. The result's
    ``election_hash`` equals the input's; its ``definition_hash`` differs unless
    nothing new was withdrawn.
    """
    list_positions, candidates = tuple(list_positions), tuple(candidates)
    check_withdrawals(election, list_positions, candidates)
    by_party: dict[str, set[int]] = {}
    for w in list_positions:
        by_party.setdefault(w.party, set()).add(w.position)
    by_contest: dict[str, set[str]] = {}
    for c in candidates:
        by_contest.setdefault(c.contest, set()).add(c.candidate)

    parties = tuple(
        dataclasses.replace(p, withdrawn_positions=p.withdrawn_positions | by_party[p.id])
        if p.id in by_party else p for p in election.party_list.parties)

    def contests(items: tuple[Any, ...]) -> tuple[Any, ...]:
        out = []
        for contest in items:
            gone = by_contest.get(contest.id)
            if gone:
                contest = dataclasses.replace(contest, candidates=tuple(
                    dataclasses.replace(c, withdrawn=True) if c.id in gone else c
                    for c in contest.candidates))
            out.append(contest)
        return tuple(out)

    # ``_index`` is the memo of derived values (hashes, lookups): a new, empty one.
    return dataclasses.replace(
        election, party_list=dataclasses.replace(election.party_list, parties=parties),
        districts=contests(election.districts), councils=contests(election.councils),
        _index={})


def apply_amendment(election: Election, amendment: Amendment, *,
                    polls_opened: bool) -> Election:
    """The election as counted after ``amendment``; pure. The device passes its state.

    Refused once polls have opened (``polls-opened``: ballots already counted would
    be judged by other rules than those after), for another election
    (``wrong-election``), or naming positions/candidates that do not exist.
    """
    if polls_opened:
        _refuse(AmendmentRefusal.POLLS_OPENED, f"amendment {amendment.amendment_id} arrived "
                "after polls opened; withdrawals apply only before")
    if (amendment.election_id != election.election_id
            or amendment.election_hash != election_hash(election)):
        _refuse(AmendmentRefusal.WRONG_ELECTION, f"amendment {amendment.amendment_id} is for "
                f"election {amendment.election_id} ({amendment.election_hash[:16]}...)")
    return with_withdrawals(election, amendment.list_positions, amendment.candidates)


# --- building and loading -----------------------------------------------------------------------


def build_amendment(*, election: Election, amendment_id: str,
                    list_positions: Iterable[ListWithdrawal] = (),
                    candidates: Iterable[CandidateWithdrawal] = (),
                    signing_key: Ed25519PrivateKey, signing_certificate: Certificate,
                    created: str) -> bytes:
    """The signed amendment file's bytes. Refuses unknown positions or candidates."""
    list_positions = tuple(sorted(set(list_positions)))
    candidates = tuple(sorted(set(candidates)))
    if not list_positions and not candidates:
        raise PcosError("an amendment must withdraw at least one position or candidate")
    if not _ID.match(amendment_id):
        raise PcosError(f"amendment id {amendment_id!r}: expected 1..64 letters, digits, "
                        "'.', '_' or '-'")
    if signing_certificate.public_key != crypto.public_bytes(signing_key):
        raise PcosError("the signing key is not the one its certificate certifies")
    check_withdrawals(election, list_positions, candidates)
    amendment = Amendment(
        amendment_id=amendment_id, created=instant(created), election_id=election.election_id,
        election_hash=election_hash(election), list_positions=list_positions,
        candidates=candidates, signer_key_id=crypto.key_id(signing_key))
    body = amendment.body()
    signature = crypto.sign(signing_key, SignatureKind.AMENDMENT, crypto.canonical_json(body))
    return crypto.canonical_json({**body, "signature": crypto.b64(signature),
                                  "certificate": signing_certificate.to_json()})


def load_amendment(data: bytes, *, root: TrustAnchor, now: str | dt.datetime,
                   election: Election) -> Amendment:
    """Verify an amendment up to the CEC root, for ``election``; refuse with a typed reason.

    Checks the canonical encoding, the signing certificate (chain, role, validity at
    ``now``), the signature (kind AMENDMENT), the election id and hash, and that every
    withdrawal names a position or candidate of ``election``.
    """
    root_key = trusted_root_key(root)
    now = instant(now)
    if not isinstance(data, bytes) or len(data) > MAX_AMENDMENT_BYTES:
        _refuse(AmendmentRefusal.MALFORMED, "not an amendment file (type or size)")
    try:
        doc = strict_json(data, "amendment", PackageRefusal.MALFORMED)
    except PackageError as exc:
        _refuse(AmendmentRefusal.MALFORMED, exc.detail)
    if not isinstance(doc, dict) or set(doc) != _BODY_KEYS | {"signature", "certificate"}:
        _refuse(AmendmentRefusal.MALFORMED, "expected the keys of a pcos-kg/amendment")
    if data.rstrip(b"\n") != crypto.canonical_json(doc):
        _refuse(AmendmentRefusal.MALFORMED, "not in canonical JSON form")
    body = {k: doc[k] for k in _BODY_KEYS}
    if (body["format"] != AMENDMENT_FORMAT
            or body["format_version"] != AMENDMENT_FORMAT_VERSION):
        _refuse(AmendmentRefusal.MALFORMED, f"not a {AMENDMENT_FORMAT} version "
                f"{AMENDMENT_FORMAT_VERSION}")

    try:
        cert = Certificate.from_json(doc["certificate"])
        signature = crypto.unb64(doc["signature"], "amendment signature")
    except CryptoError as exc:
        _refuse(AmendmentRefusal.TAMPERED, str(exc))
    if cert.to_json() != doc["certificate"] or crypto.b64(signature) != doc["signature"]:
        _refuse(AmendmentRefusal.MALFORMED, "certificate or signature not in canonical form")
    if cert.issuer_key_id != crypto.key_id(root_key):
        _refuse(AmendmentRefusal.WRONG_KEY, f"certificate issued by key {cert.issuer_key_id}, "
                "not by the trusted CEC root")
    try:
        cert.verify(root_key)
    except CryptoError as exc:
        _refuse(AmendmentRefusal.TAMPERED, str(exc))
    if cert.role is not CertificateRole.CEC_SIGNING:
        _refuse(AmendmentRefusal.WRONG_KEY, f"certificate role {cert.role.value}, "
                "expected cec-signing")
    if not cert.valid_from <= now <= cert.valid_until:
        _refuse(AmendmentRefusal.CERTIFICATE_EXPIRED, f"signing certificate not valid at {now}")
    try:
        crypto.verify(cert.key, SignatureKind.AMENDMENT, crypto.canonical_json(body),
                      signature, "amendment")
    except CryptoError:
        if body["signer_key_id"] != crypto.key_id(cert.key):
            _refuse(AmendmentRefusal.WRONG_KEY, f"signed by key {body['signer_key_id']!r}, "
                    "not by the certified CEC signing key")
        _refuse(AmendmentRefusal.TAMPERED, "the amendment signature does not verify")

    amendment = _amendment(body, crypto.sha256_hex(data))
    if amendment.signer_key_id != crypto.key_id(cert.key):
        _refuse(AmendmentRefusal.MALFORMED, "names another signer than the one that signed it")
    if cert.election_id is not None and cert.election_id != election.election_id:
        _refuse(AmendmentRefusal.WRONG_ELECTION, f"signing certificate is for election "
                f"{cert.election_id!r}")
    if (amendment.election_id != election.election_id
            or amendment.election_hash != election_hash(election)):
        _refuse(AmendmentRefusal.WRONG_ELECTION, f"amendment is for election "
                f"{amendment.election_id!r} ({amendment.election_hash[:16]}...), this is "
                f"{election.election_id!r} ({election_hash(election)[:16]}...)")
    check_withdrawals(election, amendment.list_positions, amendment.candidates)
    return amendment


def _amendment(body: dict[str, Any], file_hash: str) -> Amendment:
    def text(key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = body[key]
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            _refuse(AmendmentRefusal.MALFORMED, f"{key}: bad value {value!r}"[:120])
        return value

    positions, candidates = body["withdrawn_list_positions"], body["withdrawn_candidates"]
    if not isinstance(positions, list) or not isinstance(candidates, list) or not (
            positions or candidates):
        _refuse(AmendmentRefusal.MALFORMED, "withdrawals must be lists, not both empty")
    lists = []
    for item in positions:
        if (not isinstance(item, dict) or set(item) != {"party", "position"}
                or not isinstance(item["party"], str) or isinstance(item["position"], bool)
                or not isinstance(item["position"], int)):
            _refuse(AmendmentRefusal.MALFORMED, "withdrawn_list_positions: expected "
                    "{party, position} objects")
        lists.append(ListWithdrawal(item["party"], item["position"]))
    cands = []
    for item in candidates:
        if (not isinstance(item, dict) or set(item) != {"contest", "candidate"}
                or not all(isinstance(v, str) for v in item.values())):
            _refuse(AmendmentRefusal.MALFORMED, "withdrawn_candidates: expected "
                    "{contest, candidate} objects")
        cands.append(CandidateWithdrawal(item["contest"], item["candidate"]))
    try:
        created = instant(text("created"))
    except CryptoError as exc:
        _refuse(AmendmentRefusal.MALFORMED, f"created: {exc}")
    return Amendment(amendment_id=text("amendment_id", _ID), created=created,
                     election_id=text("election_id"), election_hash=text("election_hash", _HEX64),
                     list_positions=tuple(lists), candidates=tuple(cands),
                     signer_key_id=text("signer_key_id"), amendment_hash=file_hash)
