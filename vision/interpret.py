"""Interpret one fed sheet: two images in, one :class:`SheetInterpretation` out.

Stages, in order (each may reject the sheet with a typed reason):

1. image sanity (shape, dtype, size, not blank noise)        -> image-invalid
2. timing-mark ladders on both images                      -> not-a-ballot, double-feed
3. orientation (start marks) and the mesh                    -> registration-failed
4. ballot code (top copy, then bottom)                       -> code-invalid
5. election hash in the code                                 -> wrong-election
6. layout from the code; exact timing-mark count            -> code-invalid, registration-failed
7. security band                                              -> security-missing
8. paper edges: extra sheet along the feed, print scale     -> double-feed, scale-out-of-range
9. side-stripe colour against the code's kind               -> stripe-mismatch
10. contest belongs to this station                          -> wrong-contest
11. streaks across a target                                  -> streak
12. mark scores, classes and contest results

The order is chosen so that every kind of bad sheet gets the reason that
explains it: a photocopy fails the security band before its grey stripe is
looked at; a fit-to-page print passes security and fails the scale.

The scanner profile (``ReaderConfig.profile``) says what the device can see:
where the paper edge cannot be seen (white backing, images cropped to the
page), stage 8 compares the ladder separation with the device's optical scale
and the image length with the paper's; a greyscale sensor skips stages 7 and 9
(the profile says so). Any exception inside the reader becomes the separate
reason ``internal-error``, logged with its traceback.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from election.ballot_code import BallotCode
from election.geometry import px_per_mm
from election.hashing import election_hash
from election.layout import (
    LADDER_PITCH_MM,
    LAYOUT_VERSION,
    BallotLayout,
    LayoutError,
    ballot_layout,
)
from election.marking import RING_OUTER_MM
from election.model import PARTY_LIST_CONTEST, BallotKind, council_contest_id
from election.reject import RejectReason
from election.rules import judge_ballot
from vision import edges, ladder, stripe
from vision.code_reader import read_code
from vision.config import ReaderConfig
from vision.errors import SheetRejected
from vision.marks import TemplateCache, score_targets
from vision.mesh import Mesh
from vision.result import Mark, Outcome, SheetInterpretation, TargetReading
from vision.sampling import sample_points
from vision.security import check_security
from vision.streaks import find_streaks

LOG = logging.getLogger("vision.reader")

MIN_SIDE_PX = 400
LENGTH_SLACK_MM = 4.0  # image past the paper's end beyond the profile's over-scan: 2nd sheet
MAX_SIDE_PX = 12000


MIN_PRINTED = 0.35  # a box border this much lighter than the blank ballot's is not printed


def check_image(img: Any, name: str) -> np.ndarray:
    """A scanner image must be an (H, W, 3) uint8 array of plausible size."""
    if not isinstance(img, np.ndarray):
        raise SheetRejected(RejectReason.IMAGE_INVALID, f"{name}: not an image array")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise SheetRejected(RejectReason.IMAGE_INVALID,
                            f"{name}: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
    h, w = img.shape[:2]
    if not (MIN_SIDE_PX <= h <= MAX_SIDE_PX and MIN_SIDE_PX <= w <= MAX_SIDE_PX):
        raise SheetRejected(RejectReason.IMAGE_INVALID, f"{name}: size {w}x{h} px out of range")
    return img


@dataclass
class _Stages:
    t0: float = field(default_factory=time.perf_counter)
    marks: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.marks[name] = round((now - self.t0) * 1000.0, 3)
        self.t0 = now


def _orient(lad: ladder.SideLadders) -> tuple[bool, Mesh]:
    """(rotated, mesh) from the two runs; the start marks say which end is the head."""
    left, right = lad.left, lad.right
    if left is None or right is None:
        raise SheetRejected(RejectReason.REGISTRATION, "a ladder is missing")
    if left.n != right.n:
        raise SheetRejected(RejectReason.REGISTRATION,
                            f"ladders differ: {left.n} and {right.n} marks")
    ends = []
    for run in (left, right):
        starts = np.flatnonzero(run.start)
        if len(starts) != 1 or starts[0] not in (0, run.n - 1):
            raise SheetRejected(RejectReason.REGISTRATION,
                                f"start mark not found at a ladder end ({len(starts)} found)")
        ends.append("top" if starts[0] == 0 else "bottom")
    if ends[0] != ends[1]:
        raise SheetRejected(RejectReason.REGISTRATION, "start marks at opposite ends")
    rotated = ends[0] == "bottom"
    if rotated:
        mesh = Mesh(right.points[::-1].copy(), left.points[::-1].copy())
    else:
        mesh = Mesh(left.points.copy(), right.points.copy())
    if np.abs(mesh.left[:, 1] - mesh.right[:, 1]).max() > 0.2 * abs(
            mesh.right[0, 0] - mesh.left[0, 0]):
        raise SheetRejected(RejectReason.REGISTRATION, "ladder rows do not line up")
    return rotated, mesh


def _swap(run: ladder.Run) -> ladder.Run:
    assert run.other is not None and run.other_start is not None
    return ladder.Run(run.other, run.other_start, run.slope, run.extras, run.n, run.on_grid,
                      run.points, run.start)


def _start_piece(lad: ladder.SideLadders) -> ladder.SideLadders:
    """When each ladder line holds two regular pieces and only the shorter one carries the
    start mark at its end, that piece is the ballot (a second sheet trailing it can make
    the longer piece); the layout's mark count then tells a fold from a second sheet."""
    runs = (lad.left, lad.right)
    if any(r is None or r.other is None or r.other_start is None for r in runs):
        return lad

    def swappable(r: ladder.Run) -> bool:
        assert r.other_start is not None
        starts = np.flatnonzero(r.other_start)
        return (not r.start.any() and len(starts) == 1
                and starts[0] in (0, len(r.other_start) - 1))

    if all(swappable(r) for r in runs if r is not None):
        assert lad.left is not None and lad.right is not None
        return ladder.SideLadders(_swap(lad.left), _swap(lad.right), lad.paper)
    return lad


