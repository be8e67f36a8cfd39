"""Debug overlays: what the reader saw at each stage, drawn on the ballot-side image.

``Reader.interpret(front, back, debug={})`` fills a dict with each stage's
intermediate data; :func:`write_debug` turns it into one PNG per stage the
sheet reached, so an operator or engineer can see *why* a sheet was read or
returned without a debugger:

``{name}-1-registration.png``
    the ladder marks found (start marks highlighted), the mesh drawn as a
    10 mm grid through it, the ballot-code cells as sampled (dark / light) with
    each copy's decoding, the security band and any streak columns.
``{name}-2-stripe.png``
    every stripe sample patch and its paper reference point, labelled with the
    class and the stripe/paper ratios (R/G/B).
``{name}-3-targets.png``
    every target's box mapped through the mesh (and the local search shift),
    coloured by class (marked red, marginal orange, unmarked green, not scored
    violet) with its fill score beside it; streak columns in red.
``{name}-4-patches.png``
    a mosaic of the aligned patch darkness and the new-ink map of every marked
    or marginal target (every target, when none is), zones outlined.
``{name}-reject.txt``
    for a rejected sheet: the reason, the detail and the messages shown.

A stage is *reached* when its data is in the dict (:func:`stages_reached`):
registration needs ``image`` (the ballot side; the mesh and code are drawn
when present), the stripe stage also ``mesh`` and ``stripe``, the target stage
``mesh``, ``layout`` and ``streaks`` or ``readings`` (the streak check is the
first step of reading targets; unscored boxes are drawn violet) and the
mosaic ``patches``. A sheet returned before the reader found the ballot side
(image invalid, not a ballot, ballot marks on both sides) has no image in the
dict and gets only its reject text.
Overlays are drawn on a downscaled copy (``scale``, 50 % by default) so that
lines and labels stay crisp and files small. Labels are ASCII, drawn with
OpenCV's Hershey font, so that ``vision`` depends on no font file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from election import ballot_code
from election.ballot_code import BallotCodeError
from election.geometry import Rect, px_per_mm
from election.layout import (
    CODE_CELL_W_MM,
    CODE_X_MM,
    LADDER_BOTTOM_MARGIN_MM,
    LADDER_PITCH_MM,
    LADDER_Y0_MM,
    MARK_H_MM,
    MARK_W_MM,
    PAPER_REFERENCE_X_MM,
    PAPER_W_MM,
    SECURITY_RECT,
    START_MARK_H_MM,
    STRIPE_W_MM,
    STRIPE_X_MM,
    BallotLayout,
)
from election.marking import zone_window
from election.reject import message
from vision import stripe as stripe_stage
from vision.code_reader import read_cells
from vision.imageio import ImageFileError, save_image
from vision.ladder import Run, SideLadders
from vision.mesh import Mesh
from vision.result import Mark, SheetInterpretation, TargetReading
from vision.sampling import sample_points

Colour = tuple[int, int, int]  # RGB

GRID_MM = 10.0
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SIZE = 0.4
PATCH_ZOOM = 3
QUANT = 8  # overlay base image grey levels are multiples of this
MOSAIC_COLUMNS = 4

MARK_COLOURS: dict[Mark | None, Colour] = {
    Mark.MARKED: (230, 0, 0),
    Mark.MARGINAL: (255, 140, 0),
    Mark.UNMARKED: (0, 170, 0),
    None: (150, 0, 255),  # not scored (the sheet was rejected first)
}
STRIPE_COLOURS: dict[str, Colour] = {"none": (0, 170, 0), "blue": (0, 80, 255),
                                     "pink": (230, 0, 170)}
BAD: Colour = (230, 0, 0)
LADDER: Colour = (0, 200, 255)
START: Colour = (255, 0, 255)
GRID: Colour = (255, 200, 0)
CELL_DARK: Colour = (230, 0, 0)
CELL_LIGHT: Colour = (0, 120, 255)
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)


def ascii_text(s: str) -> str:
    """OpenCV's Hershey font has ASCII only: anything else becomes ``?``."""
    return s.encode("ascii", "replace").decode("ascii")


