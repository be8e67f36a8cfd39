"""The SIM7600 driver against the emulator through a real pty, with a real loopback TCP peer."""

from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator

import pytest

from firmware.hal.modem import (
    MAX_SEND_CHUNK_BYTES,
    LinkDroppedError,
    ModemConnectError,
    ModemLink,
    ModemNotRespondingError,
    ModemProtocolError,
    ModemTimeoutError,
    NetworkOpenError,
    NoSignalError,
    NoSimError,
    Registration,
    RegistrationDeniedError,
    SimState,
)
from protocol.modem import ModemTimeouts, Sim7600Modem
from simulator.modem_emulator import ModemEmulator, ModemFaults
from simulator.tcp_peer import LoopbackPeer, PeerMode

FAST = ModemTimeouts.fast(1.0)
#: Slack for scheduling on a loaded 2-core machine when checking "within its timeout".
SLACK_S = 1.5


def payload(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes covering every value, CR/LF and '>' included."""
    return bytes((i * 31 + seed * 7 + (i >> 8)) % 256 for i in range(n))


def recv_exactly(modem: Sim7600Modem, n: int, timeout_s: float = 3.0) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = modem.recv(n - len(got), timeout_s)
        assert chunk, f"peer closed after {len(got)} of {n} bytes"
        got += chunk
    return bytes(got)


@pytest.fixture
def echo_peer() -> Iterator[LoopbackPeer]:
    with LoopbackPeer(PeerMode.ECHO) as peer:
        yield peer


def connected(emu: ModemEmulator, port: int) -> Sim7600Modem:
    modem = Sim7600Modem(emu.port_path, apn="elections.kg", timeouts=FAST)
    modem.open("127.0.0.1", port)
    return modem


def test_driver_satisfies_the_hal_interface() -> None:
    assert isinstance(Sim7600Modem("/dev/null"), ModemLink)


def test_full_exchange_chunks_large_payload(echo_peer: LoopbackPeer) -> None:
    data = payload(10_000)
    with ModemEmulator() as emu:
        modem = connected(emu, echo_peer.port)
        assert emu.apn == "elections.kg"
        modem.send(data)
        assert recv_exactly(modem, len(data)) == data
        modem.close()
        assert emu.cipsend_sizes == [1500] * 6 + [1000]
        assert max(emu.cipsend_sizes) <= MAX_SEND_CHUNK_BYTES
        assert modem.chunks_sent == math.ceil(len(data) / MAX_SEND_CHUNK_BYTES)
    assert echo_peer.all_received() == data


def test_small_chunk_setting_and_reopen(echo_peer: LoopbackPeer) -> None:
    with ModemEmulator() as emu:
        modem = Sim7600Modem(emu.port_path, timeouts=FAST, chunk_bytes=100)
        with modem:
            for i in range(2):  # a second open after close of the link works
                modem.open("127.0.0.1", echo_peer.port)
                modem.send(payload(250, seed=i))
                assert recv_exactly(modem, 250) == payload(250, seed=i)
        assert emu.cipsend_sizes == [100, 100, 50, 100, 100, 50]
    assert [bytes(b) for b in echo_peer.received] == [payload(250, 0), payload(250, 1)]


def test_partial_confirmation_resends_the_rest(echo_peer: LoopbackPeer) -> None:
    data = payload(3000)
    with ModemEmulator(ModemFaults(partial_send_bytes=1000)) as emu:
        modem = connected(emu, echo_peer.port)
        modem.send(data)
        assert recv_exactly(modem, len(data)) == data
        modem.close()
        # 1000 of each 1500 taken; the untaken rest leads the next chunk: 1000+1000+1000
        assert emu.cipsend_sizes == [1500, 1500, 1000]
    assert echo_peer.all_received() == data


def test_modem_answering_error_to_everything() -> None:
    """A raw pty that answers ERROR to every line: a typed error, not a hang."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready and b"\r" in os.read(master, 1024):
                os.write(master, b"\r\nERROR\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(ModemProtocolError, match="answers AT with ERROR"):
            Sim7600Modem(os.ttyname(slave), timeouts=FAST).open("127.0.0.1", 9)
        assert time.monotonic() - t0 < FAST.command_s + SLACK_S
    finally:
        stop.set()
        thread.join()
        os.close(master)
        os.close(slave)


def test_status_reports_sim_signal_registration() -> None:
    with ModemEmulator() as emu:
        status = Sim7600Modem(emu.port_path, timeouts=FAST).status()
        assert status.ready and status.sim is SimState.READY
        assert status.signal is not None and status.signal.rssi == 23
        assert status.creg is Registration.HOME
    with ModemEmulator(ModemFaults(no_signal=True)) as emu:
        status = Sim7600Modem(emu.port_path, timeouts=FAST).status()
        assert not status.ready and status.signal is not None and not status.signal.known
        assert "signal=unknown" in status.line()


@pytest.mark.parametrize(("faults", "error", "words"), [
    (ModemFaults(no_sim=True), NoSimError, "no SIM card"),
    (ModemFaults(no_signal=True), NoSignalError, "no mobile signal"),
    (ModemFaults(registration_denied=True), RegistrationDeniedError, "denied registration"),
    (ModemFaults(netopen_fails=True), NetworkOpenError, "+NETOPEN: 1"),
    (ModemFaults(connection_refused=True), ModemConnectError, "refused or unreachable"),
])
def test_open_faults_give_typed_errors_in_time(echo_peer: LoopbackPeer, faults: ModemFaults,
                                               error: type[Exception], words: str) -> None:
    with ModemEmulator(faults) as emu:
        modem = Sim7600Modem(emu.port_path, timeouts=FAST)
        t0 = time.monotonic()
        with pytest.raises(error) as info:
            modem.open("127.0.0.1", echo_peer.port)
        elapsed = time.monotonic() - t0
        modem.close()
    assert words in str(info.value) and "\n" not in str(info.value)
    assert elapsed < FAST.attach_s + FAST.command_s + SLACK_S
    assert echo_peer.received == []  # nothing reached the server


def test_real_connection_refused_on_a_closed_loopback_port() -> None:
    peer = LoopbackPeer()
    closed_port = peer.port
    peer.stop()  # nothing listens there any more
    with ModemEmulator() as emu:
        modem = Sim7600Modem(emu.port_path, timeouts=FAST)
        with pytest.raises(ModemConnectError, match=r"\(\+CIPOPEN: 0,4\)"):
            modem.open("127.0.0.1", closed_port)
        modem.close()


def test_drop_mid_send(echo_peer: LoopbackPeer) -> None:
    with ModemEmulator(ModemFaults(drop_after_bytes=2000)) as emu:
        modem = connected(emu, echo_peer.port)
        t0 = time.monotonic()
        with pytest.raises(LinkDroppedError, match="closed the data session"):
            modem.send(payload(5000))
        assert time.monotonic() - t0 < FAST.send_ack_s + SLACK_S
        with pytest.raises(LinkDroppedError):
            modem.send(b"more")  # the link stays down
        modem.close()
    time.sleep(0.1)
    assert echo_peer.all_received() == payload(5000)[:2000]


def test_network_lost_while_waiting_for_data() -> None:
    with LoopbackPeer(PeerMode.SINK) as peer, ModemEmulator() as emu:
        modem = connected(emu, peer.port)
        modem.send(b"results")
        emu.drop_network()
        t0 = time.monotonic()
        with pytest.raises(LinkDroppedError, match="closed the data session unexpectedly"):
            modem.recv(100, 2.0)
        assert time.monotonic() - t0 < 1.0  # the URC ends the wait, not the timeout
        modem.close()


def test_stall_is_a_timeout_not_a_dead_modem(echo_peer: LoopbackPeer) -> None:
    with ModemEmulator(ModemFaults(stall_after_bytes=1500)) as emu:
        modem = connected(emu, echo_peer.port)
        t0 = time.monotonic()
        with pytest.raises(ModemTimeoutError, match="confirm 1500 sent bytes"):
            modem.send(payload(4000))
        elapsed = time.monotonic() - t0
        modem.close()
    assert FAST.send_ack_s <= elapsed < FAST.send_ack_s + FAST.probe_s + SLACK_S


def test_garbage_and_stray_echo_are_ignored(echo_peer: LoopbackPeer) -> None:
    data = payload(3200)
    with ModemEmulator(ModemFaults(garbage=True, stray_echo=True), seed=3) as emu:
        modem = connected(emu, echo_peer.port)
        modem.send(data)
        assert recv_exactly(modem, len(data)) == data
        assert modem.noise_events > 10  # noise and echo lines were seen, and skipped
        modem.close()


def test_duplicated_ipd_is_delivered_as_received() -> None:
    """Documented semantics: the link is a byte stream; a block the modem reports twice
    is delivered twice. The protocol's framing (length, hash, sequence) makes it harmless."""
    reply = b"RECEIPT:" + payload(120)
    with LoopbackPeer(PeerMode.REPLY_CLOSE, reply=reply) as peer, \
            ModemEmulator(ModemFaults(duplicate_ipd=True)) as emu:
        modem = connected(emu, peer.port)
        got = bytearray()
        while chunk := modem.recv(4096, 2.0):
            got += chunk
        modem.close()
    assert bytes(got) == reply + reply


def test_remote_close_gives_data_then_eof() -> None:
    reply = payload(4000)
    with LoopbackPeer(PeerMode.REPLY_CLOSE, reply=reply) as peer, ModemEmulator() as emu:
        modem = connected(emu, peer.port)
        got = bytearray()
        while chunk := modem.recv(700, 2.0):
            assert len(chunk) <= 700
            got += chunk
        assert bytes(got) == reply
        assert modem.recv(10, 0.1) == b""  # EOF stays EOF
        with pytest.raises(LinkDroppedError):
            modem.send(b"late")
        modem.close()


def test_recv_timeout_when_peer_is_silent() -> None:
    with LoopbackPeer(PeerMode.SINK) as peer, ModemEmulator() as emu:
        modem = connected(emu, peer.port)
        t0 = time.monotonic()
        with pytest.raises(ModemTimeoutError, match=r"receive data within 0\.3 s"):
            modem.recv(100, 0.3)
        assert 0.3 <= time.monotonic() - t0 < 0.3 + FAST.probe_s + SLACK_S
        modem.close()


def test_slow_link_takes_its_time(echo_peer: LoopbackPeer) -> None:
    rate = 20_000.0
    data = payload(4000)
    with ModemEmulator(ModemFaults(link_bytes_per_s=rate)) as emu:
        modem = connected(emu, echo_peer.port)
        t0 = time.monotonic()
        modem.send(data)
        sent_s = time.monotonic() - t0
        assert recv_exactly(modem, len(data)) == data
        modem.close()
    assert sent_s >= len(data) / rate * 0.95  # every byte confirmed only after its air time
    reply = payload(4000, seed=9)
    with LoopbackPeer(PeerMode.REPLY_CLOSE, reply=reply) as peer, \
            ModemEmulator(ModemFaults(link_bytes_per_s=rate)) as emu:
        modem = connected(emu, peer.port)
        t0 = time.monotonic()
        assert recv_exactly(modem, len(reply)) == reply
        down_s = time.monotonic() - t0
        modem.close()
    burst_bytes = rate * 0.05  # the emulator's token bucket holds 50 ms of air time
    assert down_s >= (len(reply) - burst_bytes) / rate * 0.95


def test_power_loss_silent_mid_send(echo_peer: LoopbackPeer) -> None:
    # attach + open take 9 commands; the 3rd AT+CIPSEND finds the modem dead.
    with ModemEmulator(ModemFaults(power_loss_after_commands=11)) as emu:
        modem = connected(emu, echo_peer.port)
        t0 = time.monotonic()
        with pytest.raises(ModemNotRespondingError, match="stopped answering"):
            modem.send(payload(6000))
        assert time.monotonic() - t0 < FAST.prompt_s + FAST.probe_s + SLACK_S
        t0 = time.monotonic()
        modem.close()
        assert time.monotonic() - t0 < 0.2  # no polite close attempts on a dead modem
    time.sleep(0.1)
    assert echo_peer.all_received() == payload(6000)[:3000]


def test_power_loss_closes_port_during_recv() -> None:
    with LoopbackPeer(PeerMode.SINK) as peer, ModemEmulator() as emu:
        modem = connected(emu, peer.port)
        emu.power_off(close_port=True)
        with pytest.raises(ModemNotRespondingError, match="went away"):
            modem.recv(10, 2.0)
        modem.close()


def test_dead_modem_never_answers_at_start() -> None:
    with ModemEmulator(ModemFaults(power_loss_after_commands=0)) as emu:
        t0 = time.monotonic()
        with pytest.raises(ModemNotRespondingError, match="does not answer AT"):
            Sim7600Modem(emu.port_path, timeouts=FAST).open("127.0.0.1", 9)
        assert time.monotonic() - t0 < FAST.command_s + FAST.probe_s + SLACK_S


def test_missing_port_is_not_responding() -> None:
    with pytest.raises(ModemNotRespondingError, match="cannot open modem port"):
        Sim7600Modem("/dev/pcos-no-such-modem", timeouts=FAST).status()


def test_emulator_process_killed_mid_link(echo_peer: LoopbackPeer) -> None:
    """A real emulator process, SIGKILLed: the pty vanishes under the driver."""
    proc = subprocess.Popen([sys.executable, "-m", "simulator.modem_emulator"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pty_path = proc.stdout.readline().strip()
        assert pty_path.startswith("/dev/")
        modem = Sim7600Modem(pty_path, timeouts=FAST)
        modem.open("127.0.0.1", echo_peer.port)
        modem.send(b"before the power cut")
        assert recv_exactly(modem, 20) == b"before the power cut"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        with pytest.raises(ModemNotRespondingError):
            modem.send(payload(3000))
        modem.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_fault_specs_parse_and_refuse_unknown() -> None:
    faults = ModemFaults.parse(["no-sim", "drop-after-bytes=3000", "link-bytes-per-s=2400",
                                "garbage=0"])
    assert faults == ModemFaults(no_sim=True, drop_after_bytes=3000, link_bytes_per_s=2400.0)
    from election.errors import PcosError
    with pytest.raises(PcosError, match="unknown modem fault 'no-such'"):
        ModemFaults.parse(["no-such"])
    with pytest.raises(PcosError, match="needs a valid value"):
        ModemFaults.parse(["drop-after-bytes=lots"])
