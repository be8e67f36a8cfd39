"""``pcos package`` and ``pcos device provision``: keys, signed election packages, amendments.

For CEC technicians:

* ``pcos package keygen --out DIR [--seed TEXT]``: a new CEC root, signing key and
  certificate, and HPKE result key (``--seed``: deterministic, tests/sims only).
* ``pcos package build --keys DIR --out FILE --version N [--election FILE]
  (--assignments FILE | --devices-per-station N [--spares-per-tec N])
  [--thresholds FILE] [--calibration FILE] [--created TIME]``.
* ``pcos package verify FILE --root CERT [--device-id ID [--device-cert FILE]
  [--station S] [--installed-version N]] [--now TIME] [--json]``: what a device checks.
* ``pcos package show FILE [--json]``: what the file claims, unverified.
* ``pcos package amend --keys DIR --out FILE --id ID (--election FILE | --package FILE)
  --withdraw-position PARTY:POS... --withdraw-candidate CONTEST:CANDIDATE...``.
* ``pcos package check-amendment FILE --package FILE --root CERT [--now TIME]``.
* ``pcos device provision --keys DIR --device-id ID [--station S] --out DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.fileio import write_atomically
from election.hashing import definition_hash, election_hash
from election.model import Election
from firmware import amendment as amend
from firmware import crypto, package, provision
from tools.common import add_election_option, load_election_arg
from vision.config import Thresholds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "package", help="CEC keys, signed election packages and withdrawal amendments",
        description="Build, verify and inspect signed election packages; sign amendments.")
    subs = parser.add_subparsers(dest="package_command", metavar="ACTION")
    subs.required = True

    keygen = subs.add_parser("keygen", help="create the CEC root, signing and result keys")
    keygen.add_argument("--out", metavar="DIR", required=True, help="key directory to create")
    _seed_option(keygen)
    _validity_options(keygen)
    keygen.add_argument("--election-id", default=None,
                        help="limit the signing certificate to this election")
    keygen.set_defaults(func=_keygen)

    build = subs.add_parser("build", help="build and sign an election package")
    build.add_argument("--keys", metavar="DIR", required=True, help="CEC key directory")
    build.add_argument("--out", metavar="FILE", required=True, help="package file to write")
    build.add_argument("--version", type=int, required=True, help="package version (1, 2, ...)")
    add_election_option(build)
    group = build.add_mutually_exclusive_group(required=True)
    group.add_argument("--assignments", metavar="FILE",
                       help="station assignments JSON (pcos-kg/station-assignments)")
    group.add_argument("--devices-per-station", type=int, metavar="N",
                       help="assign N generated device ids (<station>-D1..) to every station")
    build.add_argument("--spares-per-tec", type=int, default=0, metavar="N",
                       help="with --devices-per-station: N spares (<tec>-S1..) per TEC")
    build.add_argument("--thresholds", metavar="FILE",
                       help="reader thresholds JSON (default: the built-in thresholds)")
    build.add_argument("--calibration", metavar="FILE",
                       help="default calibration profile (pcos calibrate device): devices "
                            "read with it until they calibrate themselves")
    build.add_argument("--created", metavar="TIME", help="creation time (default: now, UTC)")
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.set_defaults(func=_build)

    verify = subs.add_parser("verify", help="check a package as a device would")
    verify.add_argument("package", metavar="FILE")
    verify.add_argument("--root", metavar="CERT", required=True,
                        help="the trusted CEC root certificate (cec-root.cert)")
    verify.add_argument("--device-id", help="also check this device's assignment")
    verify.add_argument("--device-cert", metavar="FILE", help="the device's certificate")
    verify.add_argument("--station", help="the station a spare stands in for")
    verify.add_argument("--installed-version", type=int, help="the version already installed")
    verify.add_argument("--now", metavar="TIME", help="check time (default: now, UTC)")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=_verify)

    show = subs.add_parser("show", help="what a package file claims (not verified)")
    show.add_argument("package", metavar="FILE")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_show)

    amend_p = subs.add_parser("amend", help="sign a withdrawal amendment")
    amend_p.add_argument("--keys", metavar="DIR", required=True, help="CEC key directory")
    amend_p.add_argument("--out", metavar="FILE", required=True, help="amendment file to write")
    amend_p.add_argument("--id", required=True, dest="amendment_id", help="amendment id")
    source = amend_p.add_mutually_exclusive_group()
    source.add_argument("--election", metavar="FILE", default=None,
                        help="election definition (default: the embedded one)")
    source.add_argument("--package", metavar="FILE", help="take the election from a package")
    amend_p.add_argument("--withdraw-position", action="append", default=[],
                         metavar="PARTY:POS", help="withdraw a party-list position")
    amend_p.add_argument("--withdraw-candidate", action="append", default=[],
                         metavar="CONTEST:CANDIDATE", help="withdraw a district/local candidate")
    amend_p.add_argument("--created", metavar="TIME", help="creation time (default: now, UTC)")
    amend_p.set_defaults(func=_amend)

    check = subs.add_parser("check-amendment",
                            help="verify an amendment against a package, as a device would")
    check.add_argument("amendment", metavar="FILE")
    check.add_argument("--package", metavar="FILE", required=True, help="the election package")
    check.add_argument("--root", metavar="CERT", required=True,
                       help="the trusted CEC root certificate (cec-root.cert)")
    check.add_argument("--now", metavar="TIME", help="check time (default: now, UTC)")
    check.set_defaults(func=_check_amendment)

    device_subs = _group(subparsers, "device", "device keys and tools")
    prov = device_subs.add_parser("provision", help="generate a device key and certificate")
    prov.add_argument("--keys", metavar="DIR", required=True, help="CEC key directory")
    prov.add_argument("--device-id", required=True, help="the device's id")
    prov.add_argument("--station", default=None, help="its station (none for a TEC spare)")
    prov.add_argument("--election-id", default=None, help="limit the certificate to an election")
    prov.add_argument("--out", metavar="DIR", required=True,
                      help="directory for device.key and device.cert")
    _seed_option(prov)
    _validity_options(prov)
    prov.set_defaults(func=_provision)


def _group(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
           help_text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The sub-command group ``name``, created or joined (other modules add to it too)."""
    existing = subparsers.choices.get(name)
    if existing is None:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        subs = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
        subs.required = True
        return subs
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise PcosError(f"command {name!r} has no sub-commands to join")


