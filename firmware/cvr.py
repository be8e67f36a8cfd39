"""Cast vote records: NIST SP 1500-103 (CVR version 1.0.0) JSON, one CVR per cast sheet.

Input is a sequence of :class:`CastSheetRecord`, the device store's immutable record
of a sheet that dropped into the box: its definite and marginal marks, the rules'
outcome (``election.rules.BallotOutcome.to_json``) and the SHA-256 of both images.
The output validates against ``../shared/reference/nist/NIST_V0_cast_vote_records.json``.

Mapping (NIST name <- ours):

* ``CastVoteRecordReport``: ``ReportType`` ``originating-device-export``; one
  ``ReportingDevice`` (``@id`` ``device-<id>``); ``GpUnit`` for the country
  (``gp-kg``) and the station (``gp-station-<number>``, ``polling-place``).
* ``Election.Contest``: ``party-list`` as a ``PartyContest`` (``PartySelection`` per
  party, a plain ``ContestSelection`` for ``against-all``); ``preference`` as a
  ``Contest`` with one selection per square; districts and councils as
  ``CandidateContest`` (``CandidateSelection`` per candidate). Selection ids are
  ``<contest>:<option>``.
* ``CVR``: ``UniqueId`` = sheet id, ``BallotStyleId`` = the ballot's contest id, one
  ``interpreted`` snapshot. Per contest: ``Selections`` (definite marks),
  ``Undervotes`` 1 when nothing is marked, ``Overvotes`` 1 on an overvote,
  ``Status`` from the rule outcome (``not-indicated``/``undervoted``,
  ``overvoted``, ``invalidated-rules``), ``OtherStatus`` the rule status itself
  (``valid``, ``blank``, ``void-withdrawn``...). A definite mark has
  ``HasIndication: yes`` and ``NumberVotes`` 1 only when it counts (``IsAllocable``
  ``yes``); otherwise 0 with ``invalidated-rules``.
* Marginal marks (counted as unmarked, never dropped): a selection with
  ``HasIndication: unknown``, ``NumberVotes`` 0, ``IsAllocable: no``,
  ``Status: [other]``, ``OtherStatus: marginal``; the snapshot gets
  ``OtherStatus: marginal-marks`` and an ``Annotation`` listing them.
* ``BallotImage``: front and back, each with its SHA-256 ``Hash``; a ``Location``
  (``file:<dir>/<sheet>-<side><suffix>``) only when the retention policy keeps
  that sheet's images.

Privacy: CVRs are ordered by the SHA-256 of the sheet id, not by cast time, and the
cast time is left out unless ``include_times`` is set, so that the file does not
reveal the order in which voters cast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from election.errors import PcosError
from election.model import (
    AGAINST_ALL,
    PARTY_LIST_CONTEST,
    PREFERENCE_CONTEST,
    BallotKind,
    Election,
    Language,
    Station,
)
from election.rules import (
    BallotOutcome,
    ContestOutcome,
    ContestStatus,
    PreferenceOutcome,
    PreferenceStatus,
    RuleError,
)
from firmware.crypto import CryptoError
from firmware.hal.imaging import FILE_SUFFIX
from firmware.provision import instant

CVR_VERSION = "1.0.0"
APPLICATION = "pcos-kg"
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_SHEET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
RAW_IMAGES = "raw"  # image hashes over shape, dtype and pixels; kept files are PNG
IMAGE_SUFFIX = {RAW_IMAGES: ".png", **FILE_SUFFIX}


class CvrError(PcosError):
    """A cast-sheet record or export request that cannot become a valid CVR."""


class ImageRetention(StrEnum):
    """Which sheets keep their image files (their hashes are always in the CVR)."""

    ALL = "all"
    REJECTED_AND_MARGINAL = "rejected+marginal"  # returned sheets, and sheets with marginal marks
    NONE = "none"


def retains_images(policy: ImageRetention, *, returned: bool, marginal: bool) -> bool:
    """Whether a sheet's image files are kept under ``policy`` (pure; the store asks this).

    ``returned``: the sheet went back to the voter (not cast); ``marginal``: it has at
    least one marginal mark.
    """
    if policy is ImageRetention.ALL:
        return True
    if policy is ImageRetention.REJECTED_AND_MARGINAL:
        return returned or marginal
    return False


def _frozen_marks(value: Mapping[str, Iterable[str]]) -> Mapping[str, frozenset[str]]:
    if not isinstance(value, Mapping) or any(
            not isinstance(k, str) or isinstance(v, str) for k, v in value.items()):
        raise CvrError("marks must map contest ids to sets of option ids")
    return MappingProxyType({k: frozenset(v) for k, v in value.items() if frozenset(v)})


@dataclass(frozen=True)
class CastSheetRecord:
    """One sheet that went into the box, as the device store hands it to the exporter.

    ``marked`` / ``marginal``: contest id -> option ids with a definite / marginal mark
    (for a party-list ballot the contests ``party-list`` and ``preference``, whose
    options are the square numbers as text). ``outcome``: the rules' judgement as
    ``BallotOutcome.to_json()``. ``time``: ISO-8601 UTC when it was cast.
    """

    sheet_id: str
    ballot_kind: BallotKind
    contest_id: str
    marked: Mapping[str, frozenset[str]]
    marginal: Mapping[str, frozenset[str]]
    outcome: Mapping[str, Any]
    image_sha256_front: str
    image_sha256_back: str
    test: bool
    time: str
    # what the image hashes are of: RAW_IMAGES (shape, dtype and pixels; the kept file is
    # a PNG of them) or "jpeg" (the JPEG file a compressing sensor delivered, kept as is)
    image_format: str = RAW_IMAGES
    _outcome: BallotOutcome | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "marked", _frozen_marks(self.marked))
        object.__setattr__(self, "marginal", _frozen_marks(self.marginal))
        object.__setattr__(self, "outcome", MappingProxyType(dict(self.outcome)))
        if not isinstance(self.sheet_id, str) or not _SHEET_ID.match(self.sheet_id):
            raise CvrError(f"sheet id {self.sheet_id!r}: expected 1..128 letters, digits, "
                           "'.', '_', ':' or '-'")
        what = f"sheet {self.sheet_id}"
        object.__setattr__(self, "ballot_kind", _kind(self.ballot_kind, what))
        for side in ("front", "back"):
            digest = getattr(self, f"image_sha256_{side}")
            if not isinstance(digest, str) or not _HEX64.match(digest):
                raise CvrError(f"{what}: image_sha256_{side} must be 64 lower-case hex digits")
        if not isinstance(self.test, bool):
            raise CvrError(f"{what}: test must be true or false")
        if self.image_format not in IMAGE_SUFFIX:
            raise CvrError(f"{what}: image_format must be one of {sorted(IMAGE_SUFFIX)}, "
                           f"not {self.image_format!r}")
        try:
            instant(self.time)
        except CryptoError as exc:
            raise CvrError(f"{what}: {exc}") from None
        both = {(c, o) for c, opts in self.marked.items() for o in opts} & {
            (c, o) for c, opts in self.marginal.items() for o in opts}
        if both:
            raise CvrError(f"{what}: options both marked and marginal: {sorted(both)}")
        try:
            parsed = BallotOutcome.from_json(dict(self.outcome), self.ballot_kind)
        except RuleError as exc:
            raise CvrError(f"{what}: outcome: {exc}") from None
        object.__setattr__(self, "_outcome", parsed)

    @property
    def ballot_outcome(self) -> BallotOutcome:
        """The parsed ``outcome`` (checked on construction)."""
        assert self._outcome is not None
        return self._outcome

    @property
    def has_marginal(self) -> bool:
        return bool(self.marginal)

    def to_json(self) -> dict[str, Any]:
        return {
            "sheet_id": self.sheet_id, "ballot_kind": self.ballot_kind.value,
            "contest_id": self.contest_id,
            "marked": {k: sorted(v) for k, v in sorted(self.marked.items())},
            "marginal": {k: sorted(v) for k, v in sorted(self.marginal.items())},
            "outcome": dict(self.outcome),
            "image_sha256_front": self.image_sha256_front,
            "image_sha256_back": self.image_sha256_back,
            "test": self.test, "time": self.time,
            **({"image_format": self.image_format} if self.image_format != RAW_IMAGES else {}),
        }

    @classmethod
    def from_json(cls, doc: Any, what: str = "record") -> CastSheetRecord:
        keys = {"sheet_id", "ballot_kind", "contest_id", "marked", "marginal", "outcome",
                "image_sha256_front", "image_sha256_back", "test", "time"}
        if not isinstance(doc, dict) or not keys <= set(doc) <= keys | {"image_format"}:
            raise CvrError(f"{what}: expected an object with exactly the keys {sorted(keys)}"
                           " (and image_format, optional)")
        for key in ("marked", "marginal"):
            value = doc[key]
            if not isinstance(value, dict) or not all(
                    isinstance(v, list) and all(isinstance(o, str) for o in v)
                    for v in value.values()):
                raise CvrError(f"{what}.{key}: expected contest id -> list of option ids")
        if not isinstance(doc["contest_id"], str):
            raise CvrError(f"{what}.contest_id: expected text")
        if not isinstance(doc["outcome"], dict):
            raise CvrError(f"{what}.outcome: expected an object")
        try:
            return cls(sheet_id=doc["sheet_id"], ballot_kind=doc["ballot_kind"],
                       contest_id=doc["contest_id"], marked=doc["marked"],
                       marginal=doc["marginal"], outcome=doc["outcome"],
                       image_sha256_front=doc["image_sha256_front"],
                       image_sha256_back=doc["image_sha256_back"], test=doc["test"],
                       time=doc["time"], image_format=doc.get("image_format", RAW_IMAGES))
        except CvrError as exc:
            raise CvrError(f"{what}: {exc}") from None


def _kind(value: Any, what: str) -> BallotKind:
    try:
        return BallotKind(value)
    except ValueError:
        raise CvrError(f"{what}: unknown ballot kind {value!r}") from None


def load_records_jsonl(path: str | os.PathLike[str]) -> list[CastSheetRecord]:
    """Read a JSON-lines file of records (blank lines skipped); errors name the line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CvrError(f"{path}: cannot read records ({exc})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise CvrError(f"{path}:{number}: not JSON ({exc.args[0][:60]})") from None
        records.append(CastSheetRecord.from_json(doc, f"{path}:{number}"))
    return records


# --- the election part ---------------------------------------------------------------------------


def _selection_id(contest: str, option: str) -> str:
    return f"{contest}:{option}"


def _options(election: Election, contest_id: str) -> tuple[str, ...]:
    """The options of a contest in ballot order (their 1-based index is OptionPosition)."""
    if contest_id == PARTY_LIST_CONTEST:
        return election.party_list.option_ids
    if contest_id == PREFERENCE_CONTEST:
        return tuple(str(n) for n in range(1, election.party_list.preference_squares + 1))
    return election.contest(contest_id).option_ids


def _station_contests(station: Station) -> tuple[str, ...]:
    ids = list(station.contest_ids())
    ids.insert(1, PREFERENCE_CONTEST)
    return tuple(ids)


def _election_json(election: Election, contests: Sequence[str]) -> dict[str, Any]:
    contest_docs: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    for cid in contests:
        if cid == PARTY_LIST_CONTEST:
            selections: list[dict[str, Any]] = [
                {"@id": _selection_id(cid, p.id), "@type": "CVR.PartySelection",
                 "PartyIds": [p.id]} for p in election.party_list.parties]
            if election.party_list.against_all:
                selections.append({"@id": _selection_id(cid, AGAINST_ALL),
                                   "@type": "CVR.ContestSelection"})
            contest_docs.append({"@id": cid, "@type": "CVR.PartyContest",
                                 "Name": "Party list (part 1)", "VoteVariation": "plurality",
                                 "ContestSelection": selections})
        elif cid == PREFERENCE_CONTEST:
            contest_docs.append({
                "@id": cid, "@type": "CVR.Contest", "Name": "Preference (part 2)",
                "VoteVariation": "other",
                "OtherVoteVariation": "one list position of the chosen party",
                "ContestSelection": [{"@id": _selection_id(cid, o), "@type": "CVR.ContestSelection"}
                                     for o in _options(election, cid)]})
        else:
            contest = election.contest(cid)
            cand_selections: list[dict[str, Any]] = [
                {"@id": _selection_id(cid, c.id), "@type": "CVR.CandidateSelection",
                 "CandidateIds": [c.id]} for c in contest.candidates]
            if contest.against_all:
                cand_selections.append({"@id": _selection_id(cid, AGAINST_ALL),
                                        "@type": "CVR.ContestSelection"})
            contest_docs.append({"@id": cid, "@type": "CVR.CandidateContest",
                                 "Name": contest.name.get(Language.RU),
                                 "VoteVariation": "plurality", "VotesAllowed": 1,
                                 "NumberElected": 1, "ContestSelection": cand_selections})
            candidates += [{"@id": c.id, "@type": "CVR.Candidate",
                            "Name": c.name.full(Language.RU)} for c in contest.candidates]
    doc: dict[str, Any] = {"@id": election.election_id, "@type": "CVR.Election",
                           "Name": election.name.get(Language.RU), "ElectionScopeId": "gp-kg",
                           "Contest": contest_docs}
    if candidates:
        doc["Candidate"] = candidates
    return doc


# --- one CVR ----------------------------------------------------------------------------------


def _contest_status(outcome: ContestOutcome | PreferenceOutcome) -> list[str]:
    status = outcome.status
    if status in (ContestStatus.BLANK, PreferenceStatus.NONE):
        return ["not-indicated", "undervoted"] if status is ContestStatus.BLANK else [
            "not-indicated"]
    if status is ContestStatus.OVERVOTE:
        return ["overvoted", "invalidated-rules"]
    if status in (ContestStatus.VALID, PreferenceStatus.VALID):
        return []
    return ["invalidated-rules"]


def _counted_option(contest_id: str, outcome: ContestOutcome | PreferenceOutcome) -> str | None:
    if isinstance(outcome, PreferenceOutcome):
        return str(outcome.position) if outcome.status is PreferenceStatus.VALID else None
    return outcome.choice if outcome.status is ContestStatus.VALID else None


def _cvr_contest(election: Election, contest_id: str, marked: frozenset[str],
                 marginal: frozenset[str], outcome: ContestOutcome | PreferenceOutcome,
                 what: str) -> dict[str, Any]:
    options = _options(election, contest_id)
    unknown = (marked | marginal) - set(options)
    if unknown:
        raise CvrError(f"{what}: {contest_id}: unknown option(s) {sorted(unknown)}")
    counted = _counted_option(contest_id, outcome)
    if counted is not None and counted not in marked:
        raise CvrError(f"{what}: {contest_id}: the outcome counts {counted!r}, which is not "
                       "marked")
    if outcome.status is ContestStatus.BLANK and marked:
        raise CvrError(f"{what}: {contest_id}: judged blank but has marks")
    selections = []
    for option in sorted(marked | marginal, key=options.index):
        position: dict[str, Any] = {"@type": "CVR.SelectionPosition"}
        sel: dict[str, Any] = {"@type": "CVR.CVRContestSelection",
                               "ContestSelectionId": _selection_id(contest_id, option),
                               "OptionPosition": options.index(option) + 1}
        if option in marked:
            votes = 1 if option == counted else 0
            position.update(HasIndication="yes", NumberVotes=votes,
                            IsAllocable="yes" if votes else "no")
            if not votes:
                position["Status"] = ["invalidated-rules"]
            sel["TotalNumberVotes"] = votes
        else:
            position.update(HasIndication="unknown", NumberVotes=0, IsAllocable="no",
                            Status=["other"], OtherStatus="marginal")
            sel["TotalNumberVotes"] = 0
        sel["SelectionPosition"] = [position]
        selections.append(sel)
    doc: dict[str, Any] = {"@type": "CVR.CVRContest", "ContestId": contest_id,
                           "Selections": len(marked),
                           "Undervotes": 0 if marked else 1,
                           "Overvotes": 1 if outcome.status is ContestStatus.OVERVOTE else 0,
                           "OtherStatus": outcome.status.value}
    status = _contest_status(outcome)
    if status:
        doc["Status"] = status
    if selections:
        doc["CVRContestSelection"] = selections
    return doc


def _cvr(record: CastSheetRecord, election: Election, station: Station, device_ref: str,
         retention: ImageRetention, image_dir: str, image_suffix: str,
         include_times: bool) -> dict[str, Any]:
    what = f"sheet {record.sheet_id}"
    outcome = record.ballot_outcome
    if record.ballot_kind is BallotKind.PARTY_LIST:
        parts: list[tuple[str, ContestOutcome | PreferenceOutcome]] = [
            (PARTY_LIST_CONTEST, outcome.contest(PARTY_LIST_CONTEST))]
        assert outcome.preference is not None  # BallotOutcome guarantees it on a party list
        parts.append((PREFERENCE_CONTEST, outcome.preference))
    else:
        try:
            parts = [(record.contest_id, outcome.contest(record.contest_id))]
        except KeyError:
            raise CvrError(f"{what}: outcome is not for contest {record.contest_id}") from None
    if record.contest_id not in station.contest_ids():
        raise CvrError(f"{what}: contest {record.contest_id} is not on station "
                       f"{station.number}'s ballots")
    extra = (set(record.marked) | set(record.marginal)) - {c for c, _ in parts}
    if extra:
        raise CvrError(f"{what}: marks in contests not on this ballot: {sorted(extra)}")
    contests = [_cvr_contest(election, cid, record.marked.get(cid, frozenset()),
                             record.marginal.get(cid, frozenset()), part, what)
                for cid, part in parts]
    snapshot: dict[str, Any] = {"@id": f"snapshot-{record.sheet_id}",
                                "@type": "CVR.CVRSnapshot", "Type": "interpreted",
                                "CVRContest": contests}
    notes = [f"marginal {c}:{o}" for c, opts in sorted(record.marginal.items())
             for o in sorted(opts)]
    annotation: dict[str, Any] = {"@type": "CVR.Annotation"}
    if notes:
        snapshot["Status"] = ["other"]
        snapshot["OtherStatus"] = "marginal-marks"
        annotation["Message"] = notes
    if include_times:
        annotation["TimeStamp"] = record.time
    if len(annotation) > 1:
        snapshot["Annotation"] = [annotation]
    keep = retains_images(retention, returned=False, marginal=record.has_marginal)
    images = []
    for side, digest in (("front", record.image_sha256_front),
                         ("back", record.image_sha256_back)):
        image: dict[str, Any] = {"@type": "CVR.ImageData",
                                 "Hash": {"@type": "CVR.Hash", "Type": "sha-256",
                                          "Value": digest}}
        if keep:
            suffix = image_suffix if record.image_format == RAW_IMAGES else IMAGE_SUFFIX[
                record.image_format]
            image["Location"] = f"file:{image_dir}/{record.sheet_id}-{side}{suffix}"
        images.append(image)
    return {"@type": "CVR.CVR", "UniqueId": record.sheet_id, "BallotSheetId": "1",
            "BallotStyleId": record.contest_id,
            "BallotStyleUnitId": f"gp-station-{station.number}",
            "CreatingDeviceId": device_ref, "ElectionId": election.election_id,
            "CurrentSnapshotId": snapshot["@id"], "CVRSnapshot": [snapshot],
            "BallotImage": images}


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CvrExport:
    """The report document, and what was left out of it."""

    report: dict[str, Any]
    exported: int
    skipped_other_mode: int  # test records in an official export, or the reverse

    def dumps(self) -> bytes:
        return (json.dumps(self.report, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def export_cvrs(records: Iterable[CastSheetRecord], *, election: Election, station: str,
                device_id: str, generated: str,
                retention: ImageRetention = ImageRetention.REJECTED_AND_MARGINAL,
                test: bool = False, include_times: bool = False, image_dir: str = "images",
                image_suffix: str = ".png") -> CvrExport:
    """Build the NIST CVR report of ``records`` cast on ``device_id`` at ``station``.

    Only records whose ``test`` flag equals ``test`` are exported (an official export
    never carries a test sheet); the others are counted in ``skipped_other_mode``. A
    sheet id seen twice, an unknown option, or an outcome that contradicts the marks
    raises :class:`CvrError`.
    """
    try:
        st = election.station(station)
    except KeyError:
        raise CvrError(f"station {station!r} is not in election {election.election_id}") from None
    try:
        generated = instant(generated)
    except CryptoError as exc:
        raise CvrError(f"generated: {exc}") from None
    retention = ImageRetention(retention)
    device_ref = f"device-{device_id}"
    seen: set[str] = set()
    chosen: list[CastSheetRecord] = []
    skipped = 0
    for record in records:
        if record.sheet_id in seen:
            raise CvrError(f"sheet {record.sheet_id} appears twice")
        seen.add(record.sheet_id)
        if record.test != test:
            skipped += 1
            continue
        chosen.append(record)
    chosen.sort(key=lambda r: hashlib.sha256(r.sheet_id.encode("utf-8")).digest())
    cvrs = [_cvr(r, election, st, device_ref, retention, image_dir, image_suffix,
                 include_times) for r in chosen]
    parties = [{"@id": p.id, "@type": "CVR.Party", "Name": p.name.get(Language.RU)}
               for p in election.party_list.parties]
    report: dict[str, Any] = {
        "@type": "CVR.CastVoteRecordReport",
        "Version": CVR_VERSION,
        "GeneratedDate": generated,
        "ReportType": ["originating-device-export"],
        "ReportGeneratingDeviceIds": [device_ref],
        "ReportingDevice": [{"@id": device_ref, "@type": "CVR.ReportingDevice",
                             "Application": APPLICATION, "SerialNumber": device_id,
                             "MarkMetricType": "fill"}],
        "GpUnit": [
            {"@id": "gp-kg", "@type": "CVR.GpUnit", "Type": "other", "OtherType": "country",
             "Name": "Kyrgyz Republic"},
            {"@id": f"gp-station-{st.number}", "@type": "CVR.GpUnit", "Type": "polling-place",
             "Name": f"DEC {st.number}", "ReportingDeviceIds": [device_ref]},
        ],
        "Election": [_election_json(election, _station_contests(st))],
        "Party": parties,
        "CVR": cvrs,
    }
    if test:
        report["Notes"] = "TEST: test-mode sheets, not official results"
    return CvrExport(report=report, exported=len(cvrs), skipped_other_mode=skipped)
