"""When a patient's next visit of each type is due, from ``[visits] cadences``.

Nothing is stored for "due": the next visit of a type is due ``months`` after the last one
attended (status ``done``), or after enrolment when none is recorded. It is *due* from
``window_days`` before that date, *overdue* once ``window_days`` after it have passed with
no visit booked, or with a booked one whose time has passed unrecorded; a visit booked for
a time still to come makes it *booked*.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.calendar.slots import AppointmentError
from adherence.core.config import Settings
from adherence.storage.models import Patient
from adherence.storage.visits import Visit

BOOKED = "booked"
DUE = "due"
OVERDUE = "overdue"
LATER = "later"


class VisitError(AppointmentError):
    """A visit request that cannot be done (unknown type, nothing booked, bad time)."""


def cadences(settings: Settings) -> dict[str, int]:
    """``[visits] cadences`` as {type: months} (validated when the settings loaded)."""
    out: dict[str, int] = {}
    for part in settings.visits.cadences.split(","):
        code, _, months = part.strip().partition(":")
        if code.strip():
            out[code.strip()] = int(months)
    return out


def check_type(settings: Settings, visit_type: str) -> str:
    known = cadences(settings)
    code = visit_type.strip().lower()
    if code not in known:
        offered = ", ".join(known) or "none"
        raise VisitError(f"visit type {visit_type!r} is not in [visits] cadences ({offered})")
    return code


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Due:
    patient: Patient
    visit_type: str
    due_on: date
    opens: date
    closes: date
    last_done: date | None
    booked: Visit | None
    state: str  # booked | due | overdue | later


def _visits(session: Session, patient_ids: list[int]) -> list[Visit]:
    if not patient_ids:
        return []
    return list(
        session.exec(
            select(Visit)
            .where(col(Visit.patient_id).in_(patient_ids), col(Visit.status) != "cancelled")
            .order_by(col(Visit.at), col(Visit.id))
        ).all()
    )


def due_for(
    session: Session, patients: list[Patient], *, settings: Settings, now: datetime
) -> list[Due]:
    """Every active patient's next visit of each configured type, soonest due first."""
    active = [p for p in patients if p.active and p.id is not None]
    by_patient: dict[int, list[Visit]] = {}
    for v in _visits(session, [p.id for p in active if p.id is not None]):
        by_patient.setdefault(v.patient_id, []).append(v)
    window = timedelta(days=settings.visits.window_days)
    out: list[Due] = []
    for patient in active:
        zone = ZoneInfo(patient.tz)
        today = now.astimezone(zone).date()
        rows = by_patient.get(patient.id or 0, [])
        for code, months in cadences(settings).items():
            done = [v for v in rows if v.visit_type == code and v.status == "done"]
            booked = next((v for v in rows if v.visit_type == code and v.status == BOOKED), None)
            last = done[-1].at.astimezone(zone).date() if done else None
            due_on = add_months(last or patient.created_at.astimezone(zone).date(), months)
            opens, closes = due_on - window, due_on + window
            if booked is not None and booked.at > now:
                state = BOOKED
            elif today > closes:
                state = OVERDUE
            elif booked is not None or today >= opens:
                state = BOOKED if booked is not None else DUE
            else:
                state = LATER
            out.append(Due(patient, code, due_on, opens, closes, last, booked, state))
    return sorted(out, key=lambda d: (d.due_on, d.patient.id or 0, d.visit_type))
