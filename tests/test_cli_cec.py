"""``pcos cec``: one command serves; a device plays its day through the real CLI."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tools.cli import main

PCOS = [sys.executable, "-m", "tools.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cec_bad_directory_is_a_one_line_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["cec", "results", "--dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcos: error:") and len(err.strip().splitlines()) == 1


def test_cec_serve_send_results(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cec = tmp_path / "cec"
    assert main(["cec", "provision", "--out", str(cec), "--stations", "1001"]) == 0
    capsys.readouterr()
    port = _free_port()
    server = subprocess.Popen([*PCOS, "cec", "serve", "--dir", str(cec), "--port", str(port),
                               "--http-port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert "devices on" in server.stdout.readline()
        assert main(["cec", "send", "--dir", str(cec), "--device", "1001-D1", "--port",
                     str(port), "--with-dec", "--suite",
                     "mlkem768x25519-hkdf-sha256-aes256gcm"]) == 0
        assert capsys.readouterr().out.count("delivered") == 3
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)  # drains its pipes: a full stderr pipe would block it
    assert main(["cec", "results", "--dir", str(cec)]) == 0
    nat = json.loads(capsys.readouterr().out)
    assert nat["stations_reported"] == 1 and nat["ballots_cast"] == 300
    assert nat["discrepant_stations"] == []
    assert main(["cec", "export", "--dir", str(cec), "--out", str(tmp_path / "nist.json")]) == 0
    assert json.loads((tmp_path / "nist.json").read_text())["Status"] == "unofficial-partial"
