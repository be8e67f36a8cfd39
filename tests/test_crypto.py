"""Domain-separated signatures and certificates (firmware/crypto.py)."""

from __future__ import annotations

import json

import pytest

from firmware import crypto
from firmware.crypto import CertificateRole, CryptoError, SignatureKind


def _key(n: int) -> crypto.Ed25519PrivateKey:
    return crypto.key_from_seed(bytes([n]) * 32)


def test_signature_is_bound_to_its_kind() -> None:
    key = _key(1)
    sig = crypto.sign(key, SignatureKind.REPORT, b"totals")
    crypto.verify(key.public_key(), SignatureKind.REPORT, b"totals", sig)
    with pytest.raises(CryptoError, match="does not verify"):
        crypto.verify(key.public_key(), SignatureKind.PACKAGE, b"totals", sig)
    with pytest.raises(CryptoError, match="does not verify"):
        crypto.verify(key.public_key(), SignatureKind.REPORT, b"totalz", sig)
    assert crypto.signing_input(SignatureKind.REPORT, b"x") == b"pcos-kg/1//report//x"


def test_certificate_round_trip_and_tamper() -> None:
    cec, dev = _key(2), _key(3)
    cert = crypto.issue_certificate(cec, role=CertificateRole.DEVICE, subject="DEV-0001",
                                    public_key=crypto.public_bytes(dev), station="1001",
                                    valid_from="2021-11-01T00:00:00Z",
                                    valid_until="2021-12-31T00:00:00Z")
    again = crypto.Certificate.loads(cert.dumps())
    assert again == cert
    again.verify(cec.public_key(), at="2021-11-28T08:00:00Z")
    with pytest.raises(CryptoError, match="not valid at"):
        again.verify(cec.public_key(), at="2022-01-01T00:00:00Z")
    with pytest.raises(CryptoError, match="issued by key"):
        again.verify(dev.public_key())
    doc = json.loads(cert.dumps())
    doc["station"] = "1002"
    with pytest.raises(CryptoError, match="does not verify"):
        crypto.Certificate.from_json(doc).verify(cec.public_key())


@pytest.mark.parametrize("doc", [None, [], {"format": "x"},
                                 {"format": "pcos-kg/certificate", "format_version": 1}])
def test_malformed_certificates_are_typed_errors(doc: object) -> None:
    with pytest.raises(CryptoError):
        crypto.Certificate.from_json(doc)


def test_key_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = _key(4)
    path = crypto.save_private_key(key, tmp_path / "k.pem")
    assert crypto.key_id(crypto.load_private_key(path)) == crypto.key_id(key)
    (tmp_path / "bad.pem").write_text("nope")
    with pytest.raises(CryptoError, match="not a PEM"):
        crypto.load_private_key(tmp_path / "bad.pem")
