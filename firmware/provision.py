"""CEC keys and device provisioning.

Who holds what:

* the **CEC root** (Ed25519, kept offline) certifies the CEC signing key; devices
  trust only the root's public key, distributed as a self-signed ``cec-root``
  certificate (``cec-root.cert``);
* the **CEC signing key** (Ed25519) signs election packages, withdrawal amendments
  and device certificates; its ``cec-signing`` certificate travels inside every
  package;
* the **CEC result key** (X25519, for HPKE) receives the encrypted results; only its
  public half travels in the package;
* each **device key** (Ed25519) is generated at provisioning; the CEC signing key
  certifies it (device id, station, validity). Reports and the transmitted
  protocol are signed with it.

Keys can be derived from a seed (:func:`derive_seed`) so that tests and simulations
are reproducible; a real CEC generates them from the operating system's random
source (``seed=None``). Files are written atomically; private keys with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from election.fileio import write_atomically
from firmware import crypto
from firmware.crypto import Certificate, CertificateRole, CryptoError

# Default validity windows (ISO-8601 UTC, compared as text by Certificate.verify).
DEFAULT_VALID_FROM = "2021-01-01T00:00:00Z"
DEFAULT_VALID_UNTIL = "2022-12-31T23:59:59Z"

ROOT_KEY_FILE = "cec-root.key"
ROOT_CERT_FILE = "cec-root.cert"
SIGNING_KEY_FILE = "cec-signing.key"
SIGNING_CERT_FILE = "cec-signing.cert"
HPKE_KEY_FILE = "cec-hpke.key"
HPKE_PUBLIC_FILE = "cec-hpke.pub"
DEVICE_KEY_FILE = "device.key"
DEVICE_CERT_FILE = "device.cert"

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def derive_seed(seed: bytes, label: str) -> bytes:
    """32 seed bytes for the key called ``label``, derived from a master ``seed``.

    Different labels give unrelated keys from one master seed (tests, simulations).
    """
    return hashlib.sha256(b"pcos-kg/seed//" + label.encode("utf-8") + b"//" + seed).digest()


def instant(value: str | dt.datetime) -> str:
    """An ISO-8601 UTC instant as certificates compare it: ``YYYY-MM-DDTHH:MM:SSZ``.

    A ``datetime`` must be timezone-aware; it is converted to UTC. Text must already
    have that exact shape. Raises :class:`CryptoError` otherwise.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise CryptoError("time must be timezone-aware (UTC)")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise CryptoError(f"time {value!r}: expected YYYY-MM-DDTHH:MM:SSZ (UTC)")
    try:
        dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise CryptoError(f"time {value!r}: not a valid date and time") from None
    return value


def check_device_id(device_id: str) -> str:
    if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
        raise CryptoError(f"device id {device_id!r}: expected 1..64 letters, digits, "
                          "'.', '_' or '-'")
    return device_id


def _ed25519(seed: bytes | None, label: str) -> Ed25519PrivateKey:
    return crypto.generate_key() if seed is None else crypto.key_from_seed(
        derive_seed(seed, label))


def _x25519(seed: bytes | None, label: str) -> X25519PrivateKey:
    if seed is None:
        return X25519PrivateKey.generate()
    return X25519PrivateKey.from_private_bytes(derive_seed(seed, label))


def x25519_public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


# --- the CEC ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CecKeys:
    """Everything a CEC technician's key directory holds (private halves included)."""

    root_key: Ed25519PrivateKey
    root_certificate: Certificate  # self-signed, role cec-root
    signing_key: Ed25519PrivateKey
    signing_certificate: Certificate  # role cec-signing, issued by the root
    hpke_key: X25519PrivateKey  # result encryption (HPKE, X25519)

    @property
    def root_public_key(self) -> Ed25519PublicKey:
        return self.root_key.public_key()

    @property
    def hpke_public_key(self) -> bytes:
        """The raw 32-byte X25519 public key the package carries."""
        return x25519_public_bytes(self.hpke_key)


