"""The device's two state machines: the polls, and the sheet in the paper path.

Polls (VxScan's polls states plus the package and test steps)::

    no-package -> package-loaded -> test-mode -> polls-open <-> polls-paused
                                                    -> polls-closed -> results-reported

Every other transition is refused with :class:`IllegalTransition`.
:func:`next_polls_state` is the whole rule, as a table.

Scanner (anchored on VxScan's scanner states): waiting -> feeding -> scanning
-> reading -> accepting (into the box) | returning (back to the voter) |
needs-review (warn policy: the voter chooses) -> waiting; and the fault
states jammed, double-sheet, cover-open, paper-in-path (after a restart),
storage-failed.
"""

from __future__ import annotations

from enum import StrEnum

from election.errors import PcosError


class PollsState(StrEnum):
    NO_PACKAGE = "no-package"
    PACKAGE_LOADED = "package-loaded"
    TEST_MODE = "test-mode"
    POLLS_OPEN = "polls-open"
    POLLS_PAUSED = "polls-paused"
    POLLS_CLOSED = "polls-closed"
    RESULTS_REPORTED = "results-reported"


class PollsAction(StrEnum):
    LOAD_PACKAGE = "load-package"
    ENTER_TEST = "enter-test-mode"
    OPEN = "open-polls"
    PAUSE = "pause-polls"
    RESUME = "resume-polls"
    CLOSE = "close-polls"
    REPORT = "report-results"


TRANSITIONS: dict[tuple[PollsState, PollsAction], PollsState] = {
    (PollsState.NO_PACKAGE, PollsAction.LOAD_PACKAGE): PollsState.PACKAGE_LOADED,
    (PollsState.PACKAGE_LOADED, PollsAction.ENTER_TEST): PollsState.TEST_MODE,
    (PollsState.TEST_MODE, PollsAction.OPEN): PollsState.POLLS_OPEN,
    (PollsState.POLLS_OPEN, PollsAction.PAUSE): PollsState.POLLS_PAUSED,
    (PollsState.POLLS_PAUSED, PollsAction.RESUME): PollsState.POLLS_OPEN,
    (PollsState.POLLS_OPEN, PollsAction.CLOSE): PollsState.POLLS_CLOSED,
    (PollsState.POLLS_PAUSED, PollsAction.CLOSE): PollsState.POLLS_CLOSED,
    (PollsState.POLLS_CLOSED, PollsAction.REPORT): PollsState.RESULTS_REPORTED,
}


class DeviceError(PcosError):
    """Base of the device's refusals."""


class IllegalTransition(DeviceError):
    """A polls action that the current state does not allow."""

    def __init__(self, state: PollsState, action: PollsAction, why: str = "") -> None:
        super().__init__(f"cannot {action.value} in state {state.value}" + (f": {why}" if why
                                                                              else ""))
        self.state = state
        self.action = action


def next_polls_state(state: PollsState, action: PollsAction) -> PollsState:
    """The state after ``action``; :class:`IllegalTransition` if not allowed. Pure."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise IllegalTransition(state, action) from None


class ScannerState(StrEnum):
    DISABLED = "disabled"  # polls not open and not in test mode: no paper taken
    WAITING = "waiting-for-ballot"
    FEEDING = "feeding"
    SCANNING = "scanning"
    READING = "interpreting"
    NEEDS_REVIEW = "needs-review"  # warn policy: the voter chooses
    ACCEPTING = "accepting"
    ACCEPTED = "accepted"
    RETURNING = "returning"
    RETURNED = "returned"  # waiting for the voter to take the sheet
    JAMMED = "jammed"
    DOUBLE_SHEET = "double-sheet"
    COVER_OPEN = "cover-open"
    PAPER_IN_PATH = "paper-in-path-after-restart"
    STORAGE_FAILED = "storage-failed"
    # calibration mode (firmware.calibration_mode): the paper path feeds blank calibration
    # ballots and hands each back; no ballot is counted and no polls action is taken
    CALIBRATING = "calibrating"


ACCEPTS_PAPER = (PollsState.TEST_MODE, PollsState.POLLS_OPEN)

# Device calibration (firmware.calibration_mode) only before polls open (and before test
# mode: the test deck is read with the calibrated reader). Leaving it returns to the state
# it was entered from.
CALIBRATION_ALLOWED = (PollsState.NO_PACKAGE, PollsState.PACKAGE_LOADED)
