"""``pcos device console`` through textual's headless pilot, on the real firmware and reader.

The sheets are real PNG pairs written by the simulator (seeded); the device is
``firmware.device.Device`` on simulated hardware in a temp dir. Each test
presses keys as a trainer would and reads what the widgets show.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from election.default import default_election
from election.errors import PcosError
from election.reject import RejectReason, message
from election.rules import BallotOutcome
from election.tally import TallyBuilder
from firmware.policy import BallotPolicy
from firmware.reader_setup import make_reader
from firmware.screens import SCANNER
from firmware.states import ScannerState
from firmware.store import SheetMode, SheetState
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station
from simulator.writer import ImageFormat, write_sheets
from tools.cli import main
from tools.console.app import DeviceConsole
from tools.console.session import ConsoleSession, SheetFolder, day_clock

ELECTION = default_election()
STATION = default_station(ELECTION)
SEED = 11
N_SHEETS = 4


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four genuine ballots of the default station, clean scans, as real PNG files."""
    out = tmp_path_factory.mktemp("sheets")
    factory = SheetFactory(ELECTION, STATION, preset("clean"), seed=SEED, fake_rate=0.0)
    write_sheets(factory, N_SHEETS, out, fmt=ImageFormat.PNG, preset_name="clean")
    return out


@pytest.fixture(scope="module")
def reader() -> Any:
    return make_reader(ELECTION, STATION)


def _truths(sheets: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sheets / "truth.jsonl").read_text().splitlines()]


def _session(workdir: Path, sheets: Path | None, reader: Any,
             policy: BallotPolicy = BallotPolicy.KG_DEFAULT) -> ConsoleSession:
    return ConsoleSession(workdir, ELECTION, STATION, reader,
                          SheetFolder(sheets) if sheets is not None else None,
                          clock=day_clock(), policy=policy)


def _drive(session: ConsoleSession, script: Callable[[Pilot[None], DeviceConsole],
                                                      Awaitable[None]],
           language: str = "ru") -> DeviceConsole:
    app = DeviceConsole(session, language=language)

    async def run() -> None:
        async with app.run_test(size=(150, 60)) as pilot:
            await app.settle()  # switched on
            await script(pilot, app)

    asyncio.run(run())
    return app


async def _press(pilot: Pilot[None], app: DeviceConsole, *keys: str) -> None:
    """Press the keys and wait until the device thread has run every call they queued."""
    await pilot.press(*keys)
    await app.settle()


def _text(app: DeviceConsole, widget: str) -> str:
    return str(app.query_one(widget, Static).content)


def _counter(app: DeviceConsole, label: str) -> int:
    m = re.search(rf"^{re.escape(label)}: (\d+)", _text(app, "#counters"), re.M)
    assert m is not None, _text(app, "#counters")
    return int(m.group(1))


def _ballots_on_screen(app: DeviceConsole) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^([\w-]+): ballots (\d+),", _text(app, "#counters"), re.M)}


def test_open_polls_from_the_menu_and_feed_three_sheets(tmp_path: Path, sheets: Path,
                                                         reader: Any) -> None:
    session = _session(tmp_path / "dev", sheets, reader)
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "t", "o")  # load the package, test mode, open polls
        seen["after_open"] = _text(app, "#status")
        seen["zero_report"] = _text(app, "#report")
        for _ in range(3):
            await _press(pilot, app, "f")
            seen.setdefault("messages", []).append(_text(app, "#message"))
        seen["screen"] = _text(app, "#screen")
        seen["cast"] = _counter(app, "Sheets cast")
        seen["returned"] = _counter(app, "Returned")
        seen["ballots"] = _ballots_on_screen(app)

    _drive(session, script)
    assert "Polls: polls-open" in seen["after_open"]
    assert seen["zero_report"].startswith("ZERO REPORT") and "sheets cast 0" in seen[
        "zero_report"]
    assert all("cast into the box" in m for m in seen["messages"]), seen["messages"]
    assert SCANNER[ScannerState.WAITING].ru in seen["screen"]

    d = session.device
    assert d is not None
    stored = d.store.sheets(mode=SheetMode.OFFICIAL, state=SheetState.CAST)
    tally = d.tally(SheetMode.OFFICIAL)  # recomputed from the stored sheet records
    assert seen["cast"] == len(stored) == 3 and seen["returned"] == 0
    assert seen["ballots"] == {c.contest: c.ballots for c in tally.contests}
    assert sum(seen["ballots"].values()) == 3
    assert session.world.box == ["000000", "000001", "000002"]
    # and the stored tally is the ground truth of the three sheets the simulator wrote
    truth = TallyBuilder.empty(ELECTION, STATION.contest_ids())
    for t in _truths(sheets)[:3]:
        truth.add(BallotOutcome.from_json(t["expected"]))
    assert tally == truth.build()


