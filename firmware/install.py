"""What the device installs: a signed election package and withdrawal amendments.

The seam between :mod:`firmware.package` / :mod:`firmware.amendment` (pure
verification) and :class:`firmware.device.Device` (state machine, audit log):

* :class:`PackageTrust` is what a device trusts: the CEC root, and its own key
  and certificate from ``pcos device provision`` (:mod:`firmware.provision`).
* :func:`configure` maps a :class:`~firmware.package.VerifiedPackage` onto a
  :class:`~firmware.device.DeviceConfig` (election, station, package hash, a
  reader built for that election and station with the package's thresholds).
* :data:`PACKAGE_REFUSALS` / :data:`AMENDMENT_REFUSALS`: the operator's ky/ru
  message for every typed refusal reason.
* :func:`installed_package_path`: where the package file is kept (internal
  flash), so a restart re-verifies the same file instead of trusting memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from election.hashing import election_hash
from election.model import Election, Station, Text
from firmware import package
from firmware.amendment import AmendmentRefusal, CandidateWithdrawal, ListWithdrawal
from firmware.package import PackageRefusal, TrustAnchor, VerifiedPackage
from firmware.provision import ProvisionedDevice
from vision.config import Thresholds

if TYPE_CHECKING:
    from firmware.device import DeviceConfig, SheetReader

INSTALLED_PACKAGE = "election-package.bin"

T = Text

# A reader for an election and station with the package's thresholds
ReaderFactory = Callable[[Election, Station, Thresholds], "SheetReader"]


@dataclass(frozen=True)
class PackageTrust:
    """What the device trusts when it loads a package or an amendment."""

    root: TrustAnchor  # the CEC root certificate (or its public key)
    device: ProvisionedDevice | None = None  # this device's key and CEC-issued certificate


PACKAGE_REFUSALS: dict[PackageRefusal, Text] = {
    PackageRefusal.MALFORMED: T(ky="Пакет окулбайт: бул шайлоо пакети эмес.",
                                ru="Пакет не читается: это не пакет выборов."),
    PackageRefusal.TAMPERED: T(ky="Пакет өзгөртүлгөн: кол тамга туура эмес. Жүктөлбөйт.",
                               ru="Пакет изменён: подпись не сходится. Не загружен."),
    PackageRefusal.WRONG_KEY: T(ky="Пакетке БШКнын ачкычы менен кол коюлган эмес.",
                                ru="Пакет подписан не ключом ЦИК."),
    PackageRefusal.CERTIFICATE_EXPIRED: T(ky="Пакеттин же түзмөктүн сертификатынын мөөнөтү "
                                             "бүткөн.",
                                          ru="Срок действия сертификата пакета или "
                                             "устройства истёк."),
    PackageRefusal.WRONG_ELECTION: T(ky="Пакет башка шайлоо үчүн.",
                                     ru="Пакет для других выборов."),
    PackageRefusal.NOT_ASSIGNED: T(ky="Бул түзмөк пакетте дайындалган эмес.",
                                   ru="Это устройство не назначено в пакете."),
    PackageRefusal.ANOTHER_STATION: T(ky="Пакет бул түзмөктү башка участокко дайындайт.",
                                      ru="Пакет назначает это устройство на другой участок."),
    PackageRefusal.OLDER_VERSION: T(ky="Пакеттин версиясы орнотулгандан эски.",
                                    ru="Версия пакета старее установленной."),
}

AMENDMENT_REFUSALS: dict[AmendmentRefusal, Text] = {
    AmendmentRefusal.MALFORMED: T(ky="Өзгөртүү файлы окулбайт.",
                                  ru="Файл изменения не читается."),
    AmendmentRefusal.TAMPERED: T(ky="Өзгөртүүнүн кол тамгасы туура эмес.",
                                 ru="Подпись изменения не сходится."),
    AmendmentRefusal.WRONG_KEY: T(ky="Өзгөртүүгө БШКнын ачкычы менен кол коюлган эмес.",
                                  ru="Изменение подписано не ключом ЦИК."),
    AmendmentRefusal.CERTIFICATE_EXPIRED: T(ky="Өзгөртүүнүн сертификатынын мөөнөтү бүткөн.",
                                            ru="Срок действия сертификата изменения истёк."),
    AmendmentRefusal.WRONG_ELECTION: T(ky="Өзгөртүү башка шайлоо үчүн.",
                                       ru="Изменение для других выборов."),
    AmendmentRefusal.UNKNOWN_POSITION: T(ky="Өзгөртүүдө тизмеде жок орун аталган.",
                                         ru="В изменении указана позиция, которой нет в "
                                            "списке."),
    AmendmentRefusal.UNKNOWN_CANDIDATE: T(ky="Өзгөртүүдө белгисиз талапкер аталган.",
                                          ru="В изменении указан неизвестный кандидат."),
    AmendmentRefusal.POLLS_OPENED: T(ky="Добуш берүү ачылгандан кийин талапкерди чыгарууга "
                                        "болбойт.",
                                     ru="После открытия голосования выбытие кандидата не "
                                        "применяется."),
}


def installed_package_path(internal_root: Path) -> Path:
    return internal_root / INSTALLED_PACKAGE


def configure(config: DeviceConfig, verified: VerifiedPackage) -> DeviceConfig:
    """``config`` running ``verified``: its election, station, hash, and a matching reader."""
    reader = config.reader
    if config.reader_for is not None:
        reader = config.reader_for(verified.election, verified.station, verified.thresholds)
    signing_key = config.signing_key
    if config.trust is not None and config.trust.device is not None:
        signing_key = config.trust.device.key
    return dataclasses.replace(config, election=verified.election, station=verified.station,
                               device_id=verified.device_id, package_hash=verified.package_hash,
                               signing_key=signing_key, reader=reader,
                               thresholds=verified.thresholds,
                               default_calibration=verified.calibration)


def with_election(config: DeviceConfig, election: Election) -> DeviceConfig:
    """``config`` counting by ``election`` (after a withdrawal; the hash does not change)."""
    station = election.station(config.station.number)
    reader = config.reader
    if config.reader_for is not None:
        reader = config.reader_for(election, station, config.thresholds or Thresholds())
    return dataclasses.replace(config, election=election, station=station, reader=reader)


def withdrawals_json(positions: tuple[ListWithdrawal, ...],
                     candidates: tuple[CandidateWithdrawal, ...]) -> dict[str, Any]:
    return {"positions": [[w.party, w.position] for w in positions],
            "candidates": [[w.contest, w.candidate] for w in candidates]}


def withdrawals_from_json(doc: dict[str, Any]
                          ) -> tuple[tuple[ListWithdrawal, ...], tuple[CandidateWithdrawal, ...]]:
    return (tuple(ListWithdrawal(p, int(n)) for p, n in doc.get("positions", [])),
            tuple(CandidateWithdrawal(c, k) for c, k in doc.get("candidates", [])))


def reinstall_quick(config: DeviceConfig, data: bytes, stored: dict[str, Any]
                    ) -> DeviceConfig | None:
    """After a restart: run the installed package without parsing it all again.

    ``data`` is the installed file, whose SHA-256 the caller checked against the
    package hash recorded (in the hash-chained, signed audit log) when the package
    was fully verified at load. When the device was built with that package's
    election (same election hash) and station, only the small thresholds member is
    read; otherwise None (the caller verifies the file in full). This keeps a restart
    well under a second with the 1.2 MB national definition.
    """
    if (election_hash(config.election) != stored.get("election_hash")
            or config.station.number != str(stored.get("station"))):
        return None
    try:
        members = package.read_container(data)
        thresholds = package.thresholds_from_json(package.strict_json(
            members[package.THRESHOLDS], "thresholds", package.PackageRefusal.MALFORMED))
        calibration = members.get(package.CALIBRATION)
    except (package.PackageError, KeyError):
        return None
    reader = config.reader
    if config.reader_for is not None:
        reader = config.reader_for(config.election, config.station, thresholds)
    signing_key = config.signing_key
    if config.trust is not None and config.trust.device is not None:
        signing_key = config.trust.device.key
    return dataclasses.replace(config, device_id=str(stored.get("device", config.device_id)),
                               package_hash=str(stored["package_hash"]),
                               signing_key=signing_key, reader=reader, thresholds=thresholds,
                               default_calibration=calibration)
