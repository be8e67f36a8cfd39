"""Hypothesis state machine over random event sequences at a device.

Voters insert sheets (some fakes), take back what comes out, the operator
presses any polls key in any state, paper jams, the cover opens, the card
fails, and the power is cut at any moment - including in the middle of an
eject, before or after the sheet drops. After every step:

* the official tally equals the truth of the sheets that dropped into the box
  while polls were open, and the test tally the ones dropped in test mode;
* no sheet is recorded cast twice, and every cast record is a sheet in the box;
* no test sheet is in the official records;
* a refused polls action leaves the state as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from fw_fixtures import ELECTION, STATION, table_for
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from election.rules import BallotOutcome
from election.tally import TallyBuilder
from firmware.device import StorageNotAcknowledged, image_sha256
from firmware.hal.storage import MediumRole
from firmware.states import TRANSITIONS, DeviceError, PollsAction, PollsState
from firmware.store import SheetMode, SheetState
from simulator.devices import SimPaperPath, SimWorld, tiny_images
from simulator.rig import Rig, TableReader, build_device
from vision.result import Outcome

SHEETS = [f"S{i:02d}" for i in range(10)]
TABLE = table_for(SHEETS, seed=11, fake_rate=0.3)
BY_HASH = {image_sha256(tiny_images(s).front): s for s in SHEETS}
# Genuine sheets first: hypothesis leans to the first choices, and most voters are genuine.
VOTES = sorted(SHEETS, key=lambda s: TABLE[s].outcome is Outcome.REJECTED)


class PowerCut(BaseException):
    pass


class CuttablePaper(SimPaperPath):
    """The simulated paper path, with the power going off during the next eject if armed."""

    cut: str | None = None  # "before-drop" | "after-drop"

    def eject_to_box(self) -> Any:
        if self.cut is None:
            return super().eject_to_box()
        when, self.cut = self.cut, None
        if when == "after-drop":
            super().eject_to_box()
        raise PowerCut


class DeviceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="pcos-sm-"))
        self.world = SimWorld()
        self.paper = CuttablePaper(self.world)
        self.box_mode: dict[str, str] = {}
        self.rig = self._boot()

    def _boot(self) -> Rig:
        r = build_device(self.tmp, self.world, ELECTION, STATION, TableReader(TABLE))
        r.device.hw.paper = self.paper
        r.device.boot()
        return r

    def teardown(self) -> None:
        self.rig.device.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def device(self) -> Any:
        return self.rig.device

    def _mode_now(self) -> str:
        return "test" if self.device.polls is PollsState.TEST_MODE else "official"

    def _track(self, before: int, mode: str) -> None:
        for s in self.world.box[before:]:
            self.box_mode[s] = mode
            event(f"sheet dropped in {mode} mode")

    # --- the operator ---------------------------------------------------------------------------

    @rule(action=st.sampled_from(list(PollsAction)))
    def polls_key(self, action: PollsAction) -> None:
        d = self.device
        state = d.polls
        call = {PollsAction.LOAD_PACKAGE: d.load_package, PollsAction.ENTER_TEST: d.enter_test_mode,
                PollsAction.OPEN: d.open_polls, PollsAction.PAUSE: d.pause,
                PollsAction.RESUME: d.resume, PollsAction.CLOSE: d.close_polls,
                PollsAction.REPORT: d.report_results}[action]
        try:
            call()
        except (DeviceError, StorageNotAcknowledged):
            assert d.polls is state  # refused: nothing moved
            return
        assert (state, action) in TRANSITIONS, f"{action} allowed in {state}"
        event(f"reached {d.polls.value}")
        assert d.polls is TRANSITIONS[(state, action)]

    @initialize(start=st.sampled_from(["fresh", "test-mode", "polls-open", "polls-open"]))
    def start(self, start: str) -> None:
        """Most runs start with polls open, so that sheets drop; some start from scratch."""
        if start != "fresh":
            self.advance(PollsState(start))

    @rule(goal=st.sampled_from([PollsState.TEST_MODE, PollsState.POLLS_OPEN]))
    def advance(self, goal: PollsState) -> None:
        """The operator's usual next steps, up to test mode or open polls (the paper at the
        entry handed back first)."""
        d = self.device
        if self.world.entry:
            self.world.take_from_entry()
            self.step(1)
        steps = {PollsState.NO_PACKAGE: d.load_package,
                 PollsState.PACKAGE_LOADED: d.enter_test_mode,
                 PollsState.TEST_MODE: lambda: (d.clear_test(), d.open_polls()),
                 PollsState.POLLS_PAUSED: d.resume}
        for _ in range(4):
            if d.polls is goal or d.polls not in steps:
                return
            if goal is PollsState.TEST_MODE and d.polls is not PollsState.NO_PACKAGE and \
                    d.polls is not PollsState.PACKAGE_LOADED:
                return
            try:
                steps[d.polls]()
            except DeviceError:
                return  # e.g. paper in the path: the operator tries again later
            event(f"reached {d.polls.value}")

    @precondition(lambda self: self.device.polls is PollsState.TEST_MODE)
    @rule()
    def clear_test(self) -> None:
        self.device.clear_test()

    @rule()
    def acknowledge_storage(self) -> None:
        self.device.acknowledge_storage()

    @rule()
    def clear_jam(self) -> None:
        self.world.clear_jam()

    # --- voters and paper -------------------------------------------------------------------------

    @precondition(lambda self: not self.world.entry)
    @rule(sheet=st.sampled_from(SHEETS))
    def insert(self, sheet: str) -> None:
        if sheet in self.world.box or sheet == self.world.path:
            return
        self.world.insert(sheet)

    @rule(sheet=st.sampled_from(VOTES))
    def vote(self, sheet: str) -> None:
        """The operator clears what blocks the device (cover, jam); the voter takes back what
        lies at the entry, inserts a sheet, and the device runs."""
        self.world.set_cover(False)
        self.world.clear_jam()
        self.step(1)
        if self.world.entry:
            self.world.take_from_entry()
            self.step(1)
        if not self.world.entry and self.world.path is None and sheet not in self.world.box:
            self.world.insert(sheet)
        self.step(3)

    @rule(sheet=st.sampled_from(VOTES))
    def next_voter(self, sheet: str) -> None:
        """The same as :meth:`vote`: two rules, so voting is the commonest event."""
        self.vote(sheet)

    @rule()
    def take_back(self) -> None:
        self.world.take_from_entry()

    @rule(n=st.integers(1, 3))
    def step(self, n: int) -> None:
        for _ in range(n):
            before, mode = len(self.world.box), self._mode_now()
            try:
                self.device.step()
            except PowerCut:
                event("power cut during an eject")
                self._track(before, mode)
                self.rig = self._boot()
                return
            self._track(before, mode)

    @rule(kind=st.sampled_from(["feed", "eject"]))
    def jam(self, kind: str) -> None:
        (self.world.jam_feeds if kind == "feed" else self.world.jam_ejects)(1)

    @rule(open_=st.booleans())
    def cover(self, open_: bool) -> None:
        self.world.set_cover(open_)

    @rule(failed=st.booleans())
    def card(self, failed: bool) -> None:
        self.world.fail_medium(MediumRole.REMOVABLE, failed)

    @rule()
    def power_cut(self) -> None:
        self.rig = self._boot()

    @rule(when=st.sampled_from(["before-drop", "after-drop"]))
    def power_cut_in_next_eject(self, when: str) -> None:
        self.paper.cut = when

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def tallies_match_the_box(self) -> None:
        d = self.device
        for mode in (SheetMode.OFFICIAL, SheetMode.TEST):
            truth = TallyBuilder.empty(ELECTION, STATION.contest_ids())
            for s in self.world.box:
                if self.box_mode[s] == mode.value:
                    truth.add(BallotOutcome.from_json(TABLE[s].contests))
            if mode is SheetMode.OFFICIAL:
                assert d.tally(mode) == truth.build()
        cast = [BY_HASH[r["images"][0]] for r in d.store.sheets(state=SheetState.CAST)]
        assert len(cast) == len(set(cast)), Counter(cast)
        assert set(cast) == set(self.world.box)
        official = [BY_HASH[r["images"][0]] for r in d.store.sheets(mode=SheetMode.OFFICIAL,
                                                                    state=SheetState.CAST)]
        assert all(self.box_mode[s] == "official" for s in official)
        assert all(TABLE[s].outcome is not Outcome.REJECTED for s in cast)


DeviceMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40,
                                           deadline=None)
TestDeviceMachine = DeviceMachine.TestCase
