"""The signed calibration profile: what device calibration measured, as the reader uses it.

File format (UTF-8 JSON)::

    {"format": "pcos-kg/calibration-profile", "format_version": 1,
     "body": {...everything measured...},
     "key_id": "<signer's key fingerprint>",
     "signature": "<base64 Ed25519 over pcos-kg/1//calibration-profile//canonical_json(body)>"}

The body holds the optical scale, white and black levels, the print position,
stripe and security readings per kind, and per target geometry the calibrated
blank boxes (uint8 darkness windows, ``numpy.savez_compressed`` then base64).
Loading verifies the signature before anything in the body is looked at; a
profile for another election or DPI is refused when the reader is configured.

:func:`configure_reader` turns a profile into reader inputs: the reader's
``templates`` source becomes :class:`CalibratedTemplates`, which paints the
calibrated blank boxes into the renderer's page for the layouts the profile
covers (any language: both share the target geometry) and leaves every other
layout to the renderer; the scanner profile's ``optical_scale`` becomes the
measured scale across the feed (the fit-to-page check where the paper edge
cannot be seen). The white and black levels are signed and reported but not
used by the reader: it normalises each box to the paper white it measures
around it, and its darkness scale has its zero at black (see docs).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from calibration.device import DeviceCalibration, template_key
from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import election_hash
from election.layout import BallotLayout
from firmware.crypto import (
    CryptoError,
    SignatureKind,
    b64,
    canonical_json,
    key_id,
    load_private_key,
    sign,
    unb64,
    verify,
)
from vision.config import ReaderConfig, TemplateSource

PROFILE_FORMAT = "pcos-kg/calibration-profile"
PROFILE_VERSION = 1


class ProfileError(PcosError):
    """A calibration profile is unreadable, unsigned, tampered with, or not for this reader."""


# ----------------------------------------------------------------------------- encoding


def _pack(arrays: dict[str, np.ndarray]) -> str:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return b64(buf.getvalue())


def _unpack(text: Any, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(unb64(text, what)), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, KeyError) as exc:
        raise ProfileError(f"{what}: not a valid array bundle") from exc


def body_of(cal: DeviceCalibration, device_id: str, created: str) -> dict[str, Any]:
    """The profile body (plain JSON) of a calibration."""
    templates = []
    for key, t in sorted(cal.templates.items()):
        templates.append({
            "key": key, "kind": t.kind, "contest": t.contest,
            "layout_hashes": list(t.layout_hashes), "sheets": t.sheets,
            "targets": [f"{c}/{o}" for c, o in t.ids],
            "noise": [round(float(v), 5) for v in t.noise],
            "raw_marginal": t.raw_marginal, "raw_boxes": t.raw_boxes,
            "calibrated_max_blank_fill": round(t.cal_max_fill, 5),
            "arrays": _pack({"origin": t.origin.astype(np.int32),
                             "dark": np.rint(np.clip(t.dark, 0, 1) * 255).astype(np.uint8)}),
        })
    pos = cal.print_position
    return {
        "device": device_id, "created": created, "election_hash": cal.election_hash,
        "station": cal.station, "dpi": cal.dpi, "sheets": cal.sheets,
        "optical_scale": {"across": round(cal.optical_scale.across, 6),
                          "along": round(cal.optical_scale.along, 6),
                          "across_sd": round(cal.optical_scale.across_sd, 6),
                          "along_sd": round(cal.optical_scale.along_sd, 6)},
        "levels": {"white_rgb": list(cal.white_rgb), "black_rgb": list(cal.black_rgb)},
        "print_position": None if pos is None else {
            "scale_across": round(pos.scale_across, 5), "scale_along": round(pos.scale_along, 5),
            "shift_across_mm": round(pos.shift_across_mm, 3),
            "shift_along_mm": round(pos.shift_along_mm, 3), "sheets": pos.sheets},
        "kinds": {k: {"sheets": m.sheets, "stripe_ratio": [round(v, 4) for v in m.stripe_ratio],
                      "stripe_class": m.stripe_class,
                      "security_chroma": round(m.security_chroma, 4),
                      "security_pattern": round(m.security_pattern, 4)}
                  for k, m in sorted(cal.kinds.items())},
        "templates": templates,
        "notes": list(cal.notes),
    }


# ----------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class CalibrationProfile:
    """A verified profile: its body, and the calibrated blank boxes by template key."""

    body: dict[str, Any]
    boxes: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (origin (N,2) int, dark (N,h,w))
    signer: str  # key id that signed it

    @property
    def dpi(self) -> float:
        return float(self.body["dpi"])

    @property
    def election_hash(self) -> str:
        return str(self.body["election_hash"])

    @property
    def optical_scale(self) -> tuple[float, float]:
        """(across, along) the feed: ladder px per nominal px on this device and print run."""
        s = self.body["optical_scale"]
        return float(s["across"]), float(s["along"])

    def template_source(self, fallback: TemplateSource) -> CalibratedTemplates:
        return CalibratedTemplates(self, fallback)


def sign_profile(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    doc = {"format": PROFILE_FORMAT, "format_version": PROFILE_VERSION, "body": body,
           "key_id": key_id(key),
           "signature": b64(sign(key, SignatureKind.CALIBRATION, canonical_json(body)))}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


def save_profile(path: str | os.PathLike[str], body: dict[str, Any],
                 key: Ed25519PrivateKey) -> Path:
    return write_atomically(path, sign_profile(body, key))


def load_verify_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The public key in a PEM file (a public key, or the private key itself)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CryptoError(f"{path}: cannot read key ({exc.strerror or exc})") from exc
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    try:
        pub = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"{path}: not a PEM key") from exc
    if not isinstance(pub, Ed25519PublicKey):
        raise CryptoError(f"{path}: not an Ed25519 key")
    return pub


def parse_profile(data: bytes, public: Ed25519PublicKey | None, what: str = "profile"
                  ) -> CalibrationProfile:
    """Verify and decode a profile file's bytes. ``public=None`` skips the profile's own
    signature: only for bytes another signature already vouches for (the default profile
    inside a CEC-signed election package, whose manifest covers its SHA-256)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProfileError(f"{what}: not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"{what}: not a {PROFILE_FORMAT} file")
    if doc.get("format_version") != PROFILE_VERSION:
        raise ProfileError(f"{what}: format version {doc.get('format_version')!r} "
                           f"is not supported")
    body = doc.get("body")
    if not isinstance(body, dict):
        raise ProfileError(f"{what}: no body")
    if public is not None:
        try:
            verify(public, SignatureKind.CALIBRATION, canonical_json(body),
                   unb64(doc.get("signature"), f"{what} signature"), what)
        except CryptoError as exc:
            raise ProfileError(f"{what}: signature does not verify with key {key_id(public)} "
                               f"(tampered, or signed by another key)") from exc
    boxes = {}
    try:
        for t in body["templates"]:
            arrays = _unpack(t["arrays"], f"{what} template {t['key']}")
            origin, dark = arrays["origin"], arrays["dark"]
            if origin.ndim != 2 or dark.ndim != 3 or len(origin) != len(dark) != len(
                    t["targets"]):
                raise ProfileError(f"{what}: template {t['key']} has inconsistent shapes")
            boxes[str(t["key"])] = (origin.astype(np.int64),
                                    dark.astype(np.float32) / np.float32(255.0))
        float(body["dpi"])
        str(body["election_hash"])
        float(body["optical_scale"]["across"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{what}: missing or bad field {exc}") from None
    return CalibrationProfile(body, boxes, str(doc.get("key_id")))


def load_profile(path: str | os.PathLike[str],
                 key: str | os.PathLike[str] | Ed25519PublicKey) -> CalibrationProfile:
    public = key if isinstance(key, Ed25519PublicKey) else load_verify_key(key)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile ({exc.strerror or exc})") from exc
    return parse_profile(data, public, str(path))


# ----------------------------------------------------------------------------- reader inputs


# A calibrated window is the median of this print run as this device saw it: what is left
# between it and a fed sheet is registration (about a pixel after the local search) and the
# sheet-to-sheet spread of one print run, not the raster-to-print dot gain.
CALIBRATED_TOLERANCE_MM = 0.13


class CalibratedTemplates:
    """A reader template source: the renderer's page with this print run's blank boxes.

    Each calibrated window is painted (grey, darkness = the calibrated median)
    exactly where the reader's ``build_template`` will cut it out, so the
    reader compares new ink with what this device saw of this print run.
    """

    def __init__(self, profile: CalibrationProfile, fallback: TemplateSource) -> None:
        self.profile = profile
        self.fallback = fallback

    def covers(self, layout: BallotLayout) -> bool:
        return template_key(layout) in self.profile.boxes

    def dot_gain_tolerance_mm(self, layout: BallotLayout) -> float | None:
        """How far the reader grows this layout's template before subtracting it: a
        calibrated window already holds this print run's dot gain and this device's blur,
        so only the registration residual is left (``CALIBRATED_TOLERANCE_MM``); None
        (the reader's default, for the renderer's raster) for a layout not calibrated."""
        return CALIBRATED_TOLERANCE_MM if self.covers(layout) else None

    def __call__(self, layout: BallotLayout, dpi: float) -> np.ndarray:
        page = np.array(self.fallback(layout, dpi), np.uint8, copy=True)
        entry = self.profile.boxes.get(template_key(layout))
        if entry is None:
            return page
        if abs(dpi - self.profile.dpi) > 1e-6:
            raise ProfileError(f"calibration profile is for {self.profile.dpi:g} DPI, "
                               f"the reader runs at {dpi:g} DPI")
        origin, dark = entry
        h, w = dark.shape[1:]
        grey = np.rint((1.0 - dark) * 255.0).astype(np.uint8)
        for (x0, y0), win in zip(origin, grey, strict=True):
            region = page[y0 : y0 + h, x0 : x0 + w]
            region[...] = win[: region.shape[0], : region.shape[1], None]
        return page


def configure_reader(config: ReaderConfig, profile: CalibrationProfile) -> ReaderConfig:
    """The reader configuration with this profile's inputs (refused if not for this reader)."""
    ours = election_hash(config.election)
    if profile.election_hash != ours:
        raise ProfileError(f"calibration profile is for election {profile.election_hash[:8]}, "
                           f"this reader has {ours[:8]}")
    if abs(profile.dpi - config.dpi) > 1e-6:
        raise ProfileError(f"calibration profile is for {profile.dpi:g} DPI, "
                           f"the reader runs at {config.dpi:g} DPI")
    # The measured optical scale across the feed replaces any nominal or hand-set one: where
    # the paper edge cannot be seen, fit-to-page compares the ladder separation with it.
    scanner = replace(config.scanner, optical_scale=profile.optical_scale[0])
    return replace(config, templates=profile.template_source(config.templates),
                   profile=scanner)
