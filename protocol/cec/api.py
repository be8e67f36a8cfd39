"""The JSON API a results website renders: plain dicts from the consolidation.

:class:`ResultsApi` is the only thing the HTTP layer (:mod:`protocol.cec.web`)
or any future website talks to. It re-consolidates only when the store has
changed (new messages, incidents or refusals), so a page polled every few
seconds costs one ``COUNT(*)``. Give it its own store connection (SQLite in
WAL mode lets it read while the listener writes); its methods are safe to call
from a thread pool (one lock around the store and the cached snapshot).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from protocol.cec import consolidate as cons
from protocol.cec.nist import election_report
from protocol.cec.registry import CecRegistry
from protocol.cec.store import Store
from protocol.messages import DecProtocol, SignedMessage


class ResultsApi:
    def __init__(self, registry: CecRegistry, store: Store,
                 threshold_pct: int = cons.DEFAULT_THRESHOLD_PCT) -> None:
        self.registry, self.store, self.threshold_pct = registry, store, threshold_pct
        self._stamp: tuple[int, int, int] | None = None
        self._snapshot: cons.Consolidation | None = None
        self._lock = threading.RLock()

    def snapshot(self) -> cons.Consolidation:
        with self._lock:
            stamp = (self.store.count("messages"), self.store.count("incidents"),
                     self.store.count("refusals"))
            if self._snapshot is None or stamp != self._stamp:
                self._snapshot = cons.consolidate(self.registry, self.store)
                self._stamp = stamp
            return self._snapshot

    def national(self) -> dict[str, Any]:
        return cons.national_view(self.snapshot(), self.threshold_pct)

    def districts(self) -> list[dict[str, Any]]:
        return cons.districts_view(self.snapshot())

    def stations(self) -> list[dict[str, Any]]:
        return cons.stations_view(self.snapshot())

    def station(self, number: str) -> dict[str, Any]:
        """Raises KeyError for an unknown station."""
        return cons.station_view(self.snapshot(), number)

    def area(self, level: str, key: str) -> dict[str, Any]:
        """``level``: country, region, tec or district. Raises KeyError if unknown."""
        if level not in ("country", "region", "tec", "district"):
            raise KeyError(level)
        return cons.area_view(self.snapshot(), level, key, self.threshold_pct)

    def progress(self) -> list[dict[str, Any]]:
        return cons.progress_view(self.snapshot())

    def incidents(self) -> dict[str, Any]:
        with self._lock:
            return {"incidents": self.store.incidents(),
                    "refusals": self.store.refusals()[-500:]}

    def nist(self) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return election_report(self.snapshot(), now)

    def dec_page(self, number: str, page: int) -> bytes:
        """The PNG bytes of a page of a station's DEC protocol (from the signed message)."""
        dec = self.snapshot().dec_reports.get(number)
        if dec is None:
            raise KeyError(number)
        with self._lock:
            signed = self.store.signed_message(dec.device_id, dec.sequence)
        if signed is None:
            raise KeyError(number)
        content = SignedMessage.loads(signed).message.content
        assert isinstance(content, DecProtocol)
        return content.pages_png[page]
