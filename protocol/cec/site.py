"""The public results website (Kyrgyz and Russian) on top of the JSON API.

Pages are one HTML shell (``static/page.html``) filled in by ``static/app.js``,
which polls the JSON endpoints of :mod:`protocol.cec.web` every few seconds
and re-renders without a reload. The server computes every count and share
(:mod:`protocol.cec.consolidate`); the page only *checks* them (shares add up
to 100 % of valid votes, valid + invalid = cast, a station's devices add up to
the station) and shows an integrity warning instead of numbers that do not add
up — the 2021 display showed party shares summing to over 150 %.

Routes added here (mounted by :func:`protocol.cec.web.create_app`):

    GET /                     national party-list results, threshold, progress chart
    GET /districts            single-mandate districts with their leaders
    GET /stations             every station in one line
    GET /station/{number}     devices' reports, DEC protocol pages, machine vs protocol
    GET /progress             reporting progress over the evening
    GET /area/{level}/{key}   a region, TEC or district: its stations' results summed
    GET /site/names.json      party, candidate, district and area names in ky and ru
    GET /static/...           app.js, site.css, page.html (served locally; no CDN)

Language: ``?lang=ky`` (default) or ``?lang=ru``; the links on each page keep it.
"""

from __future__ import annotations

import html
from enum import StrEnum
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from election.model import AGAINST_ALL, Election, Language
from protocol.cec.api import ResultsApi

STATIC_DIR = Path(__file__).with_name("static")


class Page(StrEnum):
    NATIONAL = "national"
    DISTRICTS = "districts"
    STATIONS = "stations"
    STATION = "station"
    PROGRESS = "progress"
    AREA = "area"


AGAINST_ALL_TEXT = {"ky": "Баарына каршы", "ru": "Против всех"}
TITLE = {"ky": "Шайлоонун натыйжалары", "ru": "Результаты выборов"}


def language_of(request: Request) -> Language:
    """The page language from ``?lang=``; Kyrgyz unless Russian is asked for."""
    return Language.RU if request.query_params.get("lang") == "ru" else Language.KY


def names(election: Election) -> dict[str, Any]:
    """Every name a page shows, in both languages, straight from the election model."""
    def both(get: Any) -> dict[str, str]:
        return {lang.value: get(lang) for lang in Language}

    contests: dict[str, dict[str, dict[str, str]]] = {}
    contest_names: dict[str, dict[str, str]] = {}  # also its kind and number
    for c in election.candidate_contests():
        contest_names[c.id] = {"ky": c.name.ky, "ru": c.name.ru, "kind": c.kind.value,
                               "number": str(c.number)}
        contests[c.id] = {cand.id: both(cand.name.full) for cand in c.candidates}
        contests[c.id][AGAINST_ALL] = dict(AGAINST_ALL_TEXT)
    parties = {p.id: {"ky": p.name.ky, "ru": p.name.ru} for p in election.party_list.parties}
    parties[AGAINST_ALL] = dict(AGAINST_ALL_TEXT)
    return {
        "election": {"id": election.election_id, "ky": election.name.ky,
                     "ru": election.name.ru, "date": election.date.isoformat()},
        "parties": parties,
        "party_order": [p.id for p in election.party_list.parties],
        "contests": contests,
        "contest_names": contest_names,
        "regions": {r.id: {"ky": r.name.ky, "ru": r.name.ru} for r in election.regions},
        "tecs": {t.id: {"ky": t.name.ky, "ru": t.name.ru} for t in election.tecs},
    }


def _area_exists(election: Election, level: str, key: str) -> bool:
    if level == "region":
        return any(r.id == key for r in election.regions)
    if level == "tec":
        return any(t.id == key for t in election.tecs)
    if level == "district":
        return any(str(d.number) == key for d in election.districts)
    return False


def _shell(page: Page, lang: Language, key: str = "") -> str:
    text = (STATIC_DIR / "page.html").read_text(encoding="utf-8")
    return (text.replace("{{lang}}", lang.value)
            .replace("{{page}}", page.value)
            .replace("{{key}}", html.escape(key, quote=True))
            .replace("{{title}}", html.escape(TITLE[lang.value])))


def routes(api: ResultsApi) -> list[BaseRoute]:
    """The website's routes; they read nothing but ``api`` and the static files."""
    names_doc = names(api.registry.election)

    def page(which: Page) -> Any:
        async def endpoint(request: Request) -> Response:
            key = str(request.path_params.get("number", ""))
            if which is Page.STATION:
                try:
                    api.registry.election.station(key)
                except KeyError:
                    return HTMLResponse(f"no station {html.escape(key)}", status_code=404)
            if which is Page.AREA:
                level, area = request.path_params["level"], request.path_params["key"]
                if not _area_exists(api.registry.election, level, area):
                    return HTMLResponse(f"no {html.escape(level)} {html.escape(area)}",
                                        status_code=404)
                key = f"{level}/{area}"
            return HTMLResponse(_shell(which, language_of(request), key),
                                headers={"Cache-Control": "no-store"})
        return endpoint

    async def names_json(request: Request) -> Response:
        return JSONResponse(names_doc)

    return [
        Route("/", page(Page.NATIONAL)),
        Route("/districts", page(Page.DISTRICTS)),
        Route("/stations", page(Page.STATIONS)),
        Route("/station/{number}", page(Page.STATION)),
        Route("/progress", page(Page.PROGRESS)),
        Route("/area/{level}/{key}", page(Page.AREA)),
        Route("/site/names.json", names_json),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
