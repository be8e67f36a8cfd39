"""The CEC's registry from the signed election package and the device certificates.

Instead of a hand-written CEC directory, the server trusts exactly what the
devices trust: the election package the CEC signed (verified up to the CEC root
with :func:`firmware.package.verify_package`), the CEC key directory written by
``pcos package keygen`` (root, signing key, HPKE result key) and the device
certificates written by ``pcos device provision``. It checks that

* the package's result key (``cec-hpke.pub``) is this CEC's HPKE key, and its
  signing certificate is this CEC's signing key (receipts are signed with it);
* every device certificate was issued by that signing key, and the package assigns
  the device to the station its certificate names (or it is a spare of that
  station's TEC);
* a certificate that names no station is a TEC spare's: the package must list the
  device among a TEC's spares. It is registered as a spare of that TEC
  (``CecRegistry.spare_tecs``); the station it speaks for comes from its signed
  messages (it loaded the package for that station), and the CEC accepts them only
  for stations of that TEC (:func:`protocol.cec.registry.check_spare_station`).

Then :meth:`CecRegistry.build` does the rest; the registry's ``package_hash`` is
the SHA-256 of the package file, as every device prints and signs it.

The package carries an X25519 result key only, so a registry built this way
offers the default HPKE suite; the post-quantum hybrid needs its key in the
package first (see docs/readme/transmit.md).

:func:`device_cec_keys` is the device side: what a verified package gives the
uplink (HPKE public key, CEC signing public key for receipts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from firmware import crypto, package, provision
from firmware.crypto import Certificate, CryptoError
from protocol.cec.registry import CecRegistry, RegistryError
from protocol.envelope import CecEncryptionKeys, CecPublicKeys


def load_certificates(paths: Iterable[str | Path]) -> list[Certificate]:
    """Device certificates from files, or from directories (``device.cert`` and
    ``*.cert.json`` found under them)."""
    out: list[Certificate] = []
    for p in map(Path, paths):
        files = ([p] if p.is_file() else sorted([*p.rglob(provision.DEVICE_CERT_FILE),
                                                 *p.rglob("*.cert.json")]))
        if not files:
            raise RegistryError(f"{p}: no device certificates")
        out += [crypto.load_certificate(f) for f in files]
    return out


def registry_from_package(package_file: str | Path, keys_dir: str | Path,
                          certificates: list[Certificate], *,
                          now: str | dt.datetime | None = None,
                          revoked: frozenset[str] = frozenset()) -> CecRegistry:
    keys = provision.load_cec_keys(keys_dir)
    data = Path(package_file).read_bytes()
    when = now if now is not None else dt.datetime.now(dt.UTC)
    contents = package.verify_package(data, root=keys.root_certificate, now=when)
    if contents.cec_hpke_public_key != keys.hpke_public_key:
        raise RegistryError(f"{package_file}: its result key is not this CEC's HPKE key "
                            f"({keys_dir})")
    if contents.cec_signing_certificate.public_key != crypto.public_bytes(keys.signing_key):
        raise RegistryError(f"{package_file}: signed by another CEC signing key than "
                            f"{keys_dir}'s")
    assignments = contents.assignments
    election = contents.election
    spare_tecs: dict[str, str] = {}
    for cert in certificates:
        try:
            cert.verify(keys.signing_key.public_key())
        except CryptoError as exc:
            raise RegistryError(f"device certificate: {exc}") from None
        station = cert.station
        assigned = assignments.station_of(cert.subject)
        spare_tec = assignments.tec_of_spare(cert.subject)
        if spare_tec is not None:
            spare_tecs[cert.subject] = spare_tec
        if station is None:
            if spare_tec is None:
                raise RegistryError(f"device {cert.subject} is certified for no station and "
                                    "the package lists it as no TEC's spare"
                                    + (f" (it assigns it to station {assigned})"
                                       if assigned else ""))
            continue
        try:
            tec = election.station(station).tec
        except KeyError:
            raise RegistryError(f"device {cert.subject} is certified for station {station}, "
                                "not in the election") from None
        if assigned != station and spare_tec != tec:
            raise RegistryError(f"device {cert.subject} is certified for station {station} "
                                f"but the package assigns it to "
                                f"{assigned or ('a spare of TEC ' + str(spare_tec))}")
    encryption = CecEncryptionKeys(keys.hpke_key)
    return CecRegistry.build(election, keys.signing_key, encryption, certificates,
                             package_hash=contents.package_hash, revoked=revoked,
                             spare_tecs=spare_tecs)


def device_cec_keys(contents: package.PackageContents | package.VerifiedPackage
                    ) -> tuple[CecPublicKeys, Ed25519PublicKey]:
    """What a device encrypts to and checks receipts with, from its verified package."""
    hpke = x25519.X25519PublicKey.from_public_bytes(contents.cec_hpke_public_key)
    signing = crypto.public_key_from_bytes(contents.cec_signing_certificate.public_key,
                                           "CEC signing key")
    return CecPublicKeys(hpke), signing
