"""What the CEC server knows before the first message: election, keys, devices.

Until the signed-package helper's provisioning lands, the CEC reads a plain
directory (written by :func:`protocol.cec.provision.provision`, or by hand)::

    <cec-dir>/election.json          the election definition
    <cec-dir>/package-hash.txt       hash of the election package the devices load
                                     (optional; default: the definition hash)
    <cec-dir>/cec-signing.key        CEC signing key (Ed25519 PEM): signs device
                                     certificates and receipts
    <cec-dir>/cec-encryption.keys    CEC HPKE private keys (protocol.envelope)
    <cec-dir>/devices/*.cert.json    one CEC-signed device certificate per device
    <cec-dir>/revoked.txt            revoked device ids, one per line (optional)

Every certificate is verified against the CEC signing key when loaded; a bad
one stops the server with a typed error rather than being skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from election.definition import load_election
from election.errors import PcosError
from election.hashing import definition_hash, election_hash
from election.model import Election
from firmware.crypto import (
    Certificate,
    CertificateRole,
    CryptoError,
    load_certificate,
    load_private_key,
)
from protocol.envelope import CecEncryptionKeys


class RegistryError(PcosError):
    """The CEC directory is incomplete or holds something that does not verify."""


@dataclass
class CecRegistry:
    election: Election
    election_hash: str
    package_hash: str
    signing_key: Ed25519PrivateKey
    encryption_keys: CecEncryptionKeys
    devices: dict[str, Certificate]
    revoked: frozenset[str] = frozenset()
    _signing_public: Ed25519PublicKey | None = field(default=None, repr=False)

    @property
    def signing_public(self) -> Ed25519PublicKey:
        if self._signing_public is None:
            self._signing_public = self.signing_key.public_key()
        return self._signing_public

    def devices_of_station(self, station: str) -> list[str]:
        return sorted(d for d, c in self.devices.items() if c.station == station)

    @classmethod
    def build(cls, election: Election, signing_key: Ed25519PrivateKey,
              encryption_keys: CecEncryptionKeys, certificates: list[Certificate], *,
              package_hash: str | None = None, revoked: frozenset[str] = frozenset()
              ) -> CecRegistry:
        public = signing_key.public_key()
        devices: dict[str, Certificate] = {}
        for cert in certificates:
            try:
                cert.verify(public)
            except CryptoError as exc:
                raise RegistryError(f"device certificate: {exc}") from None
            if cert.role is not CertificateRole.DEVICE or cert.station is None:
                raise RegistryError(f"certificate of {cert.subject} is not a device's")
            try:
                election.station(cert.station)
            except KeyError:
                raise RegistryError(f"device {cert.subject} is certified for station "
                                    f"{cert.station}, not in the election") from None
            if cert.election_id not in (None, election.election_id):
                raise RegistryError(f"device {cert.subject} is certified for election "
                                    f"{cert.election_id}, not {election.election_id}")
            if cert.subject in devices:
                raise RegistryError(f"two certificates for device {cert.subject}")
            devices[cert.subject] = cert
        return cls(election, election_hash(election), package_hash or definition_hash(election),
                   signing_key, encryption_keys, devices, revoked)

    @classmethod
    def load(cls, directory: str | Path) -> CecRegistry:
        root = Path(directory)
        if not root.is_dir():
            raise RegistryError(f"{root}: not a CEC directory")
        election = load_election(root / "election.json")
        signing = load_private_key(root / "cec-signing.key")
        encryption = CecEncryptionKeys.load(root / "cec-encryption.keys")
        certs = [load_certificate(p) for p in sorted((root / "devices").glob("*.cert.json"))]
        if not certs:
            raise RegistryError(f"{root / 'devices'}: no device certificates")
        package = root / "package-hash.txt"
        package_hash = package.read_text().strip() if package.exists() else None
        revoked_file = root / "revoked.txt"
        revoked = frozenset(line.strip() for line in revoked_file.read_text().splitlines()
                            if line.strip()) if revoked_file.exists() else frozenset()
        return cls.build(election, signing, encryption, certs, package_hash=package_hash,
                         revoked=revoked)
