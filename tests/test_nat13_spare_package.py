"""National spares install the run's signed election package (issue 7 gap, nat13).

``pcos sim national`` builds one signed election package per run (the whole election,
the run's station and TEC-spare assignments, the CEC's HPKE key and signing
certificate, signed with the CEC key that certifies every device) and writes it to
``OUT/election-package.bin``. A TEC spare that takes over a failed device boots on that
device's card and loads the file with ``Device.load_package(data, station=...)``:
signature, member hashes, election hash (the card's), TEC assignment and certificate
are verified on the spare itself, and its audit log records ``package-loaded`` with the
package hash. With a tampered file every spare refuses (``tampered``, audited); it does
not take over, the failed device's sheets stay unreported, and the run names each such
station as a difference (``totals_match_truth`` false, ``spares_refused``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from election.model import PARTY_LIST_CONTEST
from firmware import package
from simulator.national.faults import NationalFaults
from simulator.national.run import PACKAGE_FILE, NationalSettings, run_national

# every station loses a device, and nothing else goes wrong (so differences are the spares')
FAILING = NationalFaults(paper_jam_per_sheet=0.0, power_cuts_per_device_day=0.0,
                         modem_outages_per_day=0.0, device_failure=1.0, late_station=0.0,
                         never_reports=0.0, modem_sample=0.0, modem_sample_max=0)


def _run(tmp: Path, tamper: bool) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    out = tmp / "out"
    s = run_national(NationalSettings(stations=3, faults=FAILING, workers=2, seed=13, out=out,
                                      report=False, website="none",
                                      tamper_spare_package=tamper), progress=None)
    records = [json.loads(x) for x in (out / "stations.jsonl").read_text().splitlines()]
    return s, records, out


def test_spares_load_the_runs_signed_package(tmp_path: Path) -> None:
    s, records, out = _run(tmp_path, tamper=False)
    assert s["totals_match_truth"], s["differences"]
    assert s["delivered_once"] and s["spares_refused"] == []
    data = (out / PACKAGE_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    described = package.describe_package(data)
    assert described["package_hash"] == digest
    assert s["spares_loaded_package"] == len(records) == 3
    for r in records:
        spare = [d for d in r["devices"] if d["role"] == "spare"]
        assert len(spare) == 1, r["incidents"]
        loaded = spare[0]["package_loaded"]  # from the spare's own audit log
        failed = next(d for d in r["devices"] if d["failed"])
        assert loaded["package_hash"] == digest and loaded["spare"] is True
        assert loaded["station"] == r["station"] and loaded["device"] == spare[0]["device_id"]
        assert loaded["took_over_from"] == failed["device_id"]
        assert spare[0]["sheets_cast_on_record"] > 0
        assert r["spare_refused"] is None


def test_a_tampered_package_is_refused_by_every_spare_and_named(tmp_path: Path) -> None:
    s, records, _ = _run(tmp_path, tamper=True)
    assert not s["totals_match_truth"]
    assert s["spares_loaded_package"] == 0
    assert sorted(x["station"] for x in s["spares_refused"]) == sorted(
        r["station"] for r in records)
    for r in records:
        refused = r["spare_refused"]
        assert refused["reason"] == package.PackageRefusal.TAMPERED.value
        assert refused["audited"]["reason"] == "tampered"  # the spare's audit log
        assert refused["audited"]["station"] == r["station"]
        assert not any(d["role"] == "spare" for d in r["devices"])
        assert any(i["kind"] == "spare-refused-package" for i in r["incidents"])
        named = [d for d in s["differences"] if d["where"] == f"station {r['station']}"]
        assert any("refused the package (tampered)" in d["what"] for d in named)
        # the failed device's sheets are in the box but were never reported: the CEC's
        # station count is short of the truth by exactly those
        failed = next(d for d in r["devices"] if d["failed"])
        short = [d for d in named if d.get("contest") == PARTY_LIST_CONTEST
                 and d.get("what") == "ballots"]
        assert failed["sheets_cast_on_record"] == 0  # it never closed: nothing on record
        assert short and short[0]["truth"] - short[0]["cec"] > 0
    assert s["delivered_once"]
