"""Debug overlays: one valid PNG per stage the sheet reached, with the stage drawn on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibration.render_raster import render_layout
from election.default import default_election
from election.reject import RejectReason
from simulator.scanner import preset
from simulator.sheets import SheetFactory, SimSheet, default_station
from vision.config import ReaderConfig
from vision.debug import (
    MARK_COLOURS,
    START,
    STRIPE_COLOURS,
    Canvas,
    stage_file,
    stages_reached,
    write_debug,
)
from vision.imageio import load_image
from vision.interpret import Reader
from vision.result import Mark, Outcome, SheetInterpretation

ALL_STAGES = ["1-registration", "2-stripe", "3-targets", "4-patches"]


@pytest.fixture(scope="module")
def election() -> Any:
    return default_election()


@pytest.fixture(scope="module")
def reader(election: Any) -> Reader:
    return Reader(ReaderConfig(election, default_station(election), templates=render_layout))


@pytest.fixture(scope="module")
def party_sheet(election: Any) -> SimSheet:
    """A marked party-list ballot, fed upside down on the front."""
    f = SheetFactory(election, default_station(election), preset("realistic"), seed=1,
                     kind="party-list")
    return f.sheet(0)


@pytest.fixture(scope="module")
def district_sheet(election: Any) -> SimSheet:
    """A marked district ballot (blue stripe) on the back."""
    f = SheetFactory(election, default_station(election), preset("realistic"), seed=1,
                     kind="district")
    return f.sheet(1)


def _read(reader: Reader, front: Any, back: Any) -> tuple[SheetInterpretation, dict[str, Any]]:
    debug: dict[str, Any] = {}
    return reader.interpret(front, back, debug), debug


def _names(paths: list[Path], prefix: str) -> list[str]:
    return [p.name.removeprefix(prefix + "-") for p in paths]


def _image_part(overlay: np.ndarray, debug: dict[str, Any], scale: float = 0.5) -> np.ndarray:
    """The drawing without its header band (the band sits on top)."""
    h = Canvas.of(debug["image"], scale).img.shape[0]
    return overlay[-h:]


def _near(img: np.ndarray, xy: tuple[float, float], colour: tuple[int, int, int],
          radius: int = 12, tol: int = 40) -> int:
    """Pixels of about ``colour`` within ``radius`` of the (already scaled) point."""
    x, y = round(xy[0]), round(xy[1])
    win = img[max(0, y - radius) : y + radius, max(0, x - radius) : x + radius].astype(int)
    return int((np.abs(win - np.array(colour)).max(axis=2) <= tol).sum())


@pytest.mark.parametrize("which", ["party", "district"])
def test_accepted_sheet_gets_all_four_overlays(reader: Reader, tmp_path: Path, which: str,
                                               party_sheet: SimSheet,
                                               district_sheet: SimSheet) -> None:
    sh = party_sheet if which == "party" else district_sheet
    res, debug = _read(reader, sh.front, sh.back)
    assert res.outcome is Outcome.ACCEPTED
    paths = write_debug(tmp_path, which, res, debug)
    assert _names(paths, which) == [f"{s}.png" for s in ALL_STAGES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    h, w = debug["image"].shape[:2]
    for p in paths:
        img = load_image(p)  # a complete, valid PNG
        assert p.stat().st_size < 1_500_000
        assert img.std() > 10  # not blank
        if "patches" not in p.name:
            assert img.shape[1] == round(w * 0.5) and img.shape[0] > round(h * 0.5)


def test_targets_overlay_draws_every_box_in_its_class_colour(reader: Reader, tmp_path: Path,
                                                             party_sheet: SimSheet) -> None:
    res, debug = _read(reader, party_sheet.front, party_sheet.back)
    paths = write_debug(tmp_path, "s", res, debug)
    overlay = _image_part(load_image(paths[2]), debug)
    plain = Canvas.of(debug["image"], 0.5).img
    assert overlay.shape == plain.shape
    changed = np.abs(overlay.astype(int) - plain.astype(int)).max(axis=2) > 30
    marked = [t for t in res.targets if t.mark is Mark.MARKED]
    assert marked and len(marked) < len(res.targets)
    for t in res.targets:
        c = (t.centre_px[0] * 0.5, t.centre_px[1] * 0.5)
        # The box outline (5 mm = ~20 px at 50 %) is drawn where the reader found the box ...
        x, y = round(c[0]), round(c[1])
        assert changed[y - 14 : y + 14, x - 14 : x + 14].sum() > 20, t
        # ... in the colour of its class.
        assert _near(overlay, c, MARK_COLOURS[t.mark]) > 10, t
    # Away from boxes and labels (the middle of the sheet's text column), nothing changed much.
    assert changed.mean() < 0.15


def test_registration_overlay_marks_the_ladders_and_start_marks(reader: Reader, tmp_path: Path,
                                                                party_sheet: SimSheet) -> None:
    res, debug = _read(reader, party_sheet.front, party_sheet.back)
    overlay = _image_part(load_image(write_debug(tmp_path, "s", res, debug)[0]), debug)
    lad = debug["ladders"]
    for run in (lad.left, lad.right):
        for (x, y), start in zip(run.points, run.start, strict=True):
            if start:
                assert _near(overlay, (x * 0.5, y * 0.5), START, radius=14) > 10


def test_stripe_overlay_labels_each_sample(reader: Reader, tmp_path: Path,
                                           district_sheet: SimSheet) -> None:
    res, debug = _read(reader, district_sheet.front, district_sheet.back)
    assert res.stripe == "blue"
    overlay = load_image(write_debug(tmp_path, "s", res, debug)[1])
    blue = np.array(STRIPE_COLOURS["blue"])
    assert (np.abs(overlay.astype(int) - blue).max(axis=2) <= 10).sum() > 200


def test_patches_mosaic_shows_new_ink(reader: Reader, tmp_path: Path,
                                      party_sheet: SimSheet) -> None:
    res, debug = _read(reader, party_sheet.front, party_sheet.back)
    mosaic = load_image(write_debug(tmp_path, "s", res, debug)[3])
    red_ink = (mosaic[..., 0] > 200) & (mosaic[..., 1] < 150) & (mosaic[..., 2] < 150)
    assert red_ink.sum() > 500


def _reject_text(paths: list[Path]) -> str:
    return next(p for p in paths if p.name.endswith("-reject.txt")).read_text("utf-8")


def test_wrong_contest_writes_stages_reached_and_the_reason(election: Any, tmp_path: Path,
                                                            district_sheet: SimSheet) -> None:
    st = default_station(election)
    other = next(s for s in election.stations if s.district not in (None, st.district))
    reader = Reader(ReaderConfig(election, other, templates=render_layout))
    res, debug = _read(reader, district_sheet.front, district_sheet.back)
    assert res.reason is RejectReason.WRONG_CONTEST
    paths = write_debug(tmp_path, "wc", res, debug)
    assert _names(paths, "wc") == ["1-registration.png", "2-stripe.png", "reject.txt"]
    text = _reject_text(paths)
    assert "reason: wrong-contest" in text and res.detail in text
    assert "operator message (ru):" in text


def test_streak_reject_draws_the_targets_and_the_streak(reader: Reader, tmp_path: Path,
                                                        district_sheet: SimSheet) -> None:
    ref, debug = _read(reader, district_sheet.front, district_sheet.back)
    img = debug["image"].copy()
    x = int(ref.targets[0].centre_px[0])
    img[:, x : x + 2] = 40
    other = district_sheet.back if ref.side == "front" else district_sheet.front
    res, debug = _read(reader, img, other)
    assert res.reason is RejectReason.STREAK
    paths = write_debug(tmp_path, "st", res, debug)
    assert _names(paths, "st") == ["1-registration.png", "2-stripe.png", "3-targets.png",
                                   "reject.txt"]
    overlay = _image_part(load_image(paths[2]), debug)
    band = overlay[:, round(x * 0.5) - 2 : round(x * 0.5) + 3].astype(int)
    red = np.abs(band - np.array(MARK_COLOURS[Mark.MARKED])).max(axis=2) <= 40
    assert red.any(axis=1).mean() > 0.9  # a red line down the whole image
    # Boxes are drawn, unscored.
    for t in ref.targets:
        c = (t.centre_px[0] * 0.5, t.centre_px[1] * 0.5)
        assert _near(overlay, c, MARK_COLOURS[None], tol=30) > 20


def test_registration_failure_draws_the_ladders_only(reader: Reader, tmp_path: Path,
                                                     party_sheet: SimSheet) -> None:
    ref, debug = _read(reader, party_sheet.front, party_sheet.back)
    ballot = debug["image"]
    other = party_sheet.back if ref.side == "front" else party_sheet.front
    h = ballot.shape[0]
    res, debug = _read(reader, ballot[: h // 2], other[: h // 2])
    assert res.reason is RejectReason.REGISTRATION
    assert "mesh" not in debug
    paths = write_debug(tmp_path, "half", res, debug)
    assert _names(paths, "half") == ["1-registration.png", "reject.txt"]
    assert load_image(paths[0]).shape[1] == round(ballot.shape[1] * 0.5)


@pytest.mark.parametrize("front,back,reason", [
    (np.full((1000, 800, 3), 255, np.uint8), np.zeros((1000, 800, 3), np.uint8),
     RejectReason.NOT_A_BALLOT),
    (None, np.zeros((1000, 800, 3), np.uint8), RejectReason.IMAGE_INVALID),
    (np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.uint8), RejectReason.IMAGE_INVALID),
])
def test_early_rejects_write_only_the_reason(reader: Reader, tmp_path: Path, front: Any,
                                             back: Any, reason: RejectReason) -> None:
    res, debug = _read(reader, front, back)
    assert res.reason is reason
    if reason is RejectReason.IMAGE_INVALID:
        assert stages_reached(debug) == []
    paths = write_debug(tmp_path / "new" / "dir", "early", res, debug)
    assert [p.name for p in paths] == [stage_file("early", s) for s in stages_reached(debug)] + [
        "early-reject.txt"]
    assert f"reason: {reason.value}" in _reject_text(paths)


def test_scale_option_and_bad_names(reader: Reader, tmp_path: Path,
                                    district_sheet: SimSheet) -> None:
    res, debug = _read(reader, district_sheet.front, district_sheet.back)
    full = write_debug(tmp_path, "full", res, debug, scale=1.0)
    assert load_image(full[0]).shape[1] == debug["image"].shape[1]
    for bad in ("", "a/b", "..", "x\0y"):
        with pytest.raises(ValueError):
            write_debug(tmp_path, bad, res, debug)
