"""Device calibration: what this scanner sees of this print run's blank ballots.

The operator feeds a calibration set: N blank ballots of each kind the
station votes on, in any orientation. Each sheet goes through the reader's
own registration (ladders, orientation, mesh, code, layout; the reader's
``debug`` dictionary hands them over, whatever the sheet's verdict), then:

* **optical scale** across the feed (ladder separation) and along it (ladder
  pitch), against the layout's millimetres;
* **white and black levels**: paper beside the ladders, timing-mark centres (RGB);
* **print position**: the paper's own edges, found to a fraction of a pixel
  on rays cast through the mesh, give the print's scale and offset on the
  paper (when the backing shows the edges; else not checked, and said so);
* **stripe and security band**: the reader's own measurements
  (``vision.stripe``, ``vision.security``);
* **each box's blank appearance and noise**: the box patch resampled into the
  blank template's pixel grid exactly as the reader does it
  (``vision.marks.score_targets``: the mesh, then the border-edge search), so
  the calibrated template is a per-pixel upper envelope (90th percentile) of
  these registered patches — the reader then measures new ink against
  *this* print run on *this* device. A sheet whose box differs from the
  median of the set by a mark is refused first, so no mark enters the
  template.

A batch printed off tolerance is refused with :class:`CalibrationRefused`,
whose ``fault`` (:class:`CalibrationFault`) says what was wrong.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from calibration.station import station_layouts
from election.errors import PcosError
from election.hashing import election_hash
from election.layout import (
    LADDER_CENTRE_X_MM,
    LADDER_PITCH_MM,
    LADDER_Y0_MM,
    PAPER_REFERENCE_X_MM,
    BallotLayout,
)
from election.marking import INK_LEVEL
from election.model import BallotKind, Election, Station
from vision import stripe
from vision.config import ReaderConfig, TemplateSource, Thresholds
from vision.interpret import Reader
from vision.marks import LayoutTemplate, score_targets
from vision.mesh import Mesh
from vision.result import Mark
from vision.sampling import sample_points
from vision.security import check_security

# The calibrated blank box, per pixel: this percentile of the registered blank scans. Not the
# mean: the print's edges move with each sheet's blur and registration, and a blank box must
# not read as new ink where one blank sheet was darker than the average one. A marked sheet
# is refused first (against the median), so it cannot lift the envelope.
ENVELOPE_PERCENTILE = 90.0


class CalibrationFault(StrEnum):
    """Why a calibration set was refused."""

    TOO_FEW_SHEETS = "too-few-sheets"  # fewer than the minimum blanks of some kind
    UNREADABLE = "unreadable-sheet"  # the reader could not register a sheet as a ballot
    WRONG_ELECTION = "wrong-election"  # a ballot of another election in the set
    NOT_BLANK = "not-blank"  # a calibration ballot carries a mark
    PRINT_SHIFTED = "print-shifted"  # print offset on the paper beyond tolerance
    PRINT_SCALED = "print-scaled"  # print scale on the paper beyond tolerance
    STRIPE_INK = "stripe-ink"  # the side stripe is not the colour of its kind
    SECURITY_INK = "security-ink"  # the security band fails the reader's check


class CalibrationRefused(PcosError):
    """The calibration set cannot calibrate this device; ``fault`` says why."""

    def __init__(self, fault: CalibrationFault, detail: str) -> None:
        super().__init__(f"calibration refused ({fault.value}): {detail}")
        self.fault = fault
        self.detail = detail


@dataclass(frozen=True)
class Tolerances:
    """What a print run may deviate by and still be used (and the set's size)."""

    min_per_kind: int = 3
    max_shift_mm: float = 1.5  # print offset on the paper, across or along
    max_scale_error: float = 0.006  # |print scale - 1|
    not_blank_fill: float = 0.055  # a box this far above its median blank: a mark


@dataclass(frozen=True)
class ScaleMeasure:
    across: float
    along: float
    across_sd: float
    along_sd: float


@dataclass(frozen=True)
class PrintPosition:
    """The print on the paper, from the paper edges (median over sheets)."""

    scale_across: float
    scale_along: float
    shift_across_mm: float  # + : print lies right of centre (image-upright)
    shift_along_mm: float  # + : print lies towards the tail
    sheets: int


@dataclass(frozen=True)
class KindMeasure:
    kind: str
    sheets: int
    stripe_ratio: tuple[float, float, float]  # stripe / paper, per channel (1,1,1: no stripe)
    stripe_class: str
    security_chroma: float
    security_pattern: float


@dataclass(frozen=True)
class BoxTemplates:
    """The calibrated blank appearance of one target geometry (both languages share it)."""

    key: str  # :func:`template_key`
    kind: str
    contest: str
    layout_hashes: tuple[str, ...]
    ids: tuple[tuple[str, str], ...]
    origin: np.ndarray  # (N, 2) template px (x0, y0) of each window
    dark: np.ndarray  # (N, h, w) float32 registered darkness of the blank box (envelope)
    noise: np.ndarray  # (N,) mean per-pixel s.d. across sheets inside the window
    sheets: int
    raw_marginal: int  # blank boxes read marginal or marked against the renderer's raster
    raw_boxes: int
    cal_max_fill: float  # largest blank-box fill against the calibrated template (leave-one-out)


@dataclass
class DeviceCalibration:
    """Everything measured; :mod:`calibration.profile` signs and stores it."""

    election_hash: str
    station: str
    dpi: float
    optical_scale: ScaleMeasure
    white_rgb: tuple[float, float, float]
    black_rgb: tuple[float, float, float]
    print_position: PrintPosition | None
    kinds: dict[str, KindMeasure]
    templates: dict[str, BoxTemplates]
    sheets: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def template_key(layout: BallotLayout) -> str:
    """Target geometry of a layout: kind, contest and every box (languages share it)."""
    import hashlib

    parts = [layout.kind.value, layout.contest] + [
        f"{t.contest}/{t.option}@{t.box.x_mm:.4f},{t.box.y_mm:.4f},{t.box.w_mm:.4f},"
        f"{t.box.h_mm:.4f}" for t in layout.targets]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------- sampling


def _bilinear(channel: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of one image plane at float (x, y) points; NaN outside."""
    shape = pts.shape[:-1]
    flat = pts.reshape(-1, 2).astype(np.float32)
    mx = np.ascontiguousarray(flat[:, 0]).reshape(1, -1)
    my = np.ascontiguousarray(flat[:, 1]).reshape(1, -1)
    vals = cv2.remap(channel.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    return vals.reshape(shape)


def _first_crossing(profile: np.ndarray, level: float, step_mm: float) -> float | None:
    """Distance (mm) along a ray where the profile first falls below ``level`` and stays
    there for 1 mm, interpolated between samples; None if it never does (or leaves the image)."""
    run = max(1, round(1.0 / step_mm))
    below = profile < level
    for i in range(1, profile.size - run):
        if np.isnan(profile[i]):
            return None
        if below[i] and below[i : i + run].all():
            a, b = profile[i - 1], profile[i]
            frac = 0.0 if a == b else float((a - level) / (a - b))
            return (i - 1 + min(max(frac, 0.0), 1.0)) * step_mm
    return None


def paper_edges(green: np.ndarray, mesh: Mesh, paper: float, layout: BallotLayout
                ) -> tuple[float, float, float, float] | None:
    """(left, right, head, tail) paper edges in layout mm (median of several rays each),
    or None when the backing does not show them."""
    level = 0.42 * paper
    step = 0.05
    steps = np.arange(0.0, 30.0, step)
    ks = np.round(np.linspace(1, mesh.rows - 3, 9)) + 0.5  # between timing marks
    ys = LADDER_Y0_MM + ks * LADDER_PITCH_MM
    x0l, x0r = LADDER_CENTRE_X_MM
    xs = np.linspace(30.0, layout.paper_w_mm - 30.0, 9)
    y_head, y_tail = 5.0, layout.paper_h_mm - 5.0
    rays = {
        "left": mesh.to_image(x0l - steps[None, :], np.broadcast_to(ys[:, None], (ys.size,
                                                                                  steps.size))),
        "right": mesh.to_image(x0r + steps[None, :], np.broadcast_to(ys[:, None],
                                                                     (ys.size, steps.size))),
        "head": mesh.to_image(np.broadcast_to(xs[:, None], (xs.size, steps.size)),
                              y_head - steps[None, :]),
        "tail": mesh.to_image(np.broadcast_to(xs[:, None], (xs.size, steps.size)),
                              y_tail + steps[None, :]),
    }
    found: dict[str, float] = {}
    for name, pts in rays.items():
        prof = _bilinear(green, pts)
        ds = [d for d in (_first_crossing(p, level, step) for p in prof) if d is not None]
        if len(ds) < 3:
            return None
        found[name] = float(np.median(ds))
    return (x0l - found["left"], x0r + found["right"], y_head - found["head"],
            y_tail + found["tail"])


# ----------------------------------------------------------------------------- one sheet


@dataclass
class SheetMeasure:
    """What one blank calibration ballot showed (:func:`measure_sheet`)."""

    name: str
    layout: BallotLayout
    template: LayoutTemplate
    scale_across: float
    scale_along: float
    white: np.ndarray
    black: np.ndarray
    edges: tuple[float, float, float, float] | None
    stripe_ratio: np.ndarray | None
    stripe_class: str
    chroma: float
    pattern: float
    aligned: np.ndarray  # (N, h, w) registered darkness of each blank box
    raw_marginal: int


def calibration_reader(election: Election, station: Station, templates: TemplateSource,
                       dpi: float = 200.0) -> Reader:
    """The reader that registers calibration ballots: the renderer's templates, default
    thresholds (calibration measures blank boxes, it does not count marks)."""
    return Reader(ReaderConfig(election, station, templates, Thresholds(), dpi=dpi))


def measure_sheet(reader: Reader, name: str, front: np.ndarray, back: np.ndarray
                  ) -> SheetMeasure:
    """Register one blank ballot with the reader and measure it. A sheet the reader cannot
    register as a ballot of this election is refused (``unreadable-sheet``,
    ``wrong-election``); a device shows that and lets the operator feed the next one."""
    dbg: dict[str, Any] = {}
    res = reader.interpret(front, back, dbg)
    if "layout" not in dbg or "mesh" not in dbg:
        why = f"{res.reason.value}: {res.detail}" if res.reason else res.outcome.value
        fault = (CalibrationFault.WRONG_ELECTION if res.reason is not None
                 and res.reason.value == "wrong-election" else CalibrationFault.UNREADABLE)
        raise CalibrationRefused(fault, f"sheet {name}: {why}")
    layout: BallotLayout = dbg["layout"]
    mesh: Mesh = dbg["mesh"]
    img: np.ndarray = dbg["image"]
    paper = float(dbg["ladders"].paper)
    ppm = reader.ppm
    span_mm = LADDER_CENTRE_X_MM[1] - LADDER_CENTRE_X_MM[0]
    across = float(np.linalg.norm(mesh.right - mesh.left, axis=1).mean() / (span_mm * ppm))
    run_mm = (mesh.rows - 1) * LADDER_PITCH_MM
    along = float(np.mean([np.linalg.norm(side[-1] - side[0]) for side in (mesh.left,
                                                                           mesh.right)])
                  / (run_mm * ppm))
    ys = np.linspace(0.1, 0.9, 9) * layout.paper_h_mm
    ref = np.concatenate([mesh.to_image(np.full_like(ys, x), ys) for x in PAPER_REFERENCE_X_MM])
    white = np.nanmedian(sample_points(img, ref, 2), axis=0)
    black = np.nanmedian(sample_points(img, np.concatenate([mesh.left, mesh.right]), 1), axis=0)
    st = stripe.read_stripe(img, mesh, layout.paper_h_mm, ppm)
    seen = [r for r, lab in zip(st.ratios, st.samples, strict=True) if lab != "unseen"]
    ratio = np.mean(np.asarray(seen, np.float64), axis=0) if seen else None
    sec = check_security(img, mesh)
    template = reader.templates.get(layout)
    d: dict[str, Any] = {}
    g = reader.config.geometry
    readings = score_targets(img, mesh, template, paper, reader.config.thresholds, g.search_px,
                             reader.config.dpi, d)
    aligned = np.stack([p[2] for p in d["patches"]]).astype(np.float32)
    raw_marginal = sum(1 for r in readings if r.mark is not Mark.UNMARKED)
    return SheetMeasure(name, layout, template, across, along, white, black,
                         paper_edges(img[:, :, 1], mesh, paper, layout), ratio,
                         stripe.classify(*ratio) if ratio is not None else "unseen",
                         sec.chroma, sec.pattern, aligned, raw_marginal)


# ----------------------------------------------------------------------------- the set


def _fill(new: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """Share of each box interior at least INK_LEVEL darker: (..., N, h, w) -> (..., N)."""
    return ((new >= INK_LEVEL) & interior).sum(axis=(-2, -1)) / interior.sum(axis=(-2, -1))


def _box_templates(key: str, group: list[SheetMeasure], tol: Tolerances) -> BoxTemplates:
    t = group[0].template
    stack = np.stack([m.aligned for m in group])  # (S, N, h, w)
    median = np.median(stack, axis=0).astype(np.float32)
    envelope = np.percentile(stack, ENVELOPE_PERCENTILE, axis=0).astype(np.float32)
    fills = _fill(stack - median[None], t.interior[None])  # (S, N)
    worst = np.unravel_index(int(np.argmax(fills)), fills.shape)
    if fills[worst] >= tol.not_blank_fill:
        s, k = int(worst[0]), int(worst[1])
        c, o = t.ids[k]
        raise CalibrationRefused(CalibrationFault.NOT_BLANK,
                                 f"sheet {group[s].name}: box {c}/{o} is marked "
                                 f"(fill {fills[worst]:.3f} above the blank ballots)")
    # Leave-one-out: each sheet against the median of the others (how a new blank reads).
    loo = 0.0
    if len(group) >= 3:
        for s in range(len(group)):
            others = np.percentile(np.delete(stack, s, axis=0), ENVELOPE_PERCENTILE, axis=0)
            loo = max(loo, float(_fill(stack[s] - others, t.interior).max()))
    noise = stack.std(axis=0).mean(axis=(1, 2))
    return BoxTemplates(key, group[0].layout.kind.value, group[0].layout.contest,
                        tuple(sorted({m.layout.layout_hash for m in group})), t.ids,
                        t.origin.copy(), envelope, noise.astype(np.float32), len(group),
                        sum(m.raw_marginal for m in group), len(group) * len(t.ids), loo)


def calibrate_device(sheets: Iterable[tuple[str, np.ndarray, np.ndarray]], election: Election,
                     station: Station, templates: TemplateSource, dpi: float = 200.0,
                     tolerances: Tolerances | None = None) -> DeviceCalibration:
    """Measure a calibration set (name, front, back per sheet) and check it is in tolerance.

    ``templates`` is the renderer the reader would otherwise compare against;
    the reader registers each sheet with it. Raises :class:`CalibrationRefused`.
    """
    t0 = time.perf_counter()
    reader = calibration_reader(election, station, templates, dpi)
    measures = [measure_sheet(reader, name, front, back) for name, front, back in sheets]
    return calibrate_measures(measures, election, station, dpi, tolerances,
                              time.perf_counter() - t0)


def calibrate_measures(measures: list[SheetMeasure], election: Election, station: Station,
                       dpi: float = 200.0, tolerances: Tolerances | None = None,
                       seconds_measuring: float = 0.0) -> DeviceCalibration:
    """Combine measured sheets into a calibration, or refuse the set
    (:class:`CalibrationRefused`). ``seconds_measuring``: time already spent on the sheets,
    added to the calibration's ``seconds``."""
    tol = tolerances or Tolerances()
    t0 = time.perf_counter() - seconds_measuring
    wanted = {lay.kind for lay in station_layouts(election, station)}
    by_kind: dict[BallotKind, list[SheetMeasure]] = {k: [] for k in wanted}
    for m in measures:
        by_kind.setdefault(m.layout.kind, []).append(m)
    for kind, group in sorted(by_kind.items()):
        if len(group) < tol.min_per_kind:
            raise CalibrationRefused(CalibrationFault.TOO_FEW_SHEETS,
                                     f"{len(group)} blank {kind.value} ballots, "
                                     f"at least {tol.min_per_kind} needed")
    kinds: dict[str, KindMeasure] = {}
    for kind, group in sorted(by_kind.items()):
        ratios = [m.stripe_ratio for m in group if m.stripe_ratio is not None]
        ratio = np.median(np.asarray(ratios), axis=0) if ratios else np.zeros(3)
        cls = stripe.classify(*ratio) if ratios else "unseen"
        chroma = float(np.median([m.chroma for m in group]))
        pattern = float(np.median([m.pattern for m in group]))
        expected = stripe.EXPECTED[kind]
        bad = [m.name for m in group if m.stripe_class != expected]
        if cls != expected or len(bad) > len(group) // 2:
            raise CalibrationRefused(CalibrationFault.STRIPE_INK,
                                     f"{kind.value} stripe reads {cls} "
                                     f"(ratio {', '.join(f'{v:.2f}' for v in ratio)}), "
                                     f"design is {expected}")
        weak = [m.name for m in group if not (m.chroma >= 0.07 and m.pattern >= 0.03)]
        if weak:
            raise CalibrationRefused(CalibrationFault.SECURITY_INK,
                                     f"{kind.value} security band fails the reader's check on "
                                     f"{len(weak)} of {len(group)} sheets (chroma {chroma:.3f}, "
                                     f"pattern {pattern:.3f})")
        kinds[kind.value] = KindMeasure(kind.value, len(group),
                                        (float(ratio[0]), float(ratio[1]), float(ratio[2])),
                                        cls, chroma, pattern)
    notes: list[str] = []
    position = _print_position(measures, tol, notes)
    groups: dict[str, list[SheetMeasure]] = {}
    for m in measures:
        groups.setdefault(template_key(m.layout), []).append(m)
    boxes = {key: _box_templates(key, group, tol) for key, group in sorted(groups.items())}
    across = np.array([m.scale_across for m in measures])
    along = np.array([m.scale_along for m in measures])
    return DeviceCalibration(
        election_hash=election_hash(election), station=station.number, dpi=dpi,
        optical_scale=ScaleMeasure(float(np.median(across)), float(np.median(along)),
                                   float(across.std()), float(along.std())),
        white_rgb=_rgb(np.median([m.white for m in measures], axis=0)),
        black_rgb=_rgb(np.median([m.black for m in measures], axis=0)),
        print_position=position, kinds=kinds, templates=boxes, sheets=len(measures),
        seconds=time.perf_counter() - t0, notes=notes)


def _rgb(v: np.ndarray) -> tuple[float, float, float]:
    return (round(float(v[0]), 1), round(float(v[1]), 1), round(float(v[2]), 1))


def print_position_of(measures: list[SheetMeasure]) -> PrintPosition | None:
    """The print's position on the paper (median over the sheets whose paper edges were
    seen), or None when fewer than half the sheets showed their edges. No tolerance check."""
    seen = [m for m in measures if m.edges is not None]
    if not seen or len(seen) < max(1, len(measures) // 2):
        return None
    sa, sl, da, dl = [], [], [], []
    for m in seen:
        assert m.edges is not None
        left, right, head, tail = m.edges
        lay = m.layout
        sa.append(lay.paper_w_mm / (right - left))
        sl.append(lay.paper_h_mm / (tail - head))
        da.append(lay.paper_w_mm / 2 - (left + right) / 2)
        dl.append(lay.paper_h_mm / 2 - (head + tail) / 2)
    return PrintPosition(float(np.median(sa)), float(np.median(sl)), float(np.median(da)),
                         float(np.median(dl)), len(seen))


def _print_position(measures: list[SheetMeasure], tol: Tolerances,
                    notes: list[str]) -> PrintPosition | None:
    pos = print_position_of(measures)
    if pos is None:
        seen = sum(1 for m in measures if m.edges is not None)
        notes.append(f"paper edges seen on {seen} of {len(measures)} sheets: print "
                     "position and scale on the paper not checked (backing hides the edges)")
        return None
    for what, s in (("across", pos.scale_across), ("along", pos.scale_along)):
        if abs(s - 1.0) > tol.max_scale_error:
            raise CalibrationRefused(CalibrationFault.PRINT_SCALED,
                                     f"printed at scale {s:.4f} {what} the sheet "
                                     f"(tolerance ±{tol.max_scale_error:.3f})")
    for what, d in (("across", pos.shift_across_mm), ("along", pos.shift_along_mm)):
        if abs(d) > tol.max_shift_mm:
            raise CalibrationRefused(CalibrationFault.PRINT_SHIFTED,
                                     f"print offset {d:+.2f} mm {what} the sheet "
                                     f"(tolerance ±{tol.max_shift_mm:.1f} mm)")
    return pos