def generate_cec_keys(*, seed: bytes | None = None, valid_from: str = DEFAULT_VALID_FROM,
                      valid_until: str = DEFAULT_VALID_UNTIL,
                      election_id: str | None = None) -> CecKeys:
    """A new CEC root, signing key (certified by the root) and HPKE result key.

    ``seed`` makes them deterministic (tests and simulations only). ``election_id``,
    when given, limits the signing certificate to that election.
    """
    valid_from, valid_until = instant(valid_from), instant(valid_until)
    if valid_from > valid_until:
        raise CryptoError(f"validity {valid_from} .. {valid_until} is empty")
    root = _ed25519(seed, "cec-root")
    signing = _ed25519(seed, "cec-signing")
    root_cert = crypto.issue_certificate(
        root, role=CertificateRole.CEC_ROOT, subject="CEC root",
        public_key=crypto.public_bytes(root), valid_from=valid_from, valid_until=valid_until)
    signing_cert = crypto.issue_certificate(
        root, role=CertificateRole.CEC_SIGNING, subject="CEC signing",
        public_key=crypto.public_bytes(signing), valid_from=valid_from,
        valid_until=valid_until, election_id=election_id)
    return CecKeys(root_key=root, root_certificate=root_cert, signing_key=signing,
                   signing_certificate=signing_cert, hpke_key=_x25519(seed, "cec-hpke"))


def save_cec_keys(keys: CecKeys, directory: str | os.PathLike[str]) -> Path:
    """Write the key directory (private keys mode 0600). Returns the directory."""
    folder = Path(directory)
    crypto.save_private_key(keys.root_key, folder / ROOT_KEY_FILE)
    crypto.save_certificate(keys.root_certificate, folder / ROOT_CERT_FILE)
    crypto.save_private_key(keys.signing_key, folder / SIGNING_KEY_FILE)
    crypto.save_certificate(keys.signing_certificate, folder / SIGNING_CERT_FILE)
    pem = keys.hpke_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    os.chmod(write_atomically(folder / HPKE_KEY_FILE, pem), 0o600)
    write_atomically(folder / HPKE_PUBLIC_FILE, keys.hpke_public_key)
    return folder


def load_cec_keys(directory: str | os.PathLike[str]) -> CecKeys:
    """Read a key directory written by :func:`save_cec_keys` and check that it agrees."""
    folder = Path(directory)
    root = crypto.load_private_key(folder / ROOT_KEY_FILE)
    root_cert = load_root_certificate(folder / ROOT_CERT_FILE)
    signing = crypto.load_private_key(folder / SIGNING_KEY_FILE)
    signing_cert = crypto.load_certificate(folder / SIGNING_CERT_FILE)
    if root_cert.public_key != crypto.public_bytes(root):
        raise CryptoError(f"{folder}: {ROOT_CERT_FILE} is not the certificate of {ROOT_KEY_FILE}")
    signing_cert.verify(root.public_key())
    if (signing_cert.role is not CertificateRole.CEC_SIGNING
            or signing_cert.public_key != crypto.public_bytes(signing)):
        raise CryptoError(f"{folder}: {SIGNING_CERT_FILE} is not the cec-signing certificate "
                          f"of {SIGNING_KEY_FILE}")
    hpke_path = folder / HPKE_KEY_FILE
    try:
        hpke = serialization.load_pem_private_key(hpke_path.read_bytes(), password=None)
    except OSError as exc:
        raise CryptoError(f"{hpke_path}: cannot read key ({exc.strerror or exc})") from exc
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"{hpke_path}: not a PEM private key") from exc
    if not isinstance(hpke, X25519PrivateKey):
        raise CryptoError(f"{hpke_path}: not an X25519 key")
    return CecKeys(root_key=root, root_certificate=root_cert, signing_key=signing,
                   signing_certificate=signing_cert, hpke_key=hpke)