def _seed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", default=None,
                        help="derive keys deterministically from this text (tests/sims only)")


def _validity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--valid-from", default=provision.DEFAULT_VALID_FROM, metavar="TIME")
    parser.add_argument("--valid-until", default=provision.DEFAULT_VALID_UNTIL, metavar="TIME")


def _seed(text: str | None) -> bytes | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).digest()


def _now(text: str | None) -> str:
    return provision.instant(text if text is not None else dt.datetime.now(dt.UTC))


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PcosError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _json_file(path: str, what: str) -> Any:
    try:
        return json.loads(_read(path, what).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PcosError(f"{path}: {what} is not JSON ({exc})") from None


# --- actions --------------------------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if (out / provision.ROOT_KEY_FILE).exists():
        raise PcosError(f"{out} already holds CEC keys; refusing to replace them")
    keys = provision.generate_cec_keys(seed=_seed(args.seed), valid_from=args.valid_from,
                                       valid_until=args.valid_until,
                                       election_id=args.election_id)
    provision.save_cec_keys(keys, out)
    print(f"CEC keys written to {out}")
    print(f"  root key id     {crypto.key_id(keys.root_key)}  ({provision.ROOT_CERT_FILE}: "
          "give this certificate to devices)")
    print(f"  signing key id  {crypto.key_id(keys.signing_key)}")
    print(f"  result key      {keys.hpke_public_key.hex()}  (X25519, HPKE)")
    return 0


def _build(args: argparse.Namespace) -> int:
    keys = provision.load_cec_keys(args.keys)
    election = load_election_arg(args.election)
    if args.assignments:
        assignments = package.StationAssignments.from_json(
            _json_file(args.assignments, "assignments"), args.assignments)
    else:
        assignments = package.StationAssignments.per_station(
            election, args.devices_per_station, spares_per_tec=args.spares_per_tec)
    thresholds = Thresholds() if not args.thresholds else package.thresholds_from_json(
        _json_file(args.thresholds, "thresholds"), args.thresholds)
    calibration = _read(args.calibration, "calibration") if args.calibration else None
    data = package.build_package(
        election=election, assignments=assignments, thresholds=thresholds,
        hpke_public_key=keys.hpke_public_key, signing_key=keys.signing_key,
        signing_certificate=keys.signing_certificate, version=args.version,
        created=_now(args.created), calibration=calibration)
    write_atomically(args.out, data)
    summary = {"package": str(args.out), "package_hash": hashlib.sha256(data).hexdigest(),
               "bytes": len(data), "version": args.version,
               "election_id": election.election_id,
               "election_hash": election_hash(election),
               "stations": len(assignments.stations),
               "devices": sum(len(d) for d in assignments.stations.values()),
               "spares": sum(len(d) for d in assignments.spares.values())}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"package {args.out}: version {args.version}, {len(data)} bytes, "
              f"{summary['stations']} stations, {summary['devices']} devices, "
              f"{summary['spares']} spares")
        print(f"  package hash   {summary['package_hash']}")
        print(f"  election hash  {summary['election_hash']}")
    return 0


def _contents_summary(contents: package.PackageContents) -> dict[str, Any]:
    return {
        "verified": True, "version": contents.version, "created": contents.created,
        "package_hash": contents.package_hash, "election_id": contents.election.election_id,
        "election_hash": contents.election_hash, "definition_hash": contents.definition_hash,
        "stations": len(contents.assignments.stations),
        "signing_key_id": crypto.key_id(contents.cec_signing_certificate.key),
        "thresholds": package.thresholds_json(contents.thresholds),
        "cec_hpke_public_key": contents.cec_hpke_public_key.hex(),
        "calibration_bytes": None if contents.calibration is None else len(contents.calibration),
    }


