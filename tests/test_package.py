"""The signed election package: round trip, and every way of tampering with it refused
with its typed reason (firmware/package.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from package_fixtures import (
    CREATED,
    NOW,
    OTHER_SEED,
    assignments,
    build,
    cec_keys,
    election,
    member_spans,
    resign,
)

from firmware import crypto, package, provision
from firmware.crypto import CertificateRole
from firmware.package import PackageError, PackageRefusal
from vision.config import Thresholds

FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow])

KEYS = cec_keys()
DATA = build(KEYS)


def _load(data: bytes, device: str = "0001-D1", **kwargs: object) -> package.VerifiedPackage:
    kwargs.setdefault("root", KEYS.root_certificate)
    kwargs.setdefault("now", NOW)
    return package.load_package(data, device_id=device, **kwargs)  # type: ignore[arg-type]


def _refused(data: bytes, reason: PackageRefusal, device: str = "0001-D1",
             **kwargs: object) -> PackageError:
    with pytest.raises(PackageError) as info:
        _load(data, device, **kwargs)
    assert info.value.reason is reason, str(info.value)
    return info.value


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


# --- the good path ---------------------------------------------------------------------------


def test_round_trip_gives_every_member_back() -> None:
    e = election()
    loaded = _load(DATA, device_certificate=provision.provision_device(
        KEYS.signing_key, device_id="0001-D1", station="0001", seed=b"d" * 32).certificate)
    assert loaded.device_id == "0001-D1" and loaded.station.number == "0001"
    assert not loaded.spare
    assert loaded.version == 3
    assert loaded.package_hash == hashlib.sha256(DATA).hexdigest()
    assert loaded.election == e
    assert loaded.election_hash == package.election_hash(e)
    assert loaded.thresholds == Thresholds()
    assert loaded.cec_hpke_public_key == KEYS.hpke_public_key
    assert loaded.cec_signing_certificate == KEYS.signing_certificate
    assert loaded.calibration == b"calibration-profile"
    assert loaded.contents.assignments.stations["0002"] == ("0002-D1", "0002-D2")
    assert loaded.contents.created == CREATED


def test_build_is_deterministic_and_options_travel() -> None:
    assert build(KEYS) == DATA
    custom = Thresholds(definite=0.08, marginal=0.01, faint=0.04, ring=0.03)
    data = build(KEYS, thresholds=custom, calibration=None, version=9)
    loaded = _load(data, root=KEYS.root_public_key)  # the bare root key works too
    assert loaded.thresholds == custom and loaded.calibration is None and loaded.version == 9
    assert package.CALIBRATION not in package.read_container(data)


def test_now_may_be_an_aware_datetime() -> None:
    assert _load(DATA, now=dt.datetime(2021, 11, 28, 12, tzinfo=dt.UTC)).version == 3
    with pytest.raises(crypto.CryptoError, match="timezone-aware"):
        _load(DATA, now=dt.datetime(2021, 11, 28, 12))
    bishkek = dt.timezone(dt.timedelta(hours=6))
    # 05:00 in Bishkek on 1 January is still 2022 in UTC: converted, not taken as written
    assert _load(DATA, now=dt.datetime(2023, 1, 1, 5, tzinfo=bishkek)).version == 3
    _refused(DATA, PackageRefusal.CERTIFICATE_EXPIRED,
             now=dt.datetime(2023, 1, 1, 7, tzinfo=bishkek))


def test_second_device_and_spare_of_the_tec() -> None:
    assert _load(DATA, "0002-D2").station.number == "0002"
    spare = _load(DATA, "T1-S1", station="0002")
    assert spare.spare and spare.station.number == "0002"


def test_build_refuses_inconsistent_inputs() -> None:
    e = election()
    with pytest.raises(package.PcosError, match="signing key is not"):
        package.build_package(election=e, assignments=assignments(e), thresholds=Thresholds(),
                              hpke_public_key=KEYS.hpke_public_key,
                              signing_key=cec_keys(OTHER_SEED).signing_key,
                              signing_certificate=KEYS.signing_certificate, version=1,
                              created=CREATED)
    with pytest.raises(package.PcosError, match="not in election"):
        package.StationAssignments.per_station(e, 2, stations=("9999",))
    with pytest.raises(package.PcosError, match="version"):
        build(KEYS, version=0)
    with pytest.raises(package.PcosError, match="assigned twice"):
        package.StationAssignments(stations={"0001": ("A", "B"), "0002": ("B",)})


# --- tampering -------------------------------------------------------------------------------


SIGNED = sorted(package.SIGNED_MEMBERS - {package.SIGNING_CERT})


@pytest.mark.parametrize("member", [*SIGNED, package.MANIFEST, package.SIGNATURE])
def test_flipping_any_byte_of_a_member_is_tampering(member: str) -> None:
    start, end = member_spans(DATA)[member]
    offsets = sorted({start, (start + end) // 2, end - 1,
                      *random.Random(member).sample(range(start, end), min(20, end - start))})
    for offset in offsets:
        _refused(_flip(DATA, offset), PackageRefusal.TAMPERED)


def test_every_byte_of_the_whole_file_is_protected() -> None:
    """Flip each byte in turn (every 5th of the election definition, the bulk of the file,
    whose every byte the member test above samples): never accepted, and the reason
    fits the region."""
    spans = member_spans(DATA)
    definition = range(*spans[package.ELECTION])
    cert_start, cert_end = spans[package.SIGNING_CERT]
    cert_text = DATA[cert_start:cert_end]
    issuer = cert_text.index(b'"issuer_key_id":"') + len(b'"issuer_key_id":"') + cert_start
    in_member = {o for s, e in spans.values() for o in range(s, e)}
    for offset in range(len(DATA)):
        if offset in definition and offset % 5:
            continue
        with pytest.raises(PackageError) as info:
            _load(_flip(DATA, offset))
        reason = info.value.reason
        if cert_start <= offset < cert_end:
            expected = {PackageRefusal.WRONG_KEY} if issuer <= offset < issuer + 16 else {
                PackageRefusal.TAMPERED}
        elif offset in in_member:
            expected = {PackageRefusal.TAMPERED}
        else:  # container structure: magic, count, names, sizes
            expected = {PackageRefusal.MALFORMED, PackageRefusal.TAMPERED}
        assert reason in expected, (offset, str(info.value))


@pytest.mark.parametrize("member", sorted(package.REQUIRED_MEMBERS | package.OPTIONAL_MEMBERS
                                          | {package.MANIFEST, package.SIGNATURE}))
def test_dropping_a_member_is_tampering(member: str) -> None:
    members = package.read_container(DATA)
    del members[member]
    err = _refused(package.write_container(members), PackageRefusal.TAMPERED)
    assert member in str(err)


def test_adding_a_member_is_tampering() -> None:
    members = package.read_container(DATA)
    members["extra.bin"] = b"surprise"
    _refused(package.write_container(members), PackageRefusal.TAMPERED)
    members = package.read_container(DATA)
    members.pop(package.CALIBRATION)
    data = resign(members, KEYS.signing_key)  # a package without calibration, signed
    members = package.read_container(data)
    members[package.CALIBRATION] = b"calibration-profile"  # smuggled back in, not signed
    _refused(package.write_container(members), PackageRefusal.TAMPERED)


def test_replacing_a_member_with_valid_other_contents_is_tampering() -> None:
    members = package.read_container(DATA)
    members[package.THRESHOLDS] = crypto.canonical_json(
        package.thresholds_json(Thresholds(definite=0.5, marginal=0.4)))
    _refused(package.write_container(members), PackageRefusal.TAMPERED)


def test_resigned_with_a_wrong_key() -> None:
    attacker = cec_keys(OTHER_SEED)
    members = package.read_container(DATA)
    members[package.THRESHOLDS] = crypto.canonical_json(
        package.thresholds_json(Thresholds(definite=0.5, marginal=0.4)))
    # 1. the attacker signs with a key of their own, keeping the CEC's certificate
    err = _refused(resign(members, attacker.signing_key), PackageRefusal.WRONG_KEY)
    assert "not by the certified CEC signing key" in str(err)
    # ... and its manifest names the CEC key: still the attacker's signature
    _refused(resign(members, attacker.signing_key,
                    signer_key_id=crypto.key_id(KEYS.signing_key)), PackageRefusal.WRONG_KEY)
    # 2. ... and ships their own signing certificate, from their own root
    _refused(resign(members, attacker.signing_key, attacker.signing_certificate),
             PackageRefusal.WRONG_KEY)
    # 3. a whole package built by another CEC
    _refused(build(attacker), PackageRefusal.WRONG_KEY)
    # 4. claims to be the CEC key but is not: the signature just fails
    forged = resign(members, attacker.signing_key,
                    claimed_signer=crypto.public_bytes(KEYS.signing_key),
                    signer_key_id=crypto.key_id(KEYS.signing_key))
    _refused(forged, PackageRefusal.TAMPERED)
    # 5. a key the real root certified, but not for signing packages (a device key)
    device = provision.provision_device(KEYS.signing_key, device_id="0001-D1", station="0001",
                                        seed=b"d" * 32)
    rogue = crypto.issue_certificate(KEYS.root_key, role=CertificateRole.DEVICE,
                                     subject="0001-D1", public_key=crypto.public_bytes(device.key),
                                     valid_from=provision.DEFAULT_VALID_FROM,
                                     valid_until=provision.DEFAULT_VALID_UNTIL)
    _refused(resign(members, device.key, rogue), PackageRefusal.WRONG_KEY)
    # the CEC itself re-signing is fine: the check is the key, not the bytes
    assert _load(resign(members, KEYS.signing_key)).thresholds.definite == 0.5


def test_device_trusting_another_root_refuses() -> None:
    _refused(DATA, PackageRefusal.WRONG_KEY, root=cec_keys(OTHER_SEED).root_certificate)


def test_signed_but_inconsistent_contents() -> None:
    members = package.read_container(DATA)
    # the CEC signed a manifest whose election hash is not the definition's
    _refused(resign(members, KEYS.signing_key, election_hash="0" * 64),
             PackageRefusal.WRONG_ELECTION)
    _refused(resign(members, KEYS.signing_key, election_id="another"),
             PackageRefusal.WRONG_ELECTION)
    bad = dict(members)
    bad[package.THRESHOLDS] = b'{"definite":0.01,"marginal":0.5,"faint":0.1,"ring":0.1}'
    _refused(resign(bad, KEYS.signing_key), PackageRefusal.MALFORMED)
    bad = dict(members)
    bad[package.HPKE_PUBLIC] = b"short"
    _refused(resign(bad, KEYS.signing_key), PackageRefusal.MALFORMED)
    bad = dict(members)
    bad[package.STATIONS] = b'{"format":"pcos-kg/station-assignments","format_version":1,' \
                            b'"stations":{"4242":["X-1"]},"spares":{}}'
    _refused(resign(bad, KEYS.signing_key), PackageRefusal.MALFORMED)
    bad = dict(members)
    bad[package.ELECTION] = b'{"format": "pcos-kg/election"}'
    _refused(resign(bad, KEYS.signing_key), PackageRefusal.MALFORMED)
    _refused(resign(members, KEYS.signing_key, package_version=True), PackageRefusal.MALFORMED)


# --- device checks ---------------------------------------------------------------------------


def test_another_station_and_unassigned_devices() -> None:
    _refused(DATA, PackageRefusal.NOT_ASSIGNED, device="9999-D1")
    _refused(DATA, PackageRefusal.ANOTHER_STATION, station="0002")
    _refused(DATA, PackageRefusal.NOT_ASSIGNED, device="T1-S1")  # a spare must name a station
    _refused(DATA, PackageRefusal.ANOTHER_STATION, device="T1-S1", station="0003")
    cert = provision.provision_device(KEYS.signing_key, device_id="0001-D1", station="0002",
                                      seed=b"d" * 32).certificate
    err = _refused(DATA, PackageRefusal.ANOTHER_STATION, device_certificate=cert)
    assert "certified for station 0002" in str(err)


def test_device_certificate_must_be_this_devices_and_the_cecs() -> None:
    other = provision.provision_device(KEYS.signing_key, device_id="0001-D2", station="0001")
    _refused(DATA, PackageRefusal.WRONG_KEY, device_certificate=other.certificate)
    foreign = provision.provision_device(cec_keys(OTHER_SEED).signing_key, device_id="0001-D1",
                                         station="0001")
    _refused(DATA, PackageRefusal.WRONG_KEY, device_certificate=foreign.certificate)
    forged = dataclasses.replace(
        provision.provision_device(KEYS.signing_key, device_id="0001-D1",
                                   station="0001").certificate, station=None)
    _refused(DATA, PackageRefusal.WRONG_KEY, device_certificate=forged)
    expired = provision.provision_device(KEYS.signing_key, device_id="0001-D1", station="0001",
                                         valid_until="2021-11-01T00:00:00Z")
    _refused(DATA, PackageRefusal.CERTIFICATE_EXPIRED, device_certificate=expired.certificate)


def test_versions() -> None:
    _refused(DATA, PackageRefusal.OLDER_VERSION, installed_version=4)
    assert _load(DATA, installed_version=3, installed_package_hash=hashlib.sha256(
        DATA).hexdigest()).version == 3
    assert _load(DATA, installed_version=2, installed_package_hash="0" * 64).version == 3
    _refused(DATA, PackageRefusal.OLDER_VERSION, installed_version=3,
             installed_package_hash="0" * 64)


def test_election_and_certificate_validity() -> None:
    _refused(DATA, PackageRefusal.WRONG_ELECTION, expected_election_hash="f" * 64)
    assert _load(DATA, expected_election_hash=package.election_hash(election())).version == 3
    _refused(DATA, PackageRefusal.CERTIFICATE_EXPIRED, now="2030-01-01T00:00:00Z")
    _refused(DATA, PackageRefusal.CERTIFICATE_EXPIRED, now="2020-01-01T00:00:00Z")
    scoped = cec_keys(election_id="another-election")
    with pytest.raises(package.PcosError, match="signing certificate is for election"):
        build(scoped)
    members = package.read_container(build(cec_keys(election_id="test-small")))
    assert _load(package.write_container(members), root=cec_keys().root_certificate).version
    other_scope = cec_keys(election_id="another-election")
    _refused(resign(members, other_scope.signing_key, other_scope.signing_certificate),
             PackageRefusal.WRONG_ELECTION)


# --- malformed files -------------------------------------------------------------------------


def test_truncated_garbage_and_trailing_bytes_are_malformed() -> None:
    for cut in (0, 1, 7, 8, 9, 10, 11, 40, len(DATA) // 2, len(DATA) - 1):
        _refused(DATA[:cut], PackageRefusal.MALFORMED)
    _refused(DATA + b"\x00", PackageRefusal.MALFORMED)
    rng = random.Random(7)
    for n in (1, 10, 100, 5000):
        _refused(bytes(rng.randrange(256) for _ in range(n)), PackageRefusal.MALFORMED)
    _refused(package.MAGIC + b"\xff\xff", PackageRefusal.MALFORMED)
    _refused(b"PK\x03\x04" + DATA[4:], PackageRefusal.MALFORMED)  # a zip is not a package
    members = package.read_container(DATA)
    raw = package.write_container(members)
    # members out of order or twice: the container has one encoding only
    spans = member_spans(raw)
    first, second = sorted(spans.items(), key=lambda kv: kv[1][0])[:2]
    a = raw[first[1][0] - 4 - 1 - len(first[0]):first[1][1]]
    b = raw[second[1][0] - 4 - 1 - len(second[0]):second[1][1]]
    swapped = raw[:10] + b + a + raw[second[1][1]:]
    _refused(swapped, PackageRefusal.MALFORMED)
    doubled = package.MAGIC + (len(members) + 1).to_bytes(2, "big") + a + raw[10:]
    _refused(doubled, PackageRefusal.MALFORMED)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_only_typed_errors(blob: bytes) -> None:
    for data in (blob, package.MAGIC + blob):
        with pytest.raises(PackageError) as info:
            _load(data)
        assert info.value.reason is PackageRefusal.MALFORMED


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["set", "insert", "delete"]),
                          st.integers(0, len(DATA) - 1), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_fuzz_edits_of_a_valid_package_only_typed_errors(edits: list[tuple[str, int, int]]
                                                         ) -> None:
    data = bytearray(DATA)
    for op, offset, value in edits:
        offset %= max(len(data), 1)
        if op == "set":
            data[offset] = value
        elif op == "insert":
            data.insert(offset, value)
        elif data:
            del data[offset]
    if bytes(data) == DATA:
        return
    with pytest.raises(PackageError):
        _load(bytes(data))


@settings(FUZZ, max_examples=60)
@given(st.dictionaries(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True),
                       st.binary(max_size=60), min_size=1, max_size=6))
def test_fuzz_well_formed_containers_of_junk_only_typed_errors(members: dict[str, bytes]
                                                               ) -> None:
    data = package.write_container(members)
    assert package.read_container(data) == members
    with pytest.raises(PackageError) as info:
        _load(data)
    assert info.value.reason in (PackageRefusal.TAMPERED, PackageRefusal.MALFORMED)


def test_describe_shows_claims_without_verifying() -> None:
    doc = package.describe_package(DATA)
    assert doc["verified"] is False
    assert doc["manifest"]["package_version"] == 3
    assert set(doc["members"]) == set(package.read_container(DATA))
    with pytest.raises(PackageError):
        package.describe_package(b"nope")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


def _signed_with(member: str, body: bytes) -> bytes:
    members = package.read_container(DATA)
    members[member] = body
    return resign(members, KEYS.signing_key)


@settings(FUZZ, max_examples=80)
@given(st.sampled_from([package.STATIONS, package.THRESHOLDS]), JSON_VALUES)
def test_fuzz_signed_junk_members_only_typed_errors(member: str, value: object) -> None:
    """Even contents the CEC signed are parsed strictly: junk is ``malformed``, never a crash."""
    with pytest.raises(PackageError) as info:
        _load(_signed_with(member, json.dumps(value).encode()))
    assert info.value.reason is PackageRefusal.MALFORMED


@settings(FUZZ, max_examples=80)
@given(JSON_VALUES, st.sampled_from(["package_version", "election_hash", "created", "members",
                                     "format", "election_id"]))
def test_fuzz_signed_junk_manifest_fields_only_typed_errors(value: object, key: str) -> None:
    members = package.read_container(DATA)
    changes: dict[str, Any] = {key: value}
    data = resign(members, KEYS.signing_key, **changes)
    try:
        loaded = _load(data)
    except PackageError:
        return
    # only the real value passes, or (for the version) another valid version
    original = package.strict_json(package.read_container(DATA)[package.MANIFEST], "m",
                                    PackageRefusal.MALFORMED)[key]
    if key == "package_version":
        assert loaded.version == value and isinstance(value, int) and value >= 1
    else:
        assert value == original
