"""Booking infusion appointments against the label, and the texts that follow the booking.

Real databases (SQLite file and PostgreSQL), the real engine steps (materialise, confirm,
dispatch) and the real outbox delivering to a ``MemorySms`` at the right instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from adherence.calendar.appointments import (
    AppointmentError,
    OutsideWindow,
    book,
    cancel,
    list_for,
    move,
    next_infusion,
)
from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.confirm import confirm
from adherence.dosing.dispatch import dispatch_due
from adherence.dosing.materialize import materialize
from adherence.messaging.outbox import deliver
from adherence.storage.models import Appointment, AuditEvent, Dose, OutboxMessage
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import NO_NUDGES, NY, Enrolled, at, doses, enroll

SETTINGS = Settings()
OCREVUS_START = date(2026, 3, 2)


def _given(session: Session, catalog: Catalog, dose: Dose, when: datetime) -> None:
    confirm(session, catalog=catalog, dose=dose, status="taken", at=when, now=when, via="clinic")


def ocrevus_after_first_dose(
    session: Session, catalog: Catalog, t0: datetime, *, discreet: bool = True, language: str = "en"
) -> tuple[Enrolled, Dose]:
    """Ocrevus from 2 Mar 2026, both halves of the first dose given on their days; returns
    the enrolment and the last dose given (15 Mar)."""
    e = enroll(
        session, catalog, "ocrelizumab", OCREVUS_START, now=t0, discreet=discreet, language=language
    )
    materialize(session, now=t0, catalog=catalog, horizon_days=35)
    first, second = doses(session, e.plan)[:2]
    _given(session, catalog, first, first.due_at + timedelta(hours=1))
    _given(session, catalog, second, second.due_at + timedelta(hours=1))
    materialize(session, now=at(2026, 3, 20, 12), catalog=catalog, horizon_days=35)
    return e, second


def sms_rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == "sms")
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        ).all()
    )


def test_ocrevus_less_than_five_months_after_the_last_dose_is_refused_with_the_rule(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, last = ocrevus_after_first_dose(session, catalog, t0)
    now = at(2026, 3, 20, 12)
    target = next_infusion(session, e.plan)
    assert target is not None and target.phase == "maintenance"
    assert target.earliest is not None and target.latest is not None
    slot = at(2026, 7, 20, 9, 30)  # four months after the last dose
    with pytest.raises(OutsideWindow) as refused:
        book(
            session,
            plan=e.plan,
            at=slot,
            location="Infusion suite",
            now=now,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
    reason = str(refused.value)
    given = last.taken_at
    assert given is not None
    earliest_by_spacing = (given + timedelta(hours=3600)).astimezone(NY).date()
    assert "At least 5 months between doses" in reason
    assert f"previous dose was given {given.astimezone(NY).date().isoformat()}" in reason
    assert f"earliest is {earliest_by_spacing.isoformat()}" in reason
    assert f"window {target.earliest.isoformat()} to {target.latest.isoformat()}" in reason
    assert session.exec(select(Appointment)).all() == []
    assert sms_rows(session) == []


def test_forced_booking_is_kept_with_its_reason(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, _ = ocrevus_after_first_dose(session, catalog, t0)
    now = at(2026, 3, 20, 12)
    slot = at(2026, 7, 20, 9, 30)
    appt = book(
        session,
        plan=e.plan,
        at=slot,
        location="",
        now=now,
        catalog=catalog,
        settings=SETTINGS,
        by="dr-lee",
        force_reason="neurologist: move up before the patient's surgery",
    )
    assert appt.status == "booked" and appt.at == slot
    assert appt.forced_reason.startswith("neurologist: move up before the patient's surgery")
    assert "5 months" in appt.forced_reason
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.book")).one()
    assert audit.actor == "dr-lee" and '"forced": true' in audit.details_json
    # The same dose cannot be booked twice.
    with pytest.raises(AppointmentError, match=f"already booked as appointment {appt.id}"):
        book(
            session,
            plan=e.plan,
            at=slot + timedelta(days=60),
            location="",
            now=now,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )


def test_inside_the_window_books_without_force(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, _ = ocrevus_after_first_dose(session, catalog, t0)
    target = next_infusion(session, e.plan)
    assert target is not None and target.earliest is not None
    slot = at(target.earliest.year, target.earliest.month, target.earliest.day, 8)
    appt = book(
        session,
        plan=e.plan,
        at=slot,
        location="Room 4",
        now=at(2026, 3, 20, 12),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    assert appt.forced_reason == "" and appt.dose_id == target.id
    assert [a.id for a in list_for(session, patient=e.patient)] == [appt.id]
    assert [a.id for a in list_for(session, team=e.team)] == [appt.id]


def test_natalizumab_outside_its_window_is_refused(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(session, catalog, "natalizumab", date(2026, 3, 2), now=t0)
    target = next_infusion(session, e.plan)
    assert target is None  # nothing materialised yet: booking does it
    late = at(2026, 3, 12, 9)
    with pytest.raises(OutsideWindow, match="outside this infusion's allowed window") as refused:
        book(
            session,
            plan=e.plan,
            at=late,
            location="",
            now=t0,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
    target = next_infusion(session, e.plan)
    assert target is not None
    last_day = (target.window_closes_at - timedelta(seconds=1)).astimezone(NY).date()
    assert f"{target.local_date.isoformat()} to {last_day.isoformat()}" in str(refused.value)
    early = at(2026, 3, 1, 9)  # before the label's date
    with pytest.raises(OutsideWindow):
        book(
            session,
            plan=e.plan,
            at=early,
            location="",
            now=t0,
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
    ok = book(
        session,
        plan=e.plan,
        at=at(2026, 3, 4, 10),
        location="",
        now=t0,
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    assert ok.dose_id == target.id


def test_bad_input_is_refused_and_nothing_is_recorded(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(session, catalog, "natalizumab", date(2026, 3, 2), now=t0)
    for kwargs, message in (
        ({"at": t0 - timedelta(hours=1)}, "at: .* is in the past"),
        ({"at": at(2026, 3, 3, 9), "duration_minutes": 0}, "duration: 0"),
        ({"at": at(2026, 3, 3, 9), "location": "x" * 301}, "location: at most 300"),
    ):
        args: dict[str, Any] = {"location": "", **kwargs}
        with pytest.raises(AppointmentError, match=message):
            book(
                session,
                plan=e.plan,
                now=t0,
                catalog=catalog,
                settings=SETTINGS,
                by="nurse",
                **args,
            )
    assert session.exec(select(Appointment)).all() == []


def _sent_between(session: Session, sms: MemorySms, instants: list[datetime]) -> list[str]:
    """Deliver the outbox at each instant; the bodies sent, in order."""
    before = len(sms.sent)
    for instant in instants:
        deliver(session, now=instant.astimezone(UTC), channel=sms)
    return [m.body for m in sms.sent[before:]]


def test_reminders_follow_the_booked_time_move_with_it_and_go_on_cancel(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, _ = ocrevus_after_first_dose(session, catalog, t0)
    now = at(2026, 3, 20, 12)
    slot = at(2026, 9, 1, 9, 30)
    appt = book(
        session,
        plan=e.plan,
        at=slot,
        location="Infusion suite",
        now=now,
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    rows = sms_rows(session)
    # 7 days and 1 day before at the same wall-clock time; the premedication text
    # 30 min (Ocrevus label) + 1 h before.
    assert [r.next_attempt_at for r in rows] == [
        at(2026, 8, 25, 9, 30).astimezone(UTC),
        at(2026, 8, 31, 9, 30).astimezone(UTC),
        at(2026, 9, 1, 8, 0).astimezone(UTC),
    ]
    assert [r.purpose for r in rows] == ["appointment", "appointment", "premedication"]
    assert all(r.key.startswith(f"appt:{appt.id}:0:") for r in rows)
    assert all("Ocrevus" not in r.body and "ocrelizumab" not in r.body for r in rows)
    assert "Tue 01 Sep at 09:30 (Infusion suite)" in rows[0].body

    sms = MemorySms()
    assert _sent_between(session, sms, [at(2026, 8, 25, 9, 29)]) == []
    first = _sent_between(session, sms, [at(2026, 8, 25, 9, 30)])
    assert len(first) == 1 and "clinic appointment on Tue 01 Sep at 09:30" in first[0]

    # The dose's own day-before reminder is held while the appointment is booked.
    dispatch_due(session, now=at(2026, 9, 1, 9).astimezone(UTC), catalog=catalog, policy=NO_NUDGES)
    target = session.get(Dose, appt.dose_id)
    assert target is not None and target.status == "scheduled"
    assert not [r for r in sms_rows(session) if r.purpose == "reminder"]

    moved = move(
        session,
        appointment=appt,
        at=at(2026, 9, 8, 14),
        now=at(2026, 8, 26, 10),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    assert moved.sequence == 1
    rows = sms_rows(session)
    old = [r for r in rows if r.key.startswith(f"appt:{appt.id}:0:")]
    assert {r.key.rsplit(":", 1)[1]: r.status for r in old} == {
        "7": "sent",
        "1": "cancelled",
        "premed": "cancelled",
    }
    new = [r for r in rows if r.key.startswith(f"appt:{appt.id}:1:")]
    assert [r.next_attempt_at for r in new] == [
        at(2026, 9, 1, 14).astimezone(UTC),
        at(2026, 9, 7, 14).astimezone(UTC),
        at(2026, 9, 8, 12, 30).astimezone(UTC),
    ]
    # The old 1-day reminder's time passes in silence; the new 7-day one goes out.
    assert _sent_between(session, sms, [at(2026, 8, 31, 9, 30), at(2026, 9, 1, 8, 0)]) == []
    sent = _sent_between(session, sms, [at(2026, 9, 1, 14)])
    assert len(sent) == 1 and "Tue 08 Sep at 14:00" in sent[0]

    cancelled = cancel(
        session,
        appointment=moved,
        now=at(2026, 9, 2, 10),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
        reason="patient unwell",
    )
    assert cancelled.status == "cancelled" and cancelled.sequence == 2
    assert _sent_between(session, sms, [at(2026, 9, 7, 14), at(2026, 9, 8, 12, 30)]) == []
    assert {r.status for r in sms_rows(session) if r.key.startswith(f"appt:{appt.id}:1:")} == {
        "sent",
        "cancelled",
    }
    # The dose is back in the engine's hands at once (its date has passed: it waits, open,
    # for a new booking until its window closes), no longer held until after the slot.
    session.expire_all()
    target = session.get(Dose, appt.dose_id)
    assert target is not None and target.status == "scheduled"
    assert target.next_action_at == at(2026, 9, 2, 10).astimezone(UTC)
    with pytest.raises(AppointmentError, match="is cancelled"):
        move(
            session,
            appointment=cancelled,
            at=at(2026, 9, 9, 9),
            now=at(2026, 9, 2, 11),
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )


def test_named_texts_and_configured_days(session: Session, catalog: Catalog, t0: datetime) -> None:
    settings = settings_from_mapping({"calendar": {"appointment_reminder_days": "3"}})
    e, _ = ocrevus_after_first_dose(session, catalog, t0, discreet=False, language="es")
    book(
        session,
        plan=e.plan,
        at=at(2026, 9, 1, 9, 30),
        location="",
        now=at(2026, 3, 20, 12),
        catalog=catalog,
        settings=settings,
        by="nurse",
    )
    rows = sms_rows(session)
    assert [r.next_attempt_at for r in rows] == [
        at(2026, 8, 29, 9, 30).astimezone(UTC),
        at(2026, 9, 1, 8, 0).astimezone(UTC),
    ]
    assert "Ocrevus 600 mg infusion" in rows[0].body and "recordatorio" in rows[0].body
    assert "Methylprednisolone" in rows[1].body


def test_no_texts_for_an_opted_out_patient(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e, _ = ocrevus_after_first_dose(session, catalog, t0)
    e.patient.sms_status = "opted_out"
    session.add(e.patient)
    session.commit()
    appt = book(
        session,
        plan=e.plan,
        at=at(2026, 9, 1, 9, 30),
        location="",
        now=at(2026, 3, 20, 12),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    assert appt.id is not None
    assert sms_rows(session) == []


def test_reminders_already_past_at_booking_are_not_queued(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    e = enroll(session, catalog, "natalizumab", date(2026, 3, 2), now=t0)
    # Booked 3 days ahead: only the 1-day reminder is still to come (no premedication).
    book(
        session,
        plan=e.plan,
        at=at(2026, 3, 4, 10),
        location="",
        now=t0,
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    rows = sms_rows(session)
    assert [r.next_attempt_at for r in rows] == [at(2026, 3, 3, 10).astimezone(UTC)]


def test_lemtrada_premedication_text_only_on_the_first_three_days_of_each_course(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    """The label: high-dose corticosteroids right before the infusion on the first 3 days of
    each treatment course (course 1 is 5 days, course 2 is 3 days)."""
    e = enroll(session, catalog, "alemtuzumab", date(2026, 3, 2), now=t0)
    premedicated: dict[str, list[bool]] = {}
    last = t0  # the clinic's clock: each booking after the previous infusion is recorded
    for _ in range(8):
        dose = next_infusion(session, e.plan)
        if dose is None:  # course 2 lies a year ahead, past the horizon
            materialize(session, now=last, catalog=catalog, horizon_days=400)
            dose = next_infusion(session, e.plan)
        assert dose is not None
        slot = dose.due_at + timedelta(minutes=30)
        appt = book(
            session,
            plan=e.plan,
            at=slot,
            location="Infusion suite",
            now=max(last, slot - timedelta(days=2)),
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
        texts = [r for r in sms_rows(session) if r.key.startswith(f"appt:{appt.id}:")]
        premed = [r for r in texts if r.purpose == "premedication"]
        premedicated.setdefault(dose.phase, []).append(bool(premed))
        if premed:
            # 60 min (the label's "immediately prior") + 1 h before the slot.
            assert premed[0].next_attempt_at == (slot - timedelta(hours=2)).astimezone(UTC)
        _given(session, catalog, dose, slot + timedelta(hours=1))
        last = slot + timedelta(hours=1)
    assert premedicated == {
        "course 1": [True, True, True, False, False],
        "course 2": [True, True, True],
    }


def test_spacing_holds_between_doses_whatever_the_plan_dates_but_not_within_the_split_dose(
    session: Session, catalog: Catalog, t0: datetime
) -> None:
    """Briumvi: Day 1 given 6 days late moves the Day 15 half with it (counted from the one
    given), but not the first 24-week dose: the plan's own dates are then less than 5 months
    apart, and the label's spacing still holds between the two doses."""
    e = enroll(session, catalog, "ublituximab", date(2026, 3, 2), now=t0)
    materialize(session, now=t0, catalog=catalog, horizon_days=35)
    first = doses(session, e.plan)[0]
    _given(session, catalog, first, first.due_at + timedelta(days=6))
    materialize(session, now=first.due_at + timedelta(days=7), catalog=catalog, horizon_days=35)

    # The second half: 14 days after the first, never held to the 5 months.
    second = next_infusion(session, e.plan)
    assert second is not None and second.phase == "initial"
    half = book(
        session,
        plan=e.plan,
        at=second.due_at + timedelta(minutes=30),
        location="",
        now=first.due_at + timedelta(days=7),
        catalog=catalog,
        settings=SETTINGS,
        by="nurse",
    )
    assert half.forced_reason == ""
    given = second.due_at + timedelta(hours=1)
    _given(session, catalog, second, given)
    materialize(session, now=given + timedelta(days=1), catalog=catalog, horizon_days=200)
    target = next_infusion(session, e.plan)
    assert target is not None and target.phase == "maintenance"
    assert target.due_at - second.due_at < timedelta(hours=3600)  # the plan's own dates

    slot = given + timedelta(days=149, hours=1)  # a day short of 3,600 hours
    with pytest.raises(OutsideWindow) as refused:
        book(
            session,
            plan=e.plan,
            at=slot,
            location="",
            now=given + timedelta(days=1),
            catalog=catalog,
            settings=SETTINGS,
            by="nurse",
        )
    earliest = (given + timedelta(hours=3600)).astimezone(NY).date()
    assert "At least 5 months between doses" in str(refused.value)
    assert f"earliest is {earliest.isoformat()}" in str(refused.value)
    forced = book(
        session,
        plan=e.plan,
        at=slot,
        location="",
        now=given + timedelta(days=1),
        catalog=catalog,
        settings=SETTINGS,
        by="dr-lee",
        force_reason="patient travels abroad for a month",
    )
    assert "At least 5 months between doses" in forced.forced_reason
