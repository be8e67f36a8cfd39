"""The device's parts wired together: a signed package loaded by the device, a withdrawal
amendment before polls open, and the reports printed as ESC/POS on a printer on a real pty
(decoded back), with paper running out in the middle of a report."""

from __future__ import annotations

from pathlib import Path

import pytest
from package_fixtures import election

from election.hashing import election_hash
from election.model import BallotKind
from firmware import escpos, package
from firmware.amendment import (
    AmendmentError,
    AmendmentRefusal,
    CandidateWithdrawal,
    build_amendment,
)
from firmware.device import PackageMismatch, ReportNotPrinted
from firmware.hal.printer import SerialPrinter
from firmware.install import AMENDMENT_REFUSALS, PACKAGE_REFUSALS, PackageTrust
from firmware.printsink import PrinterReportSink
from firmware.quickresults import reassemble, verify
from firmware.states import PollsState
from firmware.store import SheetMode
from simulator.devices import SimWorld
from simulator.packaged import (
    device_ids,
    sim_cec_keys,
    sim_device,
    sim_package,
)
from simulator.printer import VirtualPrinter
from simulator.rig import Rig, SelectionReader, build_device

ELECTION = election()
STATION = ELECTION.station("0001")
KEYS = sim_cec_keys()
PACKAGE = sim_package(ELECTION, KEYS, ("0001",), 2)
DEV1, DEV2 = device_ids("0001", 2)

# sheet id -> (kind, contest, marks): a vote for D01-01, which the amendment withdraws
MARKS = {
    "V1": (BallotKind.DISTRICT, "district-01", {"district-01": frozenset({"D01-01"})}),
    "V2": (BallotKind.DISTRICT, "district-01", {"district-01": frozenset({"D01-03"})}),
    "T1": (BallotKind.DISTRICT, "district-01", {"district-01": frozenset({"D01-01"})}),
    "T2": (BallotKind.PARTY_LIST, "party-list", {"party-list": frozenset({"P01"})}),
}


def _trust(device_id: str = DEV1, station: str | None = "0001") -> PackageTrust:
    return PackageTrust(root=KEYS.root_certificate, device=sim_device(KEYS, device_id, station))


def _rig(tmp: Path, trust: PackageTrust | None = None, world: SimWorld | None = None,
         reports: object = None) -> Rig:
    reader = SelectionReader(ELECTION, STATION, MARKS)
    r = build_device(tmp, world or SimWorld(), ELECTION, STATION, reader,
                     trust=trust or _trust(), reader_for=reader.for_election,
                     reports=reports)  # type: ignore[arg-type]
    r.device.boot()
    return r


def _types(r: Rig) -> list[str]:
    return [e["type"] for e in r.device.store.audit_events()]


def _feed(r: Rig, sheet: str) -> object:
    r.world.insert(sheet)
    return r.device.step()


def _amendment(candidate: str = "D01-01") -> bytes:
    return build_amendment(election=ELECTION, amendment_id="W-1",
                           candidates=[CandidateWithdrawal("district-01", candidate)],
                           signing_key=KEYS.signing_key,
                           signing_certificate=KEYS.signing_certificate,
                           created="2021-11-25T10:00:00Z")


# --- 1. the signed package ----------------------------------------------------------------------

