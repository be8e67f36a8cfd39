"""Sheets that are not good ballots, and what the scanner should say about each.

Each fake is built on the sheet (before scanning), so the scanner model treats
it like any other paper. ``EXPECTED_REASON`` is the reject reason a correct
reader gives; it is ground truth for grading, never an input to the reader.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import cv2
import numpy as np
from PIL import Image, ImageDraw

from calibration.fonts import pil_font
from election.layout import STRIPE_SRGB, BallotLayout, Stripe
from election.model import BallotKind, Election, Text
from election.reject import RejectReason


class Fake(StrEnum):
    PHOTOCOPY = "photocopy"
    FOREIGN_CONTEST = "foreign-contest"
    OTHER_ELECTION = "other-election"
    BLANK_SHEET = "blank-sheet"
    RANDOM_DOCUMENT = "random-document"
    DOUBLE_FEED = "double-feed"
    FIT_TO_PAGE = "fit-to-page"
    WRONG_STRIPE = "wrong-stripe"


EXPECTED_REASON: dict[Fake, RejectReason] = {
    Fake.PHOTOCOPY: RejectReason.SECURITY_MISSING,
    Fake.FOREIGN_CONTEST: RejectReason.WRONG_CONTEST,
    Fake.OTHER_ELECTION: RejectReason.WRONG_ELECTION,
    Fake.BLANK_SHEET: RejectReason.NOT_A_BALLOT,
    Fake.RANDOM_DOCUMENT: RejectReason.NOT_A_BALLOT,
    Fake.DOUBLE_FEED: RejectReason.DOUBLE_FEED,
    Fake.FIT_TO_PAGE: RejectReason.SCALE,
    Fake.WRONG_STRIPE: RejectReason.STRIPE_MISMATCH,
}


def other_election(election: Election) -> Election:
    """The annulled October 2020 election: same shape, another identity."""
    return dataclasses.replace(
        election,
        election_id=election.election_id.replace("2021", "2020") + "-annulled",
        name=Text(ky=election.name.ky + " (2020)", ru=election.name.ru + " (2020)"),
        _index={},
    )


def wrong_stripe_layout(layout: BallotLayout) -> BallotLayout:
    """A misprint: the stripes of another kind on this ballot."""
    other = BallotKind.LOCAL if layout.kind is not BallotKind.LOCAL else BallotKind.DISTRICT
    colour = STRIPE_SRGB[other]
    assert colour is not None
    if layout.stripes:
        stripes = tuple(Stripe(s.rect, colour) for s in layout.stripes)
    else:  # a party-list ballot printed with stripes
        from election.geometry import Rect
        from election.layout import PAPER_W_MM, STRIPE_MARGIN_Y_MM, STRIPE_W_MM, STRIPE_X_MM

        del PAPER_W_MM
        stripes = tuple(
            Stripe(Rect(x, STRIPE_MARGIN_Y_MM, STRIPE_W_MM,
                        layout.paper_h_mm - 2 * STRIPE_MARGIN_Y_MM), colour)
            for x in STRIPE_X_MM)
    return dataclasses.replace(layout, stripes=stripes)


def photocopy(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grey office copy: tone curve with background suppression, toner noise, slight shift."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    white, black = rng.uniform(205, 222), rng.uniform(25, 45)
    tone = np.clip((grey - black) / (white - black), 0, 1) ** rng.uniform(1.1, 1.5)
    tone = tone * 255 + rng.normal(0, 4, tone.shape).astype(np.float32)
    out = cv2.GaussianBlur(np.clip(tone, 0, 255).astype(np.uint8), (0, 0), 0.8)
    h, w = out.shape
    s = rng.uniform(0.985, 1.0)
    m = np.array([[s, 0, rng.uniform(-15, 15) + (1 - s) * w / 2],
                  [0, s, rng.uniform(-15, 15) + (1 - s) * h / 2]], np.float32)
    out = cv2.warpAffine(out, m, (w, h), borderValue=255)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)


def colour_photocopy(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A good colour copy: a mild background lift (paper pushed towards white), the pale
    tints kept, toner noise, a slight blur and shift. Not in the random fake mix: the
    reader does not reject it (a known limitation, stated in the README and pinned in
    ``tests/test_vision_profiles.py``)."""
    f = rgb.astype(np.float32)
    lift = float(rng.uniform(1.02, 1.06))  # background suppression, gentle
    out = np.clip(f * lift + rng.normal(0, 3, f.shape).astype(np.float32), 0, 255)
    out = cv2.GaussianBlur(out.astype(np.uint8), (0, 0), 0.7)
    h, w = out.shape[:2]
    m = np.array([[1, 0, rng.uniform(-10, 10)], [0, 1, rng.uniform(-10, 10)]], np.float32)
    return cv2.warpAffine(out, m, (w, h), borderValue=(255, 255, 255))


def fit_to_page(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Printed with "fit to page": the whole ballot shrunk 3.5-7 % onto the same paper."""
    s = rng.uniform(0.93, 0.965)
    h, w = rgb.shape[:2]
    m = np.array([[s, 0, (1 - s) * w / 2], [0, s, (1 - s) * h / 2]], np.float32)
    return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_AREA, borderValue=(255, 255, 255))


_SYLLABLES = ("ка", "ра", "ла", "ны", "нын", "бо", "юн", "ча", "ма", "ки", "ти", "ле", "ге",
              "шай", "лоо", "ко", "мис", "си", "я", "бюл", "те", "нь", "ри", "ст", "во")


def random_word(rng: np.random.Generator) -> str:
    """A made-up Cyrillic word (for random documents)."""
    return "".join(rng.choice(_SYLLABLES, size=int(rng.integers(1, 5))))


def random_document(rng: np.random.Generator, hw: tuple[int, int], ppm: float) -> np.ndarray:
    """A letter or form: heading, paragraphs, sometimes a table, in Cyrillic."""
    h, w = hw
    page = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    y = int(rng.uniform(15, 30) * ppm)
    draw.text((int(25 * ppm), y), " ".join(random_word(rng) for _ in range(4)).upper(),
              font=pil_font(True, int(4.5 * ppm)), fill=(0, 0, 0))
    y += int(12 * ppm)
    body = pil_font(False, int(rng.uniform(2.6, 3.4) * ppm))
    while y < h - 30 * ppm:
        if rng.random() < 0.12:  # a table
            rows, cols = int(rng.integers(3, 7)), int(rng.integers(2, 5))
            x0, cw, rh = int(25 * ppm), int(150 / cols * ppm), int(7 * ppm)
            for r in range(rows + 1):
                draw.line([(x0, y + r * rh), (x0 + cols * cw, y + r * rh)], fill=(0, 0, 0), width=2)
            for c in range(cols + 1):
                draw.line([(x0 + c * cw, y), (x0 + c * cw, y + rows * rh)], fill=(0, 0, 0), width=2)
            y += rows * rh + int(8 * ppm)
            continue
        line, x = [], 0.0
        while x < 150:
            word = random_word(rng)
            line.append(word)
            x += len(word) * 1.9 + 2
        draw.text((int(25 * ppm), y), " ".join(line), font=body, fill=(0, 0, 0))
        y += int(5.5 * ppm) if rng.random() > 0.15 else int(10 * ppm)
    return np.asarray(page).copy()
