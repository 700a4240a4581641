"""Booked visits in the patient's subscribed calendar feed over real HTTP: a discreet
title by default, the type when the patient opted out of discretion, a move seen through
the feed cache (SEQUENCE up), a cancelled visit gone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from adherence.calendar.feed import issue_patient_token
from adherence.calendar.visits.booking import book, cancel, move
from adherence.core.config import Settings
from adherence.patients.enrollment import update_patient
from schedules import Catalog
from tests.adherence.calendar_helpers import (
    Client,
    Clock,
    app_for,
    events_by_uid,
    serve,
    three_ways,
)
from tests.adherence.engine_helpers import enroll

Serve = Callable[..., Client]
SETTINGS = Settings()


@pytest.fixture
def http(engine: Engine, session: Session, catalog: Catalog) -> Iterator[Serve]:
    with ExitStack() as stack:

        def start(clock: Clock, *, calendar: dict[str, Any] | None = None) -> Client:
            app = app_for(engine, catalog, calendar=calendar)
            return stack.enter_context(serve(app, clock, session.commit))

        yield start


def test_a_booked_visit_is_in_the_feed_discreetly_follows_a_move_and_goes_on_cancel(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock)
    url = f"/calendar/{token}.ics"
    before = client.get(url).content

    visit = book(session, patient=e.patient, visit_type="mri", at=now + timedelta(days=10),
                 now=now, settings=SETTINGS, by="test", location="Imaging B")  # fmt: skip
    body = client.get(url).content
    assert body != before
    ev = events_by_uid(body)[visit.uid]
    assert str(ev["SUMMARY"]) == "Clinic visit" and str(ev["LOCATION"]) == "Imaging B"
    assert "MRI" not in body.decode() and "neuro" not in body.decode().lower()
    assert {s.uid for s in three_ways(body)} >= {visit.uid}

    clock.now += timedelta(minutes=2)
    move(session, visit=visit, at=now + timedelta(days=11), now=clock.now, settings=SETTINGS,
         by="test")  # fmt: skip
    moved = events_by_uid(client.get(url).content)[visit.uid]
    assert int(moved["SEQUENCE"]) == 1
    assert moved.decoded("DTSTART") == now + timedelta(days=11)

    clock.now += timedelta(minutes=2)
    update_patient(session, patient=e.patient, now=clock.now, discreet=False)
    assert str(events_by_uid(client.get(url).content)[visit.uid]["SUMMARY"]) == "MRI scan"

    clock.now += timedelta(minutes=2)
    cancel(session, visit=visit, now=clock.now, by="test")
    assert visit.uid not in {s.uid for s in three_ways(client.get(url).content)}