def test_device_loads_a_signed_package_and_signs_with_its_provisioned_key(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    assert r.device.load_package(PACKAGE) is PollsState.PACKAGE_LOADED
    c = r.device.config
    assert c.package_hash == package.load_package(
        PACKAGE, root=KEYS.root_certificate, device_id=DEV1, now="2021-11-28T07:00:00Z"
    ).package_hash
    assert c.device_id == DEV1 and c.station.number == "0001"
    loaded = [e for e in r.device.store.audit_events() if e["type"] == "package-loaded"]
    assert loaded[0]["data"]["package_hash"] == c.package_hash
    # a restart verifies the installed file again: the fresh config becomes the package's
    r.device.close()
    again = _rig(tmp_path, world=r.world)
    assert again.device.config.package_hash == c.package_hash
    assert again.device.polls is PollsState.PACKAGE_LOADED
    again.device.close()
    # the installed file altered on both media: the device does not run it
    for medium in ("internal", "removable"):
        f = tmp_path / medium / "election-package.bin"
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 1
        f.write_bytes(bytes(data))
    with pytest.raises(PackageMismatch):
        _rig(tmp_path, world=r.world)


@pytest.mark.parametrize("case", ["tampered", "another-station", "wrong-key"])
def test_refused_package_is_audited_with_its_reason_and_shown_in_ky_ru(
        tmp_path: Path, case: str) -> None:
    trust, data = _trust(), PACKAGE
    if case == "tampered":
        i = len(PACKAGE) // 2
        data = PACKAGE[:i] + bytes([PACKAGE[i] ^ 1]) + PACKAGE[i + 1:]
    elif case == "another-station":
        data = sim_package(ELECTION, KEYS, ("0002",), 2)
    else:
        data = sim_package(ELECTION, sim_cec_keys(b"an attacker"), ("0001",), 2)
    r = _rig(tmp_path, trust)
    with pytest.raises(package.PackageError) as info:
        r.device.load_package(data)
    refused = [e for e in r.device.store.audit_events() if e["type"] == "package-refused"]
    assert len(refused) == 1 and refused[0]["data"]["reason"] == info.value.reason.value
    assert r.device.polls is PollsState.NO_PACKAGE
    assert "package-loaded" not in _types(r)
    shown = r.display.shown[-1]
    assert shown.screen == "package-refused"
    assert shown.operator == PACKAGE_REFUSALS[info.value.reason]
    assert shown.operator is not None and shown.operator.ky and shown.operator.ru


# --- 2. withdrawal ------------------------------------------------------------------------------

def test_withdrawal_makes_the_candidates_ballot_invalid_and_keeps_the_hash(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    d = r.device
    d.load_package(PACKAGE)
    d.enter_test_mode()
    _feed(r, "T1")  # before the amendment: a valid vote for D01-01 (test tally)
    assert d.tally(SheetMode.TEST).contest("district-01").count("D01-01") == 1
    hash_before = election_hash(d.config.election)
    d.apply_withdrawal(_amendment())
    assert election_hash(d.config.election) == hash_before
    applied = [e for e in d.store.audit_events() if e["type"] == "withdrawal-applied"]
    assert applied[0]["data"]["candidates"] == [["district-01", "D01-01"]]
    d.clear_test()
    zero = d.report_data("zero")
    assert "D01-01" in zero["withdrawals"]["candidates"]  # printed on the zero report
    assert "D01-03" not in zero["withdrawals"]["candidates"]
    d.open_polls()
    _feed(r, "V1")
    _feed(r, "V2")
    district = d.tally().contest("district-01")
    assert district.withdrawn == 1 and district.count("D01-01") == 0
    assert district.count("D01-03") == 1 and district.ballots == 2
    # the withdrawal survives a restart
    d.close()
    again = _rig(tmp_path, world=r.world)
    assert any(c.withdrawn for c in again.device.config.election.contest("district-01").candidates
               if c.id == "D01-01")


def test_amendment_after_polls_open_is_refused_with_the_typed_reason(tmp_path: Path) -> None:
    r = _rig(tmp_path)
    d = r.device
    d.load_package(PACKAGE)
    d.enter_test_mode()
    d.clear_test()
    d.open_polls()
    with pytest.raises(AmendmentError) as info:
        d.apply_withdrawal(_amendment())
    assert info.value.reason is AmendmentRefusal.POLLS_OPENED
    refused = [e for e in d.store.audit_events() if e["type"] == "withdrawal-refused"]
    assert refused[0]["data"]["reason"] == "polls-opened"
    assert "withdrawal-applied" not in _types(r)
    assert r.display.shown[-1].operator == AMENDMENT_REFUSALS[AmendmentRefusal.POLLS_OPENED]
    assert not any(c.withdrawn for c in d.config.election.contest("district-01").candidates
                   if c.id == "D01-01")


# --- 3. reports on the printer -------------------------------------------------------------------

def test_reports_print_on_the_pty_printer_and_paper_out_mid_report_is_reprinted(
        tmp_path: Path) -> None:
    with VirtualPrinter() as vp, SerialPrinter(vp.port) as printer:
        sink = PrinterReportSink(printer, results_copies=2, out_dir=tmp_path / "reports")
        r = _rig(tmp_path / "dev", reports=sink)
        sink.device = r.device
        d = r.device
        d.load_package(PACKAGE)
        d.enter_test_mode()
        _feed(r, "T1")
        d.clear_test()
        _feed(r, "T2")  # after the clear: the next test report counts only this one
        data = d.report_data("test")
        assert data["sheets_cast"] == 1 and sum(
            c["ballots"] for c in data["tally"]["contests"].values()) == 1
        d.clear_test()
        d.open_polls()
        _feed(r, "V2")
        vp.set_paper_left(3000)  # the roll runs out inside the results report
        with pytest.raises(ReportNotPrinted):
            d.close_polls()
        assert d.polls is PollsState.POLLS_CLOSED and not d.results_printed
        assert "printer-fault" in _types(r)
        printed = [e["data"]["kind"] for e in d.store.audit_events()
                   if e["type"] == "report-printed"]
        assert printed == ["test", "test", "zero"]
        with pytest.raises(Exception):  # noqa: B017 (IllegalTransition: not printed yet)
            d.report_results()
        vp.set_paper_out(False)  # new roll
        before = len(vp.cuts)
        d.print_report("results")
        d.report_results()
        printed = [e["data"]["kind"] for e in d.store.audit_events()
                   if e["type"] == "report-printed"]
        assert printed == ["test", "test", "zero", "results"]
        job = sink.printed[-1]
        assert job.kind == "results" and job.report.copies == 2
        assert vp.wait_received(vp.received_bytes)
        pieces = vp.pieces()[before:]
        assert escpos.same_paper(pieces, list(job.report.pages))
        # the audit-log summary, from the log itself
        events = d.store.audit_events()
        summary = d.audit_summary()
        assert summary["entries"] == len(events) and summary["head_hash"] == events[-1]["hash"]
        assert summary["checkpoints"] == sum(e["type"] == "checkpoint" for e in events) >= 5
        d.print_report("audit")
        assert sink.printed[-1].kind == "audit"
        assert d.store.audit_events()[-1]["data"] == {"kind": "audit", "requested": True}
        # the QR codes verify with the device certificate
        message = reassemble(job.report.qr_texts)
        qr = verify(message, d.config.trust.device.certificate)  # type: ignore[union-attr]
        assert qr.tally == d.tally()
