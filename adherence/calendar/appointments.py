"""Booked infusion appointments: the actual slot of a plan's next clinic infusion.

The label's item stays what it is: the ``Dose`` (kind ``infusion``) keeps its target date
and its allowed window, and the appointment links to it. What follows the booked time is
everything the patient is told: reminder texts (``[calendar] appointment_reminder_days``
before, plus the premedication text the label calls for) and the e-mailed invitation.
While an appointment is booked the dose's own day-before reminder is held back (the
appointment's reminders replace it) and the dose is not marked missed before the
appointment has had its day.

A slot is checked against the label: the dose's window (earliest / latest, or from its
target date to the end of the label's late window when the label gives no window) and the
minimum spacing after the previous infusion actually given. A slot that breaks a rule is
refused with the rule and the dates, unless forced with a reason, which is kept on the
appointment. Booking, moving and cancelling each leave an audit row (who, when, why).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.calendar.invitations import invite
from adherence.core.config import Settings, reminder_days
from adherence.dosing.dispatch import in_quiet_hours
from adherence.dosing.materialize import first_action, materialize
from adherence.dosing.plans import regimen_for
from adherence.messaging.outbox import enqueue
from adherence.storage import audit
from adherence.storage.models import (
    DOSE_OPEN,
    Appointment,
    CareTeam,
    Dose,
    OutboxMessage,
    Patient,
    Plan,
)
from notifiers import appointment_texts as texts
from schedules import Catalog, Regimen
from schedules.localtime import local_instant

log = logging.getLogger("adherence.appointments")

MAX_DURATION_MINUTES = 24 * 60
DEFAULT_DURATION_MINUTES = 240
# The premedication text goes out this long before the premedication itself is due, so the
# patient has time to take it (or to set off for the clinic that gives it).
PREMED_LEAD = timedelta(hours=1)
# A days-before reminder that could not go out within this long is dropped (it would
# arrive at an odd hour, and the next reminder is coming anyway).
REMINDER_VALID_FOR = timedelta(hours=12)
# Once an appointment is booked the clinic has this long after it to record the infusion
# before the engine may mark the dose missed.
RECORD_GRACE = timedelta(days=1)


class AppointmentError(ValueError):
    """A booking, move or cancellation that cannot be done; the message says why."""


class OutsideWindow(AppointmentError):
    """The slot breaks the label's window or spacing (``force_reason`` overrides)."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(self.violations) + " (give a reason to book it anyway)")


@dataclass(frozen=True)
class Context:
    plan: Plan
    patient: Patient
    team: CareTeam
    regimen: Regimen
    brand: str


# --- finding what to book ------------------------------------------------------------------


def _context(session: Session, plan: Plan, catalog: Catalog) -> Context:
    patient = session.get(Patient, plan.patient_id)
    assert patient is not None
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    therapy = catalog.get(plan.regimen)
    brand = therapy.brands[0] if therapy.brands else therapy.name
    return Context(plan, patient, team, regimen_for(catalog, plan), brand)


def next_infusion(session: Session, plan: Plan) -> Dose | None:
    """The plan's next open clinic infusion (the one a booking is for)."""
    return session.exec(
        select(Dose)
        .where(
            Dose.plan_id == plan.id,
            Dose.kind == "infusion",
            col(Dose.status).in_(DOSE_OPEN),
        )
        .order_by(col(Dose.due_at), col(Dose.id))
        .limit(1)
        .with_for_update()  # two coordinators booking the same dose: one waits
    ).first()


def booked_for(session: Session, dose: Dose) -> Appointment | None:
    return session.exec(
        select(Appointment).where(Appointment.dose_id == dose.id, Appointment.status == "booked")
    ).first()


def _previous_given(session: Session, dose: Dose) -> Dose | None:
    """The plan's last infusion given before ``dose`` (any epoch)."""
    return session.exec(
        select(Dose)
        .where(
            Dose.plan_id == dose.plan_id,
            Dose.kind == "infusion",
            Dose.status == "taken",
            Dose.due_at < dose.due_at,
            Dose.id != dose.id,
        )
        .order_by(col(Dose.due_at).desc())
        .limit(1)
    ).first()


def _day(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).date().isoformat()


def check_slot(
    session: Session, *, dose: Dose, regimen: Regimen, start: datetime, zone: ZoneInfo
) -> list[str]:
    """Every label rule the slot breaks, each as one sentence naming the rule and dates."""
    problems: list[str] = []
    asked = start.astimezone(zone).date()
    earliest = dose.earliest or dose.local_date
    if dose.latest is not None:
        closes = local_instant(dose.latest + timedelta(days=1), time(0, 0), zone)
        last_day = dose.latest
    else:
        # No window on the label: from the target date to the end of its late window.
        closes = dose.window_closes_at
        last_day = (closes - timedelta(microseconds=1)).astimezone(zone).date()
    if asked < earliest or start >= closes:
        problems.append(
            f"{asked.isoformat()} is outside this infusion's allowed window "
            f"{earliest.isoformat()} to {last_day.isoformat()} "
            f"(target {dose.local_date.isoformat()})"
        )
    spacing = regimen.rule("min_spacing")
    previous = _previous_given(session, dose)
    if spacing is not None and previous is not None:
        gap = timedelta(hours=float(spacing.params["hours"]))
        # The label's spacing is between doses it spaces that far itself: Ocrevus's
        # split first dose (Day 1 and Day 15) is not held to its 5 months.
        planned_gap = dose.due_at - previous.due_at
        given = previous.taken_at or previous.due_at
        if planned_gap >= gap and start - given < gap:
            problems.append(
                f"{spacing.text.rstrip('.')}: the previous dose was given {_day(given, zone)}, "
                f"so the earliest is {_day(given + gap, zone)}, not {asked.isoformat()}"
            )
    return problems


