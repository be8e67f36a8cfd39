"""The CEC's TCP listener for devices (asyncio), with group commit.

Each connection reads frames (:func:`protocol.frames.read_frame_async`) with
an idle timeout (no frame started) and a frame timeout (a frame started but
not finished: a slow sender). Each envelope goes to one writer task, which
takes every envelope waiting, runs them through the
:class:`~protocol.cec.ingest.Ingestor` one by one (so sequence checks see
each other), commits the batch once (fsync), and only then lets the
connections send their receipts. A crash before the commit loses only
receipts never sent; the devices retry and get the same answers.

A broken frame (oversized, truncated, bad magic, too slow) is answered with a
signed refusal when the connection can still carry one, logged, and the
connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from protocol.cec.ingest import Ingestor, IngestOutcome
from protocol.errors import ProtocolError, Reason
from protocol.frames import MAX_FRAME_BYTES, encode_frame, read_frame_async

log = logging.getLogger("pcos.cec")


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 0
    idle_timeout_s: float = 30.0
    frame_timeout_s: float = 60.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    max_batch: int = 512


@dataclass
class ServerStats:
    frames: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    batches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class CecServer:
    """Owns the listener and the writer task. Use :meth:`start` / :meth:`stop`."""

    def __init__(self, ingestor: Ingestor, settings: ServerSettings | None = None) -> None:
        self.ingestor = ingestor
        self.settings = settings or ServerSettings()
        self.stats = ServerStats()
        self._queue: asyncio.Queue[tuple[bytes, str, asyncio.Future[IngestOutcome]]] = (
            asyncio.Queue())
        self._server: asyncio.Server | None = None
        self._writer: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        self._writer = asyncio.create_task(self._write_loop())
        self._server = await asyncio.start_server(self._handle, self.settings.host,
                                                  self.settings.port, limit=2**20)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("CEC listening on %s:%d", self.settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def _count(self, outcome: IngestOutcome) -> None:
        if outcome.duplicate:
            self.stats.duplicates += 1
        elif outcome.reason is None:
            self.stats.accepted += 1
        else:
            self.stats.refused += 1
            key = outcome.reason.value
            self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
            log.warning("refused: %s", key)

    async def _write_loop(self) -> None:
        store = self.ingestor.store
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self.settings.max_batch:
                batch.append(self._queue.get_nowait())
            results: list[tuple[asyncio.Future[IngestOutcome], IngestOutcome | BaseException]]
            results = []
            for envelope, peer, fut in batch:
                try:
                    results.append((fut, self.ingestor.process(envelope, peer)))
                except Exception as exc:
                    results.append((fut, exc))
            try:
                store.commit()
            except Exception as exc:
                log.error("commit failed: %s", exc)
                store.rollback()
                self.ingestor.reload()
                results = [(fut, exc) for fut, _ in results]
            self.stats.batches += 1
            for fut, res in results:
                if fut.done():
                    continue
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    self._count(res)
                    fut.set_result(res)

    async def submit(self, envelope: bytes, peer: str) -> IngestOutcome:
        fut: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((envelope, peer, fut))
        return await fut

    async def _refuse_frame(self, err: ProtocolError, peer: str) -> bytes:
        """Log a frame-level refusal through the writer (one writer touches the store)."""
        # Runs without an await between the write and the commit, so it cannot interleave
        # with the writer task's batch on this single-threaded loop.
        receipt = self.ingestor.refuse_frame(err, peer)
        self.stats.refused += 1
        self.stats.reasons[err.reason.value] = self.stats.reasons.get(err.reason.value, 0) + 1
        self.ingestor.store.commit()
        log.warning("refused frame from %s: %s", peer, err)
        return receipt

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "-"
        s = self.settings
        try:
            while True:
                try:
                    frame = await read_frame_async(reader, idle_timeout_s=s.idle_timeout_s,
                                                   frame_timeout_s=s.frame_timeout_s,
                                                   max_bytes=s.max_frame_bytes)
                except ProtocolError as err:
                    receipt = await self._refuse_frame(err, peer)
                    if err.reason is not Reason.TRUNCATED_FRAME:
                        writer.write(encode_frame(receipt))
                        await writer.drain()
                    return
                if frame is None:
                    return
                self.stats.frames += 1
                outcome = await self.submit(frame, peer)
                writer.write(encode_frame(outcome.receipt))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class ServerThread:
    """Run a :class:`CecServer` on its own event loop in a background thread.

    For embedding (tests, the demo, the benchmark's in-process mode)::

        with ServerThread(ingestor) as srv:
            ... connect to 127.0.0.1:srv.port ...
    """

    def __init__(self, ingestor: Ingestor, settings: ServerSettings | None = None) -> None:
        import threading

        self.server = CecServer(ingestor, settings)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cec-server", daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.port = self._loop.run_until_complete(self.server.start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
