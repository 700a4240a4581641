"""Neurology visits and MRI: when each is due, booking, moving, cancelling and recording
them, and the reminder texts that follow, on real databases (SQLite and PostgreSQL) with
the real outbox delivering to a ``MemorySms`` at the right instants."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from adherence.calendar.visits.booking import book, cancel, done, list_for, move, record_past
from adherence.calendar.visits.due import (
    BOOKED,
    DUE,
    LATER,
    OVERDUE,
    VisitError,
    add_months,
    due_for,
)
from adherence.core.config import Settings, settings_from_mapping
from adherence.messaging.outbox import deliver
from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.models import AuditEvent, OutboxMessage, Patient
from notifiers.sms import MemorySms
from tests.adherence.engine_helpers import PHONES, at

SETTINGS = Settings()
T0 = at(2026, 1, 5, 9)  # enrolment


def patient(session: Session, *, n: int = 0, **kw: object) -> Patient:
    team = create_team(session, name=f"Riverside Clinic {n}", tz="America/New_York", now=T0)
    return create_patient(
        session,
        team=team,
        name=f"Patient {n}",
        phone=PHONES[n],
        tz="America/New_York",
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


def states(session: Session, p: Patient, now: datetime) -> dict[str, tuple[date, str]]:
    return {
        d.visit_type: (d.due_on, d.state) for d in due_for(session, [p], settings=SETTINGS, now=now)
    }


def texts(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == "visit")
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        ).all()
    )


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(date(2026, 1, 5), 6) == date(2026, 7, 5)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 30), 12) == date(2027, 11, 30)


def test_due_follows_the_cadence_from_enrolment_then_from_the_last_attended(
    session: Session,
) -> None:
    p = patient(session)
    assert states(session, p, at(2026, 5, 1, 12)) == {
        "neurology": (date(2026, 7, 5), LATER),
        "mri": (date(2027, 1, 5), LATER),
    }
    assert states(session, p, at(2026, 6, 5, 12))["neurology"] == (date(2026, 7, 5), DUE)
    assert states(session, p, at(2026, 8, 5, 12))["neurology"] == (date(2026, 7, 5), OVERDUE)
    record_past(
        session,
        patient=p,
        visit_type="neurology",
        at=at(2026, 8, 3, 10),
        now=at(2026, 8, 5, 12),
        settings=SETTINGS,
        by="cli:test",
    )
    assert states(session, p, at(2026, 8, 5, 12))["neurology"] == (date(2027, 2, 3), LATER)


def test_a_clinics_own_cadences_and_window(session: Session) -> None:
    settings = settings_from_mapping({"visits": {"cadences": "mri:24", "window_days": 7}})
    p = patient(session)
    due = due_for(session, [p], settings=settings, now=at(2027, 12, 30, 12))
    assert [(d.visit_type, d.due_on, d.state) for d in due] == [("mri", date(2028, 1, 5), DUE)]
    with pytest.raises(VisitError, match="'neurology' is not in \\[visits\\] cadences"):
        book(
            session,
            patient=p,
            visit_type="neurology",
            at=at(2028, 1, 6, 9),
            now=at(2027, 12, 30, 12),
            settings=settings,
            by="x",
        )


def test_bad_cadences_are_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match="cadences") as err:
        settings_from_mapping({"visits": {"cadences": "neurology:six"}})
    assert "TYPE:MONTHS" in str(err.value)


def test_book_sends_discreet_reminders_at_the_visits_time_and_they_follow_a_move(
    session: Session,
) -> None:
    p = patient(session, quiet_hours="21:00-08:00")
    now = at(2026, 6, 1, 12)
    visit = book(
        session,
        patient=p,
        visit_type="neurology",
        at=at(2026, 7, 6, 7, 30),
        now=now,
        settings=SETTINGS,
        by="cli:test",
        location="Building B",
    )
    assert states(session, p, now)["neurology"][1] == BOOKED
    rows = texts(session)
    # 7 and 1 days before ([calendar] appointment_reminder_days); 07:30 is in quiet hours.
    assert [r.next_attempt_at for r in rows] == [at(2026, 6, 29, 8), at(2026, 7, 5, 8)]
    assert all(r.key.startswith(f"visit:{visit.id}:0:") for r in rows)
    body = rows[0].body
    assert body == (
        "Riverside Clinic 0: reminder, you have a clinic visit on Mon 06 Jul at 07:30 "
        "(Building B). Reply HELP for contact."
    )
    assert "neuro" not in body.lower() and len(body) <= 160
    with pytest.raises(VisitError, match="already has a neurology visit booked"):
        book(
            session,
            patient=p,
            visit_type="neurology",
            at=at(2026, 7, 8, 9),
            now=now,
            settings=SETTINGS,
            by="x",
        )

    move(session, visit=visit, at=at(2026, 7, 9, 14), now=now, settings=SETTINGS, by="cli:test")
    rows = texts(session)
    assert [r.status for r in rows if r.key.startswith(f"visit:{visit.id}:0:")] == [
        "cancelled",
        "cancelled",
    ]
    live = [r for r in rows if r.status == "pending"]
    assert [r.next_attempt_at for r in live] == [at(2026, 7, 2, 14), at(2026, 7, 8, 14)]
    assert "Thu 09 Jul at 14:00" in live[0].body

    sms = MemorySms()
    assert deliver(session, now=at(2026, 7, 2, 13), channel=sms) == 0
    assert deliver(session, now=at(2026, 7, 2, 14, 1), channel=sms) == 1
    assert sms.sent[0].to == p.phone and "Thu 09 Jul" in sms.sent[0].body

    audit = session.exec(select(AuditEvent.action).where(AuditEvent.patient_id == p.id)).all()
    assert list(audit) == ["visit.book", "visit.move"]


def test_named_spanish_reminder_when_the_patient_opted_out_of_discretion(
    session: Session,
) -> None:
    p = patient(session, discreet=False, language="es")
    book(
        session,
        patient=p,
        visit_type="mri",
        at=at(2026, 12, 20, 10),
        now=at(2026, 12, 1, 12),
        settings=SETTINGS,
        by="x",
    )
    body = texts(session)[0].body
    assert "su resonancia magnética el Sun 20 Dec a las 10:00" in body
    assert len(body) <= 160


def test_cancel_withdraws_the_texts_and_leaves_the_visit_due(session: Session) -> None:
    p = patient(session)
    now = at(2026, 6, 20, 12)
    visit = book(
        session,
        patient=p,
        visit_type="neurology",
        at=at(2026, 7, 6, 9),
        now=now,
        settings=SETTINGS,
        by="x",
    )
    cancel(session, visit=visit, now=now, by="cli:test", reason="patient asked")
    assert {r.status for r in texts(session)} == {"cancelled"}
    assert states(session, p, now)["neurology"][1] == DUE
    assert list_for(session, p) == []
    with pytest.raises(VisitError, match="is cancelled"):
        cancel(session, visit=visit, now=now, by="x")


def test_done_records_attendance_and_restarts_the_cadence(session: Session) -> None:
    p = patient(session)
    visit = book(
        session,
        patient=p,
        visit_type="neurology",
        at=at(2026, 7, 6, 9),
        now=at(2026, 6, 20, 12),
        settings=SETTINGS,
        by="x",
    )
    with pytest.raises(VisitError, match="has not happened yet"):
        done(session, visit=visit, now=at(2026, 7, 1, 12), by="x")
    done(session, visit=visit, now=at(2026, 7, 6, 12), by="cli:test")
    assert visit.status == "done"
    # The 1-day reminder already went (pending until delivered here): nothing left pending.
    assert "pending" not in {r.status for r in texts(session)}
    assert states(session, p, at(2026, 7, 6, 12))["neurology"] == (date(2027, 1, 6), LATER)


def test_a_booked_visit_that_passed_unrecorded_becomes_overdue_after_the_window(
    session: Session,
) -> None:
    p = patient(session)
    book(
        session,
        patient=p,
        visit_type="neurology",
        at=at(2026, 7, 6, 9),
        now=at(2026, 6, 20, 12),
        settings=SETTINGS,
        by="x",
    )
    assert states(session, p, at(2026, 7, 10, 12))["neurology"][1] == BOOKED
    assert states(session, p, at(2026, 8, 10, 12))["neurology"][1] == OVERDUE


def test_past_or_naive_times_are_refused(session: Session) -> None:
    p = patient(session)
    now = at(2026, 6, 20, 12)
    with pytest.raises(ValueError, match="in the past"):
        book(
            session,
            patient=p,
            visit_type="mri",
            at=now - timedelta(hours=1),
            now=now,
            settings=SETTINGS,
            by="x",
        )
    with pytest.raises(ValueError, match="needs a time zone"):
        book(
            session,
            patient=p,
            visit_type="mri",
            at=datetime(2026, 7, 1, 9),
            now=now,
            settings=SETTINGS,
            by="x",
        )
