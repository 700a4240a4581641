"""E-mail leaves off the engine's tick: against a real SMTP server on loopback that takes
its time over each message, the daemon's tick returns at once, whatever the latency, and
every e-mail still arrives, once (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.daemon import Worker
from adherence.messaging.mail import enqueue_email
from adherence.metrics import DaemonState
from adherence.storage.models import OutboxMessage
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.fakes.smtp_server import smtp_server

COUNT = 4
LATENCY = 0.5  # seconds the server takes over each message


def _queue(engine: Engine, count: int) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s:
        for n in range(count):
            enqueue_email(
                s, key=f"digest:slow:{n}", to=f"coord{n}@example.org", subject="Flags",
                text=f"digest {n}", purpose="digest", now=now,
            )  # fmt: skip
        s.commit()


def test_a_slow_mail_server_does_not_slow_the_tick_and_every_mail_arrives_once(
    engine: Engine, catalog: Catalog
) -> None:
    with smtp_server(delay=LATENCY) as (server, inbox):
        settings = settings_from_mapping(
            {"smtp": {"host": "127.0.0.1", "port": server.port, "security": "none"}}
        )
        worker = Worker(
            App(settings=settings, engine=engine, catalog=catalog), MemorySms(), DaemonState()
        )
        _queue(engine, COUNT)
        try:
            ticks = []
            for _ in range(3):  # ticks go on while the server is still busy
                started = time.monotonic()
                worker.run_once()
                ticks.append(time.monotonic() - started)
            # Inline, one tick would have waited COUNT x LATENCY for the server.
            assert max(ticks) < LATENCY, ticks
            got = inbox.wait_for(COUNT, timeout=COUNT * LATENCY + 10)
        finally:
            worker.stop()
        time.sleep(LATENCY)  # a second copy, if one were on its way, would be in by now
        got = list(inbox.received)
    assert sorted(m.rcpt_tos[0] for m in got) == [f"coord{n}@example.org" for n in range(COUNT)]
    assert len({m.message["Message-ID"] for m in got}) == COUNT
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage.status, OutboxMessage.attempts)
            .where(OutboxMessage.channel == "email")
            .order_by(col(OutboxMessage.id))
        ).all()
    assert [tuple(r) for r in rows] == [("sent", 1)] * COUNT


def test_the_daemon_stopping_sends_the_mail_due_first(engine: Engine, catalog: Catalog) -> None:
    """``--once`` and a shutdown: the e-mail due is sent before the worker is gone."""
    with smtp_server(delay=0.1) as (server, inbox):
        settings = settings_from_mapping(
            {"smtp": {"host": "127.0.0.1", "port": server.port, "security": "none"}}
        )
        worker = Worker(
            App(settings=settings, engine=engine, catalog=catalog), MemorySms(), DaemonState()
        )
        _queue(engine, 2)
        worker.once()  # one tick, then stop
        assert len(inbox.received) == 2
