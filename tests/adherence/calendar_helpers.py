"""Reading a calendar feed back with three independent parsers, and serving it over real HTTP.

``icalendar`` (what we build with), ``ical`` (pydantic, its own VTIMEZONE handling) and
``vobject`` (builds its tzinfo from the feed's own VTIMEZONE): if all three see the same
events at the same instants, the feed is well-formed and its zones say what we meant.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import requests
import uvicorn
import vobject
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar
from sqlalchemy import Engine

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.web.app import create_app
from schedules import Catalog


@dataclass(frozen=True, order=True)
class Seen:
    uid: str
    start: datetime | date  # an instant in UTC, or a date for an all-day entry
    summary: str


def _norm(value: Any) -> datetime | date:
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"floating time {value}"
        return value.astimezone(UTC)
    assert isinstance(value, date)
    return value


def with_icalendar(body: bytes) -> list[Seen]:
    cal = Calendar.from_ical(body)
    return sorted(
        Seen(str(ev["UID"]), _norm(ev.decoded("DTSTART")), str(ev["SUMMARY"]))
        for ev in cal.walk("VEVENT")
    )


def with_ical(body: bytes) -> list[Seen]:
    cal = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    return sorted(Seen(ev.uid or "", _norm(ev.dtstart), ev.summary or "") for ev in cal.events)


def with_vobject(body: bytes) -> list[Seen]:
    cal = vobject.readOne(body.decode("utf-8"))
    return sorted(
        Seen(ev.uid.value, _norm(ev.dtstart.value), ev.summary.value)
        for ev in getattr(cal, "vevent_list", [])
    )


def three_ways(body: bytes) -> list[Seen]:
    """The events, after checking that the three parsers agree on them."""
    a, b, c = with_icalendar(body), with_ical(body), with_vobject(body)
    assert a == b, "icalendar and ical disagree"
    assert a == c, "icalendar and vobject disagree"
    return a


def events_by_uid(body: bytes) -> dict[str, Any]:
    return {str(ev["UID"]): ev for ev in Calendar.from_ical(body).walk("VEVENT")}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Client:
    """``requests`` against the app served by uvicorn on loopback: real sockets and headers
    (``fastapi.testclient`` needs httpx, which the project does not install)."""

    def __init__(self, base: str, before: Callable[[], object] = lambda: None) -> None:
        self.base = base
        self.http = requests.Session()
        # SQLite takes the write lock at BEGIN: the test's own session must end its
        # transaction (commit, keeping its objects) before the server can read.
        self.before = before

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        self.before()
        return self.http.get(self.base + path, headers=headers, timeout=30)

    def head(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        self.before()
        return self.http.head(self.base + path, headers=headers, timeout=30)


def app_for(engine: Engine, catalog: Catalog, *, calendar: dict[str, Any] | None = None) -> App:
    settings = settings_from_mapping(
        {"http": {"public_base_url": "https://care.example.org"}, "calendar": calendar or {}}
    )
    return App(settings=settings, engine=engine, catalog=catalog)


@contextmanager
def serve(app: App, clock: Clock, before: Callable[[], object] = lambda: None) -> Iterator[Client]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app, clock=clock),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    client = Client(f"http://127.0.0.1:{port}", before)
    try:
        yield client
    finally:
        client.http.close()
        server.should_exit = True
        thread.join(10)
