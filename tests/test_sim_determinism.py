"""Simulated sheets are a pure function of their settings: same seed, same bytes.

Runs ``pcos sim sheets`` in-process (the same entry point as the console
script) with a few realistic sheets, half of them fakes, so fakes are covered.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from election.default import default_election
from simulator.scanner import preset
from simulator.sheets import SheetFactory, default_station, iter_sheets
from simulator.writer import (
    MANIFEST_FILE,
    TRUTH_FILE,
    read_manifest,
    read_truth,
    sheet_paths,
    write_sheets,
)
from tools.cli import main

COUNT = 4


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Seed 7 twice and seed 8 once (module-scoped: writing sheets is the slow part)."""
    base = tmp_path_factory.mktemp("sim")
    out = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        d = base / name
        rc = main(["sim", "sheets", "--count", str(COUNT), "--seed", str(seed), "--preset",
                   "realistic", "--fakes", "0.5", "--out", str(d)])
        assert rc == 0
        out[name] = d
    return out


def test_same_seed_gives_identical_files(runs: dict[str, Path]) -> None:
    a, b = _files(runs["a"]), _files(runs["b"])
    expected = {p.name for i in range(COUNT) for p in sheet_paths(runs["a"], i)}
    assert set(a) == expected | {TRUTH_FILE, MANIFEST_FILE}
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_fakes_are_exercised(runs: dict[str, Path]) -> None:
    truth = read_truth(runs["a"]) + read_truth(runs["c"])
    assert any(not t["genuine"] for t in truth)
    assert any(t["genuine"] for t in truth)


def test_different_seeds_give_different_files(runs: dict[str, Path]) -> None:
    a, c = _files(runs["a"]), _files(runs["c"])
    assert a.keys() == c.keys()
    for name in a:
        if name != MANIFEST_FILE:
            assert a[name] != c[name], name
    assert read_manifest(runs["a"])["seed"] == 7
    assert read_manifest(runs["c"])["seed"] == 8


def test_manifest_describes_the_run(runs: dict[str, Path]) -> None:
    m = read_manifest(runs["a"])
    assert m["complete"] is True
    assert m["written"] == m["count"] == COUNT
    assert m["preset"] == "realistic"
    assert m["fakes"] == 0.5
    assert m["kind"] == "mixed"
    e = default_election()
    assert m["station"] == default_station(e).number
    assert m["election"]["id"] == e.election_id
    assert len(m["election"]["election_hash"]) == 64
    assert m["package_version"]
    assert m["scanner"]["rotation_deg"] == preset("realistic").rotation_deg


def test_files_match_the_in_memory_sheets(runs: dict[str, Path]) -> None:
    """PNG is lossless and truth.jsonl is the factory's truth: disk == memory."""
    e = default_election()
    factory = SheetFactory(e, default_station(e), preset("realistic"), seed=7, fake_rate=0.5)
    truth = read_truth(runs["a"])
    assert [t["sheet"] for t in truth] == list(range(COUNT))
    for i in (0, COUNT - 1):
        sheet = factory.sheet(i)
        assert truth[i] == sheet.truth
        front_path, back_path = sheet_paths(runs["a"], i)
        for path, img in ((front_path, sheet.front), (back_path, sheet.back)):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            assert bgr is not None
            disk = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            assert np.array_equal(disk, img), path.name


def test_sheet_depends_only_on_its_index() -> None:
    e = default_election()
    station = default_station(e)
    f1 = SheetFactory(e, station, preset("clean"), seed=3)
    f2 = SheetFactory(e, station, preset("clean"), seed=3)
    later_first = f1.sheet(2)
    f2.sheet(0)
    in_order = f2.sheet(2)
    assert np.array_equal(later_first.front, in_order.front)
    assert np.array_equal(later_first.back, in_order.back)
    assert later_first.truth == in_order.truth


def test_iterator_makes_sheets_in_memory_without_touching_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.chdir(work)
    e = default_election()
    factory = SheetFactory(e, default_station(e), preset("realistic"), seed=11, fake_rate=0.3)
    sheets = list(iter_sheets(factory, 3))
    assert [s.truth["sheet"] for s in sheets] == [0, 1, 2]
    for s in sheets:
        assert s.front.dtype == np.uint8 and s.front.ndim == 3 and s.front.shape[2] == 3
        assert s.back.shape == s.front.shape
    assert list(home.iterdir()) == []
    assert list(work.iterdir()) == []
    assert sorted(os.listdir(tmp_path)) == ["home", "work"]


def test_rerun_with_fewer_sheets_leaves_no_stale_images(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheets"
    out.mkdir()
    (out / "000009-front.png").write_bytes(b"old")
    (out / "000000-front.tiff").write_bytes(b"old")
    (out / "notes.txt").write_text("kept")
    rc = main(["sim", "sheets", "--count", "1", "--preset", "clean", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000000-back.png", "000000-front.png", MANIFEST_FILE, "notes.txt",
                     TRUTH_FILE]
    assert len(read_truth(out)) == 1


def test_interrupted_run_keeps_whole_lines_for_finished_sheets(tmp_path: Path) -> None:
    e = default_election()
    factory = SheetFactory(e, default_station(e), preset("clean"), seed=1)

    def stop_after_two(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_sheets(factory, 5, tmp_path, progress=stop_after_two)
    truth_text = (tmp_path / TRUTH_FILE).read_text(encoding="utf-8")
    assert truth_text.endswith("\n")
    assert [t["sheet"] for t in read_truth(tmp_path)] == [0, 1]
    m = read_manifest(tmp_path)
    assert m["complete"] is False and m["written"] == 2 and m["count"] == 5
    for i in (0, 1):
        assert all(p.exists() for p in sheet_paths(tmp_path, i))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
