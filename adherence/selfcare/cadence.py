"""A patient's check-in cadence: set, stop, show (the CLI and the workspace use these).

``next_at`` is the next local ``local_time`` in the patient's zone (today if still ahead,
else tomorrow), expanded with zoneinfo so the wall-clock time holds through DST.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.questions import QuestionError, load_questions
from adherence.storage.models import Patient
from adherence.storage.selfcare import CheckinSchedule
from schedules.localtime import load_zone, local_instant, parse_hhmm

MAX_EVERY_DAYS = 365


class CadenceError(ValueError):
    """The cadence cannot be set that way; the message names the field."""


@dataclass(frozen=True)
class CadenceView:
    patient_id: int
    active: bool
    every_days: int
    local_time: str
    items: tuple[str, ...]
    next_at: datetime | None


def next_local(patient: Patient, local_time: str, after: datetime, days: int = 0) -> datetime:
    """The first ``local_time`` in the patient's zone at or after ``after`` plus ``days``."""
    zone = load_zone(patient.tz)
    at = parse_hhmm(local_time)
    day = after.astimezone(zone).date() + timedelta(days=days)
    instant = local_instant(day, at, zone)
    while instant < after:
        day += timedelta(days=1)
        instant = local_instant(day, at, zone)
    return instant


def set_cadence(
    session: Session,
    *,
    patient: Patient,
    every_days: int,
    local_time: str,
    items: str,
    settings: CheckinSettings,
    now: datetime,
    by: str,
) -> CheckinSchedule:
    """Start (or change) the patient's check-ins. Part of the caller's transaction."""
    if not 1 <= every_days <= MAX_EVERY_DAYS:
        raise CadenceError(f"every: {every_days} is not a whole number of days 1 to 365")
    try:
        local_time = parse_hhmm(local_time).strftime("%H:%M")
    except ValueError:
        raise CadenceError(f"at: {local_time!r} is not a time of day HH:MM") from None
    codes = ",".join(c.strip() for c in items.split(",") if c.strip())
    try:
        load_questions(settings).resolve(codes)
    except QuestionError as exc:
        raise CadenceError(f"items: {exc}") from None
    assert patient.id is not None
    row = session.exec(
        select(CheckinSchedule).where(CheckinSchedule.patient_id == patient.id)
    ).first()
    if row is None:
        row = CheckinSchedule(patient_id=patient.id, local_time=local_time, created_at=now)
    row.every_days = every_days
    row.local_time = local_time
    row.items = codes
    row.active = True
    row.stopped_at = None
    row.created_by = by
    row.next_at = next_local(patient, local_time, now)
    session.add(row)
    session.flush()
    return row


def stop_cadence(session: Session, *, patient_id: int, now: datetime) -> bool:
    """Stop the patient's check-ins; False when none was running."""
    row = session.exec(
        select(CheckinSchedule).where(CheckinSchedule.patient_id == patient_id)
    ).first()
    if row is None or not row.active:
        return False
    row.active = False
    row.next_at = None
    row.stopped_at = now
    session.add(row)
    return True


def show_cadence(
    session: Session, *, patient_id: int, settings: CheckinSettings
) -> CadenceView | None:
    row = session.exec(
        select(CheckinSchedule).where(CheckinSchedule.patient_id == patient_id)
    ).first()
    if row is None:
        return None
    codes = row.items or settings.items
    return CadenceView(
        patient_id=patient_id,
        active=row.active,
        every_days=row.every_days,
        local_time=row.local_time,
        items=tuple(c for c in codes.split(",") if c),
        next_at=row.next_at,
    )
