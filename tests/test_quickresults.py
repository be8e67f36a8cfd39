"""Signed quick results in QR codes (firmware/quickresults.py)."""

from __future__ import annotations

import dataclasses
import random
import zlib

import printer_fixtures as fx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import crypto, quickresults
from firmware.crypto import SignatureKind
from firmware.quickresults import QuickResultsError
from firmware.reportdata import ReportMode
from firmware.reports import sample_report_data


@pytest.mark.parametrize(("raw", "text"), [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"),
                                           (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")])
def test_base45_rfc9285_vectors(raw: bytes, text: str) -> None:
    assert quickresults.b45encode(raw) == text
    assert quickresults.b45decode(text) == raw


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=200))
def test_base45_round_trip(raw: bytes) -> None:
    assert quickresults.b45decode(quickresults.b45encode(raw)) == raw


@pytest.mark.parametrize(("text", "message"), [("GGW", "exceeds two bytes"),
                                               ("A", "single character"),
                                               ("ab", "not in the alphabet")])
def test_base45_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(QuickResultsError, match=message):
        quickresults.b45decode(text)


def test_round_trip_in_any_order_with_repeats() -> None:
    d = fx.data()
    texts = quickresults.encode(d, fx.key(fx.DEVICE), part_chars=200)
    assert len(texts) >= 3 and all(len(t) <= 200 for t in texts)
    shuffled = [*texts, texts[0], "SOME OTHER QR"]
    random.Random(1).shuffle(shuffled)
    results = quickresults.verify(quickresults.reassemble(shuffled), fx.device_cert())
    assert results.matches(d)
    assert results.tally == d.tally and results.sheets_cast == d.sheets_cast
    assert results.signer_key_id == crypto.key_id(fx.key(fx.DEVICE))


def test_signature_covers_the_body_as_quick_results() -> None:
    d = fx.data()
    message = quickresults.sign_message(d, fx.key(fx.DEVICE))
    body = crypto.canonical_json(quickresults.body_of(d))
    crypto.verify(fx.key(fx.DEVICE).public_key(), SignatureKind.QUICK_RESULTS, body,
                  message[-64:])


def test_missing_and_mixed_parts_are_refused() -> None:
    texts = quickresults.encode(fx.data(), fx.key(fx.DEVICE), part_chars=200)
    with pytest.raises(QuickResultsError, match=r"missing quick-results code\(s\) \[2\]"):
        quickresults.reassemble([t for i, t in enumerate(texts) if i != 1])
    other = quickresults.encode(fx.data(seed=9), fx.key(fx.DEVICE), part_chars=200)
    with pytest.raises(QuickResultsError, match="two different results"):
        quickresults.reassemble([texts[0], other[1]])
    with pytest.raises(QuickResultsError, match="no quick-results code"):
        quickresults.reassemble(["hello"])


def test_an_altered_character_is_caught_by_the_digest() -> None:
    texts = quickresults.encode(fx.data(), fx.key(fx.DEVICE), part_chars=200)
    part = texts[1]
    i = len(part) - 10
    altered = part[:i] + ("0" if part[i] != "0" else "1") + part[i + 1:]
    with pytest.raises(QuickResultsError, match=r"altered|exceeds"):
        quickresults.reassemble([texts[0], altered, *texts[2:]])


def _forged(figures_changed: dict[str, object], signer: int) -> list[str]:
    """Codes with altered figures, re-signed by ``signer`` and re-split (valid digest)."""
    d = fx.data()
    body = quickresults.body_of(d)
    body.update(figures_changed)
    raw = crypto.canonical_json(body)
    sig = crypto.sign(fx.key(signer), SignatureKind.QUICK_RESULTS, raw)
    return quickresults.split(quickresults.MAGIC + zlib.compress(raw) + sig)


def test_forged_figures_do_not_verify() -> None:
    original = quickresults.sign_message(fx.data(), fx.key(fx.DEVICE))
    body, sig = quickresults._split_message(original)
    changed = body.replace(b'"sc":120', b'"sc":121')
    assert changed != body
    forged = quickresults.split(quickresults.MAGIC + zlib.compress(changed) + sig)
    with pytest.raises(QuickResultsError, match="signature does not verify"):
        quickresults.verify(quickresults.reassemble(forged), fx.device_cert())
    resigned = _forged({"sc": 121}, fx.OTHER_DEVICE)
    with pytest.raises(QuickResultsError, match="signature does not verify"):
        quickresults.verify(quickresults.reassemble(resigned), fx.device_cert())


def test_certificate_must_name_the_device_and_station() -> None:
    message = quickresults.sign_message(fx.data(), fx.key(fx.DEVICE))
    cert_other_name = fx.device_cert(subject="DEV-0002")
    with pytest.raises(QuickResultsError, match="certificate is of 'DEV-0002'"):
        quickresults.verify(message, cert_other_name)
    with pytest.raises(QuickResultsError, match="station"):
        quickresults.verify(message, fx.device_cert(station="1002"))


def test_certificate_chain() -> None:
    cert = fx.device_cert()
    quickresults.verify_chain(cert, [fx.root_cert()], at="2021-11-28T20:00:05Z")
    rogue = fx.device_cert(issuer=fx.OTHER_DEVICE)
    with pytest.raises(QuickResultsError, match=r"certificate chain: .*issued by key"):
        quickresults.verify_chain(rogue, [fx.root_cert()], at="2021-11-28T20:00:05Z")
    with pytest.raises(QuickResultsError, match="not valid at"):
        quickresults.verify_chain(cert, [fx.root_cert()], at="2023-01-01T00:00:00Z")


@pytest.mark.parametrize("message", [b"XX", b"PQ\x01" + b"\x00" * 70,
                                     b"PQ\x01" + zlib.compress(b"[]") + b"\x00" * 64])
def test_malformed_messages_are_typed_errors(message: bytes) -> None:
    with pytest.raises(QuickResultsError):
        quickresults.verify(message, fx.device_cert())


def test_a_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(b" " * (quickresults.MAX_BODY_BYTES + 10))
    with pytest.raises(QuickResultsError, match="too large"):
        quickresults._split_message(quickresults.MAGIC + bomb + b"\x00" * 64)


def test_figures_are_checked_after_the_signature() -> None:
    d = fx.data()
    bad = dataclasses.replace(d, tally=fx.data(seed=9).tally)
    forged = _forged({"c": quickresults.body_of(fx.data(seed=9))["c"] | {"party-list": {
        "o": {"P01": 1}, "n": 5, "b": 0, "x": 0, "w": 0, "s": [5, 0, 0, 0, 0, 0], "p": []}}},
        fx.DEVICE)
    with pytest.raises(QuickResultsError, match="malformed contests"):
        quickresults.verify(quickresults.reassemble(forged), fx.device_cert())
    assert not quickresults.verify(quickresults.sign_message(d, fx.key(fx.DEVICE)),
                                   fx.device_cert()).matches(bad)


@settings(max_examples=60, deadline=None)
@given(message=st.binary(min_size=1, max_size=3000), part_chars=st.integers(60, 2400))
def test_split_respects_the_part_size_and_reassembles(message: bytes, part_chars: int) -> None:
    texts = quickresults.split(message, part_chars)
    assert all(len(t) <= part_chars for t in texts)
    assert quickresults.reassemble(reversed(texts)) == message


def test_certificate_role_validity_and_election_are_checked() -> None:
    message = quickresults.sign_message(fx.data(), fx.key(fx.DEVICE))
    late = dataclasses.replace(fx.device_cert(), valid_until="2021-11-28T19:00:00Z")
    with pytest.raises(QuickResultsError, match="outside the validity"):
        quickresults.verify(message, late)
    wrong_role = dataclasses.replace(fx.device_cert(), role=crypto.CertificateRole.CEC_SIGNING)
    with pytest.raises(QuickResultsError, match="not a device one"):
        quickresults.verify(message, wrong_role)
    other_election = dataclasses.replace(fx.device_cert(), election_id="kg-2026")
    with pytest.raises(QuickResultsError, match="certificate is for 'kg-2026'"):
        quickresults.verify(message, other_election)


@settings(max_examples=15, deadline=None)
@given(ballots=st.integers(0, 150), seed=st.integers(0, 1000),
       mode=st.sampled_from(list(ReportMode)))
def test_any_report_data_round_trips_through_the_codes(ballots: int, seed: int,
                                                       mode: ReportMode) -> None:
    d = sample_report_data(fx.election(), ballots=ballots, seed=seed, mode=mode)
    texts = quickresults.encode(d, fx.key(fx.DEVICE))
    assert quickresults.verify(quickresults.reassemble(texts), fx.device_cert()).matches(d)
