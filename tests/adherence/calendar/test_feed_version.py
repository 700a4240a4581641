"""The feed's version follows what it shows, an appointment shows its infusion's outcome, and
a Spanish-speaking patient reads the feed in Spanish: real HTTP against the served app, real
engine steps (materialise, dispatch with nudges, confirm), SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from sqlmodel import Session

from adherence.calendar.appointments import book
from adherence.calendar.feed import issue_patient_token, issue_team_token
from adherence.core.config import Settings
from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import DispatchPolicy, dispatch_due
from adherence.dosing.materialize import materialize
from schedules import Catalog
from tests.adherence.calendar_helpers import Client, Clock, app_for, events_by_uid, serve
from tests.adherence.engine_helpers import at, doses, enroll

Serve = Callable[..., Client]
NUDGES = DispatchPolicy(nudges=2, nudge_every=timedelta(minutes=30))


@pytest.fixture
def http(engine: Engine, session: Session, catalog: Catalog) -> Iterator[Serve]:
    with ExitStack() as stack:

        def start(clock: Clock, *, calendar: dict[str, Any] | None = None) -> Client:
            app = app_for(engine, catalog, calendar=calendar)
            return stack.enter_context(serve(app, clock, session.commit))

        yield start


def _feed(client: Client, token: str, **headers: str) -> requests.Response:
    return client.get(f"/calendar/{token}.ics", headers=headers)


def test_a_reminder_and_its_nudges_keep_the_version_and_a_confirmation_moves_it(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 4), now=now, times=["09:00"])
    materialize(session, now=now, catalog=catalog, horizon_days=10)
    token = issue_patient_token(session, e.patient, now=now)
    clock = Clock(now)
    client = http(clock, calendar={"alarm_minutes": 30})
    first = _feed(client, token)
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    # The next morning's reminder, then both nudges: the dose's updated_at moves each time.
    dose = next(d for d in doses(session, e.plan) if d.due_at > now)
    before = dose.updated_at
    for minutes in (0, 30, 60):
        clock.now = dose.due_at + timedelta(minutes=minutes)
        dispatch_due(session, now=clock.now, catalog=catalog, policy=NUDGES)
    session.refresh(dose)
    assert dose.status == "reminded" and dose.nudges_sent == 2 and dose.updated_at > before

    again = _feed(client, token, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    assert again.headers["last-modified"] == modified
    assert _feed(client, token, **{"If-Modified-Since": modified}).status_code == 304
    # The same answer from a freshly started server (nothing cached): the bytes themselves
    # did not change.
    fresh = http(clock, calendar={"alarm_minutes": 30})
    assert _feed(fresh, token).content == first.content

    # A confirmation is something the feed shows: new bytes, new ETag, later Last-Modified.
    clock.now += timedelta(minutes=5)
    confirm(
        session, catalog=catalog, dose=dose, status="taken", at=clock.now, now=clock.now, via="sms"
    )
    changed = _feed(client, token, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert _feed(client, token, **{"If-Modified-Since": modified}).status_code == 200
    ev = events_by_uid(changed.content)[f"dose-{dose.id}@care.example.org"]
    assert str(ev["SUMMARY"]) == "Medication — taken"
    assert ev.decoded("DTSTAMP") == clock.now.replace(microsecond=0)


def _ocrevus_booked(
    session: Session, catalog: Catalog, *, language: str = "en", discreet: bool = True
) -> tuple[Any, Any, Any, datetime]:
    t0 = at(2026, 3, 1, 8)
    e = enroll(
        session,
        catalog,
        "ocrelizumab",
        date(2026, 3, 2),
        now=t0,
        language=language,
        discreet=discreet,
    )
    materialize(session, now=t0, catalog=catalog, horizon_days=30)
    appt = book(
        session,
        plan=e.plan,
        at=at(2026, 3, 2, 10),
        location="Infusion suite",
        now=t0,
        catalog=catalog,
        settings=Settings(),
        by="nurse",
    )
    dose = next(d for d in doses(session, e.plan) if d.id == appt.dose_id)
    return e, appt, dose, t0


@pytest.mark.parametrize(
    ("status", "word"), [("taken", "given"), ("missed", "not given"), ("skipped", "not given")]
)
def test_a_booked_appointment_shows_its_infusion_given_or_not_in_both_feeds(
    http: Serve, session: Session, catalog: Catalog, status: str, word: str
) -> None:
    e, appt, dose, t0 = _ocrevus_booked(session, catalog)
    token = issue_patient_token(session, e.patient, now=t0)
    team_token = issue_team_token(session, e.team, now=t0)
    clock = Clock(t0)
    client = http(clock, calendar={"alarm_minutes": 60})
    booked = events_by_uid(_feed(client, token).content)[appt.uid]
    assert str(booked["SUMMARY"]) == "Clinic appointment" and booked.walk("VALARM")

    if status == "missed":
        # Nothing recorded: the engine marks it missed once the window and the day after the
        # appointment are over.
        assert dose.next_action_at is not None
        clock.now = dose.next_action_at + timedelta(minutes=1)
        dispatch_due(session, now=clock.now, catalog=catalog, policy=NUDGES)
        session.refresh(dose)
        assert dose.status == "missed"
    else:
        when = appt.at + timedelta(hours=2)
        clock.now = when + timedelta(hours=1)
        confirm(session, catalog=catalog, dose=dose, status=status, at=when, now=when, via="clinic")
    events = events_by_uid(_feed(client, token).content)
    shown = events[appt.uid]
    assert str(shown["SUMMARY"]) == f"Clinic appointment — {word}"
    assert int(shown["SEQUENCE"]) == int(booked["SEQUENCE"]) + 1
    assert not shown.walk("VALARM")  # nothing left to ring for
    # The appointment stands for the dose: no second entry for the same infusion.
    assert f"infusion-{dose.id}@care.example.org" not in events
    team = events_by_uid(client.get(f"/calendar/team/{team_token}.ics").content)
    assert str(team[appt.uid]["SUMMARY"]).endswith(f" — {word}")


def test_a_spanish_speaking_patients_feed_is_in_spanish(
    http: Serve, session: Session, catalog: Catalog
) -> None:
    enrolled = datetime(2026, 5, 4, 12, tzinfo=UTC)
    now = enrolled + timedelta(hours=6)
    es = enroll(
        session,
        catalog,
        "teriflunomide",
        date(2026, 5, 1),
        now=enrolled,
        times=["09:00"],
        language="es",
    )
    named = enroll(
        session,
        catalog,
        "ocrelizumab",
        date(2025, 11, 10),  # the first 6-monthly infusion is due 10 May 2026
        now=enrolled,
        n=1,
        team=es.team,
        language="es",
        discreet=False,
    )
    en = enroll(
        session, catalog, "teriflunomide", date(2026, 5, 1), now=enrolled, n=2, team=es.team
    )
    materialize(session, now=enrolled, catalog=catalog, horizon_days=30)
    taken = doses(session, es.plan)[0]
    confirm(
        session, catalog=catalog, dose=taken, status="taken", at=taken.due_at, now=now, via="sms"
    )
    client = http(Clock(now), calendar={"alarm_minutes": 30})

    body = _feed(client, issue_patient_token(session, es.patient, now=now)).content
    assert b"X-WR-CALNAME:Calendario de tratamiento" in body
    events = events_by_uid(body)
    mine = events[f"dose-{taken.id}@care.example.org"]
    assert str(mine["SUMMARY"]) == "Medicación — tomada"
    assert str(mine["DESCRIPTION"]) == "Tomada a las 09:00, lun 04 may."
    upcoming = events[f"dose-{doses(session, es.plan)[-1].id}@care.example.org"]
    assert str(upcoming["SUMMARY"]) == "Medicación"
    (alarm,) = upcoming.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == "Medicación"

    # Opted in to names: the therapy, in a Spanish sentence; the window described in Spanish.
    body = _feed(client, issue_patient_token(session, named.patient, now=now)).content
    infusion = next(
        d for d in doses(session, named.plan) if d.kind == "infusion" and d.earliest is not None
    )
    ev = events_by_uid(body)[f"infusion-{infusion.id}@care.example.org"]
    assert str(ev["SUMMARY"]) == "Infusión de Ocrevus"
    description = str(ev["DESCRIPTION"])
    assert description.startswith("Prevista el ") and "permitida entre el" in description
    assert description.endswith("Su equipo de atención reservará la cita.")
    (alarm,) = ev.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == "Infusión de Ocrevus"

    # English stays English.
    body = _feed(client, issue_patient_token(session, en.patient, now=now)).content
    assert b"X-WR-CALNAME:Therapy calendar" in body
    assert {str(e["SUMMARY"]) for e in events_by_uid(body).values()} == {
        "Medication",
        "Lab test / check-up",
    }
