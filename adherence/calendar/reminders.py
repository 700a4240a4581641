"""What a booked appointment sends the patient: the reminder texts (``[calendar]
appointment_reminder_days`` before, plus the premedication text the label calls for on that
infusion: every one, or the first days of each course, ``premedication_for``), queued
with their send times and withdrawn when the appointment moves or is cancelled, and the
e-mailed invitation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, func, update
from sqlmodel import Session, col, select

from adherence.calendar.invitations import invite
from adherence.core.config import Settings, reminder_days
from adherence.dosing.dispatch import in_quiet_hours
from adherence.dosing.plans import regimen_for
from adherence.messaging.outbox import enqueue
from adherence.storage.models import Appointment, CareTeam, Dose, OutboxMessage, Patient, Plan
from notifiers import appointment_texts as texts
from schedules import Catalog, Regimen
from schedules.localtime import local_instant
from schedules.pieces import Rule

# The premedication text goes out this long before the premedication itself is due, so the
# patient has time to take it (or to set off for the clinic that gives it).
PREMED_LEAD = timedelta(hours=1)
# A days-before reminder that could not go out within this long is dropped (it would
# arrive at an odd hour, and the next reminder is coming anyway).
REMINDER_VALID_FOR = timedelta(hours=12)


@dataclass(frozen=True)
class Context:
    plan: Plan
    patient: Patient
    team: CareTeam
    regimen: Regimen
    brand: str


def load_context(session: Session, plan: Plan, catalog: Catalog) -> Context:
    patient = session.get(Patient, plan.patient_id)
    assert patient is not None
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    therapy = catalog.get(plan.regimen)
    brand = therapy.brands[0] if therapy.brands else therapy.name
    return Context(plan, patient, team, regimen_for(catalog, plan), brand)


def _what(ctx: Context, dose: Dose | None) -> str:
    if dose is not None and dose.label:
        return f"{ctx.brand} {dose.label}"
    if dose is not None:
        return f"{ctx.brand} {dose.amount:g} {dose.unit} infusion"
    return f"{ctx.brand} infusion"


# A dose that still counts as one of its course's days: given, or still to be given.
_NOT_A_COURSE_DAY = ("cancelled", "missed", "not_sent", "skipped")


def premedication_for(session: Session, regimen: Regimen, dose: Dose | None) -> Rule | None:
    """The label's premedication rule if it applies to this infusion, else None.

    A rule with ``first_in_phase = N`` (Lemtrada: high-dose corticosteroids on the first 3
    days of each treatment course) applies to the first N infusions of each course (phase)
    only: the infusion's place counts the course's earlier infusions given or still to be
    given (a missed day, rescheduled later in the course, is not one of them)."""
    premed = regimen.rule("premedication")
    if premed is None or dose is None or "first_in_phase" not in premed.params:
        return premed
    earlier = session.exec(
        select(func.count())
        .select_from(Dose)
        .where(
            Dose.plan_id == dose.plan_id,
            Dose.kind == dose.kind,
            Dose.phase == dose.phase,
            col(Dose.status).not_in(_NOT_A_COURSE_DAY),
            Dose.due_at < dose.due_at,
            Dose.id != dose.id,
        )
    ).one()
    return premed if int(earlier) < premed.number("first_in_phase") else None


def text_for(
    ctx: Context, appointment: Appointment, dose: Dose | None, premed: Rule | None
) -> texts.AppointmentText:
    """The texts' values; ``premed`` is the premedication that applies to this infusion
    (``premedication_for``), None for none."""
    zone = ZoneInfo(ctx.patient.tz)
    local = appointment.at.astimezone(zone)
    return texts.AppointmentText(
        team=ctx.team.name,
        local_date=local.strftime("%a %d %b"),
        local_time=local.strftime("%H:%M"),
        language=ctx.patient.language,
        discreet=ctx.patient.discreet,
        what=_what(ctx, dose),
        location=appointment.location,
        premedication=premed.text if premed else "",
        premed_minutes=int(premed.number("minutes_before", 30)) if premed else 0,
    )


def premed_lead(premed: Rule | None) -> timedelta | None:
    """How long before the appointment the premedication text goes out (None: no text)."""
    if premed is None:
        return None
    minutes = int(premed.number("minutes_before", 30))
    return timedelta(minutes=minutes) + PREMED_LEAD


def _reminder_times(
    ctx: Context, appointment: Appointment, settings: Settings, premed: Rule | None
) -> list[tuple[str, datetime, datetime]]:
    """(key suffix, send at, valid until) for each reminder of this revision."""
    zone = ZoneInfo(ctx.patient.tz)
    local = appointment.at.astimezone(zone)
    out = []
    for n in reminder_days(settings):
        # The same wall-clock time n days before (through DST), out of quiet hours.
        send = local_instant(local.date() - timedelta(days=n), local.time(), zone)
        quiet_end = in_quiet_hours(ctx.patient, send)
        if quiet_end is not None:
            send = quiet_end
        out.append((f"days:{n}", send, min(send + REMINDER_VALID_FOR, appointment.at)))
    lead = premed_lead(premed)
    if lead is not None:
        # Time-critical: not held back by quiet hours (like a dose's own reminder).
        out.append(("premed", appointment.at - lead, appointment.at))
    return out


def reminder_prefix(appointment: Appointment) -> str:
    return f"appt:{appointment.id}:"


def cancel_reminders(session: Session, appointment: Appointment, now: datetime) -> int:
    """Withdraw this appointment's texts that have not gone out yet."""
    return withdraw(session, reminder_prefix(appointment), now)


