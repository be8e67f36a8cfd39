"""A simulated page of a DEC's paper protocol, as the device's image sensor would see it.

The commission writes its key figures on the protocol and signs it; here a grey
page carries those figures as printed text (OpenCV's Hershey font), a signature
scrawl and a stamp, page by page, so that what reaches the CEC website is an
image of *this* protocol's figures. Deterministic: the same figures give the same pixels.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from firmware.hal.imaging import DuplexImages

PAGE_W_PX, PAGE_H_PX = 420, 594  # A4 at about 50 DPI
LINES_PER_PAGE = 22


def protocol_lines(station: str, figures: dict[str, Any]) -> list[str]:
    lines = [f"DEC protocol, station {station}",
             f"voters on list: {figures['voters_on_list']}",
             f"ballots received: {figures['ballots_received']}",
             f"ballots cast: {figures['ballots_cast']}",
             f"ballots spoiled: {figures['ballots_spoiled']}"]
    for contest in sorted(figures["votes"]):
        lines.append(f"[{contest}]")
        lines += [f"  {option}: {n}" for option, n in sorted(figures["votes"][contest].items())]
    return lines


def page_count(station: str, figures: dict[str, Any]) -> int:
    return -(-len(protocol_lines(station, figures)) // LINES_PER_PAGE)


def render_dec_page(station: str, figures: dict[str, Any], page: int) -> DuplexImages:
    """Page ``page`` (1-based) of the protocol: grey front with the figures, blank back."""
    lines = protocol_lines(station, figures)
    chunk = lines[(page - 1) * LINES_PER_PAGE:page * LINES_PER_PAGE]
    front = np.full((PAGE_H_PX, PAGE_W_PX), 235, np.uint8)
    for i, text in enumerate(chunk):
        cv2.putText(front, text, (24, 40 + 23 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 20, 1,
                    cv2.LINE_AA)
    cv2.putText(front, f"page {page}/{page_count(station, figures)}", (24, PAGE_H_PX - 60),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, 40, 1, cv2.LINE_AA)
    cv2.circle(front, (PAGE_W_PX - 80, PAGE_H_PX - 70), 40, 90, 2, cv2.LINE_AA)  # stamp
    pts = np.array([[150 + 12 * k, PAGE_H_PX - 40 + (8 if k % 2 else -8)] for k in range(10)])
    cv2.polylines(front, [pts.astype(np.int32)], False, 30, 2, cv2.LINE_AA)  # signature
    return DuplexImages(front, np.full_like(front, 240))
