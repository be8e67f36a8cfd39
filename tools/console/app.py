"""``pcos device console``: the device in a terminal, for CEC trainers and operators.

A textual app over :class:`tools.console.session.ConsoleSession`. It only shows
what the session reads from the device and the simulated world, and turns a
key (or a menu pick) into one session call; every refusal is shown as the
typed error's text. Calls run one at a time on a device thread (reading a
sheet takes about a second), so the terminal stays live and the device
screen is shown as it changes (feeding, scanning, reading...); each call
ends with a snapshot of the view taken on that thread, so the UI never reads
the store while the device writes it. The operator's menu holds the firmware's polls actions;
the second menu plays the voters and the trainer (feed the next sheet, jams,
the cover, power cuts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from election.errors import PcosError
from tools.console.session import ConsoleSession, ConsoleView, CutPoint, event_line


@dataclass(frozen=True)
class MenuItem:
    key: str
    action: str  # the App action name (without "action_")
    label: str
    enabled: bool = True


OPERATOR_MENU = (
    MenuItem("l", "load_package", "Load the election package"),
    MenuItem("t", "test_mode", "Test mode (test vote)"),
    MenuItem("c", "clear_test", "Print test report, clear test ballots"),
    MenuItem("o", "open_polls", "Open polls (zero report)"),
    MenuItem("p", "pause_resume", "Pause / resume polls"),
    MenuItem("x", "close_polls", "Close polls (results report)"),
    MenuItem("r", "print_copy", "Print a copy of the last report"),
    MenuItem("s", "print_audit", "Print the audit-log summary"),
    MenuItem("m", "report_results", "Results reported (sent)"),
    MenuItem("k", "ack_storage", "Acknowledge a storage problem"),
    MenuItem("w", "withdrawal", "Apply a withdrawal (before polls open)"),
)

PEOPLE_MENU = (
    MenuItem("f", "feed", "Voter: feed the next sheet"),
    MenuItem("d", "feed_double", "Voter: feed two sheets at once"),
    MenuItem("b", "take_back", "Voter: take the sheet at the entry"),
    MenuItem("1", "cast_as_is", "Voter: cast as is (warn policy)"),
    MenuItem("2", "voter_takes_back", "Voter: take it back (warn policy)"),
    MenuItem("j", "jam_feed", "Trainer: jam the next feed"),
    MenuItem("e", "jam_eject", "Trainer: jam the next eject"),
    MenuItem("a", "clear_jam", "Operator: clear the jam"),
    MenuItem("v", "cover", "Operator: open / close the cover"),
    MenuItem("h", "printer_paper", "Trainer: printer paper runs out / load a roll"),
    MenuItem("z", "power_cut", "Trainer: power cut now"),
    MenuItem("y", "cut_before_drop", "Trainer: power cut at next cast, before drop"),
    MenuItem("u", "cut_after_drop", "Trainer: power cut at next cast, after drop"),
    MenuItem("n", "power_on", "Operator: switch the device on"),
    MenuItem("g", "language", "Language: Кыргызча / Русский"),
)


def _options(menu: tuple[MenuItem, ...]) -> list[Option]:
    return [Option(Text(f"[{i.key}] {i.label}"), id=i.action, disabled=not i.enabled)
            for i in menu]


class DeviceConsole(App[None]):
    """The device console. ``session`` must not be powered on yet: the app switches it on."""

    TITLE = "PCOS-KG device console"
    CSS = """
    #main { height: 1fr; }
    #left { width: 1fr; }
    #right { width: 60; }
    #screen { border: heavy $accent; padding: 0 1; height: auto; min-height: 7; }
    #status, #counters { border: round $primary; padding: 0 1; height: auto; }
    #message { border: round $warning; padding: 0 1; height: auto; min-height: 3; }
    #report { border: round $secondary; padding: 0 1; height: 1fr; overflow-y: auto; }
    OptionList { height: auto; max-height: 18; border: round $primary; }
    #log { height: 8; border: round $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(i.key, i.action, i.label, show=False) for i in (*OPERATOR_MENU, *PEOPLE_MENU)),
        Binding("q", "quit", "Quit")]

    def __init__(self, session: ConsoleSession, language: str = "ru") -> None:
        super().__init__()
        self.session = session
        self.language = language
        self._seen_events = 0  # touched only on the device thread
        self._device_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device")
        self._busy = 0
        self._last: _Done | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Static(id="screen")
                yield Static(id="status")
                yield Static(id="counters")
                yield Static(id="report")
            with Vertical(id="right"):
                yield OptionList(*_options(OPERATOR_MENU), id="operator-menu")
                yield OptionList(*_options(PEOPLE_MENU), id="people-menu")
                yield Static(id="message")
        yield RichLog(id="log", max_lines=500, wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        s = self.session
        self.sub_title = (f"device {s.device_id} · station {s.station.number} · "
                          f"{s.workdir}")
        self.query_one("#operator-menu").border_title = "Operator's menu"
        self.query_one("#people-menu").border_title = "Voters · trainer · power"
        self.set_interval(0.1, self._tick)
        self._run("switch on", s.power_on)

    # --- actions -----------------------------------------------------------------------------

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            await self.run_action(event.option.id)

    def _run(self, label: str, call: Callable[[], str | list[str]]) -> None:
        """Queue one session call on the device thread; the screen shows its result (or the
        refusal's text) when it is done. Calls run one at a time, in the order asked."""
        future = self._device_thread.submit(self._call, label, call)
        self._busy += 1
        self.run_worker(self._finish(asyncio.wrap_future(future)), group="device")

    def _call(self, label: str, call: Callable[[], str | list[str]]) -> _Done:
        """On the device thread: the call, then a snapshot of everything the screen shows
        (so that the UI thread never reads the store while the device writes it)."""
        try:
            result = call()
        except PcosError as exc:
            msg = Text(f"REFUSED ({type(exc).__name__}): {exc}", style="bold red")
        else:
            lines = result if isinstance(result, list) else [result]
            msg = Text("\n".join(lines), style="bold green")
        events = self.session.events[self._seen_events:]
        self._seen_events += len(events)
        return _Done(label, msg, events, self.session.view(), self.session.printer.last)

    async def _finish(self, pending: asyncio.Future[_Done]) -> None:
        done = await pending
        self._busy -= 1
        log = self.query_one("#log", RichLog)
        log.write(Text(f"{done.label}: ", style="bold") + done.message)
        for event in done.events:
            log.write(Text(f"  audit: {event_line(event)}", style="dim"))
        self.query_one("#message", Static).update(done.message)
        self._last = done
        self.refresh_view()

    async def settle(self) -> None:
        """Wait until every queued call has run and its result is on the screen."""
        await self.workers.wait_for_complete()

    def _tick(self) -> None:
        """While the device works (a sheet being read), show its screen as it changes."""
        if self._busy and self.session.device is not None:
            current = self.session.display.current
            if current is not None:
                self.query_one("#screen", Static).update(screen_text(
                    _both(current.voter), _both(current.operator) if current.operator else {},
                    current.detail, current.screen, self.language))

    def on_unmount(self) -> None:
        self._device_thread.shutdown(wait=True)

    def action_load_package(self) -> None:
        self._run("load package", self.session.load_package)

    def action_test_mode(self) -> None:
        self._run("test mode", self.session.enter_test_mode)

    def action_clear_test(self) -> None:
        self._run("clear test", self.session.clear_test)

    def action_open_polls(self) -> None:
        self._run("open polls", self.session.open_polls)

    def action_pause_resume(self) -> None:
        self._run("pause/resume", self.session.pause_or_resume)

    def action_close_polls(self) -> None:
        self._run("close polls", self.session.close_polls)

    def action_print_copy(self) -> None:
        self._run("print", self.session.print_copy)

    def action_printer_paper(self) -> None:
        self._run("printer", self.session.printer_paper)

    def action_print_audit(self) -> None:
        self._run("print", self.session.print_audit)

    def action_report_results(self) -> None:
        self._run("results reported", self.session.report_results)

    def action_ack_storage(self) -> None:
        self._run("acknowledge storage", self.session.acknowledge_storage)

    def action_withdrawal(self) -> None:
        self._run("withdrawal", self.session.withdrawal)

    def action_feed(self) -> None:
        self._run("feed", self.session.feed_next)

    def action_feed_double(self) -> None:
        self._run("feed two", lambda: self.session.feed_next(double=True))

    def action_take_back(self) -> None:
        self._run("take back", self.session.take_back)

    def action_cast_as_is(self) -> None:
        self._run("cast as is", lambda: self.session.voter_choice(True))

    def action_voter_takes_back(self) -> None:
        self._run("voter takes back", lambda: self.session.voter_choice(False))

    def action_jam_feed(self) -> None:
        self._run("jam", self.session.jam_next_feed)

    def action_jam_eject(self) -> None:
        self._run("jam", self.session.jam_next_eject)

    def action_clear_jam(self) -> None:
        self._run("clear jam", self.session.clear_jam)

    def action_cover(self) -> None:
        self._run("cover", self.session.toggle_cover)

    def action_power_cut(self) -> None:
        self._run("power", self.session.power_cut)

    def action_cut_before_drop(self) -> None:
        self._run("power", lambda: self.session.arm_cut(CutPoint.BEFORE_DROP))

    def action_cut_after_drop(self) -> None:
        self._run("power", lambda: self.session.arm_cut(CutPoint.AFTER_DROP))

    def action_power_on(self) -> None:
        self._run("switch on", self.session.power_on)

    def action_language(self) -> None:
        self.language = "ky" if self.language == "ru" else "ru"
        self.refresh_view()

    # --- the view ----------------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Show the last snapshot (in the chosen language)."""
        done = self._last
        if done is None:
            return
        v, lang = done.view, self.language
        screen = self.query_one("#screen", Static)
        screen.border_title = f"Device screen · {'Кыргызча' if lang == 'ky' else 'Русский'}"
        if not v.powered:
            screen.update(Text("(dark: the device is off)", style="dim"))
        else:
            screen.update(screen_text(v.voter, v.operator, v.detail, v.screen_id, lang))
        self.query_one("#status", Static).update(status_text(v))
        counters = self.query_one("#counters", Static)
        counters.border_title = "Counters (from the device)"
        counters.update(counters_text(v))
        report = self.query_one("#report", Static)
        last = done.printed
        report.border_title = ("Printed: " + last[0]) if last else "Printed reports"
        report.update(last[1] if last else "(nothing printed yet)")


@dataclass(frozen=True)
class _Done:
    """A finished call and the snapshot taken right after it, on the device thread."""

    label: str
    message: Text
    events: list[dict[str, Any]]
    view: ConsoleView
    printed: tuple[str, str] | None


def _both(text: Any) -> dict[str, str]:
    return {"ky": text.ky, "ru": text.ru}


def screen_text(voter: dict[str, str], operator: dict[str, str], detail: str, screen_id: str,
                lang: str) -> Text:
    """The device's display: the voter's message, the operator's line, the detail."""
    body = Text(voter.get(lang, ""), style="bold")
    if operator.get(lang):
        body += Text(f"\n\nOperator: {operator[lang]}")
    if detail:
        body += Text(f"\n{detail}", style="italic")
    body += Text(f"\n[{screen_id}]", style="dim")
    return body


def status_text(v: ConsoleView) -> str:
    entry = "+".join(v.entry) if v.entry else "empty"
    path = f"{v.path} ({v.path_state})" if v.path else "clear"
    lines = [f"Polls: {v.polls}    Scanner: {v.scanner}",
             f"Paper: entry {entry} · path {path} · in the box {v.box} · pile {v.pile}"]
    if v.armed:
        lines.append("Armed: " + ", ".join(v.armed))
    return "\n".join(lines)


def counters_text(v: ConsoleView) -> str:
    """The device's counters for its current mode, one figure a line (tests read these)."""
    c = v.counters
    if c is None:
        return "(device off)"
    returned = ", ".join(f"{r} {n}" for r, n in sorted(c.returned_by_reason.items()))
    lines = [f"Mode: {c.mode}", f"Sheets cast: {c.sheets_cast}",
             f"Returned: {sum(c.returned_by_reason.values())}" + (f" ({returned})"
                                                                   if returned else "")]
    if c.mode == "test":
        lines.append("Tally (test ballots since the last clear):")
    for cid, t in sorted(c.contests.items()):
        lines.append(f"{cid}: ballots {t['ballots']}, valid {t['valid']}, "
                     f"invalid {t['invalid']}")
    return "\n".join(lines)
