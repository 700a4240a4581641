"""What a booked visit sends the patient: a reminder text ``[calendar]
appointment_reminder_days`` before, at the visit's own wall-clock time moved out of quiet
hours, like an infusion appointment's (``adherence.calendar.reminders``), queued with its
send time and withdrawn when the visit moves, is cancelled or is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col

from adherence.calendar.reminders import REMINDER_VALID_FOR, withdraw
from adherence.core.config import Settings, reminder_days
from adherence.dosing.dispatch import in_quiet_hours
from adherence.messaging.outbox import enqueue
from adherence.storage.models import CareTeam, OutboxMessage, Patient
from adherence.storage.visits import Visit
from notifiers import visit_texts
from schedules.localtime import local_instant

PURPOSE = "visit"


def prefix(visit: Visit) -> str:
    return f"visit:{visit.id}:"


def text_for(visit: Visit, patient: Patient, team: CareTeam) -> visit_texts.VisitText:
    local = visit.at.astimezone(ZoneInfo(patient.tz))
    return visit_texts.VisitText(
        team=team.name,
        local_date=local.strftime("%a %d %b"),
        local_time=local.strftime("%H:%M"),
        visit_type=visit.visit_type,
        language=patient.language,
        discreet=patient.discreet,
        location=visit.location,
    )


def send_times(visit: Visit, patient: Patient, settings: Settings) -> list[tuple[int, datetime]]:
    """(days before, send at) for each reminder of the visit."""
    zone = ZoneInfo(patient.tz)
    local = visit.at.astimezone(zone)
    out = []
    for n in reminder_days(settings):
        send = local_instant(local.date() - timedelta(days=n), local.time(), zone)
        out.append((n, in_quiet_hours(patient, send) or send))
    return out


def schedule(
    session: Session,
    visit: Visit,
    patient: Patient,
    team: CareTeam,
    *,
    settings: Settings,
    now: datetime,
) -> int:
    """Queue this revision's reminder texts; returns how many."""
    if patient.sms_status != "active" or not patient.active:
        return 0
    body = visit_texts.days_before(text_for(visit, patient, team))
    queued = 0
    for n, send in send_times(visit, patient, settings):
        valid = min(send + REMINDER_VALID_FOR, visit.at)
        if send <= now or valid <= send:
            continue  # booked too late for this one
        key = f"{prefix(visit)}{visit.sequence}:days:{n}"
        if enqueue(
            session,
            key=key,
            to=patient.phone,
            body=body,
            purpose=PURPOSE,
            now=now,
            valid_until=valid,
            patient_id=patient.id,
        ):
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(next_attempt_at=send)
            )
            queued += 1
    return queued


def cancel(session: Session, visit: Visit, now: datetime) -> int:
    """Withdraw the visit's texts that have not gone out yet."""
    return withdraw(session, prefix(visit), now)
