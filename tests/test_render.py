"""Raster rendering at the scanner's 200 DPI: stripe colours, determinism, Cyrillic, text fit.

Stripe pixels are classified by their colour alone (hue and saturation), never
by reading the layout, the way the scanner tells the ballot kinds apart.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import ImageFont

from calibration.fonts import BOLD, REGULAR, font_path, pil_font
from calibration.render_raster import image_size, render_layout
from election.default import default_election
from election.geometry import Rect, px_per_mm
from election.layout import BallotLayout, TextBox, ballot_layout
from election.model import BallotKind, Language

DPI = 200.0
KYRGYZ_LETTERS = "өүңӨҮҢ"
SCORE_RING_MM = 1.5


def _samples() -> list[tuple[BallotKind, int | str | None]]:
    e = default_election()
    return [(BallotKind.PARTY_LIST, None), (BallotKind.DISTRICT, e.districts[0].number),
            (BallotKind.LOCAL, e.councils[0].id)]


SAMPLES = _samples()
SAMPLE_IDS = [k.value for k, _ in SAMPLES]


def _layout(kind: BallotKind, contest: int | str | None,
            lang: Language = Language.KY) -> BallotLayout:
    return ballot_layout(default_election(), kind, contest, lang)


def _hue_sat(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360) and HSV saturation in [0, 1] per pixel (grey pixels: hue -1).

    Only chromatic pixels get a hue, which keeps a full A4 page fast to classify.
    """
    flat = img.reshape(-1, 3).astype(np.int16)
    mx, mn = flat.max(axis=1), flat.min(axis=1)
    hue = np.full(flat.shape[0], -1.0, np.float32)
    sat = np.zeros(flat.shape[0], np.float32)
    idx = np.nonzero(mx - mn > 8)[0]
    if idx.size:
        r, g, b = (flat[idx, i].astype(np.float32) for i in range(3))
        hi, delta = mx[idx].astype(np.float32), (mx[idx] - mn[idx]).astype(np.float32)
        h = np.where(hi == r, ((g - b) / delta) % 6.0,
                     np.where(hi == g, (b - r) / delta + 2.0, (r - g) / delta + 4.0))
        hue[idx] = h * 60.0
        sat[idx] = delta / hi
    return hue.reshape(img.shape[:2]), sat.reshape(img.shape[:2])


