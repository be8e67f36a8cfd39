"""Figures of the signed election package, amendments and CVR export.

The national package (the embedded 2,494-station election, two devices a station)
is built once and loaded ``count`` times as a device does at boot (signature chain,
member hashes, parsing the definition, assignment; wall and CPU time, since the
machine may be shared); an amendment is loaded and
applied; ``count`` x 100 cast-sheet records are exported as NIST CVR JSON.
"""

from __future__ import annotations

import time

from benchmarks.common import Figure, ms_stats
from election.default import default_election
from election.model import BallotKind
from election.rules import judge_ballot
from firmware import amendment, cvr, package, provision
from vision.config import Thresholds

NOW = "2021-11-28T06:00:00Z"


def run(count: int = 5) -> list[Figure]:
    election = default_election()
    keys = provision.generate_cec_keys(seed=b"\x07" * 32)
    station = election.stations[0]
    t0 = time.perf_counter()
    data = package.build_package(
        election=election, assignments=package.StationAssignments.per_station(election, 2),
        thresholds=Thresholds(), hpke_public_key=keys.hpke_public_key,
        signing_key=keys.signing_key, signing_certificate=keys.signing_certificate, version=1,
        created="2021-11-20T00:00:00Z")
    build_s = time.perf_counter() - t0
    device = f"{station.number}-D1"
    cert = provision.provision_device(keys.signing_key, device_id=device,
                                      station=station.number, seed=b"\x08" * 32).certificate
    loads, loads_cpu = [], []
    for _ in range(count):
        t, c = time.perf_counter(), time.process_time()
        loaded = package.load_package(data, root=keys.root_certificate, device_id=device,
                                      now=NOW, device_certificate=cert)
        loads.append(time.perf_counter() - t)
        loads_cpu.append(time.process_time() - c)
    party = election.party_list.parties[0].id
    amend_bytes = amendment.build_amendment(
        election=election, amendment_id="W-1",
        list_positions=[amendment.ListWithdrawal(party, 2)], signing_key=keys.signing_key,
        signing_certificate=keys.signing_certificate, created="2021-11-25T00:00:00Z")
    amends = []
    for _ in range(count):
        t = time.perf_counter()
        found = amendment.load_amendment(amend_bytes, root=keys.root_certificate, now=NOW,
                                         election=loaded.election)
        amendment.apply_amendment(loaded.election, found, polls_opened=False)
        amends.append(time.perf_counter() - t)
    records = []
    for i in range(count * 100):
        marked = {"party-list": {election.party_list.parties[i % 21].id},
                  "preference": {str(1 + i % 30)}}
        outcome = judge_ballot(election, BallotKind.PARTY_LIST, "party-list", marked)
        records.append(cvr.CastSheetRecord(
            sheet_id=f"S{i:06d}", ballot_kind=BallotKind.PARTY_LIST, contest_id="party-list",
            marked={k: frozenset(v) for k, v in marked.items()}, marginal={},
            outcome=outcome.to_json(),
            image_sha256_front="a" * 64, image_sha256_back="b" * 64, test=False, time=NOW))
    t = time.perf_counter()
    export = cvr.export_cvrs(records, election=election, station=station.number,
                             device_id=device, generated=NOW)
    export_s = time.perf_counter() - t
    return [
        Figure("package_bytes", len(data), "B"),
        Figure("package_build", round(build_s * 1000, 1), "ms"),
        *ms_stats("package_load", loads),
        Figure("package_load_cpu_median", round(sorted(loads_cpu)[len(loads_cpu) // 2] * 1000,
                                                1), "ms"),
        *ms_stats("amendment_load_apply", amends),
        Figure("cvr_export_per_sheet", round(export_s * 1000 / export.exported, 4), "ms"),
    ]
