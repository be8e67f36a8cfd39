"""HTTP layer: Starlette app serving :class:`~protocol.cec.api.ResultsApi` as JSON.

Endpoints are plain (sync) functions, so Starlette runs them in its thread pool
and a consolidation never stalls the device listener's event loop. Only JSON
endpoints and a plain index listing them; the ky/ru results pages (live
updates, screenshots) are left to the website helper, who builds them on these
endpoints and nothing else:

    GET /api/national               party list, shares, threshold, turnout, status
    GET /api/districts              each district with its leader
    GET /api/stations               one line per station
    GET /api/station/{number}       devices' reports, DEC protocol, discrepancies
    GET /api/station/{number}/dec/{page}.png   a page image of the DEC protocol
    GET /api/area/{level}/{key}     country | region | tec | district
    GET /api/progress               reporting over the evening
    GET /api/incidents              incidents and the latest refusals
    GET /api/nist                   NIST SP 1500-100 election report
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from protocol.cec import site
from protocol.cec.api import ResultsApi

_INDEX = """<!doctype html><meta charset="utf-8"><title>PCOS-KG CEC</title>
<h1>PCOS-KG CEC results API</h1><ul>{}</ul>"""


def create_app(api: ResultsApi) -> Starlette:
    def not_found(what: str) -> JSONResponse:
        return JSONResponse({"error": f"no {what}"}, status_code=404)

    def index(request: Request) -> Response:
        links = ["/api/national", "/api/districts", "/api/stations", "/api/progress",
                 "/api/incidents", "/api/nist"]
        return HTMLResponse(_INDEX.format("".join(f'<li><a href="{u}">{u}</a>' for u in links)))

    def national(request: Request) -> Response:
        return JSONResponse(api.national())

    def districts(request: Request) -> Response:
        return JSONResponse(api.districts())

    def stations(request: Request) -> Response:
        return JSONResponse(api.stations())

    def station(request: Request) -> Response:
        try:
            return JSONResponse(api.station(request.path_params["number"]))
        except KeyError:
            return not_found("station")

    def dec_page(request: Request) -> Response:
        try:
            png = api.dec_page(request.path_params["number"], int(request.path_params["page"]))
        except (KeyError, IndexError):
            return not_found("page")
        return Response(png, media_type="image/png")

    def area(request: Request) -> Response:
        try:
            return JSONResponse(api.area(request.path_params["level"],
                                         request.path_params["key"]))
        except KeyError:
            return not_found("area")

    def progress(request: Request) -> Response:
        return JSONResponse(api.progress())

    def incidents(request: Request) -> Response:
        return JSONResponse(api.incidents())

    def nist(request: Request) -> Response:
        return JSONResponse(api.nist())

    return Starlette(routes=[*site.routes(api),  # the ky/ru website: / and its pages
        Route("/api", index), Route("/api/national", national), Route("/api/districts", districts),
        Route("/api/stations", stations), Route("/api/station/{number}", station),
        Route("/api/station/{number}/dec/{page:int}.png", dec_page),
        Route("/api/area/{level}/{key}", area), Route("/api/progress", progress),
        Route("/api/incidents", incidents), Route("/api/nist", nist),
    ])