def stripe_masks(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(blue, pink) pixel masks, by hue band and a minimum saturation."""
    hue, sat = _hue_sat(img)
    chromatic = sat > 0.2
    return (chromatic & (hue >= 190.0) & (hue <= 250.0),
            chromatic & (hue >= 300.0) & (hue <= 350.0))


def test_colour_classifier_on_known_colours() -> None:
    """The classifier itself: stripe blue and pink, and what must not count as either."""
    swatches = np.array([[[110, 160, 225], [240, 160, 200], [245, 200, 130], [0, 0, 0],
                          [255, 255, 255], [150, 150, 150], [182, 207, 240]]], np.uint8)
    blue, pink = stripe_masks(swatches)
    assert blue[0].tolist() == [True, False, False, False, False, False, True]
    assert pink[0].tolist() == [False, True, False, False, False, False, False]


# --------------------------------------------------------------------------- stripes


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_stripe_pixels_tell_the_kind(kind: BallotKind, contest: int | str | None) -> None:
    img = render_layout(_layout(kind, contest), DPI)
    blue, pink = stripe_masks(img)
    ppm = px_per_mm(DPI)
    h, w = img.shape[:2]
    if kind is BallotKind.PARTY_LIST:
        assert blue.sum() == 0 and pink.sum() == 0
        return
    found, other = (blue, pink) if kind is BallotKind.DISTRICT else (pink, blue)
    assert other.sum() == 0
    # A full-height band on each side: at least 4 mm wide and 100 mm tall per side.
    edge = int(12 * ppm)
    for side in (found[:, :edge], found[:, w - edge:]):
        assert side.sum() > 4 * ppm * 100 * ppm
        assert side.any(axis=1).sum() > 0.9 * (h - 6 * ppm)
    assert found[:, edge: w - edge].sum() == 0  # nowhere else on the sheet


def test_image_size_matches_paper_at_dpi() -> None:
    layout = _layout(*SAMPLES[0])
    img = render_layout(layout, DPI)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[:2] == image_size(layout, DPI)
    ppm = px_per_mm(DPI)
    assert img.shape[:2] == (round(layout.paper_h_mm * ppm), round(layout.paper_w_mm * ppm))


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
def test_same_render_twice_is_byte_identical(kind: BallotKind, contest: int | str | None) -> None:
    a = render_layout(_layout(kind, contest, Language.RU), DPI)
    b = render_layout(_layout(kind, contest, Language.RU), DPI)
    assert a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- Cyrillic


def _font_has_glyphs(path: str, chars: str) -> bool:
    """True if the font's cmap maps every char (fontTools if installed, else reportlab)."""
    try:
        from fontTools.ttLib import TTFont as FtFont

        cmap = FtFont(path).getBestCmap()
        return all(ord(ch) in cmap for ch in chars)
    except ImportError:
        from reportlab.pdfbase.ttfonts import TTFontFile

        mapping = TTFontFile(path).charToGlyph
        return all(mapping.get(ord(ch), 0) != 0 for ch in chars)


@pytest.mark.parametrize("bold", [False, True])
def test_shipped_fonts_have_the_kyrgyz_letters(bold: bool) -> None:
    path = str(font_path(bold))
    assert _font_has_glyphs(path, KYRGYZ_LETTERS + "абвгдеёжзийклмнопрстуфхцчшщъыьэюя№«»…")
    font = pil_font(bold, 40)
    notdef = font.getmask("\ue000")  # a private-use code point: drawn as .notdef
    for ch in KYRGYZ_LETTERS:
        mask = font.getmask(ch)
        assert mask.getbbox() is not None, ch
        assert bytes(mask) != bytes(notdef), ch  # a real glyph, not the missing-glyph box
    assert {REGULAR, BOLD} == {font_path(False), font_path(True)}


@pytest.mark.parametrize("bold", [False, True])
def test_kyrgyz_letters_render_inside_their_text_box(bold: bool) -> None:
    base = _layout(*SAMPLES[0])
    rect = Rect(40.0, 120.0, 40.0, 8.0)  # an empty area of the party-list body
    bare = replace(base, texts=(), targets=(), rules=())
    with_text = replace(bare, texts=(TextBox(rect, "өүң", 5.0, bold=bold),))
    diff = np.any(render_layout(with_text, DPI) != render_layout(bare, DPI), axis=2)
    ppm = px_per_mm(DPI)
    ys, xs = np.nonzero(diff)
    assert ys.size > 200  # real ink, not a stray pixel
    assert xs.min() >= rect.x_mm * ppm - 1 and xs.max() <= rect.right_mm * ppm + 1
    assert ys.min() >= rect.y_mm * ppm - 1 and ys.max() <= rect.bottom_mm * ppm + 1
    # Three separate glyphs: ink in each third of the text's width.
    span = xs.max() - xs.min()
    thirds = np.floor((xs - xs.min()) / (span / 3 + 1e-9)).clip(0, 2)
    assert set(thirds.astype(int).tolist()) == {0, 1, 2}
    assert isinstance(pil_font(bold, 20), ImageFont.FreeTypeFont)


# --------------------------------------------------------------------------- text fit


@pytest.mark.parametrize(("kind", "contest"), SAMPLES, ids=SAMPLE_IDS)
@pytest.mark.parametrize("lang", list(Language), ids=[x.value for x in Language])
def test_rendered_text_stays_out_of_the_box_rings(kind: BallotKind, contest: int | str | None,
                                                  lang: Language) -> None:
    """Text ink (render minus render without texts) never reaches a box or its scored ring."""
    layout = _layout(kind, contest, lang)
    text_ink = np.any(render_layout(layout, DPI)
                      != render_layout(replace(layout, texts=()), DPI), axis=2)
    assert text_ink.sum() > 1000
    ppm = px_per_mm(DPI)
    for t in layout.targets:
        ring = t.box.inset(-SCORE_RING_MM)
        y0, y1 = int(ring.y_mm * ppm), int(np.ceil(ring.bottom_mm * ppm))
        x0, x1 = int(ring.x_mm * ppm), int(np.ceil(ring.right_mm * ppm))
        assert not text_ink[y0:y1, x0:x1].any(), t.id


def test_overlong_text_is_shrunk_and_cut_inside_its_box() -> None:
    base = replace(_layout(*SAMPLES[0]), texts=(), targets=(), rules=())
    rect = Rect(30.0, 120.0, 30.0, 6.0)
    long = TextBox(rect, "Өңүгүү " * 30, 3.6, bold=True)
    diff = np.any(render_layout(replace(base, texts=(long,)), DPI)
                  != render_layout(base, DPI), axis=2)
    ppm = px_per_mm(DPI)
    xs = np.nonzero(diff)[1]
    assert xs.size > 0
    assert xs.min() >= rect.x_mm * ppm - 1 and xs.max() <= rect.right_mm * ppm + 1
