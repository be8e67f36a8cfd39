"""A whole CEC in one background thread: device listener (TCP) and website (HTTP).

The same pair ``pcos cec serve`` runs, on one asyncio loop so the store is
only touched from that loop, but embeddable: the browser test and the demo
start it, feed devices over loopback TCP, and point a browser at :attr:`url`::

    with LiveCec(registry, store) as cec:
        ... devices send to 127.0.0.1:cec.device_port ...
        print(cec.url)   # the results website

``api`` lets a caller serve a different :class:`ResultsApi` (the browser test
wraps it to serve corrupted sums and check the page refuses to show them); the
default is :class:`~protocol.cec.cache.CachedResultsApi` (views computed once per
store change, so polling pages cost little).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

import uvicorn

from election.errors import PcosError
from protocol.cec.api import ResultsApi
from protocol.cec.cache import CachedResultsApi
from protocol.cec.ingest import Ingestor
from protocol.cec.registry import CecRegistry
from protocol.cec.server import CecServer, ServerSettings
from protocol.cec.store import Store, open_store
from protocol.cec.web import create_app


class LiveCecError(PcosError):
    """The embedded CEC could not start."""


class LiveCec:
    """Device listener and website on 127.0.0.1 (ports 0: free ones, chosen by the OS)."""

    def __init__(self, registry: CecRegistry, store: Store, *, host: str = "127.0.0.1",
                 device_port: int = 0, http_port: int = 0, api: ResultsApi | None = None,
                 start_timeout_s: float = 20.0) -> None:
        self.registry, self.store, self.host = registry, store, host
        # The API reads through its own connection (WAL: readers do not block the writer),
        # from Starlette's thread pool; the device listener writes through ``store``.
        self._reader: Store | None = None
        if api is None:
            self._reader = open_store(store.url)
            api = CachedResultsApi(registry, self._reader)
        self.api = api
        self.server = CecServer(Ingestor(registry, store),
                                ServerSettings(host=host, port=device_port))
        self._http_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._http_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._http_socket.bind((host, http_port))
        self.http_port: int = self._http_socket.getsockname()[1]
        self.device_port = 0
        self._start_timeout_s = start_timeout_s
        self._uvicorn = uvicorn.Server(uvicorn.Config(create_app(self.api), log_level="warning",
                                                      lifespan="off"))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-cec", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.device_port = await self.server.start()
        web = asyncio.create_task(self._uvicorn.serve(sockets=[self._http_socket]))
        while not self._uvicorn.started and not web.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        await web
        await self.server.stop()

    def start(self) -> LiveCec:
        self._thread.start()
        if not self._ready.wait(self._start_timeout_s) or self._error is not None \
                or not self._uvicorn.started:
            self.stop()
            raise LiveCecError(f"the CEC did not start on {self.host}: {self._error}")
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        with contextlib.suppress(OSError):
            self._http_socket.close()
        if self._reader is not None and not self._thread.is_alive():
            self._reader.close()
            self._reader = None
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> LiveCec:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
