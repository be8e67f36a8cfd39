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

TEC spares: a spare certified for a station is that station's device like any
other. A spare certified for *no* station (``pcos device provision`` without a
station: it may serve any station of its TEC) is registered with its TEC, from the
package's assignments (``spare_tecs``: device id -> TEC). The station it speaks
for is the one its signed messages name (it loaded the package for that station);
:func:`check_spare_station` is the rule the CEC applies to each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from protocol.errors import ProtocolError, Reason
from protocol.messages import MessageKind

# The reports that tie a TEC spare to a station: the first one the CEC accepts names the
# station the spare is counted for, and from then on it speaks for that station only.
SPARE_BINDING_KINDS = (MessageKind.ZERO_REPORT.value, MessageKind.RESULTS.value,
                       MessageKind.DEC_PROTOCOL.value)


class RegistryError(PcosError):
    """The CEC directory is incomplete or holds something that does not verify."""


def check_spare_station(election: Election, device_id: str, tec: str, station: str) -> None:
    """The rule for a TEC spare certified for no station: it may speak for any station
    of its TEC ``tec`` in ``election``. A station not in the election is
    ``wrong-station``; a station of another TEC is ``wrong-tec``; both name the device,
    the station and the TEC."""
    try:
        other = election.station(station).tec
    except KeyError:
        raise ProtocolError(Reason.WRONG_STATION, f"spare {device_id} of TEC {tec}: station "
                            f"{station} is not in the election") from None
    if other != tec:
        raise ProtocolError(Reason.WRONG_TEC, f"spare {device_id} of TEC {tec} may not speak "
                            f"for station {station} of TEC {other}")


@dataclass
class CecRegistry:
    election: Election
    election_hash: str
    package_hash: str
    signing_key: Ed25519PrivateKey
    encryption_keys: CecEncryptionKeys
    devices: dict[str, Certificate]
    revoked: frozenset[str] = frozenset()
    # TEC spares certified for no station: device id -> TEC (from the package)
    spare_tecs: Mapping[str, str] = field(default_factory=dict)
    _signing_public: Ed25519PublicKey | None = field(default=None, repr=False)

    @property
    def signing_public(self) -> Ed25519PublicKey:
        if self._signing_public is None:
            self._signing_public = self.signing_key.public_key()
        return self._signing_public

    def devices_of_station(self, station: str) -> list[str]:
        """Devices certified for ``station`` (TEC spares that reported for it are in
        :attr:`protocol.cec.consolidate.Consolidation.spares_at`)."""
        return sorted(d for d, c in self.devices.items() if c.station == station)

    def tec_spare(self, device_id: str) -> str | None:
        """The TEC of a registered spare certified for no station; None for any other."""
        cert = self.devices.get(device_id)
        return self.spare_tecs.get(device_id) if cert is not None and cert.station is None \
            else None

    @classmethod
    def build(cls, election: Election, signing_key: Ed25519PrivateKey,
              encryption_keys: CecEncryptionKeys, certificates: list[Certificate], *,
              package_hash: str | None = None, revoked: frozenset[str] = frozenset(),
              spare_tecs: Mapping[str, str] | None = None) -> CecRegistry:
        """``spare_tecs``: the package's TEC spares (device id -> TEC); a certificate that
        names no station is registered only if its device is one of them."""
        public = signing_key.public_key()
        spares = dict(spare_tecs or {})
        tecs = {t.id for t in election.tecs}
        devices: dict[str, Certificate] = {}
        for cert in certificates:
            try:
                cert.verify(public)
            except CryptoError as exc:
                raise RegistryError(f"device certificate: {exc}") from None
            if cert.role is not CertificateRole.DEVICE:
                raise RegistryError(f"certificate of {cert.subject} is not a device's")
            tec = spares.get(cert.subject)
            if tec is not None and tec not in tecs:
                raise RegistryError(f"spare {cert.subject} is at TEC {tec}, not in the "
                                    "election")
            if cert.station is None:
                if tec is None:
                    raise RegistryError(f"device {cert.subject} is certified for no station "
                                        "and is no TEC's spare in the package")
            else:
                try:
                    at = election.station(cert.station).tec
                except KeyError:
                    raise RegistryError(f"device {cert.subject} is certified for station "
                                        f"{cert.station}, not in the election") from None
                if tec is not None and at != tec:
                    raise RegistryError(f"spare {cert.subject} of TEC {tec} is certified for "
                                        f"station {cert.station} of TEC {at}")
            if cert.election_id not in (None, election.election_id):
                raise RegistryError(f"device {cert.subject} is certified for election "
                                    f"{cert.election_id}, not {election.election_id}")
            if cert.subject in devices:
                raise RegistryError(f"two certificates for device {cert.subject}")
            devices[cert.subject] = cert
        return cls(election, election_hash(election), package_hash or definition_hash(election),
                   signing_key, encryption_keys, devices, revoked,
                   {d: t for d, t in spares.items() if d in devices})

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
