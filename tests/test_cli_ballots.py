"""``pcos ballots render|layout`` end to end, through the installed console script."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from election.default import default_election
from election.geometry import px_per_mm
from election.layout import ballot_layout
from election.model import BallotKind, Language

REPO = Path(__file__).resolve().parents[1]


def _pcos_command() -> list[str]:
    """The ``pcos`` console script of this venv, or the module if it is not installed."""
    script = Path(sys.executable).parent / "pcos"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tools.cli"]


def pcos(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_pcos_command(), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = pcos(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result


# --------------------------------------------------------------------------- render


def test_render_png_twice_is_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "d.png", tmp_path / "b" / "nested" / "d.png"  # parents are created
    for out in (a, b):
        _ok("ballots", "render", "--kind", "district", "--district", "7", "--lang", "ru",
            "--dpi", "200", "--out", out)
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as img:
        assert img.format == "PNG" and img.mode == "RGB"
        assert img.info["dpi"] == pytest.approx((200, 200), abs=0.01)
        layout = ballot_layout(default_election(), BallotKind.DISTRICT, 7, Language.RU)
        ppm = px_per_mm(200)
        assert img.size == (round(layout.paper_w_mm * ppm), round(layout.paper_h_mm * ppm))
        pixels = np.asarray(img)
    # A district ballot: the outer columns carry the blue stripe (b clearly above r).
    left = pixels[:, : int(10 * ppm)].reshape(-1, 3).astype(int)
    assert ((left[:, 2] - left[:, 0]) > 80).sum() > 1000


def test_render_pdf_through_the_cli(tmp_path: Path) -> None:
    outs = [tmp_path / f"local{i}.pdf" for i in range(2)]
    for out in outs:
        result = _ok("ballots", "render", "--kind", "local", "--council",
                     default_election().councils[0].id, "--out", out)
        assert str(out) in result.stdout
    data = outs[0].read_bytes()
    assert data.startswith(b"%PDF-")
    assert data == outs[1].read_bytes()


@pytest.mark.parametrize(("suffix", "fmt"), [(".tif", "TIFF"), (".jpg", "JPEG")])
def test_render_other_raster_formats(tmp_path: Path, suffix: str, fmt: str) -> None:
    out = tmp_path / f"party{suffix}"
    _ok("ballots", "render", "--kind", "party-list", "--dpi", "100", "--out", out)
    with Image.open(out) as img:
        assert img.format == fmt and img.mode == "RGB"
        assert img.info["dpi"] == pytest.approx((100, 100), abs=0.5)
        assert img.size == (round(210 * px_per_mm(100)), round(297 * px_per_mm(100)))


# --------------------------------------------------------------------------- layout


def test_layout_json_is_deterministic_and_complete(tmp_path: Path) -> None:
    outs = [tmp_path / "x" / "layout.json", tmp_path / "y" / "layout.json"]
    for out in outs:
        _ok("ballots", "layout", "--kind", "party-list", "--lang", "ky", "--out", out)
    raw = outs[0].read_bytes()
    assert raw == outs[1].read_bytes()
    text = raw.decode("utf-8")
    assert "\n  " in text  # pretty-printed
    doc = json.loads(text)
    layout = ballot_layout(default_election(), BallotKind.PARTY_LIST, None, Language.KY)
    assert doc["layout_hash"] == layout.layout_hash
    del doc["layout_hash"]
    assert doc == layout.to_json()
    # Cyrillic stays readable (not \\u-escaped) in the file.
    assert default_election().party_list.parties[0].name.ky in text
    assert len(doc["targets"]) == 76
    for target in doc["targets"]:
        assert {"id", "x_mm", "y_mm", "w_mm", "h_mm"} <= set(target)
        assert target["id"] == f"{target['contest']}/{target['option']}"
    hashed = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode()).hexdigest()
    assert hashed == layout.layout_hash


def test_layout_to_stdout_matches_file(tmp_path: Path) -> None:
    out = tmp_path / "l.json"
    _ok("ballots", "layout", "--kind", "local", "--council", "1", "--lang", "ru", "--out", out)
    printed = _ok("ballots", "layout", "--kind", "local", "--council", "1", "--lang", "ru",
                  "--out", "-")
    assert printed.stdout == out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- errors


ERROR_CASES = {
    "district-missing": (["render", "--kind", "district"], "--district"),
    "district-unknown": (["render", "--kind", "district", "--district", "99"], "99"),
    "council-missing": (["render", "--kind", "local"], "--council"),
    "council-unknown": (["layout", "--kind", "local", "--council", "atlantis"], "atlantis"),
    "both-given": (["render", "--kind", "district", "--district", "1", "--council", "1"],
                   "not both"),
    "party-list-with-district": (["render", "--kind", "party-list", "--district", "1"],
                                 "party-list"),
    "bad-extension": (["render", "--kind", "party-list", "--out", "ballot.gif"], ".gif"),
    "bad-dpi": (["render", "--kind", "party-list", "--dpi", "0"], "--dpi"),
    "bad-kind": (["render", "--kind", "presidential"], "presidential"),
    "missing-election-file": (["render", "--kind", "party-list", "--election",
                               "no/such/election.json"], "no/such/election.json"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_are_one_line_exit_2(tmp_path: Path, case: str) -> None:
    args, needle = ERROR_CASES[case]
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out.png")]
    result = pcos("ballots", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pcos: error:")
    assert needle in lines[0]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary
