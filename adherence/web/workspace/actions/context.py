"""What the patient page's action sections show, read in the page's own session: the
upcoming appointments and the infusions still to book, whether a feed link exists, the
export's default period, and the recent doses a coordinator may enter or correct.

A handful of indexed queries on one patient's rows: the patient page stays fast. The same
``Actions`` carries a refused form back (``error`` and the ``values`` sent), so the sections
render again with the field named and what was typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.calendar.appointments import list_for
from adherence.calendar.bookable import bookable, window_days
from adherence.calendar.links import FeedUrls
from adherence.storage.models import Dose, DoseChange, Patient, Plan

# Doses offered for entry or correction: today and this many days before (local dates).
CORRECTION_DAYS = 14
MAX_EXPORT_DAYS = 3 * 366  # as the API's export
RECENT_CORRECTIONS = 10
# Shown next to each dose in the picker (no colour: these are words).
STATUS_WORDS = {
    "scheduled": "no answer yet",
    "reminded": "reminded, no answer",
    "taken": "taken",
    "skipped": "skipped",
    "missed": "missed",
}


@dataclass(frozen=True, slots=True)
class FormError:
    """A refused form: which form (``book-3``, ``move-7``, ``dose``...), which field (its
    input name; "" for the whole form) and why. ``outside``: the slot broke the label's
    window or spacing, so the form now offers booking anyway with a reason."""

    form: str
    field: str
    message: str
    outside: bool = False


@dataclass(frozen=True, slots=True)
class AppointmentRow:
    id: int
    at: datetime
    duration_minutes: int
    location: str
    regimen: str
    forced_reason: str
    booked_by: str
    target: date | None
    earliest: date | None
    last_day: date | None


@dataclass(frozen=True, slots=True)
class BookRow:
    plan_id: int
    regimen: str
    dose_id: int
    label: str
    target: date
    earliest: date
    last_day: date


@dataclass(frozen=True, slots=True)
class DoseOption:
    id: int
    label: str


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """A dose status a person set (``DoseChange``): who, when, why, from what to what."""

    changed_at: datetime
    dose: str
    old_status: str
    new_status: str
    changed_by: str
    reason: str


@dataclass
class Actions:
    tz: str
    today: date
    appointments: list[AppointmentRow]
    bookable: list[BookRow]
    feed_issued: bool
    feed_issued_at: datetime | None
    export_from: date
    export_to: date
    doses: list[DoseOption]
    corrections: list[CorrectionRow] = field(default_factory=list)
    new_feed: FeedUrls | None = None  # only on the page answering a rotation
    error: FormError | None = None
    values: dict[str, str] = field(default_factory=dict)

    def failed(self, form: str) -> bool:
        return self.error is not None and self.error.form == form

    def problem(self, form: str, name: str) -> str:
        """The message for ``name`` of ``form`` when that is the field refused."""
        if self.error is not None and self.error.form == form and self.error.field == name:
            return self.error.message
        return ""

    def value(self, form: str, name: str, default: str = "") -> str:
        """What was sent in a refused ``form`` (kept), or ``default``."""
        if self.failed(form):
            return self.values.get(name, default)
        return default


def _appointments(s: Session, patient: Patient, plans: dict[int, Plan], now: datetime,
                  zone: ZoneInfo) -> list[AppointmentRow]:  # fmt: skip
    rows = list_for(s, patient=patient, since=now - timedelta(days=1))
    dose_ids = [a.dose_id for a in rows if a.dose_id is not None]
    doses = {d.id: d for d in s.exec(select(Dose).where(col(Dose.id).in_(dose_ids)))}
    out = []
    for a in rows:
        if a.status != "booked" or a.id is None:
            continue
        dose = doses.get(a.dose_id) if a.dose_id is not None else None
        window = window_days(dose, zone) if dose is not None else (None, None)
        plan = plans.get(a.plan_id)
        out.append(
            AppointmentRow(
                id=a.id,
                at=a.at,
                duration_minutes=a.duration_minutes,
                location=a.location,
                regimen=plan.regimen if plan is not None else "",
                forced_reason=a.forced_reason,
                booked_by=a.booked_by,
                target=dose.local_date if dose is not None else None,
                earliest=window[0],
                last_day=window[1],
            )
        )
    return out


def recent_doses(s: Session, patient: Patient, today: date) -> list[Dose]:
    """The doses a coordinator may enter or correct: today's and the last 14 days', newest
    first (monitoring visits and doses taken off the schedule are not doses to answer)."""
    return list(
        s.exec(
            select(Dose)
            .where(
                Dose.patient_id == patient.id,
                Dose.local_date >= today - timedelta(days=CORRECTION_DAYS),
                Dose.local_date <= today,
                col(Dose.kind).in_(("dose", "infusion")),
                col(Dose.status).in_(tuple(STATUS_WORDS)),
            )
            .order_by(col(Dose.due_at).desc(), col(Dose.id).desc())
        ).all()
    )


def dose_label(d: Dose, regimen: str, zone: ZoneInfo) -> str:
    when = d.due_at.astimezone(zone).strftime("%a %d %b %H:%M")
    late = " (late)" if d.late else ""
    return f"{when} · {regimen} {d.amount:g} {d.unit} · {STATUS_WORDS[d.status]}{late}"


def corrections(s: Session, patient: Patient, zone: ZoneInfo) -> list[CorrectionRow]:
    """The latest entries and corrections people made to this patient's doses."""
    rows = s.exec(
        select(DoseChange, Dose)
        .join(Dose, col(Dose.id) == DoseChange.dose_id)
        .where(Dose.patient_id == patient.id)
        .order_by(col(DoseChange.changed_at).desc(), col(DoseChange.id).desc())
        .limit(RECENT_CORRECTIONS)
    ).all()
    return [
        CorrectionRow(
            changed_at=c.changed_at,
            dose=d.due_at.astimezone(zone).strftime("%a %d %b %H:%M"),
            old_status=c.old_status,
            new_status=c.new_status,
            changed_by=c.changed_by,
            reason=c.reason,
        )
        for c, d in rows
    ]


def build(s: Session, patient: Patient, now: datetime) -> Actions:
    zone = ZoneInfo(patient.tz)
    today = now.astimezone(zone).date()
    plan_rows = list(
        s.exec(select(Plan).where(Plan.patient_id == patient.id).order_by(col(Plan.id))).all()
    )
    plans = {p.id: p for p in plan_rows if p.id is not None}
    books = [
        BookRow(
            plan_id=b.plan.id or 0,
            regimen=b.plan.regimen,
            dose_id=b.dose.id or 0,
            label=b.dose.label,
            target=b.dose.local_date,
            earliest=b.earliest,
            last_day=b.last_day,
        )
        for b in bookable(s, plan_rows, zone)
    ]
    first = min((p.start_date for p in plan_rows), default=today)
    first = max(first, today - timedelta(days=MAX_EXPORT_DAYS - 1))
    return Actions(
        tz=patient.tz,
        today=today,
        appointments=_appointments(s, patient, plans, now, zone),
        bookable=books,
        feed_issued=bool(patient.calendar_token_hash),
        feed_issued_at=patient.calendar_token_at,
        export_from=min(first, today),
        export_to=today,
        doses=[
            DoseOption(id=d.id or 0, label=dose_label(d, plans[d.plan_id].regimen, zone))
            for d in recent_doses(s, patient, today)
        ],
        corrections=corrections(s, patient, zone),
    )
