"""The live application (issue 26, docs/METRICS.md section 8): the page, the API and the feeds.

``GET /`` the live page; ``/api/v1/{status,availability,overstays,alerts}`` the
live answers as ``{"at", "lookback_hours", "rows"}``, the rows exactly as the
CLI's ``--format json`` prints them; ``/api/v1/page`` what the page draws;
``/feeds/parkapi.json`` and ``/feeds/datex2.xml`` the open feeds; ``/openapi.json``
and ``/docs`` (Swagger UI), every asset served from this package (no ReDoc: it
fetches its logo from a CDN). Every GET route answers HEAD too.

A bad parameter, or one the endpoint does not take, is a 422 naming it; a
failure is a 503 with one line, and one line in the server's log, never a
traceback. No request names a path: what is read is the source's lake and
catalog, nothing else.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from parking.analytics.registry import DEFAULT_GROUPING, DEFAULT_THRESHOLD
from parking.errors import InvalidArgument, ParkingError
from parking.live.answers import LiveSource, live_answer
from parking.live.cache import LiveCache
from parking.live.feeds import FeedSettings, datex2, iso, parkapi
from parking.text import DECIMAL, DIGITS, shortened

API = "/api/v1"


class ParameterProblem(BaseModel):
    """One parameter's problem: its name and what is wrong with it."""

    parameter: str
    message: str


class BadParameter(BaseModel):
    """The body of a 422: one line, and each parameter's problem."""

    detail: str
    errors: list[ParameterProblem]


class Unavailable(BaseModel):
    """The body of a 503: one line saying what could not be done."""

    detail: str


#: What every route may answer besides 200, as the OpenAPI document says it.
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": BadParameter, "description": "A bad parameter, or one the endpoint does not take"},
    503: {"model": Unavailable, "description": "The answer could not be made (a failure, said in one line)"},
}
Grouping = Literal["zone", "level", "bay_type"]


def _decimal_digits(value: Any) -> Any:
    """An integer parameter as typed: decimal digits, perhaps after a '-' (its range check then refuses it).

    pydantic's lax mode would read ``3.0``, ``+3`` and `` 3`` as 3 and ``1_2``
    as 12 (Python's ``int``): a typo would pass as another number. A value is
    what it says, or a 422 naming it.
    """
    if isinstance(value, str) and not DIGITS.fullmatch(value.removeprefix("-")):
        raise PydanticCustomError("int_parsing", "Input should be a whole number in decimal digits (0-9)")
    return value


def _decimal_number(value: Any) -> Any:
    """A number parameter as typed: what :data:`parking.text.DECIMAL` reads (``0.5``, ``.5``, ``1e-3``), finite.

    pydantic's lax mode reads a float as Python's ``float`` does: ``.5_0`` as
    0.5, `` 0.5`` with its space, ``0_5`` as 5 and other scripts' digits, so a
    typo passed as another number. As the CLI's ``--threshold`` (cli/options.py's
    ``Number``): a value is what it says, or a 422 naming it.
    """
    if isinstance(value, str):
        if not DECIMAL.fullmatch(value):
            raise PydanticCustomError("float_parsing", "Input should be a decimal number like 0.5, .5 or 1e-3")
        if not math.isfinite(float(value)):  # 1e309
            raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


# After ``Query(...)`` in a parameter's ``Annotated`` (before it, the OpenAPI document would lose the bounds):
# every integer query parameter takes decimal digits only, every number one a decimal number
# (tests/test_live_api.py finds each in the OpenAPI document and tries its spellings).
#: An integer query parameter's check.
WHOLE = BeforeValidator(_decimal_digits)
#: A number (float) query parameter's check.
NUMBER = BeforeValidator(_decimal_number)
_log = logging.getLogger("parking.live")


