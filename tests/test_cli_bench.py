"""``pcos bench``: the figures ``make bench`` prints (output format only; timing is never
asserted in tests).

Protects: the ``name: value unit`` text lines and the single JSON object of
``--json``, with the documented keys of the render and scan benchmarks; an
unknown benchmark or a bad ``--count`` as a one-line error. Only the cheap
benchmarks run here (render with 2 renders, scan with 3 sheets once); the scan
bench's own bookkeeping is also run in-process on stub sheets and a stub reader.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import benchmarks.scan
from tools.cli import main

PCOS = str(Path(sys.executable).parent / "pcos")
RENDER_KEYS = {"render_party_list_200dpi_ms_median", "render_party_list_200dpi_ms_p90",
               "render_district_200dpi_ms_median", "render_district_200dpi_ms_p90"}
SCAN_KEYS = {"ms_per_sheet_median", "ms_per_sheet_p99", "peak_alloc_per_sheet_mb"}
LINE = re.compile(r"^(?P<name>[a-z0-9_]+): (?P<value>-?\d+(?:\.\d+)?)(?: (?P<unit>\S+))?$")


def _pcos(*args: str | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PCOS, *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcos: error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_render_bench_prints_name_value_unit_lines() -> None:
    """Each figure on its own line as ``name: value unit``; the render figures are in ms."""
    proc = _pcos("bench", "render", "--count", 2)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    names = {m["name"] for m in parsed if m}
    assert names == RENDER_KEYS
    for m in parsed:
        assert m and m["unit"] == "ms" and float(m["value"]) > 0


def test_render_bench_json_is_one_object_with_the_render_keys() -> None:
    proc = _pcos("bench", "render", "--count", 2, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert isinstance(figures, dict)
    assert set(figures) == RENDER_KEYS
    assert all(isinstance(v, (int, float)) and v > 0 for v in figures.values())


def test_unknown_bench_is_a_one_line_error() -> None:
    line = _one_line_error(_pcos("bench", "nope"))
    assert "nope" in line and "render" in line


@pytest.mark.parametrize("count", [0, -3])
def test_count_below_one_is_a_one_line_error(count: int) -> None:
    _one_line_error(_pcos("bench", "render", "--count", count))


def test_scan_bench_json_has_speed_and_memory_keys() -> None:
    """``pcos bench scan --json`` reports median and p99 per sheet and peak memory
    (values only checked to be numbers: timing is never asserted)."""
    proc = _pcos("bench", "scan", "--count", 3, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert set(figures) >= SCAN_KEYS, sorted(SCAN_KEYS - set(figures))
    for key in SCAN_KEYS:
        assert isinstance(figures[key], (int, float)) and figures[key] >= 0, key
    assert figures["preset"] == "realistic"
    assert figures["sheets"] == 3  # every sheet asked for is timed
    assert 0 < figures["ms_per_sheet_median"] <= figures["ms_per_sheet_p99"]
    assert figures["peak_alloc_per_sheet_mb"] > 0


# --------------------------------------------------------------------------- in-process


class _StubSheet:
    def __init__(self) -> None:
        self.front = np.zeros((8, 8, 3), np.uint8)
        self.back = self.front
        self.truth = {"kind": "party-list"}


class _StubFactory:
    """Stands in for SheetFactory: instant, no rendering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def sheet(self, index: int) -> _StubSheet:
        return _StubSheet()


class _StubReader:
    def interpret(self, front: Any, back: Any) -> None:
        return None

    def prepare(self, layouts: Any) -> None:
        return None


@pytest.fixture
def stub_scan_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan bench's loop and figures, without making or reading real sheets."""
    monkeypatch.setattr(benchmarks.scan, "SheetFactory", _StubFactory)
    monkeypatch.setattr(benchmarks.scan, "make_reader", lambda e, s: _StubReader())


def test_scan_bench_figures_with_stub_sheets(stub_scan_bench: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """With several sheets the bench's own bookkeeping yields every documented key."""
    assert main(["bench", "scan", "--count", "5", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= SCAN_KEYS
    assert figures["sheets"] >= 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_scan_bench_with_one_sheet(stub_scan_bench: None,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The smallest allowed count still gives figures."""
    assert main(["bench", "scan", "--count", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= SCAN_KEYS


# --------------------------------------------------------------------------- options


def test_an_option_the_bench_does_not_take_is_refused() -> None:
    line = _one_line_error(_pcos("bench", "render", "--fakes", "0.1"))
    assert line == "pcos: error: bench render does not take --fakes"
    line = _one_line_error(_pcos("bench", "scan", "--out", "x"))
    assert line == "pcos: error: bench scan does not take --out"


def test_plan_gives_each_bench_only_its_options() -> None:
    from tools.cmd_bench import ALL, BenchOptionError, plan

    per = plan(ALL, {"fakes": 0.1, "count": 3, "out": "o"})
    assert per["accuracy"] == {"fakes": 0.1, "count": 3, "out": "o"}
    assert per["render"] == {"count": 3}
    assert per["harsh"] == {"fakes": 0.1, "count": 3, "out": "o"}
    with pytest.raises(BenchOptionError, match="does not take --preset"):
        plan(("render",), {"preset_name": "harsh"})


def test_accuracy_bench_writes_where_out_says(tmp_path: Path) -> None:
    import benchmarks.accuracy

    figures = {f.name: f.value for f in benchmarks.accuracy.run(
        count=2, seed=1, kind="district", fakes=0.0, out=str(tmp_path / "figs"))}
    assert Path(str(figures["histogram"])).parent == tmp_path / "figs"
    assert Path(str(figures["histogram"])).is_file()