def test_illegal_actions_show_the_typed_refusal(tmp_path: Path, sheets: Path,
                                                reader: Any) -> None:
    session = _session(tmp_path / "dev", sheets, reader)
    seen: dict[str, str] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "f")  # feed before polls open
        seen["feed"] = _text(app, "#message")
        seen["feed_status"] = _text(app, "#status")
        await _press(pilot, app, "o")  # open before test mode
        seen["open"] = _text(app, "#message")
        await _press(pilot, app, "t", "o", "x")
        seen["close1"] = _text(app, "#message")
        await _press(pilot, app, "x")  # close twice
        seen["close2"] = _text(app, "#message")
        await _press(pilot, app, "w")  # a withdrawal without an amendment file
        seen["withdrawal"] = _text(app, "#message")
        await _press(pilot, app, "a")  # clear a jam that is not there
        seen["clear"] = _text(app, "#message")
        await _press(pilot, app, "r", "n")  # a copy of the results report; on while on
        seen["copy"] = _text(app, "#message")
        seen["report"] = _text(app, "#report")
        seen["log"] = "\n".join(str(line.text) for line in app.query_one("#log", RichLog).lines)

    _drive(session, script)
    assert seen["feed"].startswith("REFUSED (ConsoleRefusal): sheet 000000 not taken: "
                                   "the scanner is disabled with polls package-loaded")
    assert "pile 4" in seen["feed_status"]  # the sheet went back on the pile
    assert seen["open"] == ("REFUSED (IllegalTransition): cannot open-polls in state "
                            "package-loaded")
    assert seen["close1"].startswith("results report printed; polls-closed")
    assert seen["close2"] == ("REFUSED (IllegalTransition): cannot close-polls in state "
                              "polls-closed")
    assert seen["withdrawal"].startswith("REFUSED (ConsoleRefusal): applying a withdrawal "
                                         "needs a CEC-signed amendment")
    assert seen["clear"] == "REFUSED (ConsoleRefusal): no jammed sheet in the paper path"
    assert seen["copy"] == "REFUSED (ConsoleRefusal): the device is already on"
    assert seen["report"].startswith("RESULTS REPORT") and "sheets cast 0" in seen["report"]
    assert "paper (decoded by the printer): " in seen["report"]
    # each job on the pty printer: the bytes sent, the preview, the data, the decoded roll
    assert sorted(p.name for p in (tmp_path / "dev" / "reports").iterdir()) == sorted(
        f"{job}.{ext}" for job in ("01-zero", "02-results", "03-results")
        for ext in ("escpos", "png", "json", "roll.png"))
    d = session.device
    assert d is not None and d.polls.value == "polls-closed"
    assert d.store.sheets() == [] and session.world.box == []
    types = [e["type"] for e in d.store.audit_events()]
    assert types.count("transition-refused") == 2
    assert "audit: transition-refused" in seen["log"]


@pytest.mark.parametrize("where", ["feed", "eject"])
def test_jam_then_clear_counts_the_sheet_once(tmp_path: Path, sheets: Path, reader: Any,
                                              where: str) -> None:
    session = _session(tmp_path / "dev", sheets, reader)
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "t", "o", "j" if where == "feed" else "e", "f")
        seen["jam"] = _text(app, "#message")
        seen["jam_screen"] = _text(app, "#screen")
        await _press(pilot, app, "f")  # the voter cannot feed past a jam
        seen["feed_jammed"] = _text(app, "#message")
        await _press(pilot, app, "a")  # the operator clears it, the voter feeds it again
        seen["cleared"] = _text(app, "#message")
        seen["cleared_screen"] = _text(app, "#screen")
        await _press(pilot, app, "f")
        seen["refed"] = _text(app, "#message")
        seen["cast"] = _counter(app, "Sheets cast")
        seen["ballots"] = _ballots_on_screen(app)

    _drive(session, script)
    assert seen["jam"] == "000000: JAM in the paper path - the operator clears it"
    assert SCANNER[ScannerState.JAMMED].ru in seen["jam_screen"]
    assert seen["feed_jammed"].startswith("REFUSED (ConsoleRefusal): paper in the path "
                                          "(jammed)")
    assert seen["cleared"].startswith("jam cleared: sheet 000000")
    assert SCANNER[ScannerState.WAITING].ru in seen["cleared_screen"]
    assert seen["refed"].startswith("000000: cast into the box")
    d = session.device
    assert d is not None
    assert seen["cast"] == d.sheets_cast(SheetMode.OFFICIAL) == 1
    assert sum(seen["ballots"].values()) == 1
    assert session.world.box == ["000000"]
    voided = d.store.sheets(state=SheetState.VOIDED)
    assert len(voided) == (1 if where == "eject" else 0)  # recorded pending, then voided
    types = [e["type"] for e in d.store.audit_events()]
    assert types.count("jam") == 1 and types.count("jam-cleared") == 1


