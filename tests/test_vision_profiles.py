"""Issue 9's table, row by row: the reader on real print and real scanners.

Each row of the issue becomes a test here: white/grey backing and page-cropped
scanners, 150/300 DPI, a greyscale sensor, gamma 1.8 on a district ballot,
skew 7° and 10°, dot gain +1/+2 px, light pencil filling or crossing a box, a
pale blue pen, a pale-ink overvote on a district ballot, ``internal-error``
as its own reason. The command-line rows (DPI from the file, greyscale files,
the exit code) are in ``test_vision_profiles_cli.py``, on real image files.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pytest

from calibration.render_raster import render_layout
from election.default import default_election
from election.layout import ballot_layout
from election.model import BallotKind, Language
from election.reject import RejectReason, message
from firmware.reader_setup import make_reader
from simulator import scanner as sc
from simulator.ink import INSTRUMENTS, Instrument, composite
from simulator.marks import Shape, Variant, VoterStyle, draw_vote_mark
from simulator.print_run import PrintRun, apply_run
from simulator.sheets import SheetFactory, default_station
from vision.config import Backing, ColourSensorRequired, ProfileError, ScannerProfile
from vision.interpret import Reader
from vision.result import Mark, Outcome

E = default_election()
STATION = default_station(E)
PPM = 200 / 25.4
DEVICE_SCALE = 1.01


def _grade_sheets(reader: Reader, factory: SheetFactory, indices: range) -> None:
    """Every genuine sheet read, every definite/none target read as truth says, no
    blank box flagged marginal."""
    for i in indices:
        s = factory.sheet(i)
        res = reader.interpret(s.front, s.back)
        assert res.outcome is not Outcome.REJECTED, (i, res.reason, res.detail)
        truth = {(t["contest"], t["option"]): t["class"] for t in s.truth["targets"]}
        for r in res.targets:
            cls = truth[(r.contest, r.option)]
            if cls == "definite":
                assert r.mark is Mark.MARKED, (i, r)
            elif cls == "none":
                assert r.mark is Mark.UNMARKED, (i, r)


def _factory(params: sc.ScannerParams, seed: int = 9, kind: str = "party-list,district",
             fakes: float = 0.0) -> SheetFactory:
    return SheetFactory(E, STATION, params, seed=seed, kind=kind, fake_rate=fakes)


# ----------------------------------------------------------------- profiles


def test_profile_validation() -> None:
    with pytest.raises(ProfileError, match="150 to 300"):
        ScannerProfile(dpi=100)
    with pytest.raises(ProfileError, match="dark, grey or white"):
        ScannerProfile(backing="black")  # type: ignore[arg-type]
    with pytest.raises(ProfileError, match="unknown scanner profile field"):
        ScannerProfile.from_json({"dpi": 200, "colour_sensor": True})
    p = ScannerProfile.from_json({"dpi": 300, "backing": "white", "cropped": True,
                                  "colour": False, "optical_scale": 1.004,
                                  "allow_greyscale": True})
    with pytest.raises(ProfileError, match="allow_greyscale must be true or false"):
        ScannerProfile.from_json({"allow_greyscale": "yes"})
    assert (p.dpi, p.backing, p.edges_visible) == (300, Backing.WHITE, False)
    assert "not checked" in p.describe() and "greyscale" in p.describe()
    assert ScannerProfile.from_json(p.to_json()) == p
    assert ScannerProfile(backing=Backing.GREY).edges_visible
    assert not ScannerProfile(backing=Backing.GREY, colour=False).edges_visible


@pytest.mark.parametrize(("backing", "cropped"), [("white", False), ("grey", False),
                                                  ("white", True), ("dark", True)])
def test_backing_and_cropped_scanners_read_genuine_sheets(backing: str, cropped: bool) -> None:
    """Issue row 1: a white or grey backing, or a scanner cropping to the page, no longer
    rejects every sheet as "sheet edges not visible"."""
    params = sc.preset("realistic").with_backing(backing).with_(
        cropped=cropped, scale=(DEVICE_SCALE, DEVICE_SCALE))
    profile = ScannerProfile(backing=Backing(backing), cropped=cropped,
                             optical_scale=DEVICE_SCALE)
    _grade_sheets(make_reader(E, STATION, profile=profile), _factory(params), range(3))


def _first(factory: SheetFactory, fake: str, limit: int = 60):  # type: ignore[no-untyped-def]
    for i in range(limit):
        s = factory.sheet(i)
        if s.truth["fake"] == fake:
            return s
    raise AssertionError(f"no {fake} in {limit} sheets")


@pytest.mark.parametrize(("backing", "cropped"), [("white", False), ("white", True)])
def test_without_visible_edges_fit_to_page_and_double_feed_are_still_caught(
        backing: str, cropped: bool) -> None:
    """Where the paper edge cannot be seen, the ladder separation against the device's
    optical scale catches fit-to-page, and the image length catches a second sheet."""
    params = sc.preset("realistic").with_backing(backing).with_(
        cropped=cropped, scale=(DEVICE_SCALE, DEVICE_SCALE), jpeg_probability=0.0)
    reader = make_reader(E, STATION,
                         profile=ScannerProfile(backing=Backing(backing), cropped=cropped,
                                                    optical_scale=DEVICE_SCALE))
    factory = _factory(params, seed=31, fakes=1.0)
    fit = _first(factory, "fit-to-page")
    res = reader.interpret(fit.front, fit.back)
    assert res.reason is RejectReason.SCALE, res.detail
    assert "optical scale" in res.detail
    double = _first(factory, "double-feed")
    assert double.front.shape[0] > fit.front.shape[0]  # the image holds both sheets
    assert reader.interpret(double.front, double.back).reason is RejectReason.DOUBLE_FEED


@pytest.mark.parametrize("dpi", [150.0, 300.0])
def test_150_and_300_dpi(dpi: float) -> None:
    """Issue row 2 (in memory; the file's DPI through the CLI is tested on real files)."""
    params = sc.preset("realistic").with_(dpi=dpi)
    _grade_sheets(make_reader(E, STATION, profile=ScannerProfile(dpi=dpi)), _factory(params),
                  range(2))


def test_greyscale_sensor_is_refused_at_start_up_by_default() -> None:
    """The Kyrgyz policy: a greyscale device does not start ("this device needs a colour
    sensor"), once, before any sheet; it never rejects every sheet as a copy."""
    grey = ScannerProfile(colour=False)
    assert "refused" in grey.describe()
    with pytest.raises(ColourSensorRequired, match="this device needs a colour sensor"):
        make_reader(E, STATION, profile=grey)
    with pytest.raises(ColourSensorRequired):
        ScannerProfile.from_json({"colour": False}).require_usable()
    ScannerProfile().require_usable()  # a colour sensor needs no opt-in
    ScannerProfile(allow_greyscale=True).require_usable()


def test_greyscale_sensor_reads_with_colour_checks_off() -> None:
    """Issue row 3, opted in: a greyscale sensor's sheets are read (security band and
    stripe colour switched off, as the profile says), not rejected as copies. A colour
    profile on the same images rejects them: the profile must say what the sensor is."""
    params = sc.preset("realistic").with_(greyscale=True)
    factory = _factory(params, seed=12)
    grey = ScannerProfile(colour=False, allow_greyscale=True)
    assert "security band" in grey.describe() and "colour checks off" in grey.describe()
    assert ScannerProfile.from_json(grey.to_json()) == grey
    _grade_sheets(make_reader(E, STATION, profile=grey), factory, range(3))
    s = factory.sheet(0)
    assert np.array_equal(s.front[..., 0], s.front[..., 2])
    colour = make_reader(E, STATION).interpret(s.front, s.back)
    assert colour.reason is RejectReason.SECURITY_MISSING


def test_gamma_1_8_district_stripe_is_not_taken_for_backing() -> None:
    """Issue row 4: gamma 1.8 darkens the blue stripe below the old backing threshold in
    green; the edge rays use the brightest channel, so a default-profile reader (gamma
    not calibrated) reads the district ballot."""
    params = sc.preset("realistic").with_(gamma=(1.8, 1.8), jpeg_probability=0.0)
    factory = _factory(params, seed=5, kind="district")
    reader = make_reader(E, STATION)
    for i in range(3):
        s = factory.sheet(i)
        res = reader.interpret(s.front, s.back)
        assert res.reason is not RejectReason.SCALE, res.detail
        assert res.outcome is not Outcome.REJECTED, (res.reason, res.detail)
    # With the tone curve calibrated, blank boxes are not flagged either.
    _grade_sheets(make_reader(E, STATION, profile=ScannerProfile(gamma=1.8)), factory, range(3))


# ----------------------------------------------------------------- skew


def _page(kind: BallotKind = BallotKind.PARTY_LIST) -> tuple[np.ndarray, object]:
    contest = None if kind is BallotKind.PARTY_LIST else STATION.district
    layout = ballot_layout(E, kind, contest, Language.RU)
    return render_layout(layout, 200), layout


def _feed(page: np.ndarray, rot: float, window_mm: float = 220.0,
          backing: tuple[int, int, int] = (52, 54, 58)) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``rot`` degrees of skew, centred in a ``window_mm`` scan window."""
    src = cv2.cvtColor(page, cv2.COLOR_RGB2RGBA)
    sh, sw = src.shape[:2]
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    half_len = (abs(s) * sw + abs(c) * sh) / 2
    window_w = round(window_mm * PPM)
    m = sc._homography(sw, sh, PPM, rot, 1.0, (0.0, 0.0), (0.0, 0.0), False, window_w,
                       5 * PPM + half_len)
    h = int(2 * half_len + 10 * PPM)
    geo = sc.FeedGeometry(m, np.array([0.0, h]), np.array([0.0, h]), h, window_w)
    front = cv2.cvtColor(sc.warp_sheet(src, geo, (*backing, 0)), cv2.COLOR_RGBA2RGB)
    front = cv2.GaussianBlur(front, (0, 0), 0.7)
    back = np.full_like(front, 238)
    back[:, :] = np.where(sc.warp_sheet(src, geo, (*backing, 0))[..., 3:4] > 0, 238,
                          np.array(backing, np.uint8))
    return front, back


@pytest.fixture(scope="module")
def marked_page() -> tuple[np.ndarray, set[str]]:
    page, layout = _page()
    chosen = {layout.targets[4].id, layout.targets[30].id}  # type: ignore[attr-defined]
    for t in layout.targets:  # type: ignore[attr-defined]
        if t.id in chosen:
            b = t.box
            cv2.rectangle(page, (int(b.x_mm * PPM) + 6, int(b.y_mm * PPM) + 6),
                          (int(b.right_mm * PPM) - 6, int(b.bottom_mm * PPM) - 6),
                          (30, 52, 150), -1)
    return page, chosen


@pytest.mark.parametrize("rot", [-7.0, 7.0])
def test_skew_7_degrees_is_read(marked_page: tuple[np.ndarray, set[str]], rot: float) -> None:
    """Issue row 5: 7° was registration-failed (the ladder search stopped at 6°)."""
    page, chosen = marked_page
    res = make_reader(E, STATION).interpret(*_feed(page, rot))
    assert res.outcome is Outcome.ACCEPTED, (res.reason, res.detail)
    assert {f"{r.contest}/{r.option}" for r in res.targets if r.mark is Mark.MARKED} == chosen


@pytest.mark.parametrize("rot", [-10.0, 10.0])
def test_skew_10_degrees_read_when_the_sheet_is_in_the_window(
        marked_page: tuple[np.ndarray, set[str]], rot: float) -> None:
    """Issue row 6: 10° in a window holding the whole sheet (a page-cropping scanner, or a
    wider transport) is read; in a 220 mm window its corners leave the image, and it is
    rejected as a crooked feed ("insert it straight"), never as not-a-ballot."""
    page, chosen = marked_page
    reader = make_reader(E, STATION)
    res = reader.interpret(*_feed(page, rot, window_mm=265.0))
    assert res.outcome is Outcome.ACCEPTED, (res.reason, res.detail)
    assert {f"{r.contest}/{r.option}" for r in res.targets if r.mark is Mark.MARKED} == chosen
    tight = reader.interpret(*_feed(page, rot, window_mm=220.0))
    if tight.outcome is Outcome.REJECTED:
        assert tight.reason is RejectReason.REGISTRATION, (tight.reason, tight.detail)
        assert "crooked" in tight.detail
        assert "ровно" in message(RejectReason.REGISTRATION).voter.ru
    else:
        assert {f"{r.contest}/{r.option}" for r in tight.targets
                if r.mark is Mark.MARKED} == chosen


# ----------------------------------------------------------------- print


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_dot_gain_flags_no_blank_box_and_passes_security(gain: float) -> None:
    """Issue rows 7-8: print 1 or 2 px heavier than the raster (plus blur up to the harsh
    preset's 1.4 px): no blank box marginal, security band still genuine."""
    params = sc.preset("clean").with_(dot_gain_px=(gain, gain), blur_px=(1.4,))
    factory = _factory(params, seed=17)
    assert factory.print_runs[0].dot_gain_px == gain
    _grade_sheets(make_reader(E, STATION), factory, range(3))


def test_print_run_spreads_lines_and_keeps_blank_paper() -> None:
    """The simulator's dot gain widens a 0.5 mm line by the stated px and leaves paper
    white; misregistration moves the colour plate only."""
    page = np.full((60, 80, 3), 255, np.uint8)
    page[:, 30:34] = 0  # a black line, 4 px
    page[:, 50:54] = (245, 200, 130)  # a pale orange line (security colour)
    out = apply_run(page, PrintRun(dot_gain_px=2.0), PPM)
    assert (out[30, :, 1] < 128).sum() == 6  # 4 px + 1 px each side
    assert out[30, 0, 1] == 255
    shifted = apply_run(page, PrintRun(misregistration_mm=(4 / PPM, 0.0)), PPM)
    assert (shifted[30, 30:34] == 0).all()  # black stays
    assert (shifted[30, 54:58, 2] < 200).all()  # the orange moved 4 px right ...
    left = shifted[30, 50:54].astype(int)
    assert (left >= 240).all() and (left.max(axis=1) - left.min(axis=1) == 0).all()  # ... grey


# ----------------------------------------------------------------- inks


def _district_with_marks(marks: list[tuple[int, Instrument, float, Shape]],
                         paper: float = 1.0, seed: int = 3
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    page, layout = _page(BallotKind.DISTRICT)
    rng = np.random.default_rng(seed)
    ids = []
    for index, inst, opacity, shape in marks:
        t = layout.targets[index]  # type: ignore[attr-defined]
        style = VoterStyle(inst, 0.5, opacity, shape, 1.0, 0.05, 0.0)
        composite(page, draw_vote_mark(rng, style, t.box, Variant.NORMAL, PPM), 0.7)
        ids.append(t.id)
    if paper != 1.0:
        page = np.clip(page.astype(np.float32) * paper, 0, 255).astype(np.uint8)
    front, back = _feed(page, 1.5)
    return front, back, ids


@pytest.mark.parametrize("shape", [Shape.FILL, Shape.CROSS])
def test_light_pencil_fill_or_cross_is_a_mark(shape: Shape) -> None:
    """Issue row 9: light pencil (darkness ~0.2-0.27, under the old 0.30 ink level across
    most strokes) filling or crossing a box is counted."""
    front, back, (tid,) = _district_with_marks([(1, INSTRUMENTS["pencil"], 0.35, shape)])
    res = make_reader(E, STATION).interpret(front, back)
    marked = [f"{r.contest}/{r.option}" for r in res.targets if r.mark is Mark.MARKED]
    assert marked == [tid], [(r.option, r.mark, r.scores) for r in res.targets]
    assert res.outcome is Outcome.ACCEPTED


@pytest.mark.parametrize("shape", [Shape.TICK, Shape.CROSS])
def test_pale_blue_pen_is_a_mark(shape: Shape) -> None:
    """Issue row 9: a pale blue pen is plain to a person; in green alone it is faint."""
    front, back, (tid,) = _district_with_marks([(2, INSTRUMENTS["pale-blue"], 0.9, shape)])
    res = make_reader(E, STATION).interpret(front, back)
    marked = [f"{r.contest}/{r.option}" for r in res.targets if r.mark is Mark.MARKED]
    assert marked == [tid]


def test_pale_ink_second_box_is_never_a_silent_misread() -> None:
    """Issue row 10: a dark cross on one candidate and pale ink (green ~190 on paper ~216)
    on another: an overvote, or flagged for review, never a valid vote for the first."""
    pale = Instrument("pale", (120, 165, 235), (0.5, 0.5), (0.34, 0.34), 0.06, 0.45)
    ink = 1.0 - 0.34 * (1.0 - 165 / 255)  # green reflectance of the pale ink
    assert round(216 * ink) in range(185, 196)
    front, back, ids = _district_with_marks(
        [(0, INSTRUMENTS["ballpoint-blue"], 0.85, Shape.CROSS), (1, pale, 0.34, Shape.CROSS)],
        paper=216 / 255)
    res = make_reader(E, STATION).interpret(front, back)
    reads = {f"{r.contest}/{r.option}": r.mark for r in res.targets}
    assert reads[ids[0]] is Mark.MARKED
    assert reads[ids[1]] is not Mark.UNMARKED
    assert res.outcome is Outcome.REVIEW or reads[ids[1]] is Mark.MARKED


# ----------------------------------------------------------------- internal error


def test_internal_error_is_its_own_reason_and_logged(caplog: pytest.LogCaptureFixture,
                                                      marked_page: tuple[np.ndarray, set[str]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue row 11: an exception inside the reader is ``internal-error`` (not
    registration-failed), logged with its traceback; the voter's message says nothing of
    it."""
    reader = make_reader(E, STATION)
    front, back = _feed(marked_page[0], 1.0)

    def boom(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr("vision.interpret.score_targets", boom)
    with caplog.at_level(logging.ERROR, logger="vision.reader"):
        res = reader.interpret(front, back)
    assert res.reason is RejectReason.INTERNAL_ERROR
    assert "ZeroDivisionError" in res.detail
    assert any(r.exc_info and "injected" in str(r.exc_info[1]) for r in caplog.records)
    msg = message(RejectReason.INTERNAL_ERROR)
    assert "ZeroDivision" not in msg.voter.ky + msg.voter.ru
    assert msg.operator.ky and msg.operator.ru


# ----------------------------------------------------------------- known limitation


def test_colour_photocopy_is_not_rejected_known_limitation() -> None:
    """The README says it plainly: a good colour copy (mild background lift, pale tints
    kept) passes the security band, whose chroma and 1 mm hatching a colour copier
    reproduces at 200 DPI. This pins the limitation; a reader that catches such copies
    must update the README and this test."""
    from simulator.fakes import colour_photocopy

    page, _layout = _page(BallotKind.DISTRICT)
    copy = colour_photocopy(page, np.random.default_rng(0))
    res = make_reader(E, STATION).interpret(*_feed(copy, 1.0))
    assert res.outcome is Outcome.ACCEPTED, (res.reason, res.detail)
    grey = cv2.cvtColor(cv2.cvtColor(copy, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert make_reader(E, STATION).interpret(*_feed(grey, 1.0)).reason is (
        RejectReason.SECURITY_MISSING)