class Live:
    """The live answers of one source, rendered once per change and kept in a :class:`LiveCache`."""

    def __init__(self, source: LiveSource, *, max_age: float = 5.0) -> None:
        self.source = source
        self.cache = LiveCache(source.version, max_age=max_age)

    def answer(self, name: str, **params: Any) -> tuple[Any, Any]:
        """``(at, frame)`` of a live answer, kept while current."""
        key = (name, *sorted(params.items()))
        return self.cache.get(key, lambda: live_answer(self.source, name, **params))

    async def fast(self, key: Any, make: Callable[[], bytes]) -> bytes:
        """The kept body of ``key`` without leaving the event loop, else ``make()`` in a worker thread."""
        kept = self.cache.peek(key)
        return kept if kept is not None else await run_in_threadpool(make)

    def body(self, name: str, **params: Any) -> bytes:
        """The API's JSON of a live answer."""
        def make() -> bytes:
            from parking.cli.render import render

            at, frame = self.answer(name, **params)
            rows = render(frame, "json")
            return (f'{{"at": {json.dumps(iso(at))}, "lookback_hours": {json.dumps(self.source.lookback_hours)}, '
                    f'"rows": {rows}}}').encode()

        return self.cache.get(body_key(name, params), make)

    def body_of(self, name: str, **params: Any) -> Callable[[], bytes]:
        """A maker of :meth:`body`, for :meth:`fast`."""
        return lambda: self.body(name, **params)

    def forecast(self, by: str, hours: int) -> bytes:
        """The next ``hours`` per group from now's hour (``parking-cli forecast``, METRICS.md section 8), as JSON.

        Kept like the live answers, and for one hour at most: a forecast starts
        at a whole hour, so a new hour asks for a new one. ``uncalibrated_hours``
        lists the hours whose 80 % interval is 0-100 % for want of history to
        calibrate it (``frame.attrs``, :func:`parking.analytics.forecast.forecast`).
        """
        at = self.source.clock()

        def make() -> bytes:
            from parking import queries
            from parking.cli.render import render

            with self.source._lock:  # the local engine has one connection
                frame = queries.forecast(at, by=by, hours=hours, lookback_hours=self.source.lookback_hours,
                                         engine=self.source.engine)
            uncalibrated = [iso(hour) for hour in frame.attrs.get("uncalibrated_hours", [])]
            return (f'{{"at": {json.dumps(iso(at))}, "lookback_hours": {json.dumps(self.source.lookback_hours)}, '
                    f'"rows": {render(frame, "json")}, "uncalibrated_hours": {json.dumps(uncalibrated)}}}').encode()

        return self.cache.get(("forecast", by, hours, at.replace(minute=0, second=0, microsecond=0)), make)

    def page(self) -> bytes:
        """The page's document (:mod:`parking.live.page`)."""
        def make() -> bytes:
            from parking.live.page import bay_states, page

            at, status = self.answer("status")
            _, availability = self.answer("availability", by="zone")
            _, overstays = self.answer("overstays")
            document = page(at, self.source.lookback_hours, self.levels(), bay_states(status, overstays),
                            availability, overstays)
            return json.dumps(document, separators=(",", ":")).encode()

        return self.cache.get("page", make)

    def levels(self) -> Any:
        """The maps' layout, made once per catalog."""
        from parking.live.page import layout

        return self.cache.get(("layout", self.source.catalog.loaded_at()),
                              lambda: layout(self.source.catalog_rows()))

    def parkapi(self, settings: FeedSettings) -> bytes:
        def make() -> bytes:
            at, availability = self.answer("availability", by="zone")
            feed = parkapi(at, availability, self.source.catalog_rows(), self.source.catalog.loaded_at(), settings)
            return json.dumps(feed, ensure_ascii=False).encode()

        return self.cache.get("parkapi", make)

    def datex2(self, settings: FeedSettings) -> bytes:
        def make() -> bytes:
            at, availability = self.answer("availability", by="zone")
            return datex2(at, availability, settings)

        return self.cache.get("datex2", make)


class KeptAnswers:
    """ASGI middleware: a GET of a live answer whose body is kept and current is answered here, in the
    event loop, without FastAPI's routing and validation (a few hundred microseconds a request); any
    other request, or one whose parameters are not exactly the plain ones, goes on to the app."""

    def __init__(self, app: Any, live: Live) -> None:
        self.app = app
        self.live = live

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            key = _plain_key(scope["path"], scope["query_string"])
            body = self.live.cache.peek(key) if key is not None else None
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


