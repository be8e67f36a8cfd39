"""Length-prefixed frames for a byte stream (TCP, or the modem's TCP link).

Frame: ``b"PKF1"`` | u32 big-endian payload length | payload. The magic lets a
receiver tell garbage from a frame at once; the length is checked against a
maximum *before* anything is buffered, so an oversized frame costs nothing.

:class:`FrameDecoder` is a pure incremental parser (fed bytes, returns whole
payloads) used by every reader; :func:`read_frame` and :func:`read_frame_async`
put it on a blocking transport or an asyncio stream, with timeouts. Every
refusal is a :class:`ProtocolError`: OVERSIZED_FRAME, TRUNCATED_FRAME (the
stream ended inside a frame), MALFORMED (bad magic), TIMEOUT.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Protocol

from protocol.errors import ProtocolError, Reason

MAGIC = b"PKF1"
HEADER_BYTES = 8
MAX_FRAME_BYTES = 4 * 1024 * 1024


def encode_frame(payload: bytes, max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    if len(payload) > max_bytes:
        raise ProtocolError(Reason.OVERSIZED_FRAME,
                            f"payload of {len(payload)} bytes exceeds {max_bytes}")
    return MAGIC + struct.pack(">I", len(payload)) + payload


class FrameDecoder:
    """Incremental frame parser. ``feed`` bytes, get complete payloads; ``close`` at EOF."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) >= HEADER_BYTES:
            if bytes(self._buffer[:4]) != MAGIC:
                raise ProtocolError(Reason.MALFORMED, "stream is not at a frame (bad magic)")
            (n,) = struct.unpack(">I", self._buffer[4:8])
            if n > self.max_bytes:
                raise ProtocolError(Reason.OVERSIZED_FRAME,
                                    f"frame announces {n} bytes, at most {self.max_bytes}")
            if len(self._buffer) < HEADER_BYTES + n:
                break
            out.append(bytes(self._buffer[HEADER_BYTES:HEADER_BYTES + n]))
            del self._buffer[:HEADER_BYTES + n]
        if 0 < len(self._buffer) < 4 and bytes(self._buffer) != MAGIC[:len(self._buffer)]:
            raise ProtocolError(Reason.MALFORMED, "stream is not at a frame (bad magic)")
        return out

    def close(self) -> None:
        """End of stream: refuse a partial frame."""
        if self._buffer:
            raise ProtocolError(Reason.TRUNCATED_FRAME,
                                f"stream ended {len(self._buffer)} bytes into a frame")


def decode_frames(data: bytes, max_bytes: int = MAX_FRAME_BYTES) -> list[bytes]:
    """Every frame of a complete byte string; trailing partial frame refused."""
    decoder = FrameDecoder(max_bytes)
    frames = decoder.feed(data)
    decoder.close()
    return frames


class Transport(Protocol):
    """A blocking byte stream: a TCP socket here, the modem's TCP link later."""

    def open(self, host: str, port: int) -> None: ...

    def send(self, data: bytes) -> None: ...

    def recv(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to ``max_bytes``; ``b""`` once the peer closed; raises TimeoutError."""
        ...

    def close(self) -> None: ...


class FrameReader:
    """Frames from a blocking transport; bytes past one frame are kept for the next."""

    def __init__(self, transport: Transport, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.transport = transport
        self._decoder = FrameDecoder(max_bytes)
        self._ready: list[bytes] = []

    def read(self, timeout_s: float) -> bytes:
        """The next frame within ``timeout_s`` (total)."""
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError(Reason.TIMEOUT, f"no complete frame within {timeout_s:g} s")
            try:
                chunk = self.transport.recv(65536, left)
            except TimeoutError:
                raise ProtocolError(Reason.TIMEOUT,
                                    f"no complete frame within {timeout_s:g} s") from None
            except OSError as exc:
                raise ProtocolError(Reason.CONNECTION_CLOSED, f"link failed: {exc}") from None
            if not chunk:
                self._decoder.close()
                raise ProtocolError(Reason.CONNECTION_CLOSED, "peer closed before a frame")
            self._ready += self._decoder.feed(chunk)
        return self._ready.pop(0)


def read_frame(transport: Transport, timeout_s: float,
               max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """One frame from a transport that carries nothing after it (one request, one answer)."""
    return FrameReader(transport, max_bytes).read(timeout_s)


async def read_frame_async(reader: asyncio.StreamReader, *, idle_timeout_s: float,
                           frame_timeout_s: float, max_bytes: int = MAX_FRAME_BYTES
                           ) -> bytes | None:
    """One frame from an asyncio stream; ``None`` on a clean EOF between frames.

    ``idle_timeout_s`` bounds the wait for a frame's first byte (an idle sender);
    ``frame_timeout_s`` bounds the whole frame once started (a slow sender).
    """
    try:
        head = await asyncio.wait_for(reader.readexactly(HEADER_BYTES), idle_timeout_s)
    except TimeoutError:
        raise ProtocolError(Reason.TIMEOUT, f"idle for {idle_timeout_s:g} s") from None
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        FrameDecoder(max_bytes).feed(exc.partial)  # bad magic is MALFORMED, else truncated
        raise ProtocolError(Reason.TRUNCATED_FRAME,
                            f"stream ended {len(exc.partial)} bytes into a frame") from None
    FrameDecoder(max_bytes).feed(head)  # checks magic and the announced size
    (n,) = struct.unpack(">I", head[4:8])
    try:
        return await asyncio.wait_for(reader.readexactly(n), frame_timeout_s)
    except TimeoutError:
        raise ProtocolError(Reason.TIMEOUT, f"frame of {n} bytes not received within "
                            f"{frame_timeout_s:g} s (slow sender)") from None
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(Reason.TRUNCATED_FRAME, f"stream ended after {len(exc.partial)} of "
                            f"{n} payload bytes") from None