def _verify(args: argparse.Namespace) -> int:
    data = _read(args.package, "package")
    root = provision.load_root_certificate(args.root)
    now = _now(args.now)
    if args.device_id is None:
        if args.device_cert or args.station or args.installed_version is not None:
            raise PcosError("--device-cert, --station and --installed-version need --device-id")
        summary = _contents_summary(package.verify_package(data, root=root, now=now))
    else:
        cert = crypto.load_certificate(args.device_cert) if args.device_cert else None
        loaded = package.load_package(data, root=root, device_id=args.device_id, now=now,
                                      installed_version=args.installed_version,
                                      device_certificate=cert, station=args.station)
        summary = {**_contents_summary(loaded.contents), "device_id": loaded.device_id,
                   "station": loaded.station.number, "spare": loaded.spare}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"package {args.package}: verified up to CEC root {crypto.key_id(root.key)}")
        for key, value in summary.items():
            if key != "verified":
                print(f"  {key:<20} {value}")
    return 0


def _show(args: argparse.Namespace) -> int:
    doc = package.describe_package(_read(args.package, "package"))
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"package {args.package}: {doc['bytes']} bytes, NOT VERIFIED (use pcos package verify)")
    print(f"  package hash  {doc['package_hash']}")
    manifest = doc.get("manifest")
    if isinstance(manifest, dict):
        for key in ("package_version", "election_id", "election_hash", "created",
                    "signer_key_id"):
            print(f"  {key:<16}{manifest.get(key)}")
    elif "manifest_error" in doc:
        print(f"  manifest: {doc['manifest_error']}")
    for name, member in doc["members"].items():
        print(f"  member {name:<18} {member['size']:>9} bytes  sha256 {member['sha256'][:16]}...")
    return 0


def _pair(text: str, what: str) -> tuple[str, str]:
    left, sep, right = text.partition(":")
    if not sep or not left or not right:
        raise PcosError(f"{what} {text!r}: expected A:B")
    return left, right


def _amend(args: argparse.Namespace) -> int:
    keys = provision.load_cec_keys(args.keys)
    election: Election
    created = _now(args.created)
    if args.package:
        election = package.verify_package(_read(args.package, "package"),
                                          root=keys.root_certificate, now=created).election
    else:
        election = load_election_arg(args.election)
    positions = []
    for text in args.withdraw_position:
        party, pos = _pair(text, "--withdraw-position")
        if not pos.isdigit():
            raise PcosError(f"--withdraw-position {text!r}: position must be a number")
        positions.append(amend.ListWithdrawal(party, int(pos)))
    candidates = [amend.CandidateWithdrawal(*_pair(t, "--withdraw-candidate"))
                  for t in args.withdraw_candidate]
    data = amend.build_amendment(
        election=election, amendment_id=args.amendment_id, list_positions=positions,
        candidates=candidates, signing_key=keys.signing_key,
        signing_certificate=keys.signing_certificate, created=created)
    write_atomically(args.out, data + b"\n")
    print(f"amendment {args.amendment_id} written to {args.out}: {len(positions)} list "
          f"position(s), {len(candidates)} candidate(s) withdrawn")
    return 0


def _check_amendment(args: argparse.Namespace) -> int:
    root = provision.load_root_certificate(args.root)
    now = _now(args.now)
    contents = package.verify_package(_read(args.package, "package"), root=root, now=now)
    found = amend.load_amendment(_read(args.amendment, "amendment"), root=root, now=now,
                                 election=contents.election)
    amended = amend.apply_amendment(contents.election, found, polls_opened=False)
    print(f"amendment {found.amendment_id}: verified for election {found.election_id}")
    for w in found.list_positions:
        print(f"  withdrawn list position  {w.party} #{w.position}")
    for c in found.candidates:
        print(f"  withdrawn candidate      {c.candidate} ({c.contest})")
    print(f"  election hash            {election_hash(amended)} (unchanged)")
    print(f"  definition hash          {definition_hash(amended)} (amended)")
    return 0


def _provision(args: argparse.Namespace) -> int:
    keys = provision.load_cec_keys(args.keys)
    out = Path(args.out)
    if (out / provision.DEVICE_KEY_FILE).exists():
        raise PcosError(f"{out} already holds a device key; refusing to replace it")
    device = provision.provision_device(
        keys.signing_key, device_id=args.device_id, station=args.station,
        valid_from=args.valid_from, valid_until=args.valid_until,
        election_id=args.election_id, seed=_seed(args.seed))
    provision.save_device(device, out)
    print(f"device {device.device_id} (station {device.station or 'spare'}) provisioned in "
          f"{out}: key id {crypto.key_id(device.key)}")
    return 0
