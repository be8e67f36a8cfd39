"""Issue 9's command-line rows on real image files: the DPI a file states, greyscale
files, the scanner-profile options, and the exit code when files cannot be read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vision.imageio import load_scan, save_image

STATION_ID = "6007"  # the simulator's default station, which `pcos sim sheets` uses

PCOS = str(Path(sys.executable).parent / "pcos")


def _pcos(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PCOS, *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("ext", ["png", "tif", "jpg"])
@pytest.mark.parametrize("dpi", [150, 300])
def test_files_state_their_dpi(tmp_path: Path, ext: str, dpi: int) -> None:
    """PNG pHYs, TIFF XResolution and JPEG JFIF density are written and read back."""
    img = np.random.default_rng(1).integers(0, 255, (420, 410, 3), dtype=np.uint8)
    scan = load_scan(save_image(tmp_path / f"a.{ext}", img, dpi=dpi))
    assert scan.dpi == dpi and not scan.grey
    assert load_scan(save_image(tmp_path / f"b.{ext}", img)).dpi is None


@pytest.fixture(scope="module")
def deck_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deck300")
    proc = _pcos("sim", "sheets", "--count", "2", "--seed", "3", "--kind", "district",
                 "--preset", "realistic", "--dpi", "300", "--backing", "grey", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_scan_takes_the_dpi_from_the_files(deck_300: Path) -> None:
    """Issue row 2: 300 DPI files (stating their DPI) read without --dpi."""
    assert load_scan(deck_300 / "000000-front.png").dpi == 300
    proc = _pcos("scan", "--dir", deck_300, "--backing", "grey", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "300 DPI" in proc.stderr and "grey backing" in proc.stderr
    truth = [json.loads(x) for x in (deck_300 / "truth.jsonl").read_text().splitlines()]
    for line, t in zip(_lines(proc.stdout), truth, strict=True):
        assert line["outcome"] in ("accepted", "review"), line
        assert line["contests"] == t["expected"]


def test_scan_refuses_a_file_at_another_dpi_than_the_profile(deck_300: Path) -> None:
    proc = _pcos("scan", "--station", STATION_ID, deck_300 / "000000-front.png",
                 deck_300 / "000000-back.png",
                 "--dpi", "200", "--json")
    assert proc.returncode == 2
    (line,) = _lines(proc.stdout)
    assert line["reason"] == "image-invalid" and "300 DPI" in line["detail"]


def test_greyscale_files_are_read_with_colour_checks_off(deck_300: Path, tmp_path: Path) -> None:
    """Issue row 3 on files: one-channel scans mean a greyscale sensor; with the opt-in the
    sheet is read with the colour checks off (said once on stderr), not rejected as a
    copy; without it the device is refused once (see the three-channel test)."""
    for side in ("front", "back"):
        rgb = load_scan(deck_300 / f"000001-{side}.png").rgb
        grey = np.rint(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        save_image(tmp_path / f"g-{side}.png", grey, dpi=300)
    assert load_scan(tmp_path / "g-front.png").grey
    proc = _pcos("scan", "--station", STATION_ID, tmp_path / "g-front.png",
                 tmp_path / "g-back.png", "--backing", "grey",
                 "--json", "--allow-greyscale")
    assert proc.returncode == 0, proc.stderr
    assert "greyscale" in proc.stderr and "not checked" in proc.stderr
    (line,) = _lines(proc.stdout)
    assert line["outcome"] in ("accepted", "review"), line


def test_profile_file_and_bad_profile(deck_300: Path, tmp_path: Path) -> None:
    good = tmp_path / "device.json"
    good.write_text(json.dumps({"dpi": 300, "backing": "grey"}))
    proc = _pcos("scan", "--dir", deck_300, "--profile", good, "--json")
    assert proc.returncode == 0, proc.stderr
    assert all(x["outcome"] != "rejected" for x in _lines(proc.stdout))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dpi": 600}))
    proc = _pcos("scan", "--dir", deck_300, "--profile", bad)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "pcos: error: scanner DPI must be 150 to 300, not 600"]


def test_scan_of_missing_files_exits_nonzero(tmp_path: Path) -> None:
    """Issue row 13: ``pcos scan nope.png nope2.png`` printed image-invalid and exited 0."""
    proc = _pcos("scan", "--station", STATION_ID, tmp_path / "nope.png", tmp_path / "nope2.png")
    assert proc.returncode == 2
    assert "image-invalid" in proc.stdout
    assert "pcos: error: 1 of 1 sheets could not be read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_three_identical_channels_are_a_greyscale_sensor(tmp_path: Path) -> None:
    """A greyscale sensor that writes RGB files (three equal channels) is recognised too."""
    out = tmp_path / "deck"
    proc = _pcos("sim", "sheets", "--count", "1", "--seed", "4", "--kind", "district",
                 "--preset", "clean", "--greyscale", "--out", out)
    assert proc.returncode == 0, proc.stderr
    rgb = load_scan(out / "000000-front.png").rgb
    assert not load_scan(out / "000000-front.png").grey
    assert (rgb[..., 0] == rgb[..., 2]).all()
    refused = _pcos("scan", "--dir", out, "--json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("pcos: error: this device needs a colour sensor") == 1
    assert "Traceback" not in refused.stderr
    proc = _pcos("scan", "--dir", out, "--json", "--allow-greyscale")
    assert proc.returncode == 0, proc.stderr
    assert "colour checks off" in proc.stderr and "not checked: security band" in proc.stderr
    (line,) = _lines(proc.stdout)
    assert line["outcome"] in ("accepted", "review"), line
    graded = _pcos("scan", "--dir", out, "--grade", "--allow-greyscale")
    assert graded.returncode == 0, graded.stderr
    assert "not checked by this scanner profile: security band" in graded.stdout
