"""Modem throughput: bytes/s through the SIM7600 driver + emulator (real pty, loopback TCP).

Measures one direction at a time against a real loopback peer: uplink (``send`` until
the last ``+CIPSEND`` confirmation, peer then checked to hold every byte) and downlink
(``recv`` of ``+IPD`` blocks until the peer's orderly close), once with no air-link
limit (driver + emulator + pty overhead only; a pty has no baud rate) and once on a
slow link (the emulator's ``link_bytes_per_s``).
"""

from __future__ import annotations

import time

from benchmarks.common import Figure
from protocol.modem import ModemTimeouts, Sim7600Modem
from simulator.modem_emulator import ModemEmulator, ModemFaults
from simulator.tcp_peer import LoopbackPeer, PeerMode


def _payload(n: int) -> bytes:
    return bytes((i * 131 + (i >> 9)) % 256 for i in range(n))


def _uplink(n: int, rate: float | None) -> tuple[float, float, bool]:
    """(open seconds, bytes/s, every byte arrived) for ``n`` bytes up."""
    data = _payload(n)
    with LoopbackPeer(PeerMode.SINK) as peer, \
            ModemEmulator(ModemFaults(link_bytes_per_s=rate)) as emu:
        modem = Sim7600Modem(emu.port_path, timeouts=ModemTimeouts.fast(5.0))
        t0 = time.perf_counter()
        modem.open("127.0.0.1", peer.port)
        t1 = time.perf_counter()
        modem.send(data)
        t2 = time.perf_counter()
        modem.close()
        deadline = time.monotonic() + 5.0
        while len(peer.all_received()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        ok = peer.all_received() == data
    return t1 - t0, n / (t2 - t1), ok


def _downlink(n: int, rate: float | None) -> tuple[float, bool]:
    """(bytes/s, every byte arrived in order) for ``n`` bytes down."""
    data = _payload(n)
    with LoopbackPeer(PeerMode.REPLY_CLOSE, reply=data) as peer, \
            ModemEmulator(ModemFaults(link_bytes_per_s=rate)) as emu:
        modem = Sim7600Modem(emu.port_path, timeouts=ModemTimeouts.fast(5.0))
        modem.open("127.0.0.1", peer.port)
        got = bytearray()
        t0 = time.perf_counter()
        while chunk := modem.recv(65_536, 10.0):
            got += chunk
        t1 = time.perf_counter()
        modem.close()
    return n / (t1 - t0), bytes(got) == data


def run(count: int = 1_000_000, slow_rate: float = 10_000.0, slow_bytes: int = 30_000,
        **_: object) -> list[Figure]:
    """``count`` bytes each way unlimited; ``slow_bytes`` each way at ``slow_rate`` B/s."""
    open_s, up, up_ok = _uplink(count, None)
    down, down_ok = _downlink(count, None)
    _open_s, slow_up, slow_up_ok = _uplink(slow_bytes, slow_rate)
    slow_down, slow_down_ok = _downlink(slow_bytes, slow_rate)
    return [
        Figure("bytes_each_way", count),
        Figure("open_ms", round(open_s * 1000, 1), "ms"),
        Figure("uplink_unlimited", round(up), "B/s"),
        Figure("downlink_unlimited", round(down), "B/s"),
        Figure("slow_link_rate", round(slow_rate), "B/s"),
        Figure("slow_bytes_each_way", slow_bytes),
        Figure("uplink_slow", round(slow_up), "B/s"),
        Figure("downlink_slow", round(slow_down), "B/s"),
        Figure("bytes_intact", int(up_ok and down_ok and slow_up_ok and slow_down_ok)),
    ]
