"""``pcos package ...``, ``pcos device provision`` and ``pcos cvr export``, in-process."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from package_fixtures import election
from test_cvr import RECORDS, SCHEMA

from election.definition import dump_election
from firmware import package, provision
from tools.cli import main

NOW = "2021-11-28T06:00:00Z"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _refusal(capsys: pytest.CaptureFixture[str], reason: str, *args: str) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert err.startswith(f"pcos: error: election package refused ({reason})"), err
    assert "Traceback" not in err


@pytest.fixture()
def station_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """CEC keys, an election file, a package and a provisioned device, made by the CLI."""
    keys, definition = tmp_path / "keys", tmp_path / "election.json"
    dump_election(election(), definition)
    assert _run(capsys, "package", "keygen", "--out", str(keys), "--seed", "test")[0] == 0
    pkg = tmp_path / "pkg.bin"
    code, out, _ = _run(capsys, "package", "build", "--keys", str(keys), "--out", str(pkg),
                        "--election", str(definition), "--version", "2",
                        "--devices-per-station", "2", "--spares-per-tec", "1",
                        "--created", "2021-11-20T00:00:00Z", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["stations"] == 2 and summary["devices"] == 4 and summary["spares"] == 1
    device = tmp_path / "dev"
    assert _run(capsys, "device", "provision", "--keys", str(keys), "--device-id", "0001-D1",
                "--station", "0001", "--out", str(device), "--seed", "dev")[0] == 0
    return {"keys": keys, "election": definition, "package": pkg, "device": device,
            "root": keys / provision.ROOT_CERT_FILE, "tmp": tmp_path}


def test_keygen_writes_private_keys_private_and_never_overwrites(
        station_kit: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    keys = station_kit["keys"]
    for name in (provision.ROOT_KEY_FILE, provision.SIGNING_KEY_FILE, provision.HPKE_KEY_FILE):
        assert stat.S_IMODE(os.stat(keys / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(station_kit["device"] / provision.DEVICE_KEY_FILE).st_mode) \
        == 0o600
    code, _, err = _run(capsys, "package", "keygen", "--out", str(keys))
    assert code == 2 and "refusing to replace" in err
    again = provision.load_cec_keys(keys)  # the seed makes them reproducible
    assert again.hpke_public_key == provision.generate_cec_keys(
        seed=hashlib.sha256(b"test").digest()).hpke_public_key


def test_verify_as_a_device(station_kit: dict[str, Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    pkg, root = str(station_kit["package"]), str(station_kit["root"])
    cert = str(station_kit["device"] / provision.DEVICE_CERT_FILE)
    code, out, _ = _run(capsys, "package", "verify", pkg, "--root", root, "--device-id",
                        "0001-D1", "--device-cert", cert, "--now", NOW, "--json")
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    assert doc["station"] == "0001" and doc["version"] == 2 and doc["verified"] is True
    assert doc["package_hash"] == package.describe_package(
        station_kit["package"].read_bytes())["package_hash"]
    _refusal(capsys, "another-station", "package", "verify", pkg, "--root", root,
             "--device-id", "0001-D1", "--station", "0002", "--now", NOW)
    _refusal(capsys, "not-assigned", "package", "verify", pkg, "--root", root,
             "--device-id", "0003-D1", "--now", NOW)
    _refusal(capsys, "older-version", "package", "verify", pkg, "--root", root,
             "--device-id", "0001-D1", "--installed-version", "3", "--now", NOW)
    _refusal(capsys, "certificate-expired", "package", "verify", pkg, "--root", root,
             "--now", "2031-01-01T00:00:00Z")
    other = station_kit["tmp"] / "other-keys"
    assert _run(capsys, "package", "keygen", "--out", str(other), "--seed", "other")[0] == 0
    _refusal(capsys, "wrong-key", "package", "verify", pkg, "--root",
             str(other / provision.ROOT_CERT_FILE), "--now", NOW)
    tampered = bytearray(station_kit["package"].read_bytes())
    tampered[len(tampered) // 2] ^= 0x20
    bad = station_kit["tmp"] / "bad.bin"
    bad.write_bytes(bytes(tampered))
    _refusal(capsys, "tampered", "package", "verify", str(bad), "--root", root, "--now", NOW)
    bad.write_bytes(b"not a package")
    _refusal(capsys, "malformed", "package", "verify", str(bad), "--root", root, "--now", NOW)
    code, out, _ = _run(capsys, "package", "show", pkg, "--json")
    assert code == 0 and json.loads(out)["verified"] is False
    code, out, _ = _run(capsys, "package", "show", pkg)
    assert code == 0 and "NOT VERIFIED" in out


def test_build_from_assignment_and_threshold_files(station_kit: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    tmp = station_kit["tmp"]
    (tmp / "assign.json").write_text(json.dumps(
        {"format": "pcos-kg/station-assignments", "format_version": 1,
         "stations": {"0001": ["SN-100", "SN-101"]}, "spares": {"T1": ["SN-900"]}}))
    (tmp / "thr.json").write_text(json.dumps(
        {"definite": 0.07, "marginal": 0.05, "faint": 0.03, "ring": 0.02}))
    (tmp / "cal.bin").write_bytes(b"\x00calibration\xff")
    out_pkg = tmp / "p2.bin"
    assert _run(capsys, "package", "build", "--keys", str(station_kit["keys"]), "--out",
                str(out_pkg), "--election", str(station_kit["election"]), "--version", "5",
                "--assignments", str(tmp / "assign.json"), "--thresholds", str(tmp / "thr.json"),
                "--calibration", str(tmp / "cal.bin"), "--created", "2021-11-21T00:00:00Z"
                )[0] == 0
    loaded = package.load_package(out_pkg.read_bytes(), root=provision.load_root_certificate(
        station_kit["root"]), device_id="SN-900", station="0001", now=NOW)
    assert loaded.spare and loaded.thresholds.definite == 0.07
    assert loaded.calibration == b"\x00calibration\xff"
    (tmp / "thr.json").write_text('{"definite": 0.01, "marginal": 0.5, "faint": 1, "ring": 1}')
    code, _, err = _run(capsys, "package", "build", "--keys", str(station_kit["keys"]),
                        "--out", str(out_pkg), "--election", str(station_kit["election"]),
                        "--version", "6", "--devices-per-station", "1", "--thresholds",
                        str(tmp / "thr.json"))
    assert code == 2 and "marginal < definite" in err


def test_amend_and_check(station_kit: dict[str, Path], capsys: pytest.CaptureFixture[str]
                         ) -> None:
    tmp = station_kit["tmp"]
    common = ["--keys", str(station_kit["keys"]), "--created", "2021-11-25T00:00:00Z"]
    code, out, _ = _run(capsys, "package", "amend", *common, "--out", str(tmp / "w.json"),
                        "--id", "W-1", "--package", str(station_kit["package"]),
                        "--withdraw-position", "P02:3", "--withdraw-candidate",
                        "district-01:D01-01")
    assert code == 0 and "1 list position(s), 1 candidate(s)" in out
    code, out, _ = _run(capsys, "package", "check-amendment", str(tmp / "w.json"), "--package",
                        str(station_kit["package"]), "--root", str(station_kit["root"]),
                        "--now", NOW)
    assert code == 0 and "P02 #3" in out and "D01-01" in out and "(unchanged)" in out
    code, _, err = _run(capsys, "package", "amend", *common, "--out", str(tmp / "x.json"),
                        "--id", "W-2", "--election", str(station_kit["election"]),
                        "--withdraw-candidate", "district-01:D99-99")
    assert code == 2 and "unknown-candidate" in err
    code, _, err = _run(capsys, "package", "amend", *common, "--out", str(tmp / "x.json"),
                        "--id", "W-2", "--withdraw-position", "P02-3")
    assert code == 2 and "expected A:B" in err
    text = (tmp / "w.json").read_text().replace('"position":3', '"position":4')
    (tmp / "w.json").write_text(text)
    code, _, err = _run(capsys, "package", "check-amendment", str(tmp / "w.json"), "--package",
                        str(station_kit["package"]), "--root", str(station_kit["root"]),
                        "--now", NOW)
    assert code == 2 and "withdrawal amendment refused (tampered)" in err


def test_cvr_export(station_kit: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    tmp = station_kit["tmp"]
    records = tmp / "records.jsonl"
    records.write_text("".join(json.dumps(r.to_json()) + "\n" for r in RECORDS))
    out = tmp / "cvr.json"
    code, text, _ = _run(capsys, "cvr", "export", "--records", str(records), "--out", str(out),
                         "--election", str(station_kit["election"]), "--station", "0001",
                         "--device-id", "0001-D1", "--retention", "all",
                         "--generated", "2021-11-28T20:00:00Z")
    assert code == 0 and text.startswith("8 official CVR(s)")
    report = json.loads(out.read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(report)
    assert all("Location" in c["BallotImage"][0] for c in report["CVR"])
    records.write_text('{"sheet_id": "A"}\n')
    code, _, err = _run(capsys, "cvr", "export", "--records", str(records), "--out", str(out),
                        "--election", str(station_kit["election"]), "--station", "0001",
                        "--device-id", "0001-D1")
    assert code == 2 and "records.jsonl:1" in err
