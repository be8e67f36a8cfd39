"""Calibration mode on the device (``firmware.calibration_mode``), on simulated hardware.

Blank ballots of one simulated print run (``simulator.calibration_set``) go
through the device's paper path and duplex image sensor (``simulator.rig``):
each is fed, read by the real reader, measured and handed back out of the
entry (none drops into the ballot box). Protects: calibration only before the
polls open, and no polls action or voter sheet while it is on; the signed
profile stored on both media and verified with the device's key, then used by
the device's reader; an off-tolerance batch refused with its typed fault and
the ky/ru reason on the screen; a sheet that is not a ballot, or two stacked
sheets, handed back and not used (and, for any operator sequence with jams
and the cover, no sheet in the box or re-fed before it was taken); every step
in the audit log; and the calibration report through the printer path, its
ESC/POS bytes decoded back to the laid-out raster (the virtual printer on a real
pty), in both languages.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.device import CalibrationFault, Tolerances
from calibration.profile import CalibratedTemplates, load_profile
from election.default import default_election
from election.model import Election, Language, Station
from firmware import escpos
from firmware.calibration_mode import (
    OPERATOR,
    PROFILE_PATH,
    REFUSED,
    CalibrationMode,
    CalibrationModeError,
    CalibrationSettings,
    stored_profile,
    use_stored_profile,
)
from firmware.calibration_report import calibration_report, report_data
from firmware.hal.imaging import DuplexImages
from firmware.hal.printer import SerialPrinter
from firmware.printsink import PrinterReportSink
from firmware.reader_setup import make_reader
from firmware.reportdata import ReportError
from firmware.states import IllegalTransition, PollsState, ScannerState
from simulator.calibration_set import Device, PrintRun, PrintRunFactory
from simulator.devices import SimWorld
from simulator.printer import VirtualPrinter
from simulator.rig import Rig, build_device
from simulator.scanner import preset
from simulator.sheets import default_station
from vision.interpret import Reader

E: Election = default_election()
ST: Station = default_station(E)
ONE = Tolerances(min_per_kind=1)


def _sheets(per_kind: int, run: PrintRun, prefix: str, seed: int = 3
            ) -> dict[str, DuplexImages]:
    f = PrintRunFactory(E, ST, preset("realistic"), seed=seed, print_run=run,
                        device=Device(0.994, 1.005))
    return {f"{prefix}{name}": DuplexImages(s.front, s.back)
            for name, s in f.calibration_set(per_kind)}


@pytest.fixture(scope="module")
def good() -> dict[str, DuplexImages]:
    """Three blanks of each kind of a print run with dot gain (lines 1.5 px wider)."""
    return _sheets(3, PrintRun(dot_gain_px=1.5, toner=1.03), "good-")


@pytest.fixture(scope="module")
def shifted() -> dict[str, DuplexImages]:
    """One blank of each kind printed 2.5 mm off centre across the sheet."""
    return _sheets(1, PrintRun(offset_mm=(2.5, 0.0)), "shifted-", seed=4)


def _rig(tmp: Path, images: dict[str, DuplexImages], reports: object = None) -> Rig:
    blank_page = np.full((1700, 1200, 3), 235, np.uint8)
    table = {**images, "white-page": DuplexImages(blank_page, blank_page.copy())}
    r = build_device(tmp, SimWorld(), E, ST, make_reader(E, ST),
                     images_of=table.__getitem__, reports=reports)  # type: ignore[arg-type]
    r.device.boot()
    return r


def _feed_all(r: Rig, mode: CalibrationMode, names: list[str]) -> list[str]:
    actions = []
    for name in names:
        r.world.insert(name)
        fed = mode.step()
        assert fed is not None
        actions.append(fed.action)
        assert r.world.entry == [name] and r.world.box == []  # handed back, never the box
        assert mode.step() is None  # the sheet waits at the entry: not fed again
        r.world.take_from_entry()
        assert mode.step() is None
    return actions


def _types(r: Rig) -> list[str]:
    return [e["type"] for e in r.device.store.audit_events()]


# --------------------------------------------------------------------------- the mode


def test_calibration_stores_a_signed_profile_the_reader_then_uses(
        tmp_path: Path, good: dict[str, DuplexImages]) -> None:
    r = _rig(tmp_path, good)
    d = r.device
    d.load_package()
    mode = CalibrationMode(d, CalibrationSettings(per_kind=3, print_run="2021-11 batch 7"))
    mode.enter()
    assert d.scanner is ScannerState.CALIBRATING
    assert r.display.current is not None and r.display.current.operator == OPERATOR["feed"]
    # no polls action and no voter sheet while calibrating
    with pytest.raises(IllegalTransition, match="calibration mode is on"):
        d.enter_test_mode()
    assert d.step() is None
    actions = _feed_all(r, mode, sorted(good))
    assert actions == ["measured"] * 9
    assert mode.counts() == {"district": 3, "local": 3, "party-list": 3}
    out = mode.finish()
    assert out.stored and out.fault is None and out.printed
    assert d.scanner is ScannerState.DISABLED and d.polls is PollsState.PACKAGE_LOADED
    assert r.display.current is not None and r.display.current.operator == OPERATOR["stored"]
    # stored on both media, signed with the device's own key
    for medium in ("internal", "removable"):
        prof = load_profile(tmp_path / medium / PROFILE_PATH, d.config.signing_key.public_key())
        assert prof.body["sheets"] == 9 and prof.body["print_run"] == "2021-11 batch 7"
        across, along = prof.optical_scale
        assert abs(across - 0.994) < 0.003 and abs(along - 1.005) < 0.004
    stored = stored_profile(d)
    assert stored is not None and out.profile is not None and stored.body == out.profile.body
    # the device's reader now compares with this print run's blank boxes
    assert isinstance(d.config.reader, Reader)
    assert isinstance(d.config.reader.config.templates, CalibratedTemplates)
    # the audit log: started, a sheet event per blank, stored, the report printed
    types = _types(r)
    cal = [t for t in types if t.startswith("calibration-") or t == "report-printed"]
    assert cal == (["calibration-started"] + ["calibration-sheet"] * 9
                   + ["calibration-stored", "report-printed"])
    stored_ev = next(e for e in d.store.audit_events() if e["type"] == "calibration-stored")
    assert stored_ev["data"]["sha256"] == out.profile_sha256
    assert stored_ev["data"]["media"] == ["internal", "removable"]
    assert d.store.meta("calibration")["sha256"] == out.profile_sha256
    # the report handed to the printer path
    kind, data = r.reports.reports[-1]
    assert kind == "calibration" and data["result"] == "calibrated"
    assert data["profile_sha256"] == out.profile_sha256 and data["fed"]["district"] == 3
    assert set(data["summary"]["kinds"]) == {"party-list", "district", "local"}
    assert all(k["noise_max"] is not None for k in data["summary"]["kinds"].values())
    # afterwards the device carries on: test mode reads ballots again
    d.enter_test_mode()
    assert d.scanner is ScannerState.WAITING
    # after a restart the stored profile is read back (verified) and applied again
    d.power_off()
    again = build_device(tmp_path, SimWorld(), E, ST, make_reader(E, ST))
    again.device.boot()  # boot itself reads the stored profile back and applies it
    assert isinstance(again.device.config.reader.config.templates,
                      CalibratedTemplates)
    again.device.config = replace(again.device.config, reader=make_reader(E, ST))
    assert use_stored_profile(again.device)  # what a rebuilt reader gets back
    assert isinstance(again.device.config.reader.config.templates,
                      CalibratedTemplates)
    (tmp_path / "internal" / PROFILE_PATH).write_bytes(b"{}")  # damaged: the card's copy
    assert stored_profile(again.device) is not None


def test_off_tolerance_batch_refused_with_its_reason_on_screen(
        tmp_path: Path, shifted: dict[str, DuplexImages]) -> None:
    r = _rig(tmp_path, shifted)
    d = r.device  # no package yet: calibration is allowed here too
    mode = CalibrationMode(d, CalibrationSettings(per_kind=1, tolerances=ONE))
    mode.enter()
    _feed_all(r, mode, sorted(shifted))
    out = mode.finish()
    assert not out.stored and out.fault is CalibrationFault.PRINT_SHIFTED
    screen = r.display.current
    assert screen is not None and screen.screen == "calibration-refused"
    assert screen.operator == REFUSED[CalibrationFault.PRINT_SHIFTED]
    assert screen.operator.ky != screen.operator.ru and "смещена" in screen.operator.ru
    assert "print-shifted" in screen.detail
    assert d.scanner is ScannerState.DISABLED and d.polls is PollsState.NO_PACKAGE
    assert not (tmp_path / "internal" / PROFILE_PATH).exists() and stored_profile(d) is None
    refused = [e for e in d.store.audit_events() if e["type"] == "calibration-refused"]
    assert refused[0]["data"]["fault"] == "print-shifted"
    kind, data = r.reports.reports[-1]
    assert kind == "calibration" and data["result"] == "refused"
    assert data["reason"]["ru"] == REFUSED[CalibrationFault.PRINT_SHIFTED].ru
    assert data["summary"]["sheets"] == 3 and data["profile_sha256"] is None
    assert abs(data["summary"]["print_position"]["shift_across_mm"] - 2.5) < 0.3


def test_too_few_of_a_kind_refused(tmp_path: Path, good: dict[str, DuplexImages]) -> None:
    r = _rig(tmp_path, good)
    mode = CalibrationMode(r.device, CalibrationSettings(per_kind=3))
    mode.enter()
    _feed_all(r, mode, sorted(n for n in good if "party-list" in n))
    out = mode.finish()
    assert out.fault is CalibrationFault.TOO_FEW_SHEETS
    assert r.display.current is not None
    assert r.display.current.operator == REFUSED[CalibrationFault.TOO_FEW_SHEETS]


def test_not_a_ballot_and_stacked_sheets_are_handed_back_unused(
        tmp_path: Path, good: dict[str, DuplexImages]) -> None:
    r = _rig(tmp_path, good)
    mode = CalibrationMode(r.device, CalibrationSettings(per_kind=3))
    mode.enter()
    assert _feed_all(r, mode, ["white-page"]) == ["not-used"]
    assert mode.not_used == 1 and sum(mode.counts().values()) == 0
    shown = [x for x in r.display.shown if x.screen == "calibration-not-used"]
    assert shown and shown[-1].operator == OPERATOR["not-used"]
    assert "unreadable-sheet" in shown[-1].detail
    assert r.display.current is not None and r.display.current.operator == OPERATOR["feed"]
    sheet_ev = [e for e in r.device.store.audit_events() if e["type"] == "calibration-sheet"]
    assert sheet_ev[-1]["data"]["used"] is False
    assert sheet_ev[-1]["data"]["fault"] == "unreadable-sheet"
    names = sorted(good)
    r.world.insert(names[0], on_top_of=names[1])
    fed = mode.step()
    assert fed is not None and fed.action == "double-sheet"
    assert r.world.path is None and r.world.entry == [names[0], names[1]]  # never fed
    assert mode.step() is None
    r.world.take_from_entry()
    assert mode.step() is None
    mode.cancel()
    assert r.device.scanner is ScannerState.DISABLED
    assert _types(r)[-1] == "calibration-cancelled"


def test_calibration_only_before_polls_open(tmp_path: Path,
                                            good: dict[str, DuplexImages]) -> None:
    r = _rig(tmp_path, good)
    d = r.device
    d.load_package()
    d.enter_test_mode()
    with pytest.raises(CalibrationModeError, match="only before polls open"):
        CalibrationMode(d).enter()
    d.clear_test()
    d.open_polls()
    with pytest.raises(CalibrationModeError, match="not in polls-open"):
        CalibrationMode(d).enter()
    assert "calibration-started" not in _types(r)
    with pytest.raises(CalibrationModeError, match="not on"):
        CalibrationMode(d).finish()


# --------------------------------------------------------------------------- the printed report


def test_calibration_report_prints_through_the_pty_printer_and_decodes_back(
        tmp_path: Path, shifted: dict[str, DuplexImages]) -> None:
    """The device's real report sink: ESC/POS raster over pyserial to the virtual printer;
    what the printer decoded is the laid-out report, dot for dot."""
    with VirtualPrinter() as vp, SerialPrinter(vp.port) as printer:
        sink = PrinterReportSink(printer, language=Language.RU, out_dir=tmp_path / "paper")
        r = _rig(tmp_path / "dev", shifted, reports=sink)
        sink.device = r.device
        mode = CalibrationMode(r.device, CalibrationSettings(per_kind=1, tolerances=ONE,
                                                             print_run="R-3"))
        mode.enter()
        _feed_all(r, mode, sorted(shifted))
        out = mode.finish()
        assert out.printed and out.fault is CalibrationFault.PRINT_SHIFTED
        job = sink.printed[-1]
        assert job.kind == "calibration" and job.report.copies == 1
        assert vp.wait_received(vp.received_bytes) and vp.error is None
        assert escpos.same_paper(vp.pieces(), list(job.report.pages))
        assert escpos.same_paper(escpos.decode(job.escpos).pieces(), list(job.report.pages))
        assert (tmp_path / "paper" / "01-calibration.png").is_file()
        assert "report-printed" in _types(r)


def _summary() -> dict[str, object]:
    kind = {"sheets": 3, "stripe_class": "blue", "stripe_ratio": [0.5, 0.7, 0.9],
            "security_chroma": 0.12, "security_pattern": 0.08, "boxes": 40,
            "noise_mean": 0.011, "noise_max": 0.03, "raw_flagged": 0,
            "calibrated_max_blank_fill": 0.0}
    return {"sheets": 3, "optical_scale": {"across": 0.994, "along": 1.005,
                                           "across_sd": 0.0004, "along_sd": 0.0006},
            "levels": {"white_rgb": [214.0, 216.0, 215.0], "black_rgb": [22.0, 23.0, 25.0]},
            "print_position": None, "kinds": {"district": kind}}


@pytest.mark.parametrize("lang", [Language.KY, Language.RU])
def test_report_layout_in_both_languages_round_trips_through_escpos(lang: Language) -> None:
    data = report_data(result="calibrated", device="KG-0001", station="1001",
                       election_hash="ab" * 32, print_run="R-1", time="2021-11-27T08:00:00Z",
                       fed={"district": 3}, not_used=1, summary=_summary(),
                       profile_sha256="cd" * 32, signer="ef" * 16)
    report = calibration_report(data, lang)
    page = report.pages[0]
    assert page.shape[1] == escpos.DOTS_PER_LINE and page.shape[0] > 600 and page.any()
    assert escpos.same_paper(escpos.decode(report.escpos()).pieces(), list(report.pages))
    other = calibration_report({**data, "profile_sha256": "ce" + "cd" * 31}, lang)
    assert not np.array_equal(other.pages[0], page)  # the hash is on the paper
    ky, ru = (calibration_report(data, la).pages[0] for la in (Language.KY, Language.RU))
    assert not (ky.shape == ru.shape and np.array_equal(ky, ru))


def test_report_data_refuses_a_result_without_its_evidence() -> None:
    with pytest.raises(ReportError, match="neither calibrated nor refused"):
        report_data(result="maybe", device="d", station="1", election_hash="0" * 64,
                    print_run="", time="t", fed={}, not_used=0, summary=None)
    with pytest.raises(ReportError, match="needs its profile hash"):
        report_data(result="calibrated", device="d", station="1", election_hash="0" * 64,
                    print_run="", time="t", fed={}, not_used=0, summary=None)
    with pytest.raises(ReportError, match="missing or bad field"):
        calibration_report({"result": "refused"}, Language.KY)


# --------------------------------------------------------------------------- any operator


_ACTIONS = ("insert", "insert-white", "insert-stacked", "take", "step", "step", "jam-next",
            "clear-jam", "cover")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_ACTIONS), min_size=1, max_size=10))
def test_any_operator_sequence_keeps_the_box_empty_and_hands_every_sheet_back(
        tmp_path_factory: pytest.TempPathFactory, good: dict[str, DuplexImages],
        actions: list[str]) -> None:
    """Whatever the operator does (sheets, white pages, stacked sheets, jams, the cover),
    no calibration sheet reaches the ballot box, none is left held in the path after a
    step, a sheet at the entry is fed again only after it was taken, and the counts are
    the sheets measured."""
    one = next(iter(good.values()))
    table = {f"s{i}": one for i in range(12)}
    r = _rig(tmp_path_factory.mktemp("op"), table)
    mode = CalibrationMode(r.device, CalibrationSettings(per_kind=3))
    mode.enter()
    w = r.world
    n, measured, fed_since_take = 0, 0, False
    for action in actions:
        if action.startswith("insert") and not w.entry and w.path is None:
            n += 1
            if action == "insert":
                w.insert(f"s{n}")
            elif action == "insert-white":
                w.insert("white-page")
            else:
                w.insert(f"s{n}", on_top_of="white-page")
        elif action == "take":
            w.take_from_entry()
            fed_since_take = False
        elif action == "jam-next":
            w.jam_feeds(1)
        elif action == "clear-jam":
            if w.clear_jam() is not None:
                w.take_from_entry()
        elif action == "cover":
            w.set_cover(not w.cover_open)
        else:
            fed = mode.step()
            if fed is not None and fed.action in ("measured", "not-used"):
                assert not fed_since_take  # never re-fed before the operator took it
                fed_since_take = True
                measured += fed.action == "measured"
            assert w.path_state != "held"  # handed back (or jammed, for the operator)
        assert w.box == []
    assert sum(mode.counts().values()) == measured
    mode.cancel()
    assert r.device.scanner is ScannerState.DISABLED


def test_package_default_profile_is_used_until_the_device_has_its_own(
        tmp_path: Path, good: dict[str, DuplexImages]) -> None:
    """A CEC technician calibrates a reference device and puts its profile in the signed
    election package (``calibration.bin``); a device that has none of its own reads with
    it after loading the package and after every restart."""
    from firmware import package
    from firmware.install import PackageTrust
    from simulator.packaged import sim_cec_keys, sim_device
    from vision.config import Thresholds

    ref = _rig(tmp_path / "reference", good)
    ref.device.load_package()
    mode = CalibrationMode(ref.device, CalibrationSettings(per_kind=3))
    mode.enter()
    _feed_all(ref, mode, sorted(good))
    assert mode.finish().stored
    profile = (tmp_path / "reference" / "internal" / PROFILE_PATH).read_bytes()

    keys = sim_cec_keys()
    signed = package.build_package(
        election=E, assignments=package.StationAssignments.per_station(
            E, 2, stations=(ST.number,)),
        thresholds=Thresholds(), hpke_public_key=keys.hpke_public_key,
        signing_key=keys.signing_key, signing_certificate=keys.signing_certificate,
        version=1, created="2021-11-20T12:00:00Z", calibration=profile)
    device_id = package.station_device_id(ST.number, 1)
    trust = PackageTrust(root=keys.root_certificate, device=sim_device(keys, device_id,
                                                                       ST.number))

    def boot(world: SimWorld) -> Rig:
        r = build_device(tmp_path / "device", world, E, ST, make_reader(E, ST), trust=trust,
                         reader_for=lambda e, s, th: make_reader(e, s, th))
        r.device.boot()
        return r

    r = boot(SimWorld())
    assert not isinstance(r.device.config.reader.config.templates, CalibratedTemplates)
    r.device.load_package(signed)
    assert r.device.config.default_calibration == profile
    assert isinstance(r.device.config.reader.config.templates, CalibratedTemplates)
    assert stored_profile(r.device) is None  # the device's own: none yet
    r.device.power_off()
    again = boot(r.world)  # a restart re-runs the installed package, default and all
    assert isinstance(again.device.config.reader.config.templates, CalibratedTemplates)
