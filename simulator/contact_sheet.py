"""One image to judge the simulator's realism at a glance.

Sections, top to bottom:

1. **Marks**: every mark shape (rows) with every instrument (columns), each a
   crop around a real ballot box;
2. **Marginal variants**: faint, tiny and mostly-outside marks in several styles;
3. **Traces that are not votes**: hesitation dot, stray mark, writing, erased
   pencil, smudge (and an unmarked box for reference);
4. **Whole sheets** from the ``clean``, ``realistic`` and ``harsh`` presets
   (the printed side, downscaled);
5. **Fakes**: one of each kind of sheet that is not a good ballot.

Crops show what the scanner sees: the blank ballot rendered at 200 DPI, the
mark drawn by the same code the sheets use (``simulator.marks``) and measured
by the same rule (``election.marking``: its ground-truth class and interior
and ring ink coverage are in its label), optics
blur, paper tint and sensor noise; then enlarged 2x by pixel replication, so
each scanner pixel is visible. Everything is drawn from ``seed``: the same seed
gives the same image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from calibration.fonts import pil_font
from calibration.render_raster import render_layout
from election.default import default_election
from election.geometry import Rect, px_per_mm
from election.layout import BallotLayout, Target, ballot_layout
from election.marking import TruthClass, ZoneCoverage, coverage, truth_class, zone_window
from election.model import BallotKind, Election, Language, Station
from simulator.fakes import EXPECTED_REASON, Fake
from simulator.ink import INSTRUMENTS, InkPatch, composite
from simulator.marks import Shape, Trace, Variant, VoterStyle, draw_trace, draw_vote_mark
from simulator.scanner import PRESETS, Orientation, Side, preset
from simulator.sheets import SheetFactory, SimSheet, default_station

DPI = 200.0
ENLARGE = 2
CROP_W_MM, CROP_H_MM = 24.0, 13.0
CROP_CENTRE_DX_MM = -5.0  # crops sit a little left of the box, to show the label's end
OPTICS_BLUR_PX = 0.75
PAPER_RGB = (244, 242, 236)
NOISE_SIGMA = 2.5
SHEET_BOX_PX = (420, 580)  # (w, h) a whole sheet is fitted into
MAX_COLUMNS = 6
MARK_ATTEMPTS = 40
FAKE_SEARCH_LIMIT = 400

BG = (255, 255, 255)
INK = (20, 20, 20)
GREY = (110, 110, 110)
RULE = (200, 200, 200)
PAD = 14
LABEL_PX = 15
TITLE_PX = 24

VARIANT_STYLES: tuple[tuple[Shape, str], ...] = (
    (Shape.TICK, "ballpoint-blue"),
    (Shape.CROSS, "ballpoint-black"),
    (Shape.FILL, "felt-tip"),
    (Shape.TICK, "pencil"),
    (Shape.CROSS, "gel-blue"),
    (Shape.CIRCLE_IN, "gel-black"),
)
TRACE_INSTRUMENTS = ("ballpoint-blue", "pencil")


@dataclass(frozen=True)
class Tile:
    image: np.ndarray  # RGB uint8
    label: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    title: str
    note: str
    rows: tuple[tuple[Tile, ...], ...]


# --------------------------------------------------------------------------- crops


@dataclass
class _CropMaker:
    """Crops around one target of one blank ballot, with scanner optics."""

    layout: BallotLayout
    target: Target
    ppm: float
    blank: np.ndarray

    @classmethod
    def build(cls, election: Election, station: Station) -> _CropMaker:
        if station.district is not None:
            layout = ballot_layout(election, BallotKind.DISTRICT, station.district, Language.KY)
        else:
            layout = ballot_layout(election, BallotKind.PARTY_LIST, None, Language.KY)
        target = layout.targets[min(1, len(layout.targets) - 1)]
        return cls(layout, target, px_per_mm(DPI), render_layout(layout, DPI))

    def window(self) -> tuple[int, int, int, int]:
        box = self.target.box
        w, h = round(CROP_W_MM * self.ppm), round(CROP_H_MM * self.ppm)
        x0 = round((box.cx_mm + CROP_CENTRE_DX_MM) * self.ppm - w / 2)
        y0 = round(box.cy_mm * self.ppm - h / 2)
        return y0, x0, h, w

    def crop(self, rng: np.random.Generator, patches: Sequence[InkPatch]) -> np.ndarray:
        y0, x0, h, w = self.window()
        img = cv2.GaussianBlur(self.blank[y0 : y0 + h, x0 : x0 + w], (0, 0), OPTICS_BLUR_PX)
        img = cv2.multiply(img, np.full_like(img, PAPER_RGB), scale=1 / 255)
        for p in patches:
            composite(img, InkPatch(p.y0 - y0, p.x0 - x0, p.alpha, p.rgb), OPTICS_BLUR_PX)
        noisy = img.astype(np.float32) + rng.normal(0.0, NOISE_SIGMA, img.shape)
        img = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return cv2.resize(img, (w * ENLARGE, h * ENLARGE), interpolation=cv2.INTER_NEAREST)


def _style(rng: np.random.Generator, shape: Shape, instrument: str) -> VoterStyle:
    inst = INSTRUMENTS[instrument]
    return dataclasses.replace(VoterStyle.random(rng), instrument=inst, shape=shape,
                               width_mm=float(rng.uniform(*inst.width_mm)),
                               opacity=float(rng.uniform(*inst.opacity)))


def _measure(patch: InkPatch, box: Rect, ppm: float) -> ZoneCoverage:
    """Zone coverage of one mark alone, by the rule of ``election.marking``."""
    win = zone_window(box, ppm)
    h, w = win.shape
    dark = np.zeros((h, w), np.float32)
    ya, yb = max(win.y0, patch.y0), min(win.y0 + h, patch.y1)
    xa, xb = max(win.x0, patch.x0), min(win.x0 + w, patch.x1)
    if ya < yb and xa < xb:
        dark[ya - win.y0 : yb - win.y0, xa - win.x0 : xb - win.x0] = patch.darkness()[
            ya - patch.y0 : yb - patch.y0, xa - patch.x0 : xb - patch.x0]
    return coverage(dark, win)


def _mark_tile(maker: _CropMaker, rng: np.random.Generator, shape: Shape, instrument: str,
               variant: Variant) -> Tile:
    """A mark of exactly this shape, instrument and variant, in its ground-truth band.

    Drawn like ``simulator.compose`` does (redrawn until it lands in the band it
    is meant for), but without the composer's fall-back to a plain cross, so
    the tile shows the shape asked for, or says that it could not be placed.
    """
    style = _style(rng, shape, instrument)
    want = (TruthClass.DEFINITE if variant is Variant.NORMAL and shape is not Shape.CIRCLE_AROUND
            else TruthClass.MARGINAL)
    head = (f"{shape.value} · {instrument}" if variant is Variant.NORMAL
            else f"{variant.value} {shape.value} · {instrument}")
    box = maker.target.box
    for _ in range(MARK_ATTEMPTS):
        patch = draw_vote_mark(rng, style, box, variant, maker.ppm)
        cov = _measure(patch, box, maker.ppm)
        if truth_class(True, cov) is want:
            return Tile(maker.crop(rng, [patch]),
                        (head, f"{want.value} · ink {cov.ink:.0%} · ring {cov.ring:.0%}"))
    return Tile(maker.crop(rng, [patch]),
                (head, f"not {want.value} in {MARK_ATTEMPTS} tries; sheets draw a cross"))


def _trace_spot(box: Rect, trace: Trace) -> tuple[float, float]:
    """Where each trace goes in its crop (near the box, never a vote)."""
    if trace is Trace.HESITATION_DOT:
        return box.x_mm + 0.35 * box.w_mm, box.y_mm + 0.15
    if trace is Trace.STRAY_MARK:
        return box.x_mm - 9.0, box.cy_mm + 0.5
    if trace is Trace.WRITING:
        return box.x_mm - 14.0, box.bottom_mm + 3.6
    if trace is Trace.ERASED:
        return box.cx_mm, box.cy_mm
    return box.x_mm - 7.0, box.cy_mm  # smudge


def _trace_tile(maker: _CropMaker, rng: np.random.Generator, trace: Trace,
                instrument: str) -> Tile:
    style = _style(rng, Shape.TICK, instrument)
    patch = draw_trace(rng, trace, style, _trace_spot(maker.target.box, trace), maker.ppm)
    who = "pencil" if trace is Trace.ERASED else "grease" if trace is Trace.SMUDGE else instrument
    return Tile(maker.crop(rng, [patch]), (trace.value, f"{who} · truth: none"))


# --------------------------------------------------------------------------- whole sheets


def _printed_side(sheet: SimSheet) -> tuple[np.ndarray, str]:
    label = sheet.truth.get("orientation")
    if not label:  # double feed: the front camera sees both sheets
        return sheet.front, "front"
    side = Orientation.parse(label).side
    return (sheet.front if side is Side.FRONT else sheet.back), str(label)


def _thumb(img: np.ndarray) -> np.ndarray:
    bw, bh = SHEET_BOX_PX
    h, w = img.shape[:2]
    f = min(bw / w, bh / h)
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA)


def _sheet_tiles(election: Election, station: Station, seed: int) -> list[Tile]:
    """A party-list and a candidate ballot (district, else local) from each preset."""
    kinds = ["party-list"]
    if station.district is not None:
        kinds.append("district")
    elif station.council is not None:
        kinds.append("local")
    tiles = []
    for name in PRESETS:
        for kind in kinds:
            s = SheetFactory(election, station, preset(name), seed=seed, kind=kind).sheet(0)
            img, where = _printed_side(s)
            tiles.append(Tile(_thumb(img), (f"{name} · {kind}", where)))
    return tiles


def _likely_fake(seed: int, index: int) -> Fake:
    """The fake ``SheetFactory(seed, fake_rate=1).sheet(index)`` is expected to be.

    Mirrors the factory's first two draws, only to avoid rendering ~20 sheets to
    find one of each; the rendered truth is always checked, so a change in the
    factory costs time here, never a wrong label.
    """
    rng = np.random.default_rng([seed, index])
    rng.random()
    return list(Fake)[int(rng.integers(len(Fake)))]


def _fake_tiles(election: Election, station: Station, seed: int) -> list[Tile]:
    factory = SheetFactory(election, station, preset("realistic"), seed=seed, kind="mixed",
                           fake_rate=1.0)
    found: dict[Fake, SimSheet] = {}
    for i in range(FAKE_SEARCH_LIMIT):
        if len(found) == len(Fake):
            break
        if _likely_fake(seed, i) in found and i < FAKE_SEARCH_LIMIT // 2:
            continue
        s = factory.sheet(i)
        found.setdefault(Fake(s.truth["fake"]), s)
    tiles = []
    for fake in Fake:
        if fake in found:
            img, where = _printed_side(found[fake])
            tiles.append(Tile(_thumb(img), (fake.value, f"expect: {EXPECTED_REASON[fake].value}",
                                            where)))
    return tiles


# --------------------------------------------------------------------------- sections


def _rows(tiles: Sequence[Tile], columns: int = MAX_COLUMNS) -> tuple[tuple[Tile, ...], ...]:
    return tuple(tuple(tiles[i : i + columns]) for i in range(0, len(tiles), columns))


def sections(seed: int = 0, election: Election | None = None, station: Station | None = None,
             whole_sheets: bool = True) -> list[Section]:
    """The contact sheet's content, before layout (each cell has its own random stream).

    ``whole_sheets=False`` leaves out the scanned sheets and fakes (the slow part).
    """
    e = election or default_election()
    st = station or default_station(e)
    maker = _CropMaker.build(e, st)
    instruments = tuple(INSTRUMENTS)

    def rng(*key: int) -> np.random.Generator:
        return np.random.default_rng([seed, *key])

    marks = tuple(
        tuple(_mark_tile(maker, rng(1, si, ii), shape, inst, Variant.NORMAL)
              for ii, inst in enumerate(instruments))
        for si, shape in enumerate(Shape))
    variants = tuple(
        tuple(_mark_tile(maker, rng(2, vi, k), shape, inst, variant)
              for k, (shape, inst) in enumerate(VARIANT_STYLES))
        for vi, variant in enumerate((Variant.FAINT, Variant.TINY, Variant.OUTSIDE)))
    blank = Tile(maker.crop(rng(3, 99), []), ("unmarked box", "truth: none"))
    traces = tuple(
        tuple([blank] if ii == 0 else []) + tuple(
            _trace_tile(maker, rng(3, ii, ti), trace, inst) for ti, trace in enumerate(Trace))
        for ii, inst in enumerate(TRACE_INSTRUMENTS))
    crop_note = (f"{CROP_W_MM:g} x {CROP_H_MM:g} mm crops at {DPI:g} DPI, enlarged {ENLARGE}x "
                 "(pixel replication); optics blur, paper tint and sensor noise as scanned")
    secs = [
        Section("Marks: shape x instrument", crop_note + "; circle-around is marginal by design",
                marks),
        Section("Marginal variants (faint / tiny / mostly outside)",
                "deliberately hard marks; ground truth class 'marginal'", variants),
        Section("Traces that are not votes",
                "hesitation dot on the border, stray mark, writing, erased pencil, smudge",
                traces),
    ]
    if whole_sheets:
        secs += [
            Section("Whole sheets by scanner preset",
                    "printed side as the scanner delivers it, downscaled",
                    _rows(_sheet_tiles(e, st, seed))),
            Section("Sheets that are not good ballots", "with the reject reason a correct "
                    "reader gives", _rows(_fake_tiles(e, st, seed))),
        ]
    return secs


# --------------------------------------------------------------------------- layout


def _text_h(px: int) -> int:
    return round(px * 1.35)


def _row_size(row: Sequence[Tile]) -> tuple[int, int, int]:
    """(width, image height, label height) of a row of tiles."""
    cell_w = max(t.image.shape[1] for t in row)
    img_h = max(t.image.shape[0] for t in row)
    label_h = max(len(t.label) for t in row) * _text_h(LABEL_PX)
    return len(row) * (cell_w + PAD) - PAD, img_h, label_h


def _fit(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> str:
    """``text``, shortened with an ellipsis if it is wider than ``width_px``."""
    if font.getlength(text) <= width_px:
        return text
    while text and font.getlength(text + "…") > width_px:
        text = text[:-1]
    return text + "…"


def render_sections(title: str, secs: Sequence[Section]) -> np.ndarray:
    """Lay sections out on one white RGB canvas with labels in the shipped font."""
    width = max(_row_size(r)[0] for s in secs for r in s.rows) + 2 * PAD
    height = PAD + _text_h(TITLE_PX) + PAD
    for s in secs:
        height += _text_h(TITLE_PX) + _text_h(LABEL_PX) + PAD
        height += sum(sum(_row_size(r)[1:]) + PAD for r in s.rows) + PAD
    canvas = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(canvas)
    title_font, label_font = pil_font(True, TITLE_PX), pil_font(False, LABEL_PX)
    y = PAD
    draw.text((PAD, y), title, font=title_font, fill=INK)
    y += _text_h(TITLE_PX) + PAD
    for s in secs:
        draw.line([(PAD, y - PAD // 2), (width - PAD, y - PAD // 2)], fill=RULE, width=2)
        draw.text((PAD, y), s.title, font=title_font, fill=INK)
        y += _text_h(TITLE_PX)
        draw.text((PAD, y), s.note, font=label_font, fill=GREY)
        y += _text_h(LABEL_PX) + PAD
        for row in s.rows:
            _, img_h, label_h = _row_size(row)
            cell_w = max(t.image.shape[1] for t in row)
            x = PAD
            for t in row:
                h, w = t.image.shape[:2]
                canvas.paste(Image.fromarray(t.image), (x, y))
                draw.rectangle([x - 1, y - 1, x + w, y + h], outline=RULE)
                for k, line in enumerate(t.label):
                    draw.text((x, y + img_h + 3 + k * _text_h(LABEL_PX)),
                              _fit(line, label_font, cell_w), font=label_font,
                              fill=INK if k == 0 else GREY)
                x += cell_w + PAD
            y += img_h + label_h + PAD
        y += PAD
    return np.asarray(canvas).copy()


def contact_sheet(seed: int = 0, election: Election | None = None,
                  station: Station | None = None, whole_sheets: bool = True) -> np.ndarray:
    """The whole contact sheet as an RGB uint8 image (deterministic in ``seed``)."""
    e = election or default_election()
    st = station or default_station(e)
    title = (f"PCOS-KG simulator contact sheet · seed {seed} · {e.election_id} · "
             f"station {st.number}")
    return render_sections(title, sections(seed, e, st, whole_sheets))