def withdraw(session: Session, prefix: str, now: datetime) -> int:
    """Withdraw the pending texts whose outbox key starts with ``prefix`` (an appointment's
    or a clinic visit's reminders)."""
    # Session.execute is typed as returning a plain Result; for an UPDATE it is a
    # CursorResult, which carries the row count.
    result = cast(
        CursorResult[Any],
        session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.key).startswith(prefix),
                col(OutboxMessage.status) == "pending",
            )
            .values(status="cancelled", next_attempt_at=None, updated_at=now)
        ),
    )
    return int(result.rowcount or 0)


def schedule_reminders(
    session: Session,
    ctx: Context,
    appointment: Appointment,
    dose: Dose | None,
    *,
    settings: Settings,
    now: datetime,
) -> int:
    """Queue this revision's texts with their send times; returns how many."""
    patient = ctx.patient
    if patient.sms_status != "active" or not patient.active:
        return 0
    premed = premedication_for(session, ctx.regimen, dose)
    info = text_for(ctx, appointment, dose, premed)
    queued = 0
    for suffix, send, valid in _reminder_times(ctx, appointment, settings, premed):
        if send <= now or valid <= send:
            continue  # booked too late for this one: a reminder after its time is noise
        key = f"{reminder_prefix(appointment)}{appointment.sequence}:{suffix}"
        body = texts.premedication(info) if suffix == "premed" else texts.days_before(info)
        if enqueue(
            session,
            key=key,
            to=patient.phone,
            body=body,
            purpose="premedication" if suffix == "premed" else "appointment",
            now=now,
            valid_until=valid,
            patient_id=patient.id,
            dose_id=dose.id if dose is not None else None,
        ):
            # enqueue makes a row due at once; an appointment reminder waits for its time.
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(next_attempt_at=send)
            )
            queued += 1
    return queued


def send_invitation(
    session: Session,
    ctx: Context,
    appointment: Appointment,
    dose: Dose | None,
    *,
    settings: Settings,
    now: datetime,
) -> bool:
    days = reminder_days(settings)
    premed = premedication_for(session, ctx.regimen, dose)
    alarms = [timedelta(days=min(days))] if days else []
    alarms.append(premed_lead(premed) or timedelta(hours=1))
    return invite(
        session,
        appointment=appointment,
        patient=ctx.patient,
        team=ctx.team,
        text=text_for(ctx, appointment, dose, premed),
        alarms=alarms,
        settings=settings,
        now=now,
    )
