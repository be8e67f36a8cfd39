"""``pcos report render``: sample reports through the virtual printer, then verified back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware import escpos
from tools.cli import main


def test_render_writes_png_and_escpos_and_its_codes_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "render", "--kind", "test", "--lang", "ru", "--ballots", "40",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "roll decoded OK" in out
    raw = (tmp_path / "report-test-ru.escpos").read_bytes()
    assert escpos.decode(raw).cuts  # a whole job, cut at the end
    assert (tmp_path / "report-test-ru.png").read_bytes()[:4] == b"\x89PNG"
    roll = tmp_path / "report-test-ru-roll.png"
    assert main(["verify-report", str(roll), "--cert", str(tmp_path / "device-cert.json"),
                 "--cec-root", str(tmp_path / "cec-root.json"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "test" and doc["sheets_cast"] == 40 and doc["chain_checked"]


def test_zero_kind_and_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "render", "--kind", "zero", "--lang", "ky",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report-zero-ky.escpos").exists()
    capsys.readouterr()
    assert main(["report", "render", "--kind", "results", "--copies", "0",
                 "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("pcos: error: report: 0 copies")
