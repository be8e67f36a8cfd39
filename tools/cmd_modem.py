"""``pcos modem emulate|probe|send``: try the SIM7600 driver and its emulator by hand.

- ``emulate``: start an emulated SIM7600 on a new pseudo-terminal and print its path;
  talk to it with ``picocom -b 115200 PTY`` (type ``AT`` + Enter) or with the commands
  below. ``--fault NAME[=VALUE]`` injects faults; ``--echo`` also starts a loopback TCP
  echo server and prints its port.
- ``probe --port PTY``: SIM, signal and registration.
- ``send --port PTY --host 127.0.0.1 --tcp-port N --data TEXT``: open a TCP connection
  through the modem, send, print what comes back, close.

``--port`` is always the serial port; the TCP port is ``--tcp-port``.
"""

from __future__ import annotations

import argparse
import signal
import time

from firmware.hal.modem import ModemTimeoutError
from protocol.modem import ModemTimeouts, Sim7600Modem
from simulator.modem_emulator import ModemEmulator, ModemFaults
from simulator.tcp_peer import LoopbackPeer, PeerMode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("modem", help="the SIM7600 modem: emulator, probe, send",
                              description=__doc__.splitlines()[0])
    subs = p.add_subparsers(dest="modem_command", metavar="ACTION")
    subs.required = True

    e = subs.add_parser("emulate", help="run an emulated SIM7600 on a pseudo-terminal")
    e.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]",
                   help="inject a fault, e.g. no-sim, no-signal, registration-denied, "
                        "netopen-fails, connection-refused, drop-after-bytes=N, "
                        "stall-after-bytes=N, garbage, stray-echo, duplicate-ipd, "
                        "link-bytes-per-s=R, partial-send-bytes=N, power-loss-after-commands=N, "
                        "power-loss-closes-port (repeatable)")
    e.add_argument("--seed", type=int, default=7600, help="seed of the line-noise generator")
    e.add_argument("--echo", action="store_true", help="also run a loopback TCP echo server")
    e.set_defaults(func=run_emulate)

    for name, helptext, func in (("probe", "print SIM, signal and registration", run_probe),
                                 ("send", "send bytes to a TCP server and print the reply",
                                  run_send)):
        s = subs.add_parser(name, help=helptext)
        s.add_argument("--port", required=True, metavar="PTY", help="modem serial port")
        s.add_argument("--fast", action="store_true",
                       help="short step timeouts (about 1 s) instead of a real modem's")
        if name == "send":
            s.add_argument("--host", default="127.0.0.1", help="server address")
            s.add_argument("--tcp-port", type=int, required=True, help="server TCP port")
            s.add_argument("--data", required=True, help="text to send (UTF-8)")
            s.add_argument("--apn", default="internet", help="packet data APN")
            s.add_argument("--wait-s", type=float, default=2.0,
                           help="how long to wait for reply bytes (default 2)")
        s.set_defaults(func=func)


def _timeouts(args: argparse.Namespace) -> ModemTimeouts:
    return ModemTimeouts.fast(1.0) if args.fast else ModemTimeouts()


def run_emulate(args: argparse.Namespace) -> int:
    emulator = ModemEmulator(ModemFaults.parse(args.fault), seed=args.seed)
    peer = LoopbackPeer(PeerMode.ECHO).start() if args.echo else None
    signal.signal(signal.SIGTERM, lambda *_: emulator.request_stop())
    print(f"pty: {emulator.port_path}", flush=True)
    if peer is not None:
        print(f"echo server: 127.0.0.1:{peer.port}", flush=True)
    tcp = peer.port if peer is not None else "N"
    print(f"try: picocom -b 115200 {emulator.port_path}   (type AT and Enter)\n"
          f"     pcos modem send --port {emulator.port_path} --tcp-port {tcp} --data hello\n"
          "Ctrl-C stops.", flush=True)
    try:
        emulator.serve()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        if peer is not None:
            peer.stop()
    return 0


def run_probe(args: argparse.Namespace) -> int:
    with Sim7600Modem(args.port, timeouts=_timeouts(args)) as modem:
        status = modem.status()
    print(status.line())
    print("ready" if status.ready else "not ready")
    return 0


def run_send(args: argparse.Namespace) -> int:
    data = args.data.encode("utf-8")
    with Sim7600Modem(args.port, apn=args.apn, timeouts=_timeouts(args)) as modem:
        t0 = time.monotonic()
        modem.open(args.host, args.tcp_port)
        modem.send(data)
        reply = bytearray()
        deadline = time.monotonic() + args.wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                chunk = modem.recv(65_536, left)
            except ModemTimeoutError:
                break
            if not chunk:
                break
            reply += chunk
        elapsed_s = time.monotonic() - t0
        chunks = modem.chunks_sent
    print(f"sent {len(data)} bytes in {chunks} chunk(s); received {len(reply)} bytes "
          f"in {elapsed_s:.2f} s")
    if reply:
        print(f"reply: {bytes(reply).decode('utf-8', errors='backslashreplace')}")
    return 0