@pytest.mark.parametrize("point,decision", [("y", "void"), ("u", "cast")])
def test_power_cut_at_the_eject_then_restart(tmp_path: Path, sheets: Path, reader: Any,
                                             point: str, decision: str) -> None:
    session = _session(tmp_path / "dev", sheets, reader)
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "t", "o", point, "f")
        seen["cut"] = _text(app, "#message")
        seen["dark"] = _text(app, "#screen")
        await _press(pilot, app, "o")
        seen["off"] = _text(app, "#message")
        await _press(pilot, app, "n")  # switch on: boots from the store
        seen["boot"] = _text(app, "#message")
        seen["cast_after_boot"] = _counter(app, "Sheets cast")
        if decision == "void":  # the sheet came back to the voter, who feeds it again
            await _press(pilot, app, "b", "f")
            seen["refed"] = _text(app, "#message")
        seen["cast"] = _counter(app, "Sheets cast")

    _drive(session, script)
    assert seen["cut"].startswith("REFUSED (ConsoleRefusal): POWER CUT during the eject")
    assert "the device is off" in seen["dark"]
    assert seen["off"] == "REFUSED (ConsoleRefusal): the device is off: switch it on first"
    assert f"recovery (decision={decision}" in seen["boot"]
    d = session.device
    assert d is not None and d.polls.value == "polls-open"
    assert seen["cast_after_boot"] == (1 if decision == "cast" else 0)
    assert seen["cast"] == d.sheets_cast(SheetMode.OFFICIAL) == 1
    assert session.world.box == ["000000"]
    if decision == "void":
        assert seen["refed"].startswith("000000: cast into the box")
        assert len(d.store.sheets(state=SheetState.VOIDED)) == 1


def test_language_switch_and_screenshot(tmp_path: Path, reader: Any) -> None:
    session = _session(tmp_path / "dev", None, reader)
    seen: dict[str, str] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        seen["ru"] = _text(app, "#screen")
        await _press(pilot, app, "g")
        seen["ky"] = _text(app, "#screen")
        await _press(pilot, app, "l", "t")
        seen["ky_test"] = _text(app, "#screen")
        await _press(pilot, app, "g")
        seen["ru_test"] = _text(app, "#screen")
        seen["svg"] = app.export_screenshot()

    _drive(session, script)
    disabled = SCANNER[ScannerState.DISABLED]
    assert disabled.ru in seen["ru"] and disabled.ky not in seen["ru"]
    assert disabled.ky in seen["ky"] and disabled.ru not in seen["ky"]
    assert "Бюллетенди салыңыз." in seen["ky_test"] and "СЫНОО РЕЖИМИ" in seen["ky_test"]
    assert "Вставьте бюллетень." in seen["ru_test"] and "ТЕСТОВЫЙ РЕЖИМ" in seen["ru_test"]
    assert seen["svg"].lstrip().startswith("<svg") and "Вставьте" in seen["svg"]


