"""Views of the JSON API memoised per consolidation snapshot, for a polled website.

:class:`~protocol.cec.api.ResultsApi` re-consolidates only when the store
changed, but builds each view (national, districts, stations, progress, a
station) afresh on every request; with all 2,494 stations that is 0.4–0.7 s
per request (``pcos bench website``), on the event loop the device listener
shares, for every open page every few seconds. :class:`CachedResultsApi`
computes each view once per snapshot: while nothing new arrives a poll costs
the store's three ``COUNT(*)``.

The cached dicts are shared between requests: callers must not mutate them
(the HTTP layer only serialises them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from protocol.cec import consolidate as cons
from protocol.cec.api import ResultsApi

_T = TypeVar("_T")


class CachedResultsApi(ResultsApi):
    """A :class:`ResultsApi` whose views are computed once per consolidation snapshot."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._views: dict[tuple[str, ...], Any] = {}
        self._views_of: cons.Consolidation | None = None

    def _cached(self, key: tuple[str, ...], compute: Callable[[], _T]) -> _T:
        # The HTTP layer calls from a thread pool: one lock (ResultsApi's, re-entrant)
        # so a view is built once even when several pages ask for it at the same time.
        with self._lock:
            snapshot = self.snapshot()
            if snapshot is not self._views_of:
                self._views, self._views_of = {}, snapshot
            if key not in self._views:
                self._views[key] = compute()  # an exception (unknown station) is not cached
            return self._views[key]  # type: ignore[no-any-return,unused-ignore]

    def national(self) -> dict[str, Any]:
        return self._cached(("national",), super().national)

    def districts(self) -> list[dict[str, Any]]:
        return self._cached(("districts",), super().districts)

    def stations(self) -> list[dict[str, Any]]:
        return self._cached(("stations",), super().stations)

    def station(self, number: str) -> dict[str, Any]:
        return self._cached(("station", number), lambda: super(CachedResultsApi, self)
                            .station(number))

    def progress(self) -> list[dict[str, Any]]:
        return self._cached(("progress",), super().progress)

    def area(self, level: str, key: str) -> dict[str, Any]:
        return self._cached(("area", level, key), lambda: super(CachedResultsApi, self)
                            .area(level, key))
