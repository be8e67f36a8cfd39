"""Shared helpers for the printer and report tests: sample data, keys, certificates, photos."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from election.default import default_election
from election.model import Election
from firmware import crypto, escpos
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


def phone_photo(paper: np.ndarray, path: Path, seed: int, jpeg_quality: int = 70) -> Path:
    """A phone photo of printed paper: perspective, blur, uneven light, noise, JPEG (or PNG).

    ``paper`` is a 1-bit raster (True = black). The paper is scaled ~1.6×,
    its corners moved up to ±60 px, laid on a dark table, blurred (σ 1.5 px),
    lit unevenly, and noised (σ 8 grey levels) before lossy compression.
    """
    rng = np.random.default_rng(seed)
    grey = escpos.to_grey(paper)
    h, w = grey.shape
    s = 1.6
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    corners = [[150, 150], [150 + w * s, 150], [150 + w * s, 150 + h * s], [150, 150 + h * s]]
    dst = np.array([[x + rng.uniform(-60, 60), y + rng.uniform(-60, 60)] for x, y in corners],
                   dtype=np.float32)
    size = (int(w * s + 300), int(h * s + 300))
    warped = cv2.warpPerspective(grey, cv2.getPerspectiveTransform(src, dst), size,
                                 borderValue=70).astype(np.float64)
    photo = np.asarray(cv2.GaussianBlur(warped, (0, 0), 1.5), dtype=np.float64)
    light = np.linspace(0.8, 1.0, size[0])[None, :]
    photo = photo * light * 0.9 + 15 + rng.normal(0, 8, photo.shape)
    image = np.clip(photo, 0, 255).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f"cannot write {path}")
    return path
