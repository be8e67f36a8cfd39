"""The public website at the end of a national day: served, fetched, checked.

At the end of ``pcos sim national`` the CEC's real public website
(:func:`protocol.cec.web.create_app`: the ky/ru pages of :mod:`protocol.cec.site` and the
JSON API they render, over :class:`protocol.cec.cache.CachedResultsApi`) is started on
the run's CEC store (``OUT/cec.sqlite``) with a real uvicorn server on a loopback port,
and fetched over HTTP like a browser would:

* ``/`` and ``/?lang=ru``: the national results page (the server's HTML shell for the
  ``national`` page, in that language; its numbers come from the JSON API below, which
  the page's script renders and cross-checks);
* ``/api/national``: the national party-list figures: every party's votes, ballots,
  valid, invalid, blank, overvote, and the number of stations reported;
* ``/api/districts``: every single-mandate district's counts (a local council's
  contest is checked on its stations' pages);
* ``/api/station/N``: a few reported stations' counts, and a station that never
  reported, which must show as not reported.

Every figure is compared with the **ground truth** of the run (the stations' ballot
boxes, summed over the stations the CEC shows as reported), not with the CEC's own
consolidation; each difference is named. ``--website serve`` then keeps the site up on
``127.0.0.1:PORT`` until interrupted.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.errors import PcosError
from election.model import PARTY_LIST_CONTEST, Election
from election.tally import ContestTally, Tally, TallyBuilder
from protocol.cec.registry import CecRegistry

STATION_PAGES = 5  # reported stations whose pages are fetched and checked
COUNT_FIELDS = ("ballots", "valid", "invalid", "blank", "overvote", "withdrawn")


class WebsiteError(PcosError):
    """The results website could not be started or fetched."""


@dataclass
class WebsiteCheck:
    """What the website showed against the truth."""

    url: str
    pages: dict[str, int] = field(default_factory=dict)  # path -> HTTP status
    differences: list[dict[str, Any]] = field(default_factory=list)
    checked_figures: int = 0

    @property
    def matches_truth(self) -> bool:
        return not self.differences and all(s == 200 for s in self.pages.values())

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "pages": self.pages, "checked_figures": self.checked_figures,
                "matches_truth": self.matches_truth, "differences": self.differences[:100]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(registry: CecRegistry, db_path: Path, port: int = 0) -> Iterator[str]:
    """The CEC website on the store at ``db_path``, on ``127.0.0.1:port`` (0: a free
    port), in a thread; yields its base URL."""
    import uvicorn

    from protocol.cec.cache import CachedResultsApi
    from protocol.cec.store import open_store
    from protocol.cec.web import create_app

    store = open_store(db_path)  # the website's own connection, as pcos cec serve has it
    port = port or _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(CachedResultsApi(registry, store)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="pcos-website", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise WebsiteError(f"the results website did not start on 127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        store.close()


class _Page:
    """An HTTP response: status and body text."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.text = status, body.decode("utf-8", "replace")

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return {}


def check_website(url: str, election: Election, records: list[dict[str, Any]]
                  ) -> WebsiteCheck:
    """Fetch the national page, its JSON API, the districts and a few stations from the
    website at ``url``; compare every figure with the truth in the station ``records``."""
    out = WebsiteCheck(url)

    def get(path: str) -> _Page:
        """One HTTP GET on the loopback server (the standard library's client)."""
        try:
            with urllib.request.urlopen(url + path, timeout=120) as r:
                page = _Page(r.status, r.read())
        except urllib.error.HTTPError as exc:
            page = _Page(exc.code, exc.read())
        except OSError as exc:
            raise WebsiteError(f"website {url}{path}: {exc}") from exc
        out.pages[path] = page.status_code
        return page

    for path, lang in (("/", "ky"), ("/?lang=ru", "ru")):
        page = get(path)
        if 'data-page="national"' not in page.text or f'lang="{lang}"' not in page.text:
            out.differences.append({"where": f"website {path}",
                                    "what": "not the national results page in "
                                            f"{lang}"})
    national = get("/api/national").json()
    reported = _reported(national, get("/api/stations").json(), records, out)
    truth = {r["station"]: Tally.from_json(r["truth"]) for r in records}
    nat_truth = _sum(election, [truth[n] for n in reported])
    _compare(out, "website /api/national", national.get("party_list", {}),
             nat_truth.contest(PARTY_LIST_CONTEST))
    _compare_districts(out, election, get("/api/districts").json(), truth, reported)
    for n in sorted(reported)[:STATION_PAGES]:
        doc = get(f"/api/station/{n}").json()
        for cid in truth[n].contest_ids:
            _compare(out, f"website /api/station/{n}",
                     (doc.get("results") or {}).get(cid, {}), truth[n].contest(cid))
    silent = sorted(r["station"] for r in records if r["station"] not in reported)
    if silent:
        doc = get(f"/api/station/{silent[0]}").json()
        out.checked_figures += 1
        if doc.get("reported") is not False:
            out.differences.append({"where": f"website /api/station/{silent[0]}",
                                    "what": "a station that never reported is shown "
                                            "as reported"})
    return out