@dataclass
class Canvas:
    """A downscaled RGB copy of the ballot image to draw on, in full-image coordinates."""

    img: np.ndarray
    scale: float

    @classmethod
    def of(cls, image: np.ndarray, scale: float) -> Canvas:
        """Downscale (area average), then denoise and quantise lightly: scanner noise is
        what makes overlay PNGs big, and it carries nothing the labels do not say."""
        img: np.ndarray = np.ascontiguousarray(image, np.uint8)
        if scale != 1.0:
            h, w = img.shape[:2]
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        img = cv2.medianBlur(img, 3) if min(img.shape[:2]) >= 3 else img.copy()
        img = np.asarray(img // QUANT * QUANT + QUANT // 2, np.uint8)
        return cls(np.ascontiguousarray(img), scale)

    def pt(self, xy: Sequence[float] | np.ndarray) -> tuple[int, int]:
        return (round(float(xy[0]) * self.scale), round(float(xy[1]) * self.scale))

    def poly(self, pts: np.ndarray, colour: Colour, closed: bool = False,
             thickness: int = 1) -> None:
        p = np.rint(np.asarray(pts, np.float64).reshape(-1, 2) * self.scale).astype(np.int32)
        if len(p) >= 2:
            cv2.polylines(self.img, [p], closed, colour, thickness, cv2.LINE_AA)

    def rect(self, centre: Sequence[float] | np.ndarray, half_w: float, half_h: float,
             colour: Colour, thickness: int = 1) -> None:
        cx, cy = float(centre[0]), float(centre[1])
        cv2.rectangle(self.img, self.pt((cx - half_w, cy - half_h)),
                      self.pt((cx + half_w, cy + half_h)), colour, thickness, cv2.LINE_AA)

    def dot(self, xy: Sequence[float] | np.ndarray, colour: Colour, radius: int = 2) -> None:
        cv2.circle(self.img, self.pt(xy), radius, colour, -1, cv2.LINE_AA)

    def vline(self, x: float, colour: Colour) -> None:
        h = self.img.shape[0]
        xs = round(x * self.scale)
        cv2.line(self.img, (xs, 0), (xs, h - 1), colour, 1, cv2.LINE_AA)

    def text(self, xy: Sequence[float] | np.ndarray, s: str, colour: Colour,
             size: float = TEXT_SIZE, align: str = "left") -> None:
        """Label at a full-image point (see :func:`draw_text`)."""
        draw_text(self.img, self.pt(xy), s, colour, size, align)

    def finish(self, lines: Iterable[str]) -> np.ndarray:
        """The drawing, under a white header band holding ``lines``."""
        texts = [ascii_text(line) for line in lines]
        step = 17
        head = np.full((8 + step * len(texts), self.img.shape[1], 3), 255, np.uint8)
        for k, line in enumerate(texts):
            cv2.putText(head, line, (6, 16 + step * k), FONT, 0.45, BLACK, 1, cv2.LINE_AA)
        return np.concatenate([head, self.img], axis=0)


def draw_text(img: np.ndarray, org: tuple[int, int], s: str, colour: Colour,
              size: float = TEXT_SIZE, align: str = "left") -> None:
    """A label on a white tag, so it reads on any background; ``org`` is its baseline start
    (its baseline end when ``align="right"``)."""
    s = ascii_text(s)
    (tw, th), base = cv2.getTextSize(s, FONT, size, 1)
    x, y = org
    if align == "right":
        x -= tw
    cv2.rectangle(img, (x - 1, y - th - 1), (x + tw + 1, y + base - 1), WHITE, -1)
    cv2.putText(img, s, (x, y), FONT, size, colour, 1, cv2.LINE_AA)


# ---------------------------------------------------------------------- helpers
def _box_corners(mesh: Mesh, r: Rect) -> np.ndarray:
    """Image px of a sheet rectangle's corners, clockwise from the top left."""
    return mesh.to_image(np.array([r.x_mm, r.right_mm, r.right_mm, r.x_mm]),
                         np.array([r.y_mm, r.y_mm, r.bottom_mm, r.bottom_mm]))


def _local_ppm(mesh: Mesh) -> float:
    """Image px per sheet mm along the ladders (the mesh's own scale)."""
    d = np.linalg.norm(np.diff(mesh.left, axis=0), axis=1)
    return float(np.median(d)) / LADDER_PITCH_MM if d.size else px_per_mm(200.0)


def _paper_h_mm(mesh: Mesh, layout: BallotLayout | None) -> float:
    if layout is not None:
        return float(layout.paper_h_mm)
    return LADDER_Y0_MM + (mesh.rows - 1) * LADDER_PITCH_MM + LADDER_BOTTOM_MARGIN_MM


def _header(name: str, stage: str, interp: SheetInterpretation) -> list[str]:
    lines = [f"{name}  {stage}"]
    outcome = interp.outcome.value
    if interp.reason is not None:
        outcome += f": {interp.reason.value}"
    lines.append(outcome)
    if interp.detail:
        lines.append(interp.detail[:110])
    where = [f"{k}={v}" for k, v in (("side", interp.side), ("orientation", interp.orientation),
                                       ("kind", interp.kind), ("contest", interp.contest))
             if v is not None]
    if where:
        lines.append("  ".join(where))
    return lines


# ------------------------------------------------------------------- overlays
def _draw_run(cv: Canvas, run: Run, label: str, ppm: float) -> None:
    for (x, y), start in zip(run.points, run.start, strict=True):
        hh = (START_MARK_H_MM if start else MARK_H_MM) * ppm / 2 + 2
        cv.rect((x, y), MARK_W_MM * ppm / 2 + 2, hh, START if start else LADDER,
                2 if start else 1)
    top = run.points[0]
    cv.text((top[0], top[1] - 3 * ppm), f"{label}: {run.n} marks", LADDER,
            align="left" if label == "L" else "right")


def _draw_grid(cv: Canvas, mesh: Mesh, paper_h_mm: float) -> None:
    layer = cv.img.copy()
    grid = Canvas(layer, cv.scale)
    ys = np.arange(0.0, paper_h_mm + 1e-6, 2.0)
    for x in np.arange(0.0, PAPER_W_MM + 1e-6, GRID_MM):
        grid.poly(mesh.to_image(np.full_like(ys, x), ys), GRID)
    xs = np.arange(0.0, PAPER_W_MM + 1e-6, 2.0)
    for y in np.arange(0.0, paper_h_mm + 1e-6, GRID_MM):
        grid.poly(mesh.to_image(xs, np.full_like(xs, y)), GRID)
    cv2.addWeighted(layer, 0.6, cv.img, 0.4, 0.0, dst=cv.img)


def _draw_code(cv: Canvas, image: np.ndarray, mesh: Mesh) -> list[str]:
    """Each code copy's cells as sampled (dark red, light blue) and what they decode to."""
    green = np.ascontiguousarray(image[:, :, 1])
    black = float(np.nanmean(sample_points(green, np.concatenate([mesh.left, mesh.right]))))
    xs = CODE_X_MM + (np.arange(ballot_code.CELLS) + 0.5) * CODE_CELL_W_MM
    notes = []
    for copy, row in (("top", 0), ("bottom", mesh.rows - 1)):
        y = LADDER_Y0_MM + row * LADDER_PITCH_MM
        pts = mesh.to_image(xs, np.full_like(xs, y))
        cells = read_cells(green, mesh, row, black)
        for i, p in enumerate(pts):
            colour = GRID if cells is None else (CELL_DARK if cells[i] else CELL_LIGHT)
            cv.dot(p, colour, radius=1)
        if cells is None:
            verdict = "no contrast"
        else:
            try:
                c = ballot_code.decode(cells)
                verdict = (f"{c.kind.value} #{c.contest_number} {c.language.value} "
                           f"v{c.layout_version} {c.hash_hex()}")
            except BallotCodeError as exc:
                verdict = f"invalid ({exc})"
        notes.append(f"code {copy} (row {row}): {verdict}")
    return notes


def registration_overlay(name: str, interp: SheetInterpretation, debug: dict[str, Any],
                         scale: float = 0.5) -> np.ndarray | None:
    """Ladders, mesh grid, code cells, security band and streaks; None before the image."""
    image = debug.get("image")
    if not isinstance(image, np.ndarray):
        return None
    cv = Canvas.of(image, scale)
    mesh: Mesh | None = debug.get("mesh")
    layout: BallotLayout | None = debug.get("layout")
    notes: list[str] = []
    if mesh is not None:
        _draw_grid(cv, mesh, _paper_h_mm(mesh, layout))
        notes += _draw_code(cv, image, mesh)
    lad: SideLadders | None = debug.get("ladders")
    if lad is not None:
        ppm = px_per_mm(200.0)
        for run in (lad.left, lad.right):
            if run is not None and run.n >= 2:
                ppm = run.pitch_px() / LADDER_PITCH_MM
                break
        for run, label in ((lad.left, "L"), (lad.right, "R")):
            if run is not None:
                _draw_run(cv, run, label, ppm)
        notes.append(f"ladders: left {lad.left.n if lad.left else 0}, "
                     f"right {lad.right.n if lad.right else 0} marks; paper {lad.paper:.0f}")
    sec = debug.get("security")
    if mesh is not None:
        ok = sec is not None and sec.genuine
        colour = MARK_COLOURS[Mark.UNMARKED] if ok else (BAD if sec is not None else GRID)
        cv.poly(_box_corners(mesh, SECURITY_RECT), colour, closed=True, thickness=2)
        if sec is not None:
            label = f"security chroma {sec.chroma:.3f} pattern {sec.pattern:.3f}"
            notes.append(label + (" ok" if ok else " FAIL"))
    for col in debug.get("streaks") or ():
        cv.vline(float(col), BAD)
        notes.append(f"streak at column {col}")
    return cv.finish(_header(name, "registration", interp) + notes)


def stripe_overlay(name: str, interp: SheetInterpretation, debug: dict[str, Any],
                   scale: float = 0.5, dpi: float = 200.0) -> np.ndarray | None:
    """Stripe sample patches and paper reference points, with class and R/G/B ratios."""
    reading = debug.get("stripe")
    image, mesh = debug.get("image"), debug.get("mesh")
    if reading is None or not isinstance(image, np.ndarray) or mesh is None:
        return None
    layout: BallotLayout | None = debug.get("layout")
    paper_h = _paper_h_mm(mesh, layout)
    cv = Canvas.of(image, scale)
    radius = max(2, int(1.2 * px_per_mm(dpi)))  # as vision.stripe samples
    rows = stripe_stage.ROWS
    positions = [(side, row) for side in range(len(STRIPE_X_MM)) for row in rows]
    for (side, row), label, ratio in zip(positions, reading.samples, reading.ratios,
                                         strict=False):
        y = row * paper_h
        s = mesh.to_image(STRIPE_X_MM[side] + STRIPE_W_MM / 2, y)
        p = mesh.to_image(PAPER_REFERENCE_X_MM[side], y)
        colour = STRIPE_COLOURS.get(label, BAD)
        cv.rect(s, radius, radius, colour, 2)
        cv.rect(p, 2, 2, GRID, 1)
        cv.poly(np.array([s, p]), GRID)
        text = f"{label} {ratio[0]:.2f}/{ratio[1]:.2f}/{ratio[2]:.2f}"
        # Label inward, away from the stripe (the sheet may be turned 180 degrees).
        off = 4 * px_per_mm(dpi)
        if p[0] >= s[0]:
            cv.text((p[0] + off, p[1] + 4), text, colour)
        else:
            cv.text((p[0] - off, p[1] + 4), text, colour, align="right")
    lines = _header(name, "stripe", interp)
    expected = ""
    if layout is not None:
        expected = f" (code says {layout.kind.value}: {stripe_stage.EXPECTED[layout.kind]})"
    lines.append(f"stripe reads {reading.colour}{expected}")
    if len(reading.samples) != len(positions):
        lines.append(f"samples: {', '.join(reading.samples)}")
    return cv.finish(lines)


def _reading_map(debug: dict[str, Any]) -> dict[tuple[str, str], TargetReading]:
    return {(r.contest, r.option): r for r in debug.get("readings") or ()}


def targets_overlay(name: str, interp: SheetInterpretation, debug: dict[str, Any],
                    scale: float = 0.5) -> np.ndarray | None:
    """Every target's box through the mesh, coloured by class, with its fill score."""
    image, mesh, layout = debug.get("image"), debug.get("mesh"), debug.get("layout")
    if not isinstance(image, np.ndarray) or mesh is None or layout is None:
        return None
    cv = Canvas.of(image, scale)
    readings = _reading_map(debug)
    ppm = _local_ppm(mesh)
    counts: dict[str, int] = {}
    for t in layout.targets:
        r = readings.get((t.contest, t.option))
        corners = _box_corners(mesh, t.box)
        if r is not None:
            centre = mesh.to_image(t.box.cx_mm, t.box.cy_mm)
            corners = corners + (np.asarray(r.centre_px) - centre)
        mark = r.mark if r is not None else None
        colour = MARK_COLOURS[mark]
        counts[mark.value if mark else "not scored"] = counts.get(
            mark.value if mark else "not scored", 0) + 1
        cv.poly(corners, colour, closed=True, thickness=1 if mark is Mark.UNMARKED else 2)
        if r is not None:
            s = r.scores
            text = f"{s.fill:.3f}"
            if mark is Mark.MARGINAL:
                text += f" f{s.faint:.2f} r{s.ring:.2f}"
            right = corners[:, 0].max(), corners[:, 1].mean()
            cv.text((right[0] + 0.8 * ppm, right[1] + 0.9 * ppm), text, colour, size=0.33)
    for col in debug.get("streaks") or ():
        cv.vline(float(col), BAD)
    lines = _header(name, "targets", interp)
    lines.append("  ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                 + "   (red marked, orange marginal, green unmarked, violet not scored)")
    for contest, result in (interp.contests or {}).items():
        lines.append(f"{contest}: {result}")
    return cv.finish(lines)


def _ink_rgb(new: np.ndarray) -> np.ndarray:
    """New ink in red (darker than the blank), missing print in blue, on white."""
    pos = np.clip(new, 0.0, 1.0)
    neg = np.clip(-new, 0.0, 1.0)
    out = np.empty((*new.shape, 3), np.float32)
    out[..., 0] = 1.0 - neg
    out[..., 1] = 1.0 - np.maximum(pos, neg)
    out[..., 2] = 1.0 - pos
    return np.rint(out * 255.0).astype(np.uint8)


def _padded(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """A zone mask in a patch's frame: ``vision.marks`` pads every target's window to the
    layout's largest at the bottom and right, so the mask sits at the top left."""
    if len(shape) != 2 or mask.shape[0] > shape[0] or mask.shape[1] > shape[1]:
        return None
    out = np.zeros(shape, bool)
    out[: mask.shape[0], : mask.shape[1]] = mask
    return out


def _outline(tile: np.ndarray, mask: np.ndarray | None, colour: Colour) -> None:
    if mask is None:
        return
    big = cv2.resize(mask.astype(np.uint8), (tile.shape[1], tile.shape[0]),
                     interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(tile, contours, -1, colour, 1)


def patches_mosaic(name: str, interp: SheetInterpretation, debug: dict[str, Any],
                   dpi: float = 200.0) -> np.ndarray | None:
    """Aligned darkness and new-ink map of each marked or marginal target (all, if none)."""
    patches = debug.get("patches")
    if not patches:
        return None
    readings = _reading_map(debug)
    layout: BallotLayout | None = debug.get("layout")
    boxes = {(t.contest, t.option): t.box for t in layout.targets} if layout else {}
    chosen = [p for p in patches
              if (r := readings.get((p[0], p[1]))) is not None and r.mark is not Mark.UNMARKED]
    title = "marked and marginal targets"
    if not chosen:
        chosen, title = list(patches), "no marked or marginal target: all targets"
    ppm = px_per_mm(dpi)
    tiles = []
    for contest, option, aligned, new in chosen:
        aligned = np.asarray(aligned, np.float32)
        new = np.asarray(new, np.float32)
        zoom = (aligned.shape[1] * PATCH_ZOOM, aligned.shape[0] * PATCH_ZOOM)
        grey = np.rint(255.0 * (1.0 - np.clip(aligned, 0.0, 1.0))).astype(np.uint8)
        left = cv2.resize(np.repeat(grey[:, :, None], 3, axis=2), zoom,
                          interpolation=cv2.INTER_NEAREST)
        right = cv2.resize(_ink_rgb(new), zoom, interpolation=cv2.INTER_NEAREST)
        box = boxes.get((contest, option))
        if box is not None:
            win = zone_window(box, ppm)
            _outline(right, _padded(win.interior, new.shape), (0, 160, 0))
            _outline(right, _padded(win.ring, new.shape), (255, 160, 0))
        r = readings.get((contest, option))
        label = [f"{contest}/{option}"]
        if r is not None:
            s = r.scores
            label.append(f"{r.mark.value} fill {s.fill:.3f} faint {s.faint:.3f} "
                         f"ring {s.ring:.3f} shift {r.shift_px[0]},{r.shift_px[1]}")
        tiles.append(_tile(left, right, label, MARK_COLOURS[r.mark if r else None]))
    th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    cols = min(MOSAIC_COLUMNS, len(tiles))
    nrows = -(-len(tiles) // cols)
    head = 50
    mosaic = np.full((head + nrows * th, cols * tw, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        y, x = head + (i // cols) * th, (i % cols) * tw
        mosaic[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    for k, line in enumerate((f"{name}  patches: {title}",
                              "left: aligned darkness; right: new ink (red) and missing print "
                              "(blue); green interior, orange ring")):
        cv2.putText(mosaic, ascii_text(line), (6, 18 + 18 * k), FONT, 0.45, BLACK, 1,
                    cv2.LINE_AA)
    return mosaic


def _tile(left: np.ndarray, right: np.ndarray, label: list[str], colour: Colour) -> np.ndarray:
    gap, head, pad = 6, 36, 8
    h = head + max(left.shape[0], right.shape[0]) + pad
    w = max(left.shape[1] + gap + right.shape[1] + pad, 8 * max(len(s) for s in label) + pad)
    tile = np.full((h, w, 3), 255, np.uint8)
    tile[head : head + left.shape[0], 4 : 4 + left.shape[1]] = left
    x2 = 4 + left.shape[1] + gap
    tile[head : head + right.shape[0], x2 : x2 + right.shape[1]] = right
    cv2.rectangle(tile, (2, head - 2), (x2 + right.shape[1] + 1, head + left.shape[0] + 1),
                  colour, 2)
    for k, line in enumerate(label):
        cv2.putText(tile, ascii_text(line), (4, 14 + 15 * k), FONT, 0.38, BLACK, 1, cv2.LINE_AA)
    return tile


def reject_text(name: str, interp: SheetInterpretation, debug: dict[str, Any]) -> str:
    """The reject record: reason, detail, the messages shown and the stages reached."""
    assert interp.reason is not None
    msg = message(interp.reason)
    lines = [
        f"sheet: {name}",
        f"outcome: {interp.outcome.value}",
        f"reason: {interp.reason.value}",
        f"detail: {interp.detail}",
        f"side: {interp.side}",
        f"orientation: {interp.orientation}",
        f"kind: {interp.kind}",
        f"contest: {interp.contest}",
        f"stripe: {interp.stripe}",
        f"stages reached: {', '.join(stages_reached(debug)) or 'none'}",
        f"timings_ms: {interp.timings_ms}",
        f"voter message (ky): {msg.voter.ky}",
        f"voter message (ru): {msg.voter.ru}",
        f"operator message (ky): {msg.operator.ky}",
        f"operator message (ru): {msg.operator.ru}",
    ]
    return "\n".join(lines) + "\n"


STAGES = ("registration", "stripe", "targets", "patches")


def stage_file(name: str, stage: str) -> str:
    """File name of a stage's overlay, numbered in pipeline order: ``{name}-2-stripe.png``."""
    return f"{name}-{STAGES.index(stage) + 1}-{stage}.png"


def stages_reached(debug: dict[str, Any]) -> list[str]:
    """The overlay stages (of :data:`STAGES`) whose data the reader left in ``debug``."""
    has_image = isinstance(debug.get("image"), np.ndarray)
    located = has_image and debug.get("mesh") is not None
    reached = {
        "registration": has_image,
        "stripe": located and debug.get("stripe") is not None,
        "targets": located and debug.get("layout") is not None
        and ("streaks" in debug or "readings" in debug),
        "patches": bool(debug.get("patches")),
    }
    return [s for s in STAGES if reached[s]]


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or any(c in name for c in ("/", "\\", os.sep, "\0")):
        raise ValueError(f"debug file name prefix {name!r} must be a plain file name")


def write_debug(out_dir: str | os.PathLike[str], name: str, interpretation: SheetInterpretation,
                debug: dict[str, Any], scale: float = 0.5, dpi: float = 200.0) -> list[Path]:
    """Write one overlay PNG per stage reached (and ``{name}-reject.txt`` for a rejected sheet).

    ``debug`` is the dict passed to ``Reader.interpret``; ``scale`` shrinks the
    overlays (not the patch mosaic); ``dpi`` is the reader's. Creates
    ``out_dir``. Returns the paths written, in stage order. Raises
    :class:`~vision.imageio.ImageFileError` when a file cannot be written.
    """
    _check_name(name)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageFileError(out, f"cannot create the debug folder: {exc.strerror or exc}") \
            from exc
    interp = interpretation
    builders = {
        "registration": lambda: registration_overlay(name, interp, debug, scale),
        "stripe": lambda: stripe_overlay(name, interp, debug, scale, dpi),
        "targets": lambda: targets_overlay(name, interp, debug, scale),
        "patches": lambda: patches_mosaic(name, interp, debug, dpi),
    }
    written: list[Path] = []
    for stage in stages_reached(debug):
        img = builders[stage]()
        if img is not None:
            written.append(save_image(out / stage_file(name, stage), img))
    if interp.reason is not None:
        path = out / f"{name}-reject.txt"
        try:
            path.write_text(reject_text(name, interp, debug), encoding="utf-8")
        except OSError as exc:
            raise ImageFileError(path, f"cannot write: {exc.strerror or exc}") from exc
        written.append(path)
    return written
