"""The device: polls transitions, the sheet flow, policies, recovery decisions, media failure."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest
from fw_fixtures import ELECTION, STATION, open_polls, reboot, rig, table_for

from election.errors import PcosError
from election.model import Text
from election.rules import BallotOutcome
from election.tally import Tally, TallyBuilder
from firmware.audit import verify_chain
from firmware.device import PackageMismatch, StorageNotAcknowledged
from firmware.hal.storage import MediumRole
from firmware.policy import BallotPolicy
from firmware.screens import SCANNER, screen
from firmware.states import (
    TRANSITIONS,
    IllegalTransition,
    PollsAction,
    PollsState,
    ScannerState,
    next_polls_state,
)
from firmware.store import SheetMode, SheetState
from simulator.devices import SimWorld
from simulator.rig import Rig, build_device
from vision.result import Outcome, SheetInterpretation

IDS = [f"S{i:03d}" for i in range(12)]


class PowerCut(BaseException):
    """Stands for the process dying at this instant (the device object is dropped)."""


def _types(r: Rig) -> list[str]:
    return [e["type"] for e in r.device.store.audit_events()]


def _feed(r: Rig, sheet: str) -> Any:
    r.world.insert(sheet)
    return r.device.step()


def _truth(table: dict[str, SheetInterpretation], sheets: list[str]) -> Tally:
    b = TallyBuilder.empty(ELECTION, STATION.contest_ids())
    for s in sheets:
        b.add(BallotOutcome.from_json(table[s].contests))
    return b.build()


# --- polls ------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", list(PollsState))
@pytest.mark.parametrize("action", list(PollsAction))
def test_transition_table(state: PollsState, action: PollsAction) -> None:
    if (state, action) in TRANSITIONS:
        assert next_polls_state(state, action) is TRANSITIONS[(state, action)]
    else:
        with pytest.raises(IllegalTransition) as exc:
            next_polls_state(state, action)
        assert isinstance(exc.value, PcosError) and state.value in str(exc.value)


def _device_in(tmp: Path, state: PollsState) -> Rig:
    r = rig(tmp, table_for(IDS))
    d = r.device
    path = [PollsState.PACKAGE_LOADED, PollsState.TEST_MODE, PollsState.POLLS_OPEN,
            PollsState.POLLS_PAUSED, PollsState.POLLS_CLOSED, PollsState.RESULTS_REPORTED]
    steps = {PollsState.PACKAGE_LOADED: d.load_package, PollsState.TEST_MODE: d.enter_test_mode,
             PollsState.POLLS_OPEN: lambda: (d.clear_test(), d.open_polls()),
             PollsState.POLLS_PAUSED: d.pause, PollsState.POLLS_CLOSED: d.close_polls,
             PollsState.RESULTS_REPORTED: d.report_results}
    for s in path:
        if d.polls is state:
            break
        steps[s]()
    assert d.polls is state
    return r


@pytest.mark.parametrize("state", list(PollsState))
def test_every_illegal_transition_is_refused_by_the_device(tmp_path: Path,
                                                           state: PollsState) -> None:
    r = _device_in(tmp_path, state)
    d = r.device
    actions = {PollsAction.LOAD_PACKAGE: d.load_package, PollsAction.ENTER_TEST: d.enter_test_mode,
               PollsAction.OPEN: d.open_polls, PollsAction.PAUSE: d.pause,
               PollsAction.RESUME: d.resume, PollsAction.CLOSE: d.close_polls,
               PollsAction.REPORT: d.report_results}
    for action, call in actions.items():
        if (state, action) in TRANSITIONS:
            continue
        before = d.store.seq
        with pytest.raises(IllegalTransition):
            call()
        assert d.polls is state
        assert _types(r)[-1] == "transition-refused" and d.store.seq == before + 1


def test_polls_state_survives_a_power_cut(tmp_path: Path) -> None:
    r = _device_in(tmp_path, PollsState.POLLS_PAUSED)
    r2 = reboot(r, table_for(IDS))
    assert r2.device.polls is PollsState.POLLS_PAUSED
    assert _types(r2)[-1] == "power-on"


def test_checkpoints_signed_at_every_polls_transition(tmp_path: Path) -> None:
    r = _device_in(tmp_path, PollsState.RESULTS_REPORTED)
    events = r.device.store.audit_events()
    reasons = [e["data"]["reason"] for e in events if e["type"] == "checkpoint"]
    assert reasons == ["load-package", "enter-test-mode", "open-polls", "pause-polls",
                       "close-polls", "report-results"]
    assert verify_chain(events, r.device.config.signing_key.public_key()).ok


# --- test mode ---------------------------------------------------------------------------------

def test_test_ballots_never_reach_the_official_tally(tmp_path: Path) -> None:
    table = table_for(["T1", "T2", *IDS])
    r = rig(tmp_path, table)
    d = r.device
    d.load_package()
    d.enter_test_mode()
    for s in ("T1", "T2"):
        assert _feed(r, s).action == "cast"
    assert d.tally(SheetMode.TEST) == _truth(table, ["T1", "T2"])
    with pytest.raises(IllegalTransition, match="test ballots not cleared"):
        d.open_polls()
    d.clear_test()
    assert r.reports.reports[-1][0] == "test"
    assert r.reports.reports[-1][1]["sheets_cast"] == 2
    d.open_polls()
    kind, zero = r.reports.reports[-1]
    assert kind == "zero" and zero["sheets_cast"] == 0
    assert all(c["ballots"] == 0 for c in zero["tally"]["contests"].values())
    for s in IDS[:3]:
        _feed(r, s)
    assert d.tally(SheetMode.OFFICIAL) == _truth(table, IDS[:3])
    assert d.sheets_cast(SheetMode.TEST) == 2 and d.sheets_cast(SheetMode.OFFICIAL) == 3


def test_sheets_are_not_taken_when_polls_are_not_open(tmp_path: Path) -> None:
    r = _device_in(tmp_path, PollsState.POLLS_PAUSED)
    r.world.insert("S000")
    assert r.device.step() is None and r.world.entry == ["S000"]
    assert r.device.scanner is ScannerState.DISABLED


# --- policies ----------------------------------------------------------------------------------

def test_kyrgyz_default_casts_invalid_ballots_and_returns_fakes_with_the_reason(
        tmp_path: Path) -> None:
    table = table_for(IDS, seed=3, fake_rate=0.35)
    r = rig(tmp_path, table)
    open_polls(r)
    cast, returned = [], []
    for s in IDS:
        res = _feed(r, s)
        if table[s].outcome is Outcome.REJECTED:
            assert res.action == "returned" and res.reason == table[s].reason.value
            assert r.display.current is not None
            assert r.display.current.voter == screen(ScannerState.RETURNED, PollsState.POLLS_OPEN,
                                                     res.reason).voter
            returned.append(s)
            r.world.take_from_entry()
            r.device.step()  # the device sees the entry clear
        else:
            assert res.action == "cast"
            cast.append(s)
    assert returned and cast
    invalid = [s for s in cast if not BallotOutcome.from_json(table[s].contests).is_valid]
    assert invalid, "the seed should give invalid ballots that are cast"
    assert r.device.tally() == _truth(table, cast)
    data = r.device.report_data("results")
    assert sum(data["returned_by_reason"].values()) == len(returned)


def test_marginal_marks_are_recorded_on_the_sheet(tmp_path: Path) -> None:
    table = table_for(IDS)
    table["S000"] = dataclasses.replace(table["S000"], outcome=Outcome.REVIEW,
                                        marginal=("party-list/P01",))
    r = rig(tmp_path, table)
    open_polls(r)
    assert _feed(r, "S000").action == "cast"
    (rec,) = r.device.store.sheets(state=SheetState.CAST)
    assert rec["marginal"] == ["party-list/P01"]
    assert r.device.report_data("results")["marginal_sheets"] == 1


def test_warn_policy_lets_the_voter_choose(tmp_path: Path) -> None:
    table = table_for(IDS)
    blank = {"party-list": {"status": "blank", "choice": None},
             "preference": {"status": "none", "party": None, "position": None}}
    for s in ("S000", "S001"):
        table[s] = SheetInterpretation(Outcome.ACCEPTED, kind="party-list", contests=blank)
    r = rig(tmp_path, table, policy=BallotPolicy.WARN)
    open_polls(r)
    res = _feed(r, "S000")
    assert res.action == "needs-review" and "party-list:blank" in res.warnings
    assert r.device.scanner is ScannerState.NEEDS_REVIEW
    assert r.device.voter_choice(cast=False).reason == "voter-took-back"
    assert r.world.entry == ["S000"] and r.device.sheets_cast(SheetMode.OFFICIAL) == 0
    r.world.take_from_entry()
    r.device.step()
    assert _feed(r, "S001").action == "needs-review"
    assert r.device.voter_choice(cast=True).action == "cast"
    assert r.device.tally().contest("party-list").blank == 1


# --- faults in the paper path -----------------------------------------------------------------

def test_jam_on_feed_then_cleared(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    r.world.jam_feeds(1)
    assert _feed(r, "S000").action == "jammed"
    assert r.device.scanner is ScannerState.JAMMED and "jam" in _types(r)
    assert r.device.step() is None  # still jammed
    r.world.clear_jam()
    r.device.step()
    assert r.device.scanner is ScannerState.WAITING and _types(r)[-1] == "jam-cleared"
    assert _feed(r, "S000").action == "cast"
    assert r.device.sheets_cast(SheetMode.OFFICIAL) == 1


def test_jam_during_eject_voids_the_pending_sheet(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    r.world.jam_ejects(1)
    res = _feed(r, "S000")
    assert res.action == "jammed"
    assert r.device.store.sheets(state=SheetState.VOIDED)[0]["id"] == res.sheet_id
    r.world.clear_jam()  # the operator hands it back; the voter feeds it again
    r.device.step()
    assert _feed(r, "S000").action == "cast"
    assert r.device.tally() == _truth(table, ["S000"]) and r.world.box == ["S000"]


def test_ultrasonic_double_sheet_is_not_fed(tmp_path: Path) -> None:
    r = rig(tmp_path, table_for(IDS))
    open_polls(r)
    r.world.insert("S000", on_top_of="S001")
    res = r.device.step()
    assert res is not None and res.action == "double-sheet" and r.world.path is None
    assert r.device.scanner is ScannerState.DOUBLE_SHEET and "double-feed" in _types(r)
    r.world.take_from_entry()
    r.device.step()
    assert r.device.scanner is ScannerState.WAITING


def test_cover_open_stops_the_flow(tmp_path: Path) -> None:
    r = rig(tmp_path, table_for(IDS))
    open_polls(r)
    r.world.set_cover(True)
    r.world.insert("S000")
    assert r.device.step() is None and r.device.scanner is ScannerState.COVER_OPEN
    r.world.set_cover(False)
    assert r.device.step().action == "cast"
    assert _types(r).count("cover-opened") == 1 and "cover-closed" in _types(r)


# --- recovery ---------------------------------------------------------------------------------

def _cut_during_eject(r: Rig, dropped: bool) -> None:
    paper = r.device.hw.paper
    real = paper.eject_to_box

    def eject() -> Any:
        if dropped:
            real()
        raise PowerCut

    paper.eject_to_box = eject  # type: ignore[method-assign]


def test_pending_with_paper_in_path_is_returned_and_voided(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    _cut_during_eject(r, dropped=False)
    r.world.insert("S000")
    with pytest.raises(PowerCut):
        r.device.step()
    assert r.world.path == "S000"
    r2 = reboot(r, table)
    assert r.world.entry == ["S000"] and r.world.path is None  # back to the voter
    assert r2.device.store.sheets(state=SheetState.VOIDED)
    rec = [e for e in r2.device.store.audit_events()
           if e["type"] == "recovery" and "sheet" in e["data"]]
    assert rec[-1]["data"]["decision"] == "void"
    assert r2.device.sheets_cast(SheetMode.OFFICIAL) == 0
    r.world.take_from_entry()
    r2.device.step()
    assert _feed(r2, "S000").action == "cast"
    assert r2.device.tally() == _truth(table, ["S000"])


def test_pending_with_path_clear_is_cast(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    _cut_during_eject(r, dropped=True)
    r.world.insert("S000")
    with pytest.raises(PowerCut):
        r.device.step()
    assert r.world.box == ["S000"]
    r2 = reboot(r, table)
    rec = [e for e in r2.device.store.audit_events()
           if e["type"] == "recovery" and "sheet" in e["data"]]
    assert rec[-1]["data"]["decision"] == "cast"
    assert r2.device.tally() == _truth(table, ["S000"])
    assert r2.device.scanner is ScannerState.WAITING


def test_a_test_sheet_cast_at_restart_blocks_opening_until_cleared(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    r.device.load_package()
    r.device.enter_test_mode()
    _cut_during_eject(r, dropped=True)
    r.world.insert("S000")
    with pytest.raises(PowerCut):
        r.device.step()
    r2 = reboot(r, table)
    assert r2.device.sheets_cast(SheetMode.TEST) == 1
    with pytest.raises(IllegalTransition, match="not cleared"):
        r2.device.open_polls()
    r2.device.clear_test()
    r2.device.open_polls()
    assert r2.device.tally() == _truth(table, [])


def test_paper_left_in_path_after_restart_is_returned(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    r.world.insert("S000")
    r.device.hw.paper.feed()  # fed, then the power went before anything was recorded
    r2 = reboot(r, table)
    assert r.world.entry == ["S000"]
    assert any(e["type"] == "recovery" and e["data"]["decision"] == "return"
               for e in r2.device.store.audit_events())
    assert r2.device.scanner is ScannerState.RETURNED


def test_boot_refuses_the_stored_polls_of_another_package(tmp_path: Path) -> None:
    r = _device_in(tmp_path, PollsState.POLLS_OPEN)
    other = build_device(tmp_path, r.world, ELECTION, STATION, r.device.config.reader)
    other.device.config = dataclasses.replace(other.device.config, package_hash="another")
    with pytest.raises(PackageMismatch):
        other.device.boot()


# --- storage ----------------------------------------------------------------------------------

def test_card_failure_mid_day_needs_acknowledgement_to_close(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    _feed(r, "S000")
    r.world.fail_medium(MediumRole.REMOVABLE)
    assert _feed(r, "S001").action == "cast"
    assert "storage-error" in _types(r) and r.device.storage_ack_needed
    with pytest.raises(StorageNotAcknowledged):
        r.device.close_polls()
    r.device.acknowledge_storage()
    r.device.close_polls()
    assert r.device.tally() == _truth(table, ["S000", "S001"])


def test_missing_card_at_boot_is_reported_and_the_day_goes_on(tmp_path: Path) -> None:
    table = table_for(IDS)
    world = SimWorld()
    r = rig(tmp_path, table, world)
    open_polls(r)
    _feed(r, "S000")
    world.fail_medium(MediumRole.REMOVABLE)
    r2 = reboot(r, table)
    assert r2.device.boot_check is not None and r2.device.boot_check.problems
    assert _feed(r2, "S001").action == "cast"
    world.fail_medium(MediumRole.REMOVABLE, failed=False)
    r3 = reboot(r2, table)  # the card is back: caught up from the internal database
    assert r3.device.storage_ack_needed
    assert r3.device.tally() == _truth(table, ["S000", "S001"])


def test_close_checks_the_cached_running_tally(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    for s in IDS[:3]:
        _feed(r, s)
    r.device.store.set_cache("running-tally", _truth(table, IDS[:1]).to_json())
    r.device.close_polls()
    assert "tally-mismatch" in _types(r)
    assert r.reports.reports[-1][1]["tally"] == _truth(table, IDS[:3]).to_json()


def test_close_without_mismatch_reports_the_recount(tmp_path: Path) -> None:
    table = table_for(IDS)
    r = rig(tmp_path, table)
    open_polls(r)
    for s in IDS[:4]:
        _feed(r, s)
    r.device.close_polls()
    assert "tally-mismatch" not in _types(r)
    kind, data = r.reports.reports[-1]
    assert kind == "results" and data["sheets_cast"] == 4
    events = r.device.store.audit_events()
    close_cp = [e for e in events if e["type"] == "checkpoint"][-1]
    assert close_cp["data"]["reason"] == "close-polls"
    assert data["audit_head"] == close_cp["hash"]  # the printed head is the signed one


# --- screens and dependencies ----------------------------------------------------------------

def test_every_scanner_state_has_kyrgyz_and_russian_text() -> None:
    for state in ScannerState:
        t = SCANNER[state]
        assert isinstance(t, Text) and t.ky.strip() and t.ru.strip() and t.ky != t.ru


def test_no_production_package_imports_the_simulator() -> None:
    for pkg in ("election", "vision", "calibration", "firmware", "protocol"):
        root = Path(importlib.import_module(pkg).__file__).parent  # type: ignore[arg-type]
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         else [])
                for n in names:
                    assert n.split(".")[0] not in {"simulator", "tools"}, f"{path}: {n}"
