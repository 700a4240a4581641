"""A patient's booked visits as calendar feed events (discreet title unless the patient
opted out of discretion), and the fingerprint the feed cache needs to see them change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from adherence.storage.models import CareTeam, Patient
from adherence.storage.utc import from_storage
from adherence.storage.visits import Visit
from notifiers import visit_texts
from notifiers.ical import CalEvent


def visit_events(
    session: Session,
    patient: Patient,
    *,
    start: datetime,
    end: datetime,
    alarm_minutes: int,
) -> list[tuple[datetime, CalEvent]]:
    rows = session.exec(
        select(Visit)
        .where(
            Visit.patient_id == patient.id,
            Visit.status == "booked",
            Visit.at >= start,
            Visit.at < end,
        )
        .order_by(col(Visit.at), col(Visit.id))
    ).all()
    if not rows:
        return []
    team = session.get(CareTeam, patient.team_id)
    name = team.name if team is not None else ""
    out = []
    for v in rows:
        text = visit_texts.VisitText(
            team=name,
            local_date="",
            local_time="",
            visit_type=v.visit_type,
            language=patient.language,
            discreet=patient.discreet,
        )
        out.append((v.at, _event(v, visit_texts.title(text), alarm_minutes)))
    return out


def _event(v: Visit, summary: str, alarm_minutes: int) -> CalEvent:
    return CalEvent(
        uid=v.uid,
        start=v.at,
        end=v.at + timedelta(minutes=v.duration_minutes),
        summary=summary,
        dtstamp=v.updated_at,
        sequence=v.sequence,
        location=v.location,
        status="CONFIRMED",
        alarm_minutes=alarm_minutes if alarm_minutes > 0 else None,
        busy=True,
    )


def visits_version(
    session: Session, patient_id: int | None, start: datetime, end: datetime
) -> tuple[Any, ...]:
    """(how many, last change) of the patient's visits in the window, cancelled included."""
    count, last = session.exec(
        select(func.count(), func.max(Visit.updated_at)).where(
            Visit.patient_id == patient_id, Visit.at >= start, Visit.at < end
        )
    ).one()
    return int(count), from_storage(last)
