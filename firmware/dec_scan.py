"""The DEC's paper protocol through the scanner: page images and the figures typed twice.

After polls close, the commission's signed paper protocol is fed through the
device page by page. The image sensor captures each page, the paper path hands
it back to the operator (a protocol page never goes into the ballot box), and
the front side is kept as a PNG image. The operator then types the protocol's
key figures twice; the uplink (:mod:`firmware.hal.results_channel`) compares
the two entries, refuses a mismatch naming the fields that differ before
anything is signed, and queues the pages and figures for the CEC, which shows
every machine-vs-protocol discrepancy per station.

Figures are plain JSON here (``voters_on_list``, ``ballots_received``,
``ballots_cast``, ``ballots_spoiled``, ``votes``: contest -> option -> votes),
so firmware needs nothing from ``protocol``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from election.errors import PcosError
from firmware import audit
from firmware.device import Device
from firmware.hal.clock import iso
from firmware.hal.paper import MotionResult
from firmware.states import PollsState

MAX_PAGES = 16


class DecScanError(PcosError):
    """A DEC protocol page could not be scanned, or the device is not ready for it."""


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG of a sensor image (grey or colour, uint8)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise DecScanError("the page image could not be encoded as PNG")
    return bytes(buf.tobytes())


def scan_dec_page(device: Device) -> bytes:
    """Feed the page at the entry, capture it, hand it back; its front side as PNG."""
    if device.polls not in (PollsState.POLLS_CLOSED, PollsState.RESULTS_REPORTED):
        raise DecScanError(f"the DEC protocol is scanned after polls close, not in "
                           f"{device.polls.value}")
    hw = device.hw
    moved = hw.paper.feed()
    if moved is not MotionResult.DONE:
        raise DecScanError(f"protocol page not fed ({moved.value}): clear the path and retry")
    try:
        images = hw.images.capture()
    finally:
        back = hw.paper.return_to_voter()
    if back is not MotionResult.DONE:
        raise DecScanError(f"protocol page not handed back ({back.value}): open the cover")
    return png_bytes(images.front)


def hand_dec_protocol(device: Device, pages_png: Sequence[bytes], first: dict[str, Any],
                      second: dict[str, Any]) -> None:
    """Queue the protocol (pages and the two typed entries) on the device's uplink.
    The uplink refuses (``dec-figures-mismatch``) when the two entries differ."""
    if device.hw.results is None:
        raise DecScanError("this device has no uplink to the CEC configured")
    if not 1 <= len(pages_png) <= MAX_PAGES:
        raise DecScanError(f"1..{MAX_PAGES} protocol pages expected, not {len(pages_png)}")
    head = device.store.view.audit_head
    device.hw.results.dec_protocol(list(pages_png), first, second,
                                   iso(device.hw.clock.now()),
                                   head["hash"] if head else audit.GENESIS)