class Reader:
    """A scanner's reader for one configuration; keeps layouts and blank templates cached."""

    def __init__(self, config: ReaderConfig) -> None:
        self.config = config
        self.profile = config.scanner
        self.ppm = px_per_mm(config.dpi)
        self.election_hash = election_hash(config.election)
        self.templates = TemplateCache(config.templates, config.dpi)
        self._layouts: dict[tuple[BallotKind, int, str], BallotLayout] = {}
        g = config.geometry
        self.scale_range = (g.min_scale, g.max_scale)

    def prepare(self, layouts: Iterable[BallotLayout]) -> None:
        """Build the layouts' blank templates now (at start-up), so that the first sheet
        of each layout in service is read as fast as any other."""
        for layout in layouts:
            key = (layout.kind, layout.contest_number, layout.language.value)
            self._layouts.setdefault(key, layout)
            self.templates.get(layout)

    # ------------------------------------------------------------------ helpers
    def layout_for(self, code: BallotCode) -> BallotLayout:
        key = (code.kind, code.contest_number, code.language.value)
        if key not in self._layouts:
            try:
                contest = None if code.kind is BallotKind.PARTY_LIST else code.contest_number
                self._layouts[key] = ballot_layout(self.config.election, code.kind, contest,
                                                   code.language)
            except (LayoutError, KeyError) as exc:
                raise SheetRejected(RejectReason.CODE_INVALID,
                                    f"code names no ballot of this election: {exc}") from exc
        return self._layouts[key]

    def _check_station(self, layout: BallotLayout) -> None:
        st = self.config.station
        if st is None or layout.kind is BallotKind.PARTY_LIST:
            return
        if layout.kind is BallotKind.DISTRICT and layout.contest_number == st.district:
            return
        if (layout.kind is BallotKind.LOCAL and st.council is not None
                and layout.contest == council_contest_id(st.council)):
            return
        raise SheetRejected(RejectReason.WRONG_CONTEST,
                            f"{layout.contest} is not voted on at station {st.number}")

    def _register(self, front: np.ndarray, back: np.ndarray, dbg: dict[str, Any]
                  ) -> tuple[str, np.ndarray, ladder.SideLadders, bool, Mesh]:
        """Ladders, orientation and mesh. A sheet whose ladders are not found at all, or
        not usably, is looked at once more with wider strips and steeper slopes (fed up
        to ±10° crooked); straight sheets never pay for the second look."""
        try:
            side, img, lad = self._find_ballot_side(front, back, dbg)
            dbg.update(image=img, side=side, ladders=lad)
            return (side, img, lad, *_orient(lad))
        except SheetRejected as first:
            if first.reason not in (RejectReason.NOT_A_BALLOT, RejectReason.REGISTRATION):
                raise
            seen = dict(dbg)  # what the first look found, for the debug overlays
            try:
                side, img, lad = self._find_ballot_side(front, back, dbg, wide=True)
                dbg.update(image=img, side=side, ladders=lad)
                return (side, img, lad, *_orient(lad))
            except SheetRejected as second:
                if second.reason is not RejectReason.REGISTRATION:
                    dbg.clear()
                    dbg.update(seen)
                    raise first from None
                slopes = [abs(r.slope) for s in dbg.get("sides", {}).values()
                          for r in (s.left, s.right) if r is not None]
                tilt = math.degrees(math.atan(max(slopes, default=0.0)))
                if tilt > math.degrees(math.atan(ladder.MAX_SLOPE)):
                    raise SheetRejected(RejectReason.REGISTRATION,
                                        f"{second.detail}; sheet fed {tilt:.0f}° crooked, part of "
                                        "its ladders outside the scan window") from None
                raise second from None

    def _find_ballot_side(self, front: np.ndarray, back: np.ndarray, dbg: dict[str, Any],
                          wide: bool = False) -> tuple[str, np.ndarray, ladder.SideLadders]:
        sides = {"front": ladder.scan_side(front, self.ppm, self.scale_range, wide),
                 "back": ladder.scan_side(back, self.ppm, self.scale_range, wide)}
        dbg["sides"] = sides
        dbg["images"] = {"front": front, "back": back}
        found = [name for name, s in sides.items() if s.ballot_like]
        if len(found) == 2:
            raise SheetRejected(RejectReason.DOUBLE_FEED, "ballot marks on both sides")
        if not found:
            pieces = max((r.n for s in sides.values() for r in (s.left, s.right) if r), default=0)
            if pieces >= ladder.MIN_RUN:
                raise SheetRejected(RejectReason.REGISTRATION,
                                    f"only one ladder found ({pieces} marks)")
            raise SheetRejected(RejectReason.NOT_A_BALLOT, "no timing marks on either side")
        name = found[0]
        sides[name] = _start_piece(sides[name])
        # More marks past the end of a ladder. A second sheet shows them on both ladders,
        # off the ladder's grid; an erased mark breaks one ladder; a fold across the sheet
        # breaks both, on the grid. Clear cases are decided here, the rest once the
        # layout's mark count is known (``_check_count``).
        more = [r for r in (sides[name].left, sides[name].right)
                if r is not None and r.beyond >= 2]
        if len(more) == 2 and all(r.beyond >= ladder.MIN_RUN and not r.on_grid for r in more):
            raise SheetRejected(RejectReason.DOUBLE_FEED, "two ballots one after the other")
        if len(more) == 1:
            raise SheetRejected(RejectReason.REGISTRATION, "a timing mark is missing")
        return name, front if name == "front" else back, sides[name]

    # ------------------------------------------------------------------ main
    def interpret(self, front: Any, back: Any,
                  debug: dict[str, Any] | None = None) -> SheetInterpretation:
        """Read one sheet. ``debug``, if given, is filled with each stage's intermediate data
        (image, ladders, mesh, layout, stripe, security, streaks, patches) for overlays."""
        st = _Stages()
        info: dict[str, Any] = {}
        try:
            return self._interpret(front, back, st, info, debug)
        except SheetRejected as rej:
            return SheetInterpretation(Outcome.REJECTED, rej.reason, rej.detail,
                                       timings_ms=st.marks, **info)
        except Exception as exc:
            # A bug, not a bad sheet: the sheet goes back to the voter with its own reason
            # (so tests and the audit log tell a crash from a bad sheet), and the traceback
            # goes to the log, never to the voter's screen. No exception leaves interpret.
            LOG.exception("reader internal error")
            return SheetInterpretation(Outcome.REJECTED, RejectReason.INTERNAL_ERROR,
                                       f"internal error: {type(exc).__name__}: {exc}",
                                       timings_ms=st.marks, **info)

    def _interpret(self, front: Any, back: Any, st: _Stages, info: dict[str, Any],
                   debug: dict[str, Any] | None) -> SheetInterpretation:
        cfg, g = self.config, self.config.geometry
        dbg: dict[str, Any] = debug if debug is not None else {}
        front = check_image(front, "front")
        back = check_image(back, "back")
        if front.shape != back.shape:
            raise SheetRejected(RejectReason.IMAGE_INVALID,
                                f"front {front.shape[1]}x{front.shape[0]} and back "
                                f"{back.shape[1]}x{back.shape[0]} differ: not one duplex scan")
        side, img, lad, rotated, mesh = self._register(front, back, dbg)
        info["side"] = side
        dbg.update(image=img, side=side, ladders=lad)
        st.lap("ladders")
        dbg["mesh"] = mesh
        info["orientation"] = f"{side}/{180 if rotated else 0}"
        scale = mesh.scale(self.ppm)
        if not g.min_scale <= scale <= g.max_scale:
            raise SheetRejected(RejectReason.SCALE, f"optical scale {scale:.3f}")
        green = img[:, :, 1]  # a view: stages sample it sparsely, never copy the plane
        black = float(np.nanmean(sample_points(green, np.concatenate([mesh.left, mesh.right]))))
        code = read_code(green, mesh, black)
        info["election_hash"] = code.hash_hex()
        st.lap("code")
        if code.hash_hex() != self.election_hash[:8]:
            raise SheetRejected(RejectReason.WRONG_ELECTION,
                                f"code names election {code.hash_hex()}, "
                                f"this scanner has {self.election_hash[:8]}")
        if code.layout_version != LAYOUT_VERSION:
            raise SheetRejected(RejectReason.CODE_INVALID,
                                f"layout version {code.layout_version} is not supported")
        layout = self.layout_for(code)
        dbg["layout"] = layout
        info.update(kind=layout.kind.value, contest=layout.contest,
                    language=layout.language.value,
                    district=layout.contest_number if layout.kind is BallotKind.DISTRICT
                    else None)
        self._check_count(lad, mesh, layout)
        colour = self.profile.colour  # a greyscale sensor cannot check the colours
        if colour:
            sec = check_security(img, mesh)
            dbg["security"] = sec
            st.lap("security")
            if not sec.genuine:
                raise SheetRejected(RejectReason.SECURITY_MISSING,
                                    f"chroma {sec.chroma:.3f}, pattern {sec.pattern:.3f}")
        if self.profile.edges_visible:
            self._check_extent(img, mesh, lad.paper, layout)
        else:
            self._check_extent_blind(img.shape[0], mesh, layout)
        st.lap("edges")
        if colour:
            stripe_reading = stripe.read_stripe(img, mesh, layout.paper_h_mm, self.ppm)
            info["stripe"] = stripe_reading.colour
            dbg["stripe"] = stripe_reading
            expected = stripe.EXPECTED[layout.kind]
            if stripe_reading.colour != expected:
                raise SheetRejected(RejectReason.STRIPE_MISMATCH,
                                    f"stripe reads {stripe_reading.colour}, code says "
                                    f"{layout.kind.value} ({expected})")
            st.lap("stripe")
        self._check_station(layout)
        self._check_streaks(green, mesh, layout, dbg)
        st.lap("streaks")
        template = self.templates.get(layout)
        readings = score_targets(img, mesh, template, lad.paper, cfg.thresholds, g.search_px,
                                 cfg.dpi, dbg if debug is not None else None,
                                 self.profile.gamma)
        dbg["readings"] = readings
        st.lap("marks")
        missing = [f"{r.contest}/{r.option}" for r in readings if r.scores.printed < MIN_PRINTED]
        if missing:
            raise SheetRejected(RejectReason.NOT_A_BALLOT,
                                f"{len(missing)} voting boxes not printed (e.g. {missing[0]})")
        contests = self._judge(layout, readings)
        marginal = tuple(f"{r.contest}/{r.option}" for r in readings if r.mark is Mark.MARGINAL)
        outcome = Outcome.REVIEW if marginal else Outcome.ACCEPTED
        st.lap("judge")
        return SheetInterpretation(outcome, None, "", targets=readings, contests=contests,
                                   marginal=marginal, timings_ms=st.marks, **info)

    @staticmethod
    def _check_count(lad: ladder.SideLadders, mesh: Mesh, layout: BallotLayout) -> None:
        """The exact timing-mark count; when it is short and both ladders carry more marks
        past the run, tell a fold (the pieces add up to the ballot, on its grid) from a
        second sheet."""
        n = layout.timing.count
        if mesh.rows == n:
            return
        runs = [r for r in (lad.left, lad.right) if r is not None]
        if len(runs) == 2 and all(r.beyond >= 2 for r in runs):
            fold = all(r.on_grid and r.n + r.beyond < n for r in runs)
            if not fold:
                raise SheetRejected(RejectReason.DOUBLE_FEED,
                                    f"{mesh.rows} timing marks and more past them: two sheets")
        raise SheetRejected(RejectReason.REGISTRATION, f"{mesh.rows} timing marks, layout has {n}")

    def _check_extent(self, img: np.ndarray, mesh: Mesh, paper: float,
                      layout: BallotLayout) -> None:
        g = self.config.geometry
        ext = edges.measure(img, mesh, paper, layout.paper_w_mm, layout.paper_h_mm,
                            edges.backing_level(self.profile.backing))
        s = ext.print_scale
        if s is None:
            raise SheetRejected(RejectReason.REGISTRATION, "sheet edges not visible")
        if not g.print_scale_min <= s <= g.print_scale_max:
            raise SheetRejected(RejectReason.SCALE, f"printed at scale {s:.3f}")
        for end, share in (("head", ext.head_backing), ("tail", ext.tail_backing)):
            if share is None:
                raise SheetRejected(RejectReason.REGISTRATION, f"sheet {end} not visible")
            if share < g.backing_share:
                raise SheetRejected(RejectReason.DOUBLE_FEED,
                                    f"paper past the ballot's {end} ({1 - share:.0%} of points)")

    def _check_extent_blind(self, image_h: int, mesh: Mesh, layout: BallotLayout) -> None:
        """Fit-to-page and a second sheet where the paper's edge cannot be seen.

        Print scale: the ladder separation across the feed (optics only, no feed
        speed in it) against the device's calibrated optical scale. Second sheet:
        a scanner delivers the fed paper plus its over-scan (none when it crops to
        the page), so an image running on past the ballot's head or tail by more
        than that held more paper than the ballot.
        """
        g, prof = self.config.geometry, self.profile
        s = mesh.scale(self.ppm) / (prof.optical_scale or 1.0)
        if not g.print_scale_min <= s <= g.print_scale_max:
            raise SheetRejected(RejectReason.SCALE,
                                f"printed at scale {s:.3f} (ladder separation against the "
                                "device's optical scale)")
        w, h = layout.paper_w_mm, layout.paper_h_mm
        corners = mesh.to_image(np.array([0.0, w, 0.0, w]), np.array([0.0, 0.0, h, h]))
        along = float(np.linalg.norm(mesh.left[-1] - mesh.left[0])) / max(
            1e-6, (mesh.rows - 1) * LADDER_PITCH_MM)  # image px per sheet mm along the feed
        allowed = (0.0 if prof.cropped else prof.overscan_mm) + LENGTH_SLACK_MM
        head_mm = float(corners[:, 1].min()) / along
        tail_mm = (image_h - float(corners[:, 1].max())) / along
        for end, gap in (("above", head_mm), ("below", tail_mm)):
            if gap > allowed:
                raise SheetRejected(RejectReason.DOUBLE_FEED,
                                    f"image runs {gap:.0f} mm {end} the ballot's paper "
                                    f"(at most {allowed:.0f} mm expected): more than one sheet")

    def _check_streaks(self, green: np.ndarray, mesh: Mesh, layout: BallotLayout,
                       dbg: dict[str, Any]) -> None:
        ys = np.concatenate([mesh.left[:, 1], mesh.right[:, 1]])
        xs = np.concatenate([mesh.left[:, 0], mesh.right[:, 0]])
        found = find_streaks(green, (int(ys.min()), int(ys.max())), (int(xs.min()), int(xs.max())),
                             self.config.geometry.streak_levels)
        dbg["streaks"] = found
        if not found:
            return
        for t in layout.targets:
            b = t.box
            corners = mesh.to_image(np.array([b.x_mm, b.right_mm, b.x_mm, b.right_mm]),
                                    np.array([b.y_mm, b.y_mm, b.bottom_mm, b.bottom_mm]))
            # Any column the scoring patch can see: the ring, plus the local search.
            margin = RING_OUTER_MM * self.ppm + self.config.geometry.search_px + 2
            x0, x1 = corners[:, 0].min() - margin, corners[:, 0].max() + margin
            hit = [c for c in found if x0 <= c <= x1]
            if hit:
                raise SheetRejected(RejectReason.STREAK,
                                    f"streak at image column {hit[0]} crosses {t.id}")

    def _judge(self, layout: BallotLayout, readings: tuple[TargetReading, ...]) -> dict[str, Any]:
        selections: dict[str, set[str]] = {}
        for r in readings:
            selections.setdefault(r.contest, set())
            if r.mark is Mark.MARKED:
                selections[r.contest].add(r.option)
        contest_id = PARTY_LIST_CONTEST if layout.kind is BallotKind.PARTY_LIST else layout.contest
        outcome = judge_ballot(self.config.election, layout.kind, contest_id,
                               {k: frozenset(v) for k, v in selections.items()})
        return outcome.to_json()


def interpret(front: Any, back: Any, config: ReaderConfig) -> SheetInterpretation:
    """Interpret one sheet. For many sheets keep a :class:`Reader`: it caches templates."""
    return Reader(config).interpret(front, back)
