"""Calendar feed: render time against a bare ``icalendar`` serialisation, and 304 time.

    python bench/feed.py            # two years of twice-daily doses (~1,460 events), 15 runs
    python bench/feed.py --quick    # 5 runs

One patient on a twice-daily oral therapy, a year of recorded doses behind and a year ahead,
in a migrated SQLite file; [calendar] past_days/future_days cover it all.

- cold render: ``Feeds.patient`` with the cache cleared (token lookup, version query, dose
  query, building the events, serialising), p50 of ``--runs``;
- warm: the same call when nothing changed (version query + cache hit);
- baseline: the same events (prepared before timing) built into ``icalendar`` Events with
  the same properties plus the zone's VTIMEZONE, and ``to_ical()``, p50 of as many runs;
- 304: a GET with If-None-Match through the ASGI app in-process (routing, the endpoint in
  its thread pool, the lookup and the version query), and over loopback HTTP (uvicorn).
Goals in the issue: ratio <= 1.5, 304 under 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from icalendar import Calendar, Event
from sqlalchemy import update
from sqlmodel import Session, col

from adherence.bootstrap import App
from adherence.calendar.feed import FeedCache, Feeds, issue_patient_token, patient_events
from adherence.core.config import settings_from_mapping
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import Dose, Patient
from adherence.web.app import create_app
from notifiers.ical import CalEvent, vtimezone
from schedules import load_catalog

ZONE = "America/New_York"


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bare(events: list[CalEvent]) -> bytes:
    """What a hand-written feed with icalendar costs: the same properties, nothing else."""
    tz = ZoneInfo(ZONE)
    cal = Calendar()
    cal.add("prodid", "-//bench//EN")
    cal.add("version", "2.0")
    cal.add_component(vtimezone(ZONE, 2025, 2027))
    for e in events:
        ev = Event()
        ev.add("uid", e.uid)
        ev.add("dtstamp", e.dtstamp)
        ev.add("sequence", e.sequence)
        ev.add("dtstart", e.start.astimezone(tz) if isinstance(e.start, datetime) else e.start)
        ev.add("dtend", e.end.astimezone(tz) if isinstance(e.end, datetime) else e.end)
        ev.add("summary", e.summary)
        if e.description:
            ev.add("description", e.description)
        ev.add("status", e.status)
        ev.add("transp", "OPAQUE" if e.busy else "TRANSPARENT")
        cal.add_component(ev)
    return bytes(cal.to_ical())


def asgi_get(web: Any, path: str, headers: dict[str, str]) -> Callable[[], Any]:
    """One request through the ASGI app, no socket: returns a coroutine factory."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), *raw],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await web(scope, receive, send)
        return status

    return call


def setup(path: Path, now: datetime) -> tuple[App, str, int]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    settings = settings_from_mapping(
        {
            "database": {"url": url},
            "calendar": {"past_days": 366, "future_days": 366},
            "http": {"public_base_url": "https://care.example.org"},
        }
    )
    catalog = load_catalog()
    start = (now - timedelta(days=365)).date()
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Bench clinic", tz=ZONE, now=now - timedelta(days=366))
        patient = create_patient(
            s, team=team, name="P", phone="+12025550143", tz=ZONE, now=now - timedelta(days=366)
        )
        plan = create_plan(
            s,
            catalog=catalog,
            patient=patient,
            regimen="dimethyl-fumarate",
            start=start,
            now=now - timedelta(days=366),
            times=["08:00", "20:00"],
        )
        materialize(s, now=now - timedelta(days=366), catalog=catalog, horizon_days=731)
        # The past year as it would have been recorded: mostly taken, some missed.
        s.exec(
            update(Dose)
            .where(col(Dose.plan_id) == plan.id, col(Dose.due_at) < now)
            .values(status="taken", confirmed_via="sms", updated_at=now - timedelta(days=1))
        )
        s.exec(
            update(Dose)
            .where(
                col(Dose.plan_id) == plan.id,
                col(Dose.due_at) < now,
                col(Dose.local_date).in_([date(2026, 1, d) for d in range(1, 29, 3)]),
            )
            .values(status="missed")
        )
        s.commit()
        token = issue_patient_token(s, patient, now=now)
        assert patient.id is not None
        return App(settings=settings, engine=engine, catalog=catalog), token, patient.id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.requests = 5, 300
    now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        app, token, patient_id = setup(Path(tmp) / "feed.db", now)
        cache = FeedCache()
        feeds = Feeds(settings=app.settings, catalog=app.catalog, cache=cache)
        with app.session() as s:
            patient = s.get(Patient, patient_id)
            assert patient is not None
            events = patient_events(
                s, patient=patient, catalog=app.catalog, settings=app.settings, now=now
            )
        print(f"feed: {len(events):,} events, two years of twice-daily doses in {ZONE}")

        def cold() -> bytes:
            cache.clear()
            with app.session() as s:
                rendered = feeds.patient(s, token, now)
            assert rendered is not None
            return rendered.body

        def warm() -> bytes:
            with app.session() as s:
                rendered = feeds.patient(s, token, now)
            assert rendered is not None
            return rendered.body

        size = len(cold())
        base_size = len(bare(events))
        ours_t: list[float] = []
        base_t: list[float] = []
        for _ in range(args.runs):  # alternate, so a busy machine slows both sides
            ours_t += timed(cold, 1)
            base_t += timed(lambda: bare(events), 1)
        warm_t = timed(warm, args.runs * 10)
        ours, base, hot = p50(ours_t), p50(base_t), p50(warm_t)
        print(f"cold render (cache cleared): p50 {ours * 1000:.1f} ms, {size:,} bytes")
        print(f"bare icalendar, same events: p50 {base * 1000:.1f} ms, {base_size:,} bytes")
        print(f"ratio cold: {ours / base:.2f} (goal <= 1.5)")
        print(f"warm (unchanged, from cache): p50 {hot * 1000:.2f} ms, ratio {hot / base:.3f}")

        web = create_app(app, clock=lambda: now)
        path = f"/calendar/{token}.ics"
        first = asyncio.run(asgi_get(web, path, {})())
        assert first == 200
        with app.session() as s:
            rendered = feeds.patient(s, token, now)
        assert rendered is not None
        etag = rendered.etag
        call = asgi_get(web, path, {"If-None-Match": etag})

        async def many() -> list[float]:
            out = []
            for _ in range(args.requests):
                t = time.perf_counter()
                status = await call()
                out.append(time.perf_counter() - t)
                assert status == 304, status
            return out

        asgi = asyncio.run(many())
        print(
            f"304 through the ASGI app (in-process): p50 {p50(asgi) * 1000:.2f} ms, "
            f"p99 {statistics.quantiles(asgi, n=100)[98] * 1000:.2f} ms (goal p50 < 2 ms)"
        )

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        loop: list[float] = []
        for _ in range(args.requests):
            t = time.perf_counter()
            conn.request("GET", path, headers={"If-None-Match": etag})
            resp = conn.getresponse()
            resp.read()
            loop.append(time.perf_counter() - t)
            assert resp.status == 304
        conn.close()
        server.should_exit = True
        thread.join(10)
        print(
            f"304 over loopback HTTP (uvicorn, keep-alive): p50 {p50(loop) * 1000:.2f} ms, "
            f"p99 {statistics.quantiles(loop, n=100)[98] * 1000:.2f} ms"
        )
        app.engine.dispose()


if __name__ == "__main__":
    main()
