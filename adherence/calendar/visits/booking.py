"""Book, move, cancel and record a patient's neurology visit or MRI.

The rules are an infusion appointment's (``adherence.calendar.appointments``): the time
must be aware and still to come (``slots.validate``), the UID never changes and SEQUENCE
goes up with every change, the reminder texts of the old revision are withdrawn and the
new ones queued, and every change leaves an audit row. One visit of a type is booked at a
time: move that one instead. Recording a visit as attended ("done") starts the type's
next cadence from its date. Each function commits.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from adherence.calendar.slots import validate
from adherence.calendar.visits import reminders
from adherence.calendar.visits.due import VisitError, check_type
from adherence.core.config import Settings
from adherence.storage import audit
from adherence.storage.models import CareTeam, Patient
from adherence.storage.visits import Visit

log = logging.getLogger("adherence.visits")


def _context(session: Session, visit: Visit) -> tuple[Patient, CareTeam]:
    patient = session.get(Patient, visit.patient_id)
    assert patient is not None
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    return patient, team


def _audit(
    session: Session, visit: Visit, team: CareTeam, action: str, by: str, now: datetime, **d: object
) -> None:
    audit.record(
        session,
        actor=by or "unknown",
        team_id=team.id,
        action=action,
        resource=f"visit:{visit.id}",
        now=now,
        patient_id=visit.patient_id,
        details={"type": visit.visit_type, **d},
    )


def booked_of(session: Session, patient: Patient, visit_type: str) -> Visit | None:
    return session.exec(
        select(Visit).where(
            Visit.patient_id == patient.id,
            Visit.visit_type == visit_type,
            Visit.status == "booked",
        )
    ).first()


def book(
    session: Session,
    *,
    patient: Patient,
    visit_type: str,
    at: datetime,
    now: datetime,
    settings: Settings,
    by: str,
    location: str = "",
    duration_minutes: int | None = None,
) -> Visit:
    code = check_type(settings, visit_type)
    validate(at, now, location, duration_minutes)
    if not patient.active:
        raise VisitError(f"patient {patient.id} has been removed")
    existing = booked_of(session, patient, code)
    if existing is not None:
        raise VisitError(
            f"patient {patient.id} already has a {code} visit booked (visit {existing.id}): "
            "move that one instead"
        )
    assert patient.id is not None
    domain = settings.smtp.from_address.rpartition("@")[2] or "adherence.invalid"
    visit = Visit(
        uid=f"visit-{uuid.uuid4().hex}@{domain}",
        patient_id=patient.id,
        visit_type=code,
        at=at,
        duration_minutes=duration_minutes or settings.visits.duration_minutes,
        location=location.strip(),
        booked_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(visit)
    session.flush()  # its id names the reminders
    _, team = _context(session, visit)
    reminders.schedule(session, visit, patient, team, settings=settings, now=now)
    _audit(session, visit, team, "visit.book", by, now, at=at.isoformat())
    session.commit()
    session.refresh(visit)
    log.info("visit booked id=%s patient=%s type=%s", visit.id, patient.id, code)
    return visit


def _booked(visit: Visit) -> None:
    if visit.status != "booked":
        raise VisitError(f"visit {visit.id} is {visit.status}")


def move(
    session: Session,
    *,
    visit: Visit,
    at: datetime,
    now: datetime,
    settings: Settings,
    by: str,
    location: str | None = None,
    duration_minutes: int | None = None,
) -> Visit:
    _booked(visit)
    validate(at, now, location, duration_minutes)
    patient, team = _context(session, visit)
    old = visit.at
    reminders.cancel(session, visit, now)
    visit.at = at
    visit.sequence += 1
    if location is not None:
        visit.location = location.strip()
    if duration_minutes is not None:
        visit.duration_minutes = duration_minutes
    visit.updated_at = now
    session.add(visit)
    reminders.schedule(session, visit, patient, team, settings=settings, now=now)
    _audit(session, visit, team, "visit.move", by, now, old_at=old.isoformat(), at=at.isoformat())
    session.commit()
    session.refresh(visit)
    log.info("visit moved id=%s sequence=%s", visit.id, visit.sequence)
    return visit


def cancel(session: Session, *, visit: Visit, now: datetime, by: str, reason: str = "") -> Visit:
    _booked(visit)
    _, team = _context(session, visit)
    withdrawn = reminders.cancel(session, visit, now)
    visit.status = "cancelled"
    visit.sequence += 1
    visit.updated_at = now
    session.add(visit)
    _audit(session, visit, team, "visit.cancel", by, now, reason=reason, withdrawn=withdrawn)
    session.commit()
    session.refresh(visit)
    log.info("visit cancelled id=%s", visit.id)
    return visit


def done(
    session: Session, *, visit: Visit, now: datetime, by: str, at: datetime | None = None
) -> Visit:
    """Record a booked visit as attended (at its booked time unless ``at`` says)."""
    _booked(visit)
    when = at or visit.at
    if when.tzinfo is None:
        raise VisitError("at: the visit time needs a time zone")
    if when > now:
        raise VisitError(f"at: {when.isoformat()} has not happened yet")
    _, team = _context(session, visit)
    reminders.cancel(session, visit, now)
    visit.status = "done"
    visit.at = when
    visit.done_at = now
    visit.updated_at = now
    session.add(visit)
    _audit(session, visit, team, "visit.done", by, now, at=when.isoformat())
    session.commit()
    session.refresh(visit)
    log.info("visit recorded as attended id=%s", visit.id)
    return visit


def record_past(
    session: Session,
    *,
    patient: Patient,
    visit_type: str,
    at: datetime,
    now: datetime,
    settings: Settings,
    by: str,
) -> Visit:
    """Record a visit that was attended but never booked here (e.g. before enrolment)."""
    code = check_type(settings, visit_type)
    if at.tzinfo is None:
        raise VisitError("at: the visit time needs a time zone")
    if at > now:
        raise VisitError(f"at: {at.isoformat()} has not happened yet: book it instead")
    assert patient.id is not None
    visit = Visit(
        uid=f"visit-{uuid.uuid4().hex}@adherence.invalid",
        patient_id=patient.id,
        visit_type=code,
        at=at,
        duration_minutes=settings.visits.duration_minutes,
        status="done",
        booked_by=by,
        done_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(visit)
    session.flush()
    _, team = _context(session, visit)
    _audit(session, visit, team, "visit.done", by, now, at=at.isoformat(), booked=False)
    session.commit()
    session.refresh(visit)
    return visit


def list_for(session: Session, patient: Patient, *, include_cancelled: bool = False) -> list[Visit]:
    query = select(Visit).where(Visit.patient_id == patient.id)
    if not include_cancelled:
        query = query.where(Visit.status != "cancelled")
    return list(session.exec(query.order_by(col(Visit.at), col(Visit.id))).all())