def _reported(national: dict[str, Any], stations: Any, records: list[dict[str, Any]],
              out: WebsiteCheck) -> set[str]:
    """The stations the website shows as reported; must be those of the run that
    reported (every station that did not is one whose devices never sent)."""
    shown: set[str] = {str(s.get("station")) for s in stations
                       if isinstance(s, dict) and s.get("reported")}
    ran = {r["station"] for r in records}
    silent = {r["station"] for r in records if r["faults"]["never_reports"]}
    out.checked_figures += 2
    if shown - ran:
        out.differences.append({"where": "website /api/stations",
                                "what": f"stations shown reported that did not run: "
                                        f"{sorted(shown - ran)[:10]}"})
    if (ran - silent) - shown:
        out.differences.append({"where": "website /api/stations",
                                "what": f"stations not shown reported: "
                                        f"{sorted((ran - silent) - shown)[:10]}"})
    if national.get("stations_reported") != len(shown):
        out.differences.append({"where": "website /api/national", "what": "stations_reported",
                                "web": national.get("stations_reported"),
                                "truth": len(shown)})
    return shown & ran


def _sum(election: Election, tallies: list[Tally]) -> Tally:
    b = TallyBuilder.from_tally(Tally.empty(election, ()))
    for t in tallies:
        b.merge(t)
    return b.build()


def _compare(out: WebsiteCheck, where: str, shown: dict[str, Any], truth: ContestTally
             ) -> None:
    """Each count of one contest as the website shows it against the truth."""
    for name in COUNT_FIELDS:
        want = getattr(truth, name)
        out.checked_figures += 1
        if shown.get(name) != want:
            out.differences.append({"where": where, "contest": truth.contest, "what": name,
                                    "web": shown.get(name), "truth": want})
    votes = {o["option"]: o["votes"] for o in shown.get("options", [])}
    for option, want in truth.options:
        out.checked_figures += 1
        if votes.get(option) != want:
            out.differences.append({"where": where, "contest": truth.contest,
                                    "what": f"options/{option}", "web": votes.get(option),
                                    "truth": want})
    extra = set(votes) - {o for o, _ in truth.options}
    if extra:
        out.differences.append({"where": where, "contest": truth.contest,
                                "what": f"options not in the election: {sorted(extra)}"})


def _compare_districts(out: WebsiteCheck, election: Election, shown: Any,
                       truth: dict[str, Tally], reported: set[str]) -> None:
    """Each single-mandate district's counts (a local council's are on its stations'
    pages) against the truth summed over its reported stations."""
    by_contest = {d.get("contest"): d for d in shown if isinstance(d, dict)}
    districts = {d.id for d in election.districts}
    groups: dict[str, list[str]] = {}
    for n in reported:
        for cid in truth[n].contest_ids:
            if cid in districts:
                groups.setdefault(cid, []).append(n)
    for cid, ns in sorted(groups.items()):
        doc = by_contest.get(cid)
        where = f"website /api/districts {cid}"
        if doc is None:
            out.differences.append({"where": where, "what": "district missing"})
            continue
        _compare(out, where, doc.get("results", {}),
                 _sum(election, [truth[n] for n in ns]).contest(cid))
