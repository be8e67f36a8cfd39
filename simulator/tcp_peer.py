"""A tiny real TCP peer on 127.0.0.1 for trying the modem: echo, sink or scripted reply.

Used by the modem tests, the modem bench and ``pcos modem emulate --echo``. It accepts
connections one after another on a thread; every byte it received is kept in
``received`` (per connection) so a test can check exactly what crossed the link.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import threading


class PeerMode(enum.Enum):
    ECHO = "echo"  # send back every byte received
    SINK = "sink"  # keep every byte, answer nothing
    REPLY_CLOSE = "reply-close"  # send `reply` at once, then close in order


class LoopbackPeer:
    """A TCP server on 127.0.0.1 (ephemeral port) serving connections sequentially."""

    def __init__(self, mode: PeerMode = PeerMode.ECHO, reply: bytes = b"") -> None:
        self.mode = mode
        self.reply = reply
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port: int = self._server.getsockname()[1]
        self.received: list[bytearray] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tcp-peer", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> LoopbackPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._server.close()

    def __enter__(self) -> LoopbackPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def all_received(self) -> bytes:
        with self._lock:
            return b"".join(bytes(b) for b in self.received)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                got = bytearray()
                self.received.append(got)
            with contextlib.suppress(OSError), conn:
                self._handle(conn, got)

    def _handle(self, conn: socket.socket, got: bytearray) -> None:
        conn.settimeout(0.2)
        if self.mode is PeerMode.REPLY_CLOSE:
            conn.sendall(self.reply)
            conn.shutdown(socket.SHUT_WR)
        while not self._stop.is_set():
            try:
                data = conn.recv(65_536)
            except TimeoutError:
                continue
            if not data:
                return
            with self._lock:
                got += data
            if self.mode is PeerMode.ECHO:
                conn.sendall(data)
