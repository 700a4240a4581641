"""Recording what happened to a dose: a reply, a clinic entry, or a later correction.

A person's entry (clinic, phone call) always leaves a ``DoseChange`` row with who, when,
the old and the new status, so a correction never hides what was recorded before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from adherence.materialize import materialize
from adherence.models import Dose, DoseChange, Patient, Plan, RuleEvent
from adherence.plans import regimen_for
from adherence.rules import after_taken
from schedules import Catalog

log = logging.getLogger("adherence.confirm")

LATE_REPLY_GRACE = timedelta(hours=24)


class ConfirmError(ValueError):
    pass


@dataclass
class Confirmation:
    dose: Dose
    old_status: str
    late: bool
    events: list[RuleEvent] = field(default_factory=list)


def open_dose_for_reply(session: Session, patient_id: int, now: datetime) -> Dose | None:
    """The dose a reply is about: the most recent one already due that has no answer yet;
    failing that, one whose window closed in the last 24 hours (the reply is late), whether
    or not the engine has marked it missed yet.

    An open dose whose window closed longer ago is never the answer: the engine stopped
    acting on it (its plan was paused or stopped), and a reply days later is not about it."""
    row = session.exec(
        select(Dose)
        .where(
            Dose.patient_id == patient_id,
            Dose.kind == "dose",
            Dose.status.in_(("reminded", "scheduled")),
            Dose.due_at <= now + timedelta(minutes=15),
            Dose.window_closes_at > now,
        )
        .order_by(Dose.due_at.desc())
        .limit(1)
    ).first()
    if row is not None:
        return row
    return session.exec(
        select(Dose)
        .where(
            Dose.patient_id == patient_id,
            Dose.kind == "dose",
            Dose.status.in_(("missed", "reminded", "scheduled")),
            Dose.window_closes_at >= now - LATE_REPLY_GRACE,
            Dose.due_at <= now,
        )
        .order_by(Dose.due_at.desc())
        .limit(1)
    ).first()


def confirm(
    session: Session,
    *,
    catalog: Catalog,
    dose: Dose,
    status: str,
    at: datetime,
    now: datetime,
    via: str,
    by: str = "",
    reason: str = "",
    horizon_days: int = 35,
) -> Confirmation:
    """Mark ``dose`` taken or skipped at ``at``; apply the label rules; commit."""
    if status not in ("taken", "skipped"):
        raise ConfirmError(f"status must be taken or skipped, not {status!r}")
    if at.tzinfo is None:
        raise ConfirmError("the time a dose was taken needs a UTC offset")
    if at > now + timedelta(minutes=5):
        raise ConfirmError(f"{at.isoformat()} is in the future")
    if status == "taken" and at < dose.due_at - timedelta(days=3):
        raise ConfirmError(
            f"{at.isoformat()} is more than 3 days before the dose was due ({dose.due_at.isoformat()})"
        )
    if dose.status == "cancelled":
        raise ConfirmError(f"dose {dose.id} was cancelled (the plan changed); pick another")
    plan = session.get(Plan, dose.plan_id)
    patient = session.get(Patient, dose.patient_id)
    assert plan is not None and patient is not None
    old = dose.status
    old_taken = dose.taken_at
    person = via in ("clinic", "phone", "import")
    if not person and old in ("taken", "skipped"):
        # A repeated or conflicting SMS reply never overwrites an answer already given.
        return Confirmation(dose=dose, old_status=old, late=dose.late)
    dose.status = status
    dose.taken_at = at if status == "taken" else None
    dose.confirmed_at = now
    dose.confirmed_via = via
    dose.confirmed_by = by
    dose.late = status == "taken" and at > dose.window_closes_at
    dose.next_action_at = None
    dose.snoozed_until = None
    dose.updated_at = now
    session.add(dose)
    if person:
        session.add(
            DoseChange(
                dose_id=dose.id,
                old_status=old,
                new_status=status,
                old_taken_at=old_taken,
                new_taken_at=dose.taken_at,
                changed_by=by or via,
                changed_at=now,
                reason=reason,
            )
        )
    events: list[RuleEvent] = []
    if status == "taken":
        events = after_taken(
            session,
            catalog=catalog,
            plan=plan,
            patient=patient,
            dose=dose,
            regimen=regimen_for(catalog, plan),
            taken_at=at,
            now=now,
        )
    session.commit()
    if any(e.type == "schedule_shift" for e in events):
        materialize(
            session, now=now, catalog=catalog, horizon_days=horizon_days, plan_ids=[plan.id]
        )
    log.info("dose %s dose=%s via=%s late=%s", status, dose.id, via, dose.late)
    return Confirmation(dose=dose, old_status=old, late=dose.late, events=events)


def snooze(session: Session, *, dose: Dose, minutes: int, now: datetime) -> datetime:
    """Remind again in ``minutes`` (never past the dose's window). Returns when."""
    until = min(now + timedelta(minutes=minutes), dose.window_closes_at - timedelta(minutes=1))
    dose.snoozed_until = until
    dose.next_action_at = until
    dose.updated_at = now
    session.add(dose)
    session.commit()
    return until
