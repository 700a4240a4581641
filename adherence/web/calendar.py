"""Calendar feeds: ``GET``/``HEAD /calendar/{token}.ics`` (a patient) and
``/calendar/team/{token}.ics`` (a care team's infusions).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

An unknown, rotated or malformed token gets the same 404 body after the same work (hash,
one indexed lookup), so a URL that once worked cannot be told from one that never did.
Nothing here logs a token or a patient at INFO (the access log is off for that reason too).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from adherence.bootstrap import App
from adherence.calendar.feed import FeedCache, Feeds, Rendered
from adherence.storage.db import read_only

log = logging.getLogger("adherence.web.calendar")

MEDIA_TYPE = "text/calendar; charset=utf-8"
NOT_FOUND = b"Not Found\n"


def _not_found() -> Response:
    return Response(NOT_FOUND, status_code=404, media_type="text/plain; charset=utf-8")


def _not_modified(request: Request, rendered: Rendered) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); weak comparison.
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or rendered.etag in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return rendered.last_modified.replace(microsecond=0) <= since
    return False


def _answer(request: Request, rendered: Rendered | None, max_age: int) -> Response:
    if rendered is None:
        return _not_found()
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(rendered.last_modified.astimezone(UTC), usegmt=True),
        # private: the URL is a secret, no shared cache should keep a copy.
        "Cache-Control": f"private, max-age={max_age}",
    }
    if _not_modified(request, rendered):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(rendered.body))
        return Response(b"", media_type=MEDIA_TYPE, headers=headers)
    return Response(rendered.body, media_type=MEDIA_TYPE, headers=headers)


def calendar_routes(
    app: App, *, clock: Callable[[], datetime], cache: FeedCache | None = None
) -> APIRouter:
    router = APIRouter(tags=["calendar"])
    feeds = Feeds(settings=app.settings, catalog=app.catalog, cache=cache or FeedCache())
    # Clients are asked to refresh every refresh_minutes; let caches keep it a tenth of that.
    max_age = max(60, app.settings.calendar.refresh_minutes * 6)

    def session() -> Session:
        # Feeds only read: no queueing for SQLite's write lock behind the engine's tick.
        return read_only(Session(app.engine, expire_on_commit=False))

    # GET is described in the OpenAPI document; HEAD answers the same without a body.
    @router.head("/calendar/team/{token}.ics", include_in_schema=False)
    @router.get("/calendar/team/{token}.ics", response_class=Response)
    def team_feed(token: str, request: Request) -> Response:
        with session() as s:
            rendered = feeds.team(s, token, clock())
        log.debug("team calendar feed found=%s", rendered is not None)
        return _answer(request, rendered, max_age)

    @router.head("/calendar/{token}.ics", include_in_schema=False)
    @router.get("/calendar/{token}.ics", response_class=Response)
    def patient_feed(token: str, request: Request) -> Response:
        with session() as s:
            rendered = feeds.patient(s, token, clock())
        log.debug("patient calendar feed found=%s", rendered is not None)
        return _answer(request, rendered, max_age)

    return router
