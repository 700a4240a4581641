"""Booked infusion appointments: the actual slot of a plan's next clinic infusion.

The label's item stays what it is: the ``Dose`` (kind ``infusion``) keeps its target date
and its allowed window, and the appointment links to it. What follows the booked time is
everything the patient is told: reminder texts (``[calendar] appointment_reminder_days``
before, plus the premedication text the label calls for) and the e-mailed invitation.
While an appointment is booked the dose's own day-before reminder is held back (the
appointment's reminders replace it) and the dose is not marked missed before the
appointment has had its day.

A slot that breaks the label's window or spacing (``adherence.calendar.slots``) is refused
unless forced with a reason, which is kept on the appointment. Booking, moving and
cancelling each leave an audit row (who, when, why). The texts and the invitation are
``adherence.calendar.reminders``'; the names other modules import from here are re-exported.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.calendar.reminders import (
    PREMED_LEAD,
    REMINDER_VALID_FOR,
    Context,
    cancel_reminders,
    load_context,
    premed_lead,
    reminder_prefix,
    schedule_reminders,
    send_invitation,
    text_for,
)
from adherence.calendar.slots import (
    MAX_DURATION_MINUTES,
    AppointmentError,
    OutsideWindow,
    booked_for,
    check_slot,
    forced_reason,
    next_infusion,
    validate,
)
from adherence.core.config import Settings
from adherence.dosing.materialize import first_action, materialize
from adherence.storage import audit
from adherence.storage.models import DOSE_OPEN, Appointment, CareTeam, Dose, Patient, Plan
from schedules import Catalog

__all__ = [
    "DEFAULT_DURATION_MINUTES",
    "MAX_DURATION_MINUTES",
    "PREMED_LEAD",
    "RECORD_GRACE",
    "REMINDER_VALID_FOR",
    "AppointmentError",
    "Context",
    "OutsideWindow",
    "book",
    "booked_for",
    "cancel",
    "cancel_reminders",
    "check_slot",
    "list_for",
    "move",
    "next_infusion",
    "premed_lead",
    "reminder_prefix",
    "schedule_reminders",
    "text_for",
]

log = logging.getLogger("adherence.appointments")

DEFAULT_DURATION_MINUTES = 240
# Once an appointment is booked the clinic has this long after it to record the infusion
# before the engine may mark the dose missed.
RECORD_GRACE = timedelta(days=1)


# --- the dose follows the appointment -------------------------------------------------------


def _hold_dose(dose: Dose, appointment: Appointment, now: datetime) -> None:
    """No day-before dose reminder (the appointment's texts replace it), and no "missed"
    before the clinic has had the appointment's day to record the infusion."""
    end = appointment.at + timedelta(minutes=appointment.duration_minutes)
    dose.next_action_at = max(dose.window_closes_at, end + RECORD_GRACE)
    dose.updated_at = now


def _follow_slot(
    session: Session,
    ctx: Context,
    appointment: Appointment,
    dose: Dose | None,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """After a booking or a move: the dose waits for the slot, and this revision's reminder
    texts and invitation go out."""
    if dose is not None:
        _hold_dose(dose, appointment, now)
        session.add(dose)
    schedule_reminders(session, ctx, appointment, dose, settings=settings, now=now)
    send_invitation(session, ctx, appointment, dose, settings=settings, now=now)


def _release_dose(dose: Dose, now: datetime) -> None:
    """Back to the label's own reminders (the dispatcher decides what is still due)."""
    if dose.status in DOSE_OPEN:
        dose.next_action_at = max(now, first_action(dose.kind, dose.due_at))
        dose.updated_at = now


def _audit(
    session: Session,
    *,
    appointment: Appointment,
    team_id: int | None,
    action: str,
    by: str,
    now: datetime,
    **details: object,
) -> None:
    audit.record(
        session,
        actor=by or "unknown",
        team_id=team_id,
        action=action,
        resource=f"appointment:{appointment.id}",
        now=now,
        patient_id=appointment.patient_id,
        details=details,
    )


# --- book, move, cancel, list ----------------------------------------------------------------


def book(
    session: Session,
    *,
    plan: Plan,
    at: datetime,
    location: str,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    by: str,
    force_reason: str | None = None,
    duration_minutes: int | None = None,
) -> Appointment:
    """Book the plan's next clinic infusion at ``at``; commits. Raises ``OutsideWindow``
    (nothing booked) when the slot breaks the label and no ``force_reason`` is given."""
    validate(at, now, location, duration_minutes)
    if plan.status != "active":
        raise AppointmentError(f"plan {plan.id} is {plan.status}: nothing to book")
    ctx = load_context(session, plan, catalog)
    if not ctx.patient.active:
        raise AppointmentError(f"patient {ctx.patient.id} has been removed")
    # The next infusion may lie beyond the materialised horizon only if nothing ran yet.
    materialize(
        session,
        now=now,
        catalog=catalog,
        horizon_days=settings.engine.horizon_days,
        plan_ids=[plan.id] if plan.id is not None else [],
    )
    dose = next_infusion(session, plan)
    if dose is None:
        raise AppointmentError(f"plan {plan.id} ({plan.regimen}) has no clinic infusion to book")
    existing = booked_for(session, dose)
    if existing is not None:
        raise AppointmentError(
            f"the next infusion (dose {dose.id}, target {dose.local_date.isoformat()}) is "
            f"already booked as appointment {existing.id}: move that one instead"
        )
    zone = ZoneInfo(ctx.patient.tz)
    forced = forced_reason(
        force_reason, check_slot(session, dose=dose, regimen=ctx.regimen, start=at, zone=zone)
    )
    domain = settings.smtp.from_address.rpartition("@")[2] or "adherence.invalid"
    # Both were read from the database (the plan has a dose), so both have their ids.
    assert plan.id is not None and ctx.patient.id is not None
    appointment = Appointment(
        uid=f"appointment-{uuid.uuid4().hex}@{domain}",
        plan_id=plan.id,
        patient_id=ctx.patient.id,
        dose_id=dose.id,
        at=at,
        duration_minutes=duration_minutes or DEFAULT_DURATION_MINUTES,
        location=location.strip(),
        status="booked",
        sequence=0,
        forced_reason=forced,
        booked_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(appointment)
    session.flush()  # its id names the reminders and the invitation
    _follow_slot(session, ctx, appointment, dose, settings=settings, now=now)
    _audit(
        session,
        appointment=appointment,
        team_id=ctx.team.id,
        action="appointment.book",
        by=by,
        now=now,
        dose=dose.id,
        at=at.isoformat(),
        forced=bool(forced),
    )
    session.commit()
    session.refresh(appointment)
    log.info(
        "appointment booked id=%s plan=%s dose=%s forced=%s",
        appointment.id,
        plan.id,
        dose.id,
        bool(forced),
    )
    return appointment


def _booked(session: Session, appointment: Appointment) -> tuple[Plan, Dose | None]:
    if appointment.status != "booked":
        raise AppointmentError(f"appointment {appointment.id} is {appointment.status}")
    plan = session.get(Plan, appointment.plan_id)
    assert plan is not None
    dose = session.get(Dose, appointment.dose_id) if appointment.dose_id is not None else None
    return plan, dose


def move(
    session: Session,
    *,
    appointment: Appointment,
    at: datetime,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    by: str,
    force_reason: str | None = None,
    location: str | None = None,
    duration_minutes: int | None = None,
) -> Appointment:
    """Move a booked appointment (same UID, next SEQUENCE); its reminders follow. Commits."""
    validate(at, now, location, duration_minutes)
    plan, dose = _booked(session, appointment)
    if dose is not None and dose.status not in DOSE_OPEN:
        raise AppointmentError(
            f"appointment {appointment.id}: its infusion is already recorded as {dose.status}"
        )
    ctx = load_context(session, plan, catalog)
    zone = ZoneInfo(ctx.patient.tz)
    problems = (
        check_slot(session, dose=dose, regimen=ctx.regimen, start=at, zone=zone)
        if dose is not None
        else []
    )
    forced = forced_reason(force_reason, problems)
    old = appointment.at
    cancel_reminders(session, appointment, now)
    appointment.at = at
    appointment.sequence += 1
    appointment.forced_reason = forced
    if location is not None:
        appointment.location = location.strip()
    if duration_minutes is not None:
        appointment.duration_minutes = duration_minutes
    appointment.updated_at = now
    session.add(appointment)
    _follow_slot(session, ctx, appointment, dose, settings=settings, now=now)
    _audit(
        session,
        appointment=appointment,
        team_id=ctx.team.id,
        action="appointment.move",
        by=by,
        now=now,
        old_at=old.isoformat(),
        at=at.isoformat(),
        forced=bool(forced),
    )
    session.commit()
    session.refresh(appointment)
    log.info("appointment moved id=%s sequence=%s", appointment.id, appointment.sequence)
    return appointment


def cancel(
    session: Session,
    *,
    appointment: Appointment,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    by: str,
    reason: str = "",
) -> Appointment:
    """Cancel: pending texts withdrawn, a CANCEL invitation sent, the dose back on the
    label's own reminders (it still needs booking). Commits."""
    plan, dose = _booked(session, appointment)
    ctx = load_context(session, plan, catalog)
    withdrawn = cancel_reminders(session, appointment, now)
    appointment.status = "cancelled"
    appointment.sequence += 1
    appointment.updated_at = now
    session.add(appointment)
    if dose is not None:
        _release_dose(dose, now)
        session.add(dose)
    send_invitation(session, ctx, appointment, dose, settings=settings, now=now)
    _audit(
        session,
        appointment=appointment,
        team_id=ctx.team.id,
        action="appointment.cancel",
        by=by,
        now=now,
        reason=reason,
        withdrawn_texts=withdrawn,
    )
    session.commit()
    session.refresh(appointment)
    log.info("appointment cancelled id=%s", appointment.id)
    return appointment


def list_for(
    session: Session,
    *,
    patient: Patient | None = None,
    team: CareTeam | None = None,
    include_cancelled: bool = False,
    since: datetime | None = None,
) -> list[Appointment]:
    """A patient's (or a whole team's) appointments, soonest first."""
    if (patient is None) == (team is None):
        raise AppointmentError("give a patient or a team")
    query = select(Appointment)
    if patient is not None:
        query = query.where(Appointment.patient_id == patient.id)
    elif team is not None:
        query = query.join(Patient, col(Patient.id) == Appointment.patient_id).where(
            Patient.team_id == team.id
        )
    if not include_cancelled:
        query = query.where(Appointment.status != "cancelled")
    if since is not None:
        query = query.where(Appointment.at >= since)
    return list(session.exec(query.order_by(col(Appointment.at), col(Appointment.id))).all())