def load_root_certificate(path: str | os.PathLike[str]) -> Certificate:
    """A self-signed ``cec-root`` certificate: the trust anchor a device is built with."""
    cert = crypto.load_certificate(path)
    check_root_certificate(cert, str(path))
    return cert


def check_root_certificate(cert: Certificate, what: str = "root certificate") -> None:
    if cert.role is not CertificateRole.CEC_ROOT:
        raise CryptoError(f"{what}: role {cert.role.value}, expected cec-root")
    cert.verify(cert.key)  # self-signed


# --- devices ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvisionedDevice:
    """A device's key pair and its certificate (device id, station, validity)."""

    key: Ed25519PrivateKey
    certificate: Certificate

    @property
    def device_id(self) -> str:
        return self.certificate.subject

    @property
    def station(self) -> str | None:
        return self.certificate.station


def provision_device(signing_key: Ed25519PrivateKey, *, device_id: str, station: str | None,
                     valid_from: str = DEFAULT_VALID_FROM,
                     valid_until: str = DEFAULT_VALID_UNTIL, election_id: str | None = None,
                     seed: bytes | None = None,
                     key: Ed25519PrivateKey | None = None) -> ProvisionedDevice:
    """Generate a device key pair and certify it with the CEC signing key.

    ``station`` is None for a spare kept at a TEC (it may then serve any station its
    package assigns it to). ``seed`` makes the key deterministic (tests only). ``key``:
    certify this existing device key instead of generating one (a device keeps one key
    pair for its life: a simulation whose CEC server directory already holds it).
    """
    check_device_id(device_id)
    valid_from, valid_until = instant(valid_from), instant(valid_until)
    if valid_from > valid_until:
        raise CryptoError(f"validity {valid_from} .. {valid_until} is empty")
    key = key if key is not None else _ed25519(seed, f"device//{device_id}")
    cert = crypto.issue_certificate(
        signing_key, role=CertificateRole.DEVICE, subject=device_id,
        public_key=crypto.public_bytes(key), valid_from=valid_from, valid_until=valid_until,
        station=station, election_id=election_id)
    return ProvisionedDevice(key=key, certificate=cert)


def save_device(device: ProvisionedDevice, directory: str | os.PathLike[str]) -> Path:
    folder = Path(directory)
    crypto.save_private_key(device.key, folder / DEVICE_KEY_FILE)
    crypto.save_certificate(device.certificate, folder / DEVICE_CERT_FILE)
    return folder


def load_device(directory: str | os.PathLike[str]) -> ProvisionedDevice:
    folder = Path(directory)
    key = crypto.load_private_key(folder / DEVICE_KEY_FILE)
    cert = crypto.load_certificate(folder / DEVICE_CERT_FILE)
    if cert.role is not CertificateRole.DEVICE or cert.public_key != crypto.public_bytes(key):
        raise CryptoError(f"{folder}: {DEVICE_CERT_FILE} is not the device certificate of "
                          f"{DEVICE_KEY_FILE}")
    return ProvisionedDevice(key=key, certificate=cert)


def verify_device_certificate(cert: Certificate, signing_certificate: Certificate,
                              root_public_key: Ed25519PublicKey, now: str) -> None:
    """Check a device certificate up to the CEC root at ``now``; raise CryptoError if not."""
    check_signing_certificate(signing_certificate, root_public_key, now)
    if cert.role is not CertificateRole.DEVICE:
        raise CryptoError(f"certificate of {cert.subject}: role {cert.role.value}, "
                          "expected device")
    cert.verify(signing_certificate.key, at=now)


def check_signing_certificate(cert: Certificate, root_public_key: Ed25519PublicKey,
                              now: str | None) -> None:
    if cert.role is not CertificateRole.CEC_SIGNING:
        raise CryptoError(f"certificate of {cert.subject}: role {cert.role.value}, "
                          "expected cec-signing")
    cert.verify(root_public_key, at=now)
