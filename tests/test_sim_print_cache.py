"""The printed-raster cache (``SheetFactory.print_cache_dir``) changes no pixel.

A station's devices (and each device again after a power cut) share the printed
blank rasters of the day's print runs on disk. A sheet rendered from the disk
cache, in another factory that never rendered the raster itself, must be
byte-identical to the same sheet rendered without any cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from election.default import default_election
from election.model import BallotKind, Language
from simulator.print_run import apply_run
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station

SEED = 31
SHEETS = (0, 1)


def _factory(cache: Path | None) -> SheetFactory:
    e = default_election()
    f = SheetFactory(e, default_station(e), preset("realistic"), seed=SEED, kind="party-list")
    f.print_cache_dir = cache
    return f


def test_sheets_from_the_disk_cache_equal_uncached_sheets(tmp_path: Path) -> None:
    plain = [_factory(None).sheet(i) for i in SHEETS]
    writer = _factory(tmp_path)
    first = [writer.sheet(i) for i in SHEETS]
    files = sorted(tmp_path.glob("printed-*.rgb"))
    assert files, "the factory wrote no printed raster"
    reader = _factory(tmp_path)  # a new process: its memory is empty, the disk is not
    second = [reader.sheet(i) for i in SHEETS]
    assert sorted(tmp_path.glob("printed-*.rgb")) == files  # read, not rendered again
    for a, b, c in zip(plain, first, second, strict=True):
        assert a.truth == b.truth == c.truth
        for side in ("front", "back"):
            assert np.array_equal(getattr(a, side), getattr(b, side)), side
            assert np.array_equal(getattr(a, side), getattr(c, side)), side


def test_printed_raster_is_the_print_runs_output_and_read_only(tmp_path: Path) -> None:
    from calibration.render_raster import render_layout

    f = _factory(tmp_path)
    layout = f.layout(BallotKind.PARTY_LIST, None, Language.KY)
    run = len(f.print_runs) - 1
    got = f.printed(layout, run)
    want = apply_run(render_layout(layout, f.params.dpi), f.print_runs[run], f.ppm)
    assert np.array_equal(got, want)
    assert not got.flags.writeable
    again = _factory(tmp_path).printed(layout, run)  # from disk
    assert np.array_equal(again, want)


def test_a_corrupt_cache_file_is_rendered_again(tmp_path: Path) -> None:
    f = _factory(tmp_path)
    layout = f.layout(BallotKind.PARTY_LIST, None, Language.RU)
    want = f.printed(layout, 0).copy()
    (path,) = tmp_path.glob("printed-*.rgb")
    path.write_bytes(path.read_bytes()[:5000])  # cut short: not whole
    got = _factory(tmp_path).printed(layout, 0)
    assert np.array_equal(got, want)
    assert path.stat().st_size > 5000  # rewritten whole


@pytest.mark.parametrize("other", ["seed", "dpi"])
def test_cache_files_are_named_by_what_the_pixels_depend_on(tmp_path: Path, other: str) -> None:
    f = _factory(tmp_path)
    layout = f.layout(BallotKind.PARTY_LIST, None, Language.KY)
    e = default_election()
    g = SheetFactory(e, default_station(e),
                     preset("realistic").with_(dpi=150.0) if other == "dpi"
                     else preset("realistic"),
                     seed=SEED + (1 if other == "seed" else 0), kind="party-list")
    g.print_cache_dir = tmp_path
    layout_g = g.layout(BallotKind.PARTY_LIST, None, Language.KY)
    assert f._printed_path(layout, 0) != g._printed_path(layout_g, 0)
    assert f._printed_path(layout, 0) != f._printed_path(layout, 1)


def test_factories_of_one_seed_share_one_noise_tile_and_the_same_sheets() -> None:
    e = default_election()
    station = default_station(e)
    a = SheetFactory(e, station, preset("realistic"), seed=SEED, kind="party-list")
    b = SheetFactory(e, station, preset("realistic"), seed=SEED, kind="party-list")
    other = SheetFactory(e, station, preset("realistic"), seed=SEED + 1, kind="party-list")
    alone = b.sheet(0)
    b2 = SheetFactory(e, station, preset("realistic"), seed=SEED, kind="party-list")
    b2.share_noise(a)
    assert b2._noise is a._noise
    shared = b2.sheet(0)
    assert np.array_equal(alone.front, shared.front) and np.array_equal(alone.back, shared.back)
    other.share_noise(a)  # another seed draws its own noise
    assert other._noise is not a._noise


def test_noise_tile_kept_on_disk_is_the_drawn_tile(tmp_path: Path) -> None:
    """The sensor-noise tile read back from the cache is exactly the one drawn; a cut or
    foreign file is drawn afresh; another seed or sigma has its own file."""
    from simulator.scanner import NoiseBank

    small = (64, 48)
    drawn = NoiseBank(2.5, seed=SEED, tile_hw=small)
    want = drawn._tiles()
    first = NoiseBank(2.5, seed=SEED, tile_hw=small, cache_dir=tmp_path)
    for got, ref in zip(first._tiles(), want, strict=True):  # drawn, then written
        np.testing.assert_array_equal(got, ref)
    path = first.cache_path()
    assert path is not None and path.is_file()
    again = NoiseBank(2.5, seed=SEED, tile_hw=small, cache_dir=tmp_path)
    for got, ref in zip(again._tiles(), want, strict=True):  # read back
        np.testing.assert_array_equal(got, ref)
    assert not again._tiles()[0].flags.writeable  # read from the file, not drawn
    path.write_bytes(path.read_bytes()[:40])  # a cut file
    cut = NoiseBank(2.5, seed=SEED, tile_hw=small, cache_dir=tmp_path)
    for got, ref in zip(cut._tiles(), want, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert NoiseBank(2.5, seed=SEED + 1, tile_hw=small, cache_dir=tmp_path).cache_path() != path
    assert NoiseBank(3.0, seed=SEED, tile_hw=small, cache_dir=tmp_path).cache_path() != path


def test_sheets_with_the_kept_noise_tile_are_the_same(tmp_path: Path) -> None:
    """A factory reading the noise tile another one kept renders the same sheets."""
    plain = _factory(None).sheet(0)
    writer = _factory(tmp_path)
    writer.keep_noise(tmp_path)
    writer.prepare_noise()
    reader = _factory(tmp_path)
    reader.keep_noise(tmp_path)
    kept = reader.sheet(0)
    np.testing.assert_array_equal(plain.front, kept.front)
    np.testing.assert_array_equal(plain.back, kept.back)


@pytest.mark.parametrize("of", [1, 2, 3])
@pytest.mark.parametrize("jobs", [0, 1, 7, 24])
def test_print_ahead_shares_every_job_once_and_the_noise_tile_to_the_first(of: int,
                                                                           jobs: int) -> None:
    from simulator.station_day import mine_of

    shares = [mine_of(jobs, s, of) for s in range(of)]
    assert shares[0][:1] == [-1] and all(-1 not in s for s in shares[1:])
    assert sorted(k for s in shares for k in s if k >= 0) == list(range(jobs))


def test_blank_darkness_kept_on_disk_is_the_computed_one(tmp_path: Path) -> None:
    """A blank's quarter-size darkness (the bleed-through source) read back from the print
    cache is exactly the computed one, and the sheets made with it are the same; a cut
    file is computed afresh."""
    from simulator.sheets import _small_darkness

    plain = _factory(None)
    layout = plain.layout(BallotKind.PARTY_LIST, None, Language.KY)
    rgba, want = plain.blank(layout, 0.9, 1.0, 1)
    np.testing.assert_array_equal(want, _small_darkness(rgba))
    writer = _factory(tmp_path)
    writer.blank(layout, 0.9, 1.0, 1)
    path = writer._dark_path(layout, 1, 0.9, 1.0)
    assert path is not None and path.is_file()
    assert writer._dark_path(layout, 1, 0.6, 1.0) != path
    assert writer._dark_path(layout, 0, 0.9, 1.0) != path
    reader = _factory(tmp_path)
    _rgba, got = reader.blank(layout, 0.9, 1.0, 1)
    np.testing.assert_array_equal(got, want)
    for i in SHEETS:
        a, b = plain.sheet(i), reader.sheet(i)
        np.testing.assert_array_equal(a.front, b.front)
        np.testing.assert_array_equal(a.back, b.back)
    path.write_bytes(path.read_bytes()[:30])
    _rgba, again = _factory(tmp_path).blank(layout, 0.9, 1.0, 1)
    np.testing.assert_array_equal(again, want)
