"""The daemon's worker in-process, on SQLite and PostgreSQL: its loop sleeps on an event
for what the tick returned, ``wake()`` cuts the sleep short, ``stop()`` never waits it
out, and /metrics counts each text under what it was for."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from adherence.bootstrap import App
from adherence.core.config import settings_from_mapping
from adherence.daemon import Worker
from adherence.messaging.outbox import enqueue
from adherence.metrics import DaemonState
from notifiers.sms import MemorySms
from schedules import Catalog

LONG_SLEEP = 120  # seconds: far longer than any wait below, so only wake/stop end it


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def worker(engine: Engine, catalog: Catalog) -> Iterator[tuple[Worker, MemorySms]]:
    settings = settings_from_mapping({"engine": {"max_sleep_seconds": LONG_SLEEP}})
    texts = MemorySms()
    w = Worker(App(settings=settings, engine=engine, catalog=catalog), texts, DaemonState())
    yield w, texts
    w.stop()


def _queue_text(engine: Engine, key: str, purpose: str) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s:
        enqueue(
            s,
            key=key,
            to="+12025550143",
            body="Riverside MS Clinic: call us on +12025550100.",
            purpose=purpose,
            now=now,
            valid_until=now + timedelta(hours=1),
        )
        s.commit()


def test_wake_runs_the_tick_at_once_instead_of_after_the_sleep(
    worker: tuple[Worker, MemorySms], engine: Engine
) -> None:
    w, texts = worker
    w.start()
    assert w.state.scheduler_running
    wait_until(lambda: w.state.last_tick_at is not None, 30, "the first tick")
    registry = w.state.metrics.registry
    ticks = registry.get_sample_value("adherence_ticks_total")
    time.sleep(0.3)
    # Nothing due: asleep, not polling.
    assert registry.get_sample_value("adherence_ticks_total") == ticks
    _queue_text(engine, "help:1", "help")  # what a webhook writes before it calls wake()
    w.wake()
    wait_until(lambda: len(texts.sent) == 1, 10, "the text (the sleep is 120 s)")
    assert texts.sent[0].purpose == "help"


def test_stop_ends_the_sleep_and_the_loop(worker: tuple[Worker, MemorySms]) -> None:
    w, _ = worker
    w.start()
    wait_until(lambda: w.state.last_tick_at is not None, 30, "the first tick")
    started = time.monotonic()
    w.stop()
    assert time.monotonic() - started < 10  # not the 120 s sleep
    assert w._thread is not None and not w._thread.is_alive()
    assert not w.state.scheduler_running  # /healthz then reports the scheduler down


def test_messages_sent_is_labelled_with_the_message_purpose(
    worker: tuple[Worker, MemorySms], engine: Engine
) -> None:
    w, texts = worker
    _queue_text(engine, "help:1", "help")
    _queue_text(engine, "help:2", "help")
    _queue_text(engine, "flag:1", "flag")
    w.run_once()
    w.stop()  # waits for the sends on the wire and records them
    assert len(texts.sent) == 3
    registry = w.state.metrics.registry
    sent = "adherence_messages_sent_total"
    assert registry.get_sample_value(sent, {"purpose": "help"}) == 2.0
    assert registry.get_sample_value(sent, {"purpose": "flag"}) == 1.0
    assert registry.get_sample_value(sent, {"purpose": "sms"}) is None
