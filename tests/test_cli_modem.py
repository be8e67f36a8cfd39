"""``pcos modem emulate|probe|send`` end to end: a real emulator process, the CLI against it."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tools.cli import main


def test_emulate_probe_send(capsys: pytest.CaptureFixture[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tools.cli", "modem", "emulate", "--echo",
                             "--fault", "stray-echo"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pty = proc.stdout.readline().split("pty: ")[1].strip()
        tcp_port = proc.stdout.readline().rsplit(":", 1)[1].strip()
        assert main(["modem", "probe", "--port", pty, "--fast"]) == 0
        out = capsys.readouterr().out
        assert "sim=ready signal=23/31 (-67 dBm) creg=home cgreg=home" in out
        assert out.rstrip().endswith("ready")
        assert main(["modem", "send", "--port", pty, "--tcp-port", tcp_port, "--fast",
                     "--data", "results of station 1001", "--wait-s", "0.5"]) == 0
        out = capsys.readouterr().out
        assert "sent 23 bytes in 1 chunk(s); received 23 bytes" in out
        assert "reply: results of station 1001" in out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modem", "probe", "--port", "/dev/pcos-no-such-modem", "--fast"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcos: error: cannot open modem port /dev/pcos-no-such-modem")
    assert err.count("\n") == 1
    assert main(["modem", "emulate", "--fault", "lightning"]) == 2
    assert "unknown modem fault 'lightning'" in capsys.readouterr().err