# path -> (query name, query string -> its `by`, if any)
_PLAIN: dict[str, tuple[str, dict[bytes, str | None]]] = {
    f"{API}/availability": ("availability", {b"": "zone", b"by=zone": "zone", b"by=level": "level",
                                             b"by=bay_type": "bay_type"}),
    f"{API}/status": ("status", {b"": None}), f"{API}/overstays": ("overstays", {b"": None}),
}


def _plain_key(path: str, query: bytes) -> tuple[Any, ...] | str | None:
    if path == f"{API}/page":
        return "page" if query == b"" else None
    if path not in _PLAIN:
        return None
    name, queries = _PLAIN[path]
    if query not in queries:
        return None
    by = queries[query]
    return body_key(name, {"by": by} if by else {})


def body_key(name: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """The cache key of an answer's rendered body."""
    return ("body", name, *sorted(params.items()))


def _shortened(name: str) -> str:
    """A parameter's name as a 422 gives it back: whole up to 64 characters, else its 30 first and last around '...'."""
    return shortened(name, 64, head=30, tail=30)


def _unexpected(request: Request, allowed: set[str]) -> None:
    """422 for a query parameter the endpoint does not take (a typo must not pass as the default) or one given twice."""
    given = [name for name, _ in request.query_params.multi_items()]
    for name in given:
        if name not in allowed:
            raise InvalidArgument(f"unknown query parameter {_shortened(name)!r}"
                                  + (f": this endpoint takes {', '.join(sorted(allowed))}" if allowed else
                                     ": this endpoint takes none"), name)
        if given.count(name) > 1:  # which one is meant? Starlette would quietly take the last
            raise InvalidArgument(f"query parameter {_shortened(name)!r} given {given.count(name)} times: give it once",
                                  name)


def _with_sign_in(html: str) -> str:
    """The page with the user pool's sign-in (PARKING_AUTH_DOMAIN, PARKING_AUTH_CLIENT_ID) when deployed; as is locally."""
    import html as markup
    import os

    for name, variable in (("parking-auth", "PARKING_AUTH_DOMAIN"), ("parking-client", "PARKING_AUTH_CLIENT_ID")):
        value = os.environ.get(variable, "")
        html = html.replace(f'<meta name="{name}" content="">',
                            f'<meta name="{name}" content="{markup.escape(value, quote=True)}">')
    return html


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def create_app(source: LiveSource, *, feeds_only: bool = False, feed_settings: FeedSettings | None = None,
               max_age: float = 5.0) -> FastAPI:
    """The application over ``source``; ``feeds_only`` serves the two feeds and nothing else."""
    settings = feed_settings or FeedSettings.from_env()
    live = Live(source, max_age=max_age)
    app = FastAPI(
        title="Parking live API", version="1",
        description="The live answers, the live page and the open feeds of docs/METRICS.md section 8.",
        docs_url=None, redoc_url=None, openapi_url=None if feeds_only else "/openapi.json",
    )
    app.state.live = live

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0])
            problems.append({"parameter": name, "message": f"{name}: {error['msg']}"})
        return JSONResponse({"detail": "; ".join(p["message"] for p in problems), "errors": problems},
                            status_code=422)

    @app.exception_handler(InvalidArgument)
    async def invalid_argument(request: Request, exc: InvalidArgument) -> JSONResponse:
        line = str(exc).splitlines()[0]
        return JSONResponse({"detail": line, "errors": [{"parameter": _shortened(exc.argument or ""), "message": line}]},
                            status_code=422)

    @app.exception_handler(ParkingError)
    async def failed(request: Request, exc: ParkingError) -> JSONResponse:
        line = str(exc).splitlines()[0]
        _log.error("live request %s failed: %s", request.url.path, line[:300])  # the operator's side of the 503
        return JSONResponse({"detail": line}, status_code=503)

    feed_headers = {"Cache-Control": "public, max-age=5"}

    @app.get("/feeds/parkapi.json", tags=["feeds"], summary="Availability per zone, ParkAPI v3 parking sites",
             responses=ERRORS)
    def parkapi_feed(request: Request) -> Response:
        _unexpected(request, set())
        return Response(live.parkapi(settings), media_type="application/json", headers=feed_headers)

    @app.get("/feeds/datex2.xml", tags=["feeds"], summary="Availability per zone, DATEX II v3 parking status",
             responses={**ERRORS, 200: {"content": {"application/xml": {}}, "description": "The publication"}},
             response_class=Response)
    def datex2_feed(request: Request) -> Response:
        _unexpected(request, set())
        return Response(live.datex2(settings), media_type="application/xml", headers=feed_headers)

    if feeds_only:
        return app

    @app.get(f"{API}/status", tags=["live answers"], summary="Each spot's state now (parking-cli status)",
             responses=ERRORS)
    async def status(request: Request) -> Response:
        _unexpected(request, set())
        return _json(await live.fast(body_key("status", {}), live.body_of("status")))

    @app.get(f"{API}/availability", tags=["live answers"],
             summary="Bays occupied, free and unknown per group now (parking-cli availability)", responses=ERRORS)
    async def availability(request: Request,
                           by: Annotated[Grouping, Query(description="Catalog column to group by")] = DEFAULT_GROUPING,
                           ) -> Response:
        _unexpected(request, {"by"})
        return _json(await live.fast(body_key("availability", {"by": by}), live.body_of("availability", by=by)))

    @app.get(f"{API}/overstays", tags=["live answers"], summary="The enforcement list now (parking-cli overstays)",
             responses=ERRORS)
    async def overstays(request: Request) -> Response:
        _unexpected(request, set())
        return _json(await live.fast(body_key("overstays", {}), live.body_of("overstays")))

    @app.get(f"{API}/alerts", tags=["live answers"],
             summary="Groups at or above an occupancy threshold now (parking-cli alerts)", responses=ERRORS)
    async def alerts(request: Request,
               threshold: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False,
                                                 description="Occupancy rate (0-1)"), NUMBER] = DEFAULT_THRESHOLD,
               by: Annotated[Grouping, Query(description="Catalog column to group by")] = DEFAULT_GROUPING) -> Response:
        _unexpected(request, {"threshold", "by"})
        params = {"threshold": threshold, "by": by}
        return _json(await live.fast(body_key("alerts", params), live.body_of("alerts", **params)))

    @app.get(f"{API}/forecast", tags=["forecast"],
             summary="Each group's occupancy over the next hours, with an 80 % interval (parking-cli forecast)",
             responses=ERRORS)
    async def forecast(request: Request,
                       by: Annotated[Grouping, Query(description="Catalog column to group by")] = DEFAULT_GROUPING,
                       hours: Annotated[int, Query(ge=1, le=24, description="Hours ahead (1-24)"), WHOLE] = 6,
                       ) -> Response:
        _unexpected(request, {"by", "hours"})
        return _json(await run_in_threadpool(live.forecast, by, hours))

    @app.get(f"{API}/page", tags=["page"], summary="What the live page draws: summary, zones, bay maps",
             responses=ERRORS)
    async def page_document(request: Request) -> Response:
        _unexpected(request, set())
        return _json(await live.fast("page", live.page))

    static = resources.files("parking.live").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    from fastapi_offline.core import _STATIC_PATH

    app.mount("/docs-assets", StaticFiles(directory=str(_STATIC_PATH)), name="docs-assets")

    page_html = _with_sign_in(static.joinpath("index.html").read_text(encoding="utf-8"))

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page_html, headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title="Parking live API",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no badge from an online validator

    app.add_middleware(KeptAnswers, live=live)
    app.add_middleware(OneLineFailures)
    app.add_middleware(HeadAsGet)
    return app


class HeadAsGet:
    """ASGI middleware: HEAD is answered as GET without the body (uptime monitors and link checkers send it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class OneLineFailures:
    """ASGI middleware: an unexpected failure is a 503 with one line, and one line in the log.

    FastAPI's handler for ``Exception`` answers and then raises again, so
    uvicorn logs a traceback per request: a page that asks every second
    fills the log. The traceback goes to the log at DEBUG level only.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if scope["type"] != "http" or started:
                raise
            _log.error("live request %s failed: %s: %s", scope.get("path", ""), type(exc).__name__,
                       " ".join(str(exc).split())[:300], exc_info=_log.isEnabledFor(logging.DEBUG))
            response = JSONResponse({"detail": f"the live answer could not be made ({type(exc).__name__})"},
                                    status_code=503)
            await response(scope, receive, send)