def test_command_line_screenshot_and_one_line_errors(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shot = tmp_path / "shot.svg"
    assert main(["device", "console", "--station", STATION.number, "--dir",
                 str(tmp_path / "dev"), "--press", "l t g", "--screenshot", str(shot)]) == 0
    svg = shot.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "салыңыз" in svg  # Kyrgyz, in test mode
    assert (tmp_path / "dev" / "internal").is_dir() and (tmp_path / "dev" / "world.jsonl").exists()
    capsys.readouterr()
    assert main(["device", "console", "--sheets", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcos: error: ") and "not a directory" in err and err.count("\n") == 1
    (tmp_path / "s").mkdir()
    assert main(["device", "console", "--sheets", str(tmp_path / "s")]) == 2
    assert "no polling station" in capsys.readouterr().err
    with pytest.raises(PcosError):
        SheetFolder(tmp_path / "missing")


def test_double_sheet_is_returned_and_fed_again_one_by_one(tmp_path: Path, sheets: Path,
                                                           reader: Any) -> None:
    session = _session(tmp_path / "dev", sheets, reader)
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "t", "o", "d")
        seen["double"] = _text(app, "#message")
        seen["screen"] = _text(app, "#screen")
        await _press(pilot, app, "b")
        seen["status"] = _text(app, "#status")
        seen["returned"] = _counter(app, "Returned")

    _drive(session, script)
    assert seen["double"] == ("000000+000001: double sheet, not fed - the voter takes them "
                              "back")
    assert message(RejectReason.DOUBLE_FEED).voter.ru in seen["screen"]  # the reason's text
    assert "[double-sheet]" in seen["screen"]
    assert "pile 4" in seen["status"] and "entry empty" in seen["status"]
    assert session.world.queue[:2] == ["000000", "000001"]  # in their order, to feed again
    assert seen["returned"] == 0 and session.world.box == []  # not fed, so not a sheet record


def test_console_restarts_from_an_existing_directory(tmp_path: Path, sheets: Path,
                                                     reader: Any) -> None:
    first = _session(tmp_path / "dev", sheets, reader)
    first.power_on()
    for step in (first.load_package, first.enter_test_mode, first.open_polls,
                 first.feed_next):
        step()
    tally = first.device.tally() if first.device is not None else None
    second = _session(tmp_path / "dev", sheets, reader)  # a new console on the same --dir
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        seen["status"] = _text(app, "#status")
        seen["cast"] = _counter(app, "Sheets cast")

    _drive(second, script)
    assert "Polls: polls-open" in seen["status"] and "pile 3" in seen["status"]
    assert seen["cast"] == 1
    assert second.device is not None and second.device.tally() == tally


@pytest.mark.parametrize("choice", ["1", "2"])
def test_warn_policy_the_voter_chooses(tmp_path: Path, sheets: Path, reader: Any,
                                       choice: str) -> None:
    """Sheet 000001 of the fixture is a blank party-list ballot (truth.jsonl)."""
    assert _truths(sheets)[1]["expected"]["party-list"]["status"] == "blank"
    session = _session(tmp_path / "dev", sheets, reader, BallotPolicy.WARN)
    seen: dict[str, Any] = {}

    async def script(pilot: Pilot[None], app: DeviceConsole) -> None:
        await _press(pilot, app, "l", "t", "o", "f", "f")
        seen["held"] = _text(app, "#message")
        seen["screen"] = _text(app, "#screen")
        await _press(pilot, app, choice)
        seen["chosen"] = _text(app, "#message")
        seen["cast"] = _counter(app, "Sheets cast")
        seen["returned"] = _counter(app, "Returned")

    _drive(session, script)
    assert seen["held"] == "000001: held, the voter chooses (party-list:blank)"
    assert SCANNER[ScannerState.NEEDS_REVIEW].ru in seen["screen"]
    d = session.device
    assert d is not None
    if choice == "1":
        assert seen["chosen"].startswith("held sheet: cast into the box")
        assert (seen["cast"], seen["returned"]) == (2, 0)
        assert d.tally().contest("party-list").blank == 1
        assert session.world.box == ["000000", "000001"]
    else:
        assert seen["chosen"] == "held sheet: returned to the voter, reason voter-took-back"
        assert (seen["cast"], seen["returned"]) == (1, 1)
        assert session.world.box == ["000000"] and session.world.entry == ["000001"]


def test_withdrawal_from_the_menu_with_a_signed_package_and_amendment(tmp_path: Path) -> None:
    """`l` loads a signed package, `w` applies a CEC-signed withdrawal before polls open; after
    polls open the firmware refuses it with its typed reason."""
    from election.default import default_election
    from firmware.amendment import AmendmentError, CandidateWithdrawal, build_amendment
    from firmware.install import PackageTrust
    from firmware.reader_setup import make_reader
    from simulator.packaged import sim_cec_keys, sim_device, sim_package
    from simulator.sheets import default_station
    from tools.console.session import ConsoleSession

    election = default_election()
    station = default_station(election)
    contest = election.contest(station.contest_ids()[1])
    standing = next(c.id for c in contest.candidates if not c.withdrawn)
    keys = sim_cec_keys()
    amendment = build_amendment(election=election, amendment_id="W-7",
                                candidates=[CandidateWithdrawal(contest.id, standing)],
                                signing_key=keys.signing_key,
                                signing_certificate=keys.signing_certificate,
                                created="2021-11-25T10:00:00Z")
    device_id = f"{station.number}-D1"
    session = ConsoleSession(tmp_path, election, station, make_reader(election, station),
                             package=sim_package(election, keys, (station.number,), 2),
                             trust=PackageTrust(keys.root_certificate,
                                                sim_device(keys, device_id, station.number)),
                             reader_for=make_reader, amendment=amendment)
    session.power_on()
    assert "signed package" in session.load_package()
    assert session.withdrawal() == f"withdrawal W-7 applied: {standing} withdrawn"
    d = session.device
    assert d is not None and any(c.withdrawn for c in d.config.election.contest(contest.id)
                                 .candidates if c.id == standing)
    session.enter_test_mode()
    session.clear_test()
    session.open_polls()
    with pytest.raises(AmendmentError, match="polls-opened"):
        session.withdrawal()
    types = [e["type"] for e in d.store.audit_events()]
    assert types.count("withdrawal-applied") == 1 and types.count("withdrawal-refused") == 1
