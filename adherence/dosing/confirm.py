"""Recording what happened to a dose: a reply, a clinic entry, or a later correction.

A person's entry (clinic, phone call) always leaves a ``DoseChange`` row with who, when,
the old and the new status, so a correction never hides what was recorded before.

``confirm`` decides from the dose as it was read and writes only if the dose is still as
it was read (a conditional update on its status and ``updated_at``); otherwise it reads
the dose again and decides again. So a reply never clobbers what another writer committed
meanwhile: the engine marking the dose missed, a second reply, a clinic entry. (On SQLite
a write transaction already holds the database's one write lock from its first statement,
``BEGIN IMMEDIATE``, so there the condition only fails for a dose read in an earlier
transaction; on PostgreSQL it also catches a writer that commits between our read and our
write.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from adherence.dosing.materialize import materialize
from adherence.dosing.plans import regimen_for
from adherence.dosing.rules import after_taken
from adherence.storage.models import (
    DOSE_OPEN,
    Dose,
    DoseChange,
    DoseStatus,
    Patient,
    Plan,
    RuleEvent,
)
from schedules import Catalog

log = logging.getLogger("adherence.confirm")

LATE_REPLY_GRACE = timedelta(hours=24)
# Times ``confirm`` reads a dose again when it changed under it before giving up; more than
# one is needed only when writers keep committing on the same dose in the same instant.
DECIDE_AGAIN = 5


class ConfirmError(ValueError):
    pass


@dataclass
class Confirmation:
    dose: Dose
    old_status: str
    late: bool
    events: list[RuleEvent] = field(default_factory=list)
    # False when nothing was written: an SMS reply to a dose that already has an answer
    # (perhaps from a reply that was recorded while this one was being decided).
    applied: bool = True


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
            col(Dose.status).in_(("reminded", "scheduled")),
            Dose.due_at <= now + timedelta(minutes=15),
            Dose.window_closes_at > now,
        )
        .order_by(col(Dose.due_at).desc())
        .limit(1)
    ).first()
    if row is not None:
        return row
    return session.exec(
        select(Dose)
        .where(
            Dose.patient_id == patient_id,
            Dose.kind == "dose",
            col(Dose.status).in_((DoseStatus.MISSED, *DOSE_OPEN)),
            Dose.window_closes_at >= now - LATE_REPLY_GRACE,
            Dose.due_at <= now,
        )
        .order_by(col(Dose.due_at).desc())
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
    person = via in ("clinic", "phone", "import")
    session.add(dose)  # a dose loaded by an earlier session is read again through this one
    for _ in range(DECIDE_AGAIN):
        if status == "taken" and at < dose.due_at - timedelta(days=3):
            raise ConfirmError(
                f"{at.isoformat()} is more than 3 days before the dose was due ({dose.due_at.isoformat()})"
            )
        if dose.status == DoseStatus.CANCELLED:
            raise ConfirmError(f"dose {dose.id} was cancelled (the plan changed); pick another")
        old = dose.status
        old_taken = dose.taken_at
        if not person and old in (DoseStatus.TAKEN, DoseStatus.SKIPPED):
            # A repeated or conflicting SMS reply never overwrites an answer already given.
            return Confirmation(dose=dose, old_status=old, late=dose.late, applied=False)
        values = {
            "status": status,
            "taken_at": at if status == DoseStatus.TAKEN else None,
            "confirmed_at": now,
            "confirmed_via": via,
            "confirmed_by": by,
            "late": status == DoseStatus.TAKEN and at > dose.window_closes_at,
            "next_action_at": None,
            "snoozed_until": None,
            "updated_at": now,
        }
        if _write_if_unchanged(session, dose, values):
            break
        # Changed since it was read (marked missed, answered by another reply or entry):
        # read it again and decide again from what it is now.
        log.info("dose changed while being recorded dose=%s: deciding again", dose.id)
        session.refresh(dose)
    else:
        session.rollback()
        raise ConfirmError(f"dose {dose.id} kept changing while being recorded; try again")
    plan = session.get(Plan, dose.plan_id)
    patient = session.get(Patient, dose.patient_id)
    assert plan is not None and patient is not None
    assert dose.id is not None and plan.id is not None
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


def _write_if_unchanged(session: Session, dose: Dose, values: dict[str, Any]) -> bool:
    """Write ``values`` to the dose if its row still has the status and ``updated_at`` the
    object holds (every writer of a dose sets ``updated_at``). True if written; the object
    then holds the values as stored."""
    result = session.execute(
        update(Dose)
        .where(
            col(Dose.id) == dose.id,
            col(Dose.status) == dose.status,
            col(Dose.updated_at) == dose.updated_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(dose, name, value)
    return True


def snooze(session: Session, *, dose: Dose, minutes: int, now: datetime) -> datetime:
    """Remind again in ``minutes`` (never past the dose's window). Returns when."""
    until = min(now + timedelta(minutes=minutes), dose.window_closes_at - timedelta(minutes=1))
    dose.snoozed_until = until
    dose.next_action_at = until
    dose.updated_at = now
    session.add(dose)
    session.commit()
    return until
