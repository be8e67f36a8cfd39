"""CVR export (firmware/cvr.py): valid NIST SP 1500-103 JSON, one CVR per cast sheet,
marks, marginal flags, image hashes and the retention policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nist_reference import nist_schema
from package_fixtures import election

from election.default import default_election
from election.model import BallotKind, Election
from election.rules import judge_ballot
from firmware.cvr import (
    CastSheetRecord,
    CvrError,
    ImageRetention,
    export_cvrs,
    load_records_jsonl,
    retains_images,
)

SCHEMA_PATH = nist_schema("NIST_V0_cast_vote_records.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)
ELECTION = election()
GENERATED = "2021-11-28T20:05:00Z"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record(e: Election, sheet: str, kind: BallotKind, contest: str,
           marked: dict[str, set[str]], marginal: dict[str, set[str]] | None = None,
           test: bool = False) -> CastSheetRecord:
    """A record as the device store would make it: the outcome judged by the rules."""
    outcome = judge_ballot(e, kind, contest, marked).to_json()
    return CastSheetRecord(sheet_id=sheet, ballot_kind=kind, contest_id=contest,
                           marked={k: frozenset(v) for k, v in marked.items()},
                           marginal={k: frozenset(v) for k, v in (marginal or {}).items()},
                           outcome=outcome, image_sha256_front=_sha(sheet + "f"),
                           image_sha256_back=_sha(sheet + "b"), test=test,
                           time="2021-11-28T09:15:00Z")


PL, PREF, D1, LOC = "party-list", "preference", "district-01", "council-kara-suu"
RECORDS = [
    record(ELECTION, "S-0001", BallotKind.PARTY_LIST, PL, {PL: {"P02"}, PREF: {"5"}}),
    record(ELECTION, "S-0002", BallotKind.PARTY_LIST, PL, {PL: {"P01", "P03"}}),  # overvote
    record(ELECTION, "S-0003", BallotKind.PARTY_LIST, PL, {}),  # blank
    record(ELECTION, "S-0004", BallotKind.PARTY_LIST, PL, {PL: {"P01"}, PREF: {"2"}},
           marginal={PREF: {"4"}}),  # withdrawn position, and a faint mark
    record(ELECTION, "S-0005", BallotKind.DISTRICT, D1, {D1: {"D01-03"}}),
    record(ELECTION, "S-0006", BallotKind.DISTRICT, D1, {D1: {"D01-02"}}),  # withdrawn
    record(ELECTION, "S-0007", BallotKind.DISTRICT, D1, {}, marginal={D1: {"against-all"}}),
    record(ELECTION, "S-0008", BallotKind.LOCAL, LOC, {LOC: {"against-all"}}),
    record(ELECTION, "S-0009", BallotKind.PARTY_LIST, PL, {PL: {"P02"}}, test=True),
]


def _export(records: list[CastSheetRecord] = RECORDS, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("election", ELECTION)
    kwargs.setdefault("station", "0001")
    kwargs.setdefault("device_id", "0001-D1")
    kwargs.setdefault("generated", GENERATED)
    return export_cvrs(records, **kwargs).report


def _cvr(report: dict[str, Any], sheet: str) -> dict[str, Any]:
    (found,) = [c for c in report["CVR"] if c["UniqueId"] == sheet]
    return found


def _contest(cvr: dict[str, Any], contest: str) -> dict[str, Any]:
    (found,) = [c for c in cvr["CVRSnapshot"][0]["CVRContest"] if c["ContestId"] == contest]
    return found


def _ids(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        if "@id" in doc:
            yield doc["@id"]
        for v in doc.values():
            yield from _ids(doc=v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _ids(v)


@pytest.mark.parametrize("retention", list(ImageRetention))
def test_report_validates_against_the_nist_schema(retention: ImageRetention) -> None:
    for test in (False, True):
        report = _export(retention=retention, test=test, include_times=True)
        VALIDATOR.validate(report)
        ids = list(_ids(report))
        assert len(ids) == len(set(ids)), "every @id is unique"
        assert report["Version"] == "1.0.0"


def test_one_cvr_per_official_cast_sheet_and_test_kept_apart() -> None:
    export = export_cvrs(RECORDS, election=ELECTION, station="0001", device_id="0001-D1",
                         generated=GENERATED)
    assert export.exported == 8 and export.skipped_other_mode == 1
    assert sorted(c["UniqueId"] for c in export.report["CVR"]) == [f"S-000{i}"
                                                                   for i in range(1, 9)]
    assert "Notes" not in export.report
    test = export_cvrs(RECORDS, election=ELECTION, station="0001", device_id="0001-D1",
                       generated=GENERATED, test=True)
    assert [c["UniqueId"] for c in test.report["CVR"]] == ["S-0009"]
    assert "TEST" in test.report["Notes"]
    # order follows the hash of the sheet id, not the cast order
    order = [c["UniqueId"] for c in export.report["CVR"]]
    assert order == sorted(order, key=lambda s: hashlib.sha256(s.encode()).digest())
    parsed = json.loads(export.dumps())
    assert parsed == export.report


def test_selections_votes_and_statuses() -> None:
    report = _export()
    valid = _cvr(report, "S-0001")
    party = _contest(valid, PL)
    assert party["OtherStatus"] == "valid" and "Status" not in party
    (sel,) = party["CVRContestSelection"]
    assert sel["ContestSelectionId"] == "party-list:P02" and sel["OptionPosition"] == 2
    assert sel["SelectionPosition"][0] == {"@type": "CVR.SelectionPosition",
                                           "HasIndication": "yes", "NumberVotes": 1,
                                           "IsAllocable": "yes"}
    assert _contest(valid, PREF)["CVRContestSelection"][0]["TotalNumberVotes"] == 1

    over = _contest(_cvr(report, "S-0002"), PL)
    assert over["Overvotes"] == 1 and over["Status"] == ["overvoted", "invalidated-rules"]
    assert [s["SelectionPosition"][0]["NumberVotes"] for s in over["CVRContestSelection"]] \
        == [0, 0]
    blank = _contest(_cvr(report, "S-0003"), PL)
    assert blank["Undervotes"] == 1 and "not-indicated" in blank["Status"]
    assert "CVRContestSelection" not in blank
    withdrawn = _cvr(report, "S-0004")
    pref = _contest(withdrawn, PREF)
    assert pref["OtherStatus"] == "void-withdrawn" and pref["Status"] == ["invalidated-rules"]
    assert _contest(withdrawn, PL)["CVRContestSelection"][0]["TotalNumberVotes"] == 1
    district = _contest(_cvr(report, "S-0006"), D1)
    assert district["OtherStatus"] == "withdrawn"
    assert district["CVRContestSelection"][0]["SelectionPosition"][0]["Status"] == [
        "invalidated-rules"]
    local = _contest(_cvr(report, "S-0008"), LOC)
    assert local["CVRContestSelection"][0]["ContestSelectionId"] == f"{LOC}:against-all"


def test_marginal_marks_are_flagged_not_counted() -> None:
    report = _export()
    cvr = _cvr(report, "S-0004")
    snapshot = cvr["CVRSnapshot"][0]
    assert snapshot["OtherStatus"] == "marginal-marks"
    assert snapshot["Annotation"][0]["Message"] == ["marginal preference:4"]
    marks = {s["ContestSelectionId"]: s["SelectionPosition"][0]
             for s in _contest(cvr, PREF)["CVRContestSelection"]}
    assert marks["preference:4"] == {"@type": "CVR.SelectionPosition", "HasIndication": "unknown",
                                     "NumberVotes": 0, "IsAllocable": "no",
                                     "Status": ["other"], "OtherStatus": "marginal"}
    assert marks["preference:2"]["HasIndication"] == "yes"
    blank_with_faint = _contest(_cvr(report, "S-0007"), D1)
    assert blank_with_faint["OtherStatus"] == "blank" and blank_with_faint["Selections"] == 0
    assert "Annotation" not in _cvr(report, "S-0001")["CVRSnapshot"][0]  # no times by default


@pytest.mark.parametrize(("retention", "located"), [
    (ImageRetention.ALL, {f"S-000{i}" for i in range(1, 9)}),
    (ImageRetention.REJECTED_AND_MARGINAL, {"S-0004", "S-0007"}),
    (ImageRetention.NONE, set()),
])
def test_image_hashes_always_locations_by_policy(retention: ImageRetention,
                                                 located: set[str]) -> None:
    report = _export(retention=retention)
    for cvr in report["CVR"]:
        front, back = cvr["BallotImage"]
        sheet = cvr["UniqueId"]
        assert front["Hash"] == {"@type": "CVR.Hash", "Type": "sha-256", "Value": _sha(sheet + "f")}
        assert back["Hash"]["Value"] == _sha(sheet + "b")
        assert ("Location" in front) == (sheet in located)
        if sheet in located:
            assert front["Location"] == f"file:images/{sheet}-front.png"


def test_retention_rule() -> None:
    table = {(p, r, m): retains_images(p, returned=r, marginal=m)
             for p in ImageRetention for r in (False, True) for m in (False, True)}
    assert all(table[(ImageRetention.ALL, r, m)] for r in (False, True) for m in (False, True))
    assert not any(table[(ImageRetention.NONE, r, m)] for r in (False, True)
                   for m in (False, True))
    assert [table[(ImageRetention.REJECTED_AND_MARGINAL, r, m)]
            for r, m in ((False, False), (False, True), (True, False), (True, True))] == [
        False, True, True, True]


def test_default_election_station_validates() -> None:
    e = default_election()
    station = e.stations[0]
    district = f"district-{station.district:02d}"
    candidate = e.contest(district).candidates[0].id
    records = [record(e, "A1", BallotKind.PARTY_LIST, PL, {PL: {"P05"}, PREF: {"7"}}),
               record(e, "A2", BallotKind.DISTRICT, district, {district: {candidate}})]
    report = _export(records, election=e, station=station.number)
    VALIDATOR.validate(report)
    assert len(report["Election"][0]["Contest"]) == 3


def test_bad_records_are_typed_errors() -> None:
    good = RECORDS[0]
    with pytest.raises(CvrError, match="appears twice"):
        _export([good, good])
    with pytest.raises(CvrError, match="unknown option"):
        _export([CastSheetRecord(**{**_fields(good), "marked": {PL: frozenset({"P02", "P99"})},
                                    "outcome": {"party-list": {"status": "overvote",
                                                               "choice": None},
                                                "preference": {"status": "none", "party": None,
                                                               "position": None}}})])
    with pytest.raises(CvrError, match="not marked"):
        _export([CastSheetRecord(**{**_fields(good), "marked": {PL: frozenset({"P01"})}})])
    with pytest.raises(CvrError, match="not on station"):
        _export([record(ELECTION, "X", BallotKind.DISTRICT, "district-02",
                        {"district-02": {"D02-01"}})])
    with pytest.raises(CvrError, match="both marked and marginal"):
        CastSheetRecord(**{**_fields(good), "marginal": {PL: frozenset({"P02"})}})
    with pytest.raises(CvrError, match="outcome"):
        CastSheetRecord(**{**_fields(good), "outcome": {"district-01": {"status": "valid"}}})
    with pytest.raises(CvrError, match="image_sha256_front"):
        CastSheetRecord(**{**_fields(good), "image_sha256_front": "abc"})
    with pytest.raises(CvrError, match="time"):
        CastSheetRecord(**{**_fields(good), "time": "yesterday"})
    with pytest.raises(CvrError, match="station"):
        _export(station="9999")


def _fields(r: CastSheetRecord) -> dict[str, Any]:
    return {k: getattr(r, k) for k in ("sheet_id", "ballot_kind", "contest_id", "marked",
                                       "marginal", "outcome", "image_sha256_front",
                                       "image_sha256_back", "test", "time")}


def test_jsonl_round_trip_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r.to_json()) for r in RECORDS) + "\n\n")
    loaded = load_records_jsonl(path)
    assert [r.to_json() for r in loaded] == [r.to_json() for r in RECORDS]
    path.write_text(json.dumps(RECORDS[0].to_json()) + "\n{not json\n")
    with pytest.raises(CvrError, match=r"records.jsonl:2: not JSON"):
        load_records_jsonl(path)
    doc = RECORDS[1].to_json()
    doc["ballot_kind"] = "referendum"
    path.write_text(json.dumps(doc) + "\n")
    with pytest.raises(CvrError, match=r"records.jsonl:1: .*unknown ballot kind"):
        load_records_jsonl(path)


def test_the_schema_check_can_fail() -> None:
    """The validator is not vacuous: a CVR with a wrong field or value is caught."""
    report = _export()
    report["CVR"][0]["CVRSnapshot"][0]["Type"] = "scanned"
    assert not VALIDATOR.is_valid(report)
    report = _export()
    report["CVR"][0]["Votes"] = 1
    assert not VALIDATOR.is_valid(report)
    report = _export()
    del report["Election"][0]["Contest"][0]["ContestSelection"]
    assert not VALIDATOR.is_valid(report)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 99) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10)


@settings(derandomize=True, deadline=None, database=None, max_examples=150)
@given(st.sampled_from(sorted(RECORDS[3].to_json())), JSON_VALUES)
def test_fuzz_record_fields_only_typed_errors(key: str, value: object) -> None:
    """A record with any field replaced: a CvrError, or a record that exports validly."""
    doc = RECORDS[3].to_json()
    doc[key] = value
    try:
        rec = CastSheetRecord.from_json(doc)
        report = _export([rec])
    except CvrError:
        return
    VALIDATOR.validate(report)


def test_kept_images_are_the_sensor_pixels_with_their_hashes(tmp_path: Path) -> None:
    """A retained image file decodes to exactly the RGB pixels the device hashed (the
    sensor's channel order, not OpenCV's BGR): a blue stripe must stay blue on file."""
    from firmware.cvrstore import keep_images
    from firmware.device import image_sha256
    from vision.imageio import load_image

    rng = np.random.default_rng(5)
    front = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    front[:, :5] = (40, 60, 200)  # a blue stripe in RGB
    back = rng.integers(0, 256, (40, 30), dtype=np.uint8)  # a greyscale sensor's side
    paths = keep_images(tmp_path, "S1", (front, back), ImageRetention.ALL,
                        returned=False, marginal=False)
    assert [p.name.split("-")[-1] for p in paths] == ["front.png", "back.png"]
    got_front, got_back = load_image(paths[0]), load_image(paths[1])
    assert np.array_equal(got_front, front) and image_sha256(got_front) == image_sha256(front)
    assert got_back.shape[:2] == back.shape
