"""The CEC registry from the signed election package, the device certificates and the
CEC key directory; a device provisioned by the package tooling is accepted by the CEC."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from package_fixtures import NOW, assignments, build, cec_keys, election

from firmware import package, provision
from protocol.cec.ingest import Ingestor
from protocol.cec.package_registry import (
    device_cec_keys,
    load_certificates,
    registry_from_package,
)
from protocol.cec.registry import RegistryError
from protocol.cec.store import open_store
from protocol.device import DeviceIdentity, DeviceMessenger
from protocol.envelope import seal
from protocol.messages import Status
from protocol.receipts import ReceiptStatus, parse_receipt


def _setup(tmp: Path) -> tuple[Path, Path, list[provision.ProvisionedDevice]]:
    keys = cec_keys()
    provision.save_cec_keys(keys, tmp / "keys")
    (tmp / "pkg.bin").write_bytes(build(keys))
    e = election()
    a = assignments(e)
    devices = []
    for station, ids in sorted(a.stations.items()):
        for did in ids:
            dev = provision.provision_device(keys.signing_key, device_id=did, station=station,
                                             seed=b"dev-" + did.encode())
            provision.save_device(dev, tmp / "devices" / did)
            devices.append(dev)
    return tmp / "pkg.bin", tmp / "keys", devices


def test_registry_from_package_accepts_its_devices(tmp_path: Path) -> None:
    pkg, keys, devices = _setup(tmp_path)
    certs = load_certificates([tmp_path / "devices"])
    assert len(certs) == len(devices) >= 4
    registry = registry_from_package(pkg, keys, certs, now=NOW)
    assert registry.package_hash == package.verify_package(
        pkg.read_bytes(), root=provision.load_cec_keys(keys).root_certificate,
        now=NOW).package_hash
    dev = devices[0]
    root = provision.load_cec_keys(keys).root_certificate
    verified = package.load_package(pkg.read_bytes(), root=root, device_id=dev.device_id,
                                    now=NOW, device_certificate=dev.certificate)
    cec_public, signing_public = device_cec_keys(verified)  # the device side, from its package
    assert dev.station is not None
    messenger = DeviceMessenger(DeviceIdentity(dev.device_id, dev.station, dev.key,
                                               dev.certificate),
                                verified.election_hash, verified.package_hash)
    signed = messenger.build(Status("polls-open", ""), sequence=1, time=NOW,
                             audit_head="ab" * 32)
    store = open_store(tmp_path / "cec.db")
    out = Ingestor(registry, store, clock=lambda: NOW).process(seal(signed, cec_public))
    store.commit()
    receipt = parse_receipt(out.receipt, signing_public)
    assert receipt.status is ReceiptStatus.ACCEPTED, receipt.detail


def test_registry_refuses_a_device_the_package_does_not_assign(tmp_path: Path) -> None:
    pkg, keys, devices = _setup(tmp_path)
    k = provision.load_cec_keys(keys)
    other_station = devices[-1].station
    assert other_station is not None and other_station != devices[0].station
    stray = provision.provision_device(k.signing_key, device_id=devices[0].device_id + "X",
                                       station=other_station, seed=b"stray")
    certs = [d.certificate for d in devices]
    with pytest.raises(RegistryError, match="assigns it"):
        registry_from_package(pkg, keys, [*certs, stray.certificate], now=NOW)
    moved = provision.provision_device(k.signing_key, device_id=devices[0].device_id,
                                       station=other_station, seed=b"moved")
    with pytest.raises(RegistryError, match="assigns it"):
        registry_from_package(pkg, keys, [moved.certificate, *certs[1:]], now=NOW)


def test_registry_refuses_another_cecs_package_or_keys(tmp_path: Path) -> None:
    pkg, keys, devices = _setup(tmp_path)
    certs = [d.certificate for d in devices]
    other = cec_keys(bytes(range(2, 34)))
    provision.save_cec_keys(other, tmp_path / "other-keys")
    with pytest.raises(package.PackageError):  # package not under the other root
        registry_from_package(pkg, tmp_path / "other-keys", certs, now=NOW)
    # same root and signing key, but another HPKE result key in the key directory
    k = provision.load_cec_keys(keys)
    swapped = dataclasses.replace(k, hpke_key=other.hpke_key)
    provision.save_cec_keys(swapped, tmp_path / "swapped")
    with pytest.raises(RegistryError, match="result key"):
        registry_from_package(pkg, tmp_path / "swapped", certs, now=NOW)


def test_cec_serve_from_the_package_prints_the_website(tmp_path: Path) -> None:
    """`pcos cec serve --package ...` as a real process: the website answers on the
    printed address, and the registry holds the package's devices."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    pkg, keys, devices = _setup(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        http_port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "tools.cli", "cec", "serve", "--dir", str(tmp_path / "cec"),
           "--package", str(pkg), "--keys", str(keys), "--device-certs",
           str(tmp_path / "devices"), "--now", NOW, "--port", "0", "--http-port",
           str(http_port)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert f"{len(devices)} devices registered" in first, first
        website = server.stdout.readline()
        assert f"website on http://127.0.0.1:{http_port}/" in website, website
        page = b""
        for _ in range(50):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/",
                                              timeout=5).read()
                break
            except OSError:
                import time
                time.sleep(0.1)
        assert b"<html" in page.lower()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)  # drains its pipes: a full stderr pipe would block it


def test_cec_results_from_the_package_refuses_missing_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.cli import main

    pkg, keys, _ = _setup(tmp_path)
    assert main(["cec", "results", "--dir", str(tmp_path / "cec"), "--package", str(pkg)]) == 2
    assert "--package needs --keys" in capsys.readouterr().err
    assert main(["cec", "results", "--dir", str(tmp_path / "cec"), "--package", str(pkg),
                 "--keys", str(keys), "--device-certs", str(tmp_path / "devices"),
                 "--now", NOW]) == 0
    import json
    assert json.loads(capsys.readouterr().out)["stations_reported"] == 0
