"""The people around a simulated device: voters feeding sheets, the operator's steps.

:func:`run_day` takes a booted device from whatever state it is in (after a
power cut too) to ``results-reported``: load the package, test mode with the
test ballots, clear, open, every voter's sheet, close (acknowledging a
storage problem), report. A voter whose sheet comes back for a reason other
than a reader reject (a jam, a power cut, a void) feeds it again; a rejected
sheet (fake, foreign...) leaves with its voter.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.device import Device
from firmware.states import PollsState, ScannerState
from simulator.devices import SimWorld

MAX_STEPS_PER_SHEET = 20


def run_day(device: Device, world: SimWorld, is_genuine: Callable[[str], bool],
            progress: Callable[[], None] | None = None, package: bytes | None = None) -> None:
    """Drive ``device`` to results-reported. ``is_genuine(sheet)``: the reader accepts it.
    ``package``: the signed election package file the operator loads (else the device's
    built-in configuration)."""
    steps_left = MAX_STEPS_PER_SHEET * (len(world.queue) + len(world.test_queue) + 10)
    while steps_left > 0:
        steps_left -= 1
        polls = device.polls
        if polls is PollsState.NO_PACKAGE:
            device.load_package(package)
        elif polls is PollsState.PACKAGE_LOADED:
            device.enter_test_mode()
        elif polls is PollsState.TEST_MODE:
            if not _feed_one(device, world, is_genuine, test=True):
                device.clear_test()
                device.open_polls()
        elif polls is PollsState.POLLS_PAUSED:
            device.resume()
        elif polls is PollsState.POLLS_OPEN:
            if not _feed_one(device, world, is_genuine, test=False):
                if device.storage_ack_needed:
                    device.acknowledge_storage()
                device.close_polls()
            elif progress is not None:
                progress()
        elif polls is PollsState.POLLS_CLOSED:
            if not device.results_printed:  # a power cut came between closing and printing
                device.print_report("results")
            device.report_results()
        else:
            return
    raise RuntimeError("the simulated day did not finish (device stuck in "
                       f"{device.scanner.value})")


def _feed_one(device: Device, world: SimWorld, is_genuine: Callable[[str], bool],
              test: bool) -> bool:
    """Settle the paper path and put the next sheet at the entry; False when none is left."""
    for _ in range(MAX_STEPS_PER_SHEET):
        device.step()
        state = device.scanner
        if state is ScannerState.JAMMED and world.path_state == "jammed":
            world.clear_jam(requeue=_requeue(world.path, is_genuine), test=test)
        elif state is ScannerState.NEEDS_REVIEW:
            device.voter_choice(cast=True)
        elif world.entry:
            if state is ScannerState.WAITING:
                continue  # a fresh sheet: the device feeds it on the next step
            # two stacked sheets come back together and are fed again one by one
            genuine = all(_requeue(s, is_genuine) for s in world.entry)
            world.take_back(genuine, test=test)
        elif world.path is None:
            return world.insert_next(test=test) is not None
    raise RuntimeError(f"paper path did not settle (device in {device.scanner.value})")


def _requeue(sheet: str | None, is_genuine: Callable[[str], bool]) -> bool:
    return sheet is not None and is_genuine(sheet)
