"""Withdrawal amendments: they change rule outcomes, never the election hash; tampered,
foreign, unknown and late amendments are refused with their typed reason."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from package_fixtures import NOW, OTHER_SEED, cec_keys, election

from election.hashing import definition_hash, election_hash
from election.model import BallotKind, Election
from election.rules import ContestStatus, PreferenceStatus, judge_ballot
from firmware import crypto
from firmware.amendment import (
    AmendmentError,
    AmendmentRefusal,
    CandidateWithdrawal,
    ListWithdrawal,
    apply_amendment,
    build_amendment,
    load_amendment,
    with_withdrawals,
)
from firmware.crypto import SignatureKind
from firmware.provision import CecKeys

KEYS = cec_keys()
ELECTION = election()
# small_election: P02 (8 long) has nothing withdrawn; D01-01 in district-01 is standing.
LIST_W = ListWithdrawal("P02", 3)
CAND_W = CandidateWithdrawal("district-01", "D01-01")


def _build(keys: CecKeys = KEYS, e: Election = ELECTION, **kwargs: Any) -> bytes:
    kwargs.setdefault("list_positions", [LIST_W])
    kwargs.setdefault("candidates", [CAND_W])
    return build_amendment(election=e, amendment_id="W-1", signing_key=keys.signing_key,
                           signing_certificate=keys.signing_certificate,
                           created="2021-11-25T10:00:00Z", **kwargs)


DATA = _build()


def _refused(data: bytes, reason: AmendmentRefusal, **kwargs: object) -> AmendmentError:
    kwargs.setdefault("root", KEYS.root_certificate)
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("election", ELECTION)
    with pytest.raises(AmendmentError) as info:
        load_amendment(data, **kwargs)  # type: ignore[arg-type]
    assert info.value.reason is reason, str(info.value)
    return info.value


def _resign(doc: dict[str, object], key: Ed25519PrivateKey = KEYS.signing_key) -> bytes:
    body = {k: v for k, v in doc.items() if k not in ("signature", "certificate")}
    sig = crypto.sign(key, SignatureKind.AMENDMENT, crypto.canonical_json(body))
    return crypto.canonical_json({**doc, "signature": crypto.b64(sig)})


def test_applied_it_changes_outcomes_never_the_election_hash() -> None:
    amendment = load_amendment(DATA, root=KEYS.root_certificate, now=NOW, election=ELECTION)
    assert amendment.list_positions == (LIST_W,) and amendment.candidates == (CAND_W,)
    assert amendment.amendment_hash == crypto.sha256_hex(DATA)
    pref = {"party-list": {"P02"}, "preference": {"3"}}
    district = {"district-01": {"D01-01"}}
    before_pref = judge_ballot(ELECTION, BallotKind.PARTY_LIST, "party-list", pref)
    before_district = judge_ballot(ELECTION, BallotKind.DISTRICT, "district-01", district)
    assert before_pref.preference is not None
    assert before_pref.preference.status is PreferenceStatus.VALID
    assert before_district.contest("district-01").status is ContestStatus.VALID

    amended = apply_amendment(ELECTION, amendment, polls_opened=False)
    assert election_hash(amended) == election_hash(ELECTION)
    assert definition_hash(amended) != definition_hash(ELECTION)
    after_pref = judge_ballot(amended, BallotKind.PARTY_LIST, "party-list", pref)
    after_district = judge_ballot(amended, BallotKind.DISTRICT, "district-01", district)
    assert after_pref.preference is not None
    assert after_pref.preference.status is PreferenceStatus.VOID_WITHDRAWN
    assert after_pref.contest("party-list").status is ContestStatus.VALID  # the party vote stands
    assert after_district.contest("district-01").status is ContestStatus.WITHDRAWN
    # earlier withdrawals stay, others are untouched, and applying twice changes nothing
    assert amended.party_list.party("P01").withdrawn_positions == frozenset({2})
    assert amended.party_list.party("P02").withdrawn_positions == frozenset({3})
    assert amended.contest("district-01").candidate("D01-02").withdrawn
    assert not amended.contest("district-01").candidate("D01-03").withdrawn
    again = apply_amendment(amended, amendment, polls_opened=False)
    assert definition_hash(again) == definition_hash(amended)
    # the amended election still accepts amendments built against the original
    assert load_amendment(DATA, root=KEYS.root_public_key, now=NOW, election=amended)


def test_after_polls_opened_it_is_refused() -> None:
    amendment = load_amendment(DATA, root=KEYS.root_certificate, now=NOW, election=ELECTION)
    with pytest.raises(AmendmentError) as info:
        apply_amendment(ELECTION, amendment, polls_opened=True)
    assert info.value.reason is AmendmentRefusal.POLLS_OPENED


def test_unknown_positions_and_candidates() -> None:
    cases = [
        ([ListWithdrawal("P09", 1)], [], AmendmentRefusal.UNKNOWN_POSITION),
        ([ListWithdrawal("P01", 6)], [], AmendmentRefusal.UNKNOWN_POSITION),  # list of 5
        ([ListWithdrawal("P01", 0)], [], AmendmentRefusal.UNKNOWN_POSITION),
        ([], [CandidateWithdrawal("district-09", "D09-01")], AmendmentRefusal.UNKNOWN_CANDIDATE),
        ([], [CandidateWithdrawal("district-02", "D01-01")], AmendmentRefusal.UNKNOWN_CANDIDATE),
    ]
    for positions, candidates, reason in cases:
        with pytest.raises(AmendmentError) as info:
            _build(list_positions=positions, candidates=candidates)
        assert info.value.reason is reason
        with pytest.raises(AmendmentError) as info:
            with_withdrawals(ELECTION, positions, candidates)
        assert info.value.reason is reason
        # and signed by the CEC anyway (a broken tool): refused on the device
        doc = json.loads(DATA)
        doc["withdrawn_list_positions"] = [{"party": w.party, "position": w.position}
                                           for w in positions]
        doc["withdrawn_candidates"] = [{"contest": c.contest, "candidate": c.candidate}
                                       for c in candidates]
        _refused(_resign(doc), reason)
    with pytest.raises(Exception, match="at least one"):
        _build(list_positions=[], candidates=[])


def test_wrong_election() -> None:
    other = election()
    other = type(other)(**{**{f: getattr(other, f) for f in other.__dataclass_fields__
                              if f != "_index"}, "election_id": "other-election"})
    data = _build(e=other)
    _refused(data, AmendmentRefusal.WRONG_ELECTION)
    amendment = load_amendment(data, root=KEYS.root_certificate, now=NOW, election=other)
    with pytest.raises(AmendmentError) as info:
        apply_amendment(ELECTION, amendment, polls_opened=False)
    assert info.value.reason is AmendmentRefusal.WRONG_ELECTION
    scoped = cec_keys(election_id="other-election")
    _refused(_build(keys=scoped), AmendmentRefusal.WRONG_ELECTION,
             root=scoped.root_certificate)


def test_tampered_amendments() -> None:
    text = DATA.decode()
    changed = text.replace('"position":3', '"position":4')
    assert changed != text
    _refused(changed.encode(), AmendmentRefusal.TAMPERED)
    _refused(text.replace('"D01-01"', '"D01-03"').encode(), AmendmentRefusal.TAMPERED)
    doc = json.loads(DATA)
    doc["withdrawn_candidates"] = []
    _refused(crypto.canonical_json(doc), AmendmentRefusal.TAMPERED)  # a withdrawal dropped
    doc = json.loads(DATA)
    doc["certificate"]["valid_until"] = "2099-01-01T00:00:00Z"
    _refused(crypto.canonical_json(doc), AmendmentRefusal.TAMPERED)
    # the same content, encoded otherwise, is refused: one encoding per amendment
    _refused(json.dumps(json.loads(DATA), indent=1).encode(), AmendmentRefusal.MALFORMED)


def test_every_byte_flip_is_refused() -> None:
    for offset in range(len(DATA)):
        flipped = bytearray(DATA)
        flipped[offset] ^= 0x01
        with pytest.raises(AmendmentError):
            load_amendment(bytes(flipped), root=KEYS.root_certificate, now=NOW,
                           election=ELECTION)


def test_wrong_keys_and_expiry() -> None:
    attacker = cec_keys(OTHER_SEED)
    _refused(_build(keys=attacker), AmendmentRefusal.WRONG_KEY)
    doc = json.loads(DATA)
    doc["signer_key_id"] = crypto.key_id(attacker.signing_key)
    _refused(_resign(doc, attacker.signing_key), AmendmentRefusal.WRONG_KEY)  # CEC cert kept
    _refused(DATA, AmendmentRefusal.WRONG_KEY, root=attacker.root_certificate)
    _refused(DATA, AmendmentRefusal.CERTIFICATE_EXPIRED, now="2030-01-01T00:00:00Z")
    # signed as another kind (a package signature) does not pass as an amendment
    doc = json.loads(DATA)
    body = {k: v for k, v in doc.items() if k not in ("signature", "certificate")}
    doc["signature"] = crypto.b64(crypto.sign(KEYS.signing_key, SignatureKind.PACKAGE,
                                              crypto.canonical_json(body)))
    _refused(crypto.canonical_json(doc), AmendmentRefusal.TAMPERED)


def test_malformed_files_are_typed_errors() -> None:
    rng = random.Random(3)
    for data in (b"", b"{}", b"[]", b"null", b"\xff\xfe", DATA[:-1], DATA[: len(DATA) // 2],
                 bytes(rng.randrange(256) for _ in range(300)), b'{"format":1,"format":2}'):
        with pytest.raises(AmendmentError) as info:
            load_amendment(data, root=KEYS.root_certificate, now=NOW, election=ELECTION)
        assert info.value.reason is AmendmentRefusal.MALFORMED
    doc = json.loads(DATA)
    doc["withdrawn_list_positions"] = [{"party": "P02", "position": "3"}]
    _refused(_resign(doc), AmendmentRefusal.MALFORMED)
    doc = json.loads(DATA)
    doc["format_version"] = 2
    _refused(_resign(doc), AmendmentRefusal.MALFORMED)


FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=120,
                suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 99) | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_only_typed_errors(blob: bytes) -> None:
    with pytest.raises(AmendmentError):
        load_amendment(blob, root=KEYS.root_certificate, now=NOW, election=ELECTION)


@FUZZ
@given(st.sampled_from(sorted(json.loads(DATA))), JSON_VALUES)
def test_fuzz_signed_junk_fields_only_typed_errors(key: str, value: object) -> None:
    """Any field replaced (and the body re-signed by the CEC): a typed refusal, or exactly
    what was signed, valid for this election."""
    doc = json.loads(DATA)
    doc[key] = value
    data = crypto.canonical_json(doc) if key == "signature" else _resign(doc)
    try:
        found = load_amendment(data, root=KEYS.root_certificate, now=NOW, election=ELECTION)
    except AmendmentError:
        return
    signed = {k: v for k, v in json.loads(data).items() if k not in ("signature", "certificate")}
    assert found.body() == signed
    with_withdrawals(ELECTION, found.list_positions, found.candidates)