# --- reminders -----------------------------------------------------------------------------


def _what(ctx: Context, dose: Dose | None) -> str:
    if dose is not None and dose.label:
        return f"{ctx.brand} {dose.label}"
    if dose is not None:
        return f"{ctx.brand} {dose.amount:g} {dose.unit} infusion"
    return f"{ctx.brand} infusion"


def text_for(ctx: Context, appointment: Appointment, dose: Dose | None) -> texts.AppointmentText:
    zone = ZoneInfo(ctx.patient.tz)
    local = appointment.at.astimezone(zone)
    premed = ctx.regimen.rule("premedication")
    return texts.AppointmentText(
        team=ctx.team.name,
        local_date=local.strftime("%a %d %b"),
        local_time=local.strftime("%H:%M"),
        language=ctx.patient.language,
        discreet=ctx.patient.discreet,
        what=_what(ctx, dose),
        location=appointment.location,
        premedication=premed.text if premed else "",
        premed_minutes=int(premed.params.get("minutes_before", 30)) if premed else 0,
    )


def premed_lead(regimen: Regimen) -> timedelta | None:
    """How long before the appointment the premedication text goes out (None: no text)."""
    premed = regimen.rule("premedication")
    if premed is None:
        return None
    minutes = int(premed.params.get("minutes_before", 30))
    return timedelta(minutes=minutes) + PREMED_LEAD


def _reminder_times(
    ctx: Context, appointment: Appointment, settings: Settings
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
    lead = premed_lead(ctx.regimen)
    if lead is not None:
        # Time-critical: not held back by quiet hours (like a dose's own reminder).
        out.append(("premed", appointment.at - lead, appointment.at))
    return out


def reminder_prefix(appointment: Appointment) -> str:
    return f"appt:{appointment.id}:"


def cancel_reminders(session: Session, appointment: Appointment, now: datetime) -> int:
    """Withdraw this appointment's texts that have not gone out yet."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.key).startswith(reminder_prefix(appointment)),
            OutboxMessage.status == "pending",
        )
        .values(status="cancelled", next_attempt_at=None, updated_at=now)
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
    info = text_for(ctx, appointment, dose)
    queued = 0
    for suffix, send, valid in _reminder_times(ctx, appointment, settings):
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
                update(OutboxMessage).where(OutboxMessage.key == key).values(next_attempt_at=send)
            )
            queued += 1
    return queued


def _invite(
    session: Session,
    ctx: Context,
    appointment: Appointment,
    dose: Dose | None,
    *,
    settings: Settings,
    now: datetime,
) -> bool:
    days = reminder_days(settings)
    alarms = [timedelta(days=min(days))] if days else []
    alarms.append(premed_lead(ctx.regimen) or timedelta(hours=1))
    return invite(
        session,
        appointment=appointment,
        patient=ctx.patient,
        team=ctx.team,
        text=text_for(ctx, appointment, dose),
        alarms=alarms,
        settings=settings,
        now=now,
    )


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
    _invite(session, ctx, appointment, dose, settings=settings, now=now)


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


def _validate(at: datetime, now: datetime, location: str | None, duration: int | None) -> None:
    if at.tzinfo is None:
        raise AppointmentError("at: the appointment time needs a time zone")
    if at <= now:
        raise AppointmentError(f"at: {at.isoformat()} is in the past")
    if location is not None and len(location) > 300:
        raise AppointmentError("location: at most 300 characters")
    if duration is not None and not 0 < duration <= MAX_DURATION_MINUTES:
        raise AppointmentError(f"duration: {duration} is not 1 to {MAX_DURATION_MINUTES} minutes")


def _forced(force_reason: str | None, problems: list[str]) -> str:
    if not problems:
        return ""
    if force_reason is None or not force_reason.strip():
        raise OutsideWindow(problems)
    return f"{force_reason.strip()} [overrides: {'; '.join(problems)}]"[:500]


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
    _validate(at, now, location, duration_minutes)
    if plan.status != "active":
        raise AppointmentError(f"plan {plan.id} is {plan.status}: nothing to book")
    ctx = _context(session, plan, catalog)
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
    forced = _forced(
        force_reason, check_slot(session, dose=dose, regimen=ctx.regimen, start=at, zone=zone)
    )
    domain = settings.smtp.from_address.rpartition("@")[2] or "adherence.invalid"
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
    _validate(at, now, location, duration_minutes)
    plan, dose = _booked(session, appointment)
    if dose is not None and dose.status not in DOSE_OPEN:
        raise AppointmentError(
            f"appointment {appointment.id}: its infusion is already recorded as {dose.status}"
        )
    ctx = _context(session, plan, catalog)
    zone = ZoneInfo(ctx.patient.tz)
    problems = (
        check_slot(session, dose=dose, regimen=ctx.regimen, start=at, zone=zone)
        if dose is not None
        else []
    )
    forced = _forced(force_reason, problems)
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
    ctx = _context(session, plan, catalog)
    withdrawn = cancel_reminders(session, appointment, now)
    appointment.status = "cancelled"
    appointment.sequence += 1
    appointment.updated_at = now
    session.add(appointment)
    if dose is not None:
        _release_dose(dose, now)
        session.add(dose)
    _invite(session, ctx, appointment, dose, settings=settings, now=now)
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
    else:
        query = query.join(Patient, col(Patient.id) == Appointment.patient_id).where(
            Patient.team_id == team.id
        )
    if not include_cancelled:
        query = query.where(Appointment.status != "cancelled")
    if since is not None:
        query = query.where(Appointment.at >= since)
    return list(session.exec(query.order_by(col(Appointment.at), col(Appointment.id))).all())
