"""Shared helpers for the printer and report tests: sample data, keys, certificates, photos."""

from __future__ import annotations

from functools import cache

from election.default import default_election
from election.model import Election
from firmware import crypto
from firmware.crypto import Certificate, CertificateRole
from firmware.reportdata import ReportData, ReportMode
from firmware.reports import sample_report_data


@cache
def election() -> Election:
    return default_election()


@cache
def data(ballots: int = 120, mode: ReportMode = ReportMode.OFFICIAL, seed: int = 7
         ) -> ReportData:
    return sample_report_data(election(), ballots=ballots, seed=seed, mode=mode)


def key(n: int) -> crypto.Ed25519PrivateKey:
    return crypto.key_from_seed(bytes([n]) * 32)


CEC_ROOT, DEVICE, OTHER_DEVICE = 1, 2, 3


def root_cert() -> Certificate:
    cec = key(CEC_ROOT)
    return crypto.issue_certificate(cec, role=CertificateRole.CEC_ROOT, subject="CEC",
                                    public_key=crypto.public_bytes(cec),
                                    valid_from="2021-01-01T00:00:00Z",
                                    valid_until="2022-12-31T00:00:00Z")


def device_cert(n: int = DEVICE, subject: str = "DEV-0001", station: str = "1001",
                issuer: int = CEC_ROOT) -> Certificate:
    return crypto.issue_certificate(key(issuer), role=CertificateRole.DEVICE, subject=subject,
                                    public_key=crypto.public_bytes(key(n)), station=station,
                                    valid_from="2021-11-01T00:00:00Z",
                                    valid_until="2021-12-31T00:00:00Z")
