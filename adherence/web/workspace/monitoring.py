"""What the patient page's label monitoring section shows (``templates/patient_monitoring.html``):
the patient's open label checks (labs, exams) up to ``LOOKAHEAD_DAYS`` ahead, each with its
date, state (upcoming, due, overdue past ``[monitoring] overdue_days``) and a form to record
it done (``actions/checks.py``). One statement, read in the page's session, so the page's
audit row covers it."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.core.config import Settings
from adherence.storage.models import DOSE_OPEN, Dose, Patient, Plan

LOOKAHEAD_DAYS = 14  # a check this close can be booked, drawn and recorded
UPCOMING, DUE, OVERDUE = "upcoming", "due", "overdue"
STATES = {UPCOMING: "coming up", DUE: "due", OVERDUE: "overdue"}


@dataclass(frozen=True, slots=True)
class OpenCheck:
    dose_id: int
    plan_id: int
    label: str
    on: date  # the check's date, the patient's calendar
    state: str  # upcoming | due | overdue


def open_checks(s: Session, patient: Patient, now: datetime, settings: Settings) -> list[OpenCheck]:
    """The patient's open checks of active plans (current epoch) dated up to
    ``LOOKAHEAD_DAYS`` ahead, oldest first."""
    today = now.astimezone(ZoneInfo(patient.tz)).date()
    rows = s.exec(
        select(Dose)
        .join(Plan, col(Plan.id) == Dose.plan_id)
        .where(
            Dose.patient_id == patient.id,
            Dose.kind == "monitoring",
            col(Dose.status).in_(DOSE_OPEN),
            Dose.epoch == Plan.epoch,
            Plan.status == "active",
            col(Dose.local_date) <= today + timedelta(days=LOOKAHEAD_DAYS),
        )
        .order_by(col(Dose.local_date), col(Dose.id))
    ).all()
    overdue_after = timedelta(days=settings.monitoring.overdue_days)
    return [
        OpenCheck(
            dose_id=d.id or 0,
            plan_id=d.plan_id,
            label=d.label or "label check",
            on=d.local_date,
            state=OVERDUE
            if today > d.local_date + overdue_after
            else DUE
            if today >= d.local_date
            else UPCOMING,
        )
        for d in rows
    ]


def monitoring_context(
    s: Session, patient: Patient, now: datetime, settings: Settings
) -> dict[str, Any]:
    return {
        "checks": open_checks(s, patient, now, settings),
        "check_states": STATES,
        "check_lookahead": LOOKAHEAD_DAYS,
        "today": now.astimezone(ZoneInfo(patient.tz)).date(),
    }
