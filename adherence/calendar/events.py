"""What a calendar feed shows: the events made from a patient's doses and appointments (or,
for a care team, from its patients' infusions), over the feed's window.

What a patient's feed shows, in the patient's zone, over [calendar] past_days/future_days:
- doses (15 minutes, not busy), past ones with their recorded status in the title;
- clinic infusions not yet booked, as an all-day entry over the label's allowed window;
- booked appointments (the infusion's own entry then gives way to the appointment);
- monitoring items (labs, check-ups), all-day.
Titles are discreet ("Medication", "Clinic appointment", "Lab test / check-up") unless the
patient opted out (``Patient.discreet`` False), then they name the therapy.

SEQUENCE of a dose entry: the rank of its status (open 0, missed / not recorded 1,
taken / skipped 2) plus the number of corrections people made to it (``dose_change`` rows).
Every change the engine allows moves that sum up: a late SMS reply turns missed (1) into
taken (2); a clinic correction adds a ``dose_change`` row. Appointments carry their own
``sequence``. DTSTAMP is the row's ``updated_at``, so the same state renders the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from adherence.calendar.visits.feed import visit_events
from adherence.core.config import Settings
from adherence.storage.models import (
    DOSE_OPEN,
    Appointment,
    CareTeam,
    Dose,
    DoseChange,
    Patient,
    Plan,
)
from notifiers.ical import CalEvent
from schedules import Catalog

DOSE_MINUTES = 15
STATUS_RANK = {"scheduled": 0, "reminded": 0, "missed": 1, "not_sent": 1, "taken": 2, "skipped": 2}
DISCREET = {
    "dose": "Medication",
    "infusion": "Clinic appointment",
    "monitoring": "Lab test / check-up",
}
OUTCOME = {
    "dose": {
        "taken": "taken",
        "skipped": "skipped",
        "missed": "missed",
        "not_sent": "not recorded",
    },
    "infusion": {"taken": "given", "skipped": "skipped", "missed": "missed", "not_sent": "missed"},
    "monitoring": {"taken": "done", "skipped": "skipped", "missed": "missed", "not_sent": "missed"},
}


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # first instant shown (00:00 local, past_days ago)
    end: datetime  # first instant not shown

    @classmethod
    def around(cls, now: datetime, zone: str, settings: Settings) -> Window:
        tz = ZoneInfo(zone)
        today = now.astimezone(tz).date()
        first = today - timedelta(days=settings.calendar.past_days)
        last = today + timedelta(days=settings.calendar.future_days + 1)
        return cls(
            start=datetime.combine(first, time(), tzinfo=tz).astimezone(UTC),
            end=datetime.combine(last, time(), tzinfo=tz).astimezone(UTC),
        )


def _uid(kind: str, row_id: int | None, host: str) -> str:
    return f"{kind}-{row_id}@{host}"


def host_of(settings: Settings) -> str:
    return urlsplit(settings.http.public_base_url).hostname or "localhost"


def _what(catalog: Catalog, regimen: str) -> str:
    try:
        therapy = catalog.get(regimen)
    except LookupError:
        return regimen
    return therapy.brands[0] if therapy.brands else therapy.name


def _title(dose: Dose, discreet: bool, what: str) -> str:
    if discreet:
        return DISCREET.get(dose.kind, "Medication")
    if dose.kind == "monitoring":
        return dose.label or DISCREET["monitoring"]
    if dose.kind == "infusion":
        return f"{what} infusion"
    return f"{what} {dose.amount:g} {dose.unit}"


def _local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def dose_event(
    dose: Dose,
    *,
    discreet: bool,
    what: str,
    tz: ZoneInfo,
    host: str,
    corrections: int,
    alarm_minutes: int,
    for_patient: bool = True,
) -> CalEvent:
    title = _title(dose, discreet, what)
    outcome = OUTCOME.get(dose.kind, OUTCOME["dose"]).get(dose.status)
    summary = f"{title} — {outcome}" if outcome else title
    sequence = STATUS_RANK.get(dose.status, 0) + corrections
    # Alarms on every open item, past ones included: a render must depend only on the rows
    # (and the window's day), never on the minute it is made, or the cache and ETag would lie.
    # Clients never ring an alarm for an event already past.
    is_open = outcome is None
    notes: list[str] = []
    if dose.kind == "dose":
        start: datetime | date = dose.due_at
        end: datetime | date = dose.due_at + timedelta(minutes=DOSE_MINUTES)
        if dose.status == "taken" and dose.taken_at is not None:
            notes.append(f"Taken at {dose.taken_at.astimezone(tz):%H:%M, %a %d %b}.")
    else:
        # Clinic items are days to plan around, not times: all-day over the label's allowed
        # window while open, on the day itself once recorded.
        due = _local_day(dose.due_at, tz)
        if outcome is None and dose.earliest and dose.latest:
            start, end = dose.earliest, dose.latest + timedelta(days=1)
            notes.append(
                f"Due {due:%a %d %b %Y}; allowed between {dose.earliest:%d %b} "
                f"and {dose.latest:%d %b %Y}."
            )
            if dose.kind == "infusion" and for_patient:
                notes.append("Your care team will book the appointment.")
        else:
            day = _local_day(dose.taken_at, tz) if dose.taken_at else due
            start, end = day, day + timedelta(days=1)
    return CalEvent(
        uid=_uid(dose.kind, dose.id, host),
        start=start,
        end=end,
        summary=summary,
        dtstamp=dose.updated_at,
        sequence=sequence,
        description=" ".join(notes),
        status="CONFIRMED",
        alarm_minutes=alarm_minutes if is_open and alarm_minutes > 0 else None,
        busy=False,
    )


def appointment_event(appt: Appointment, *, summary: str, alarm_minutes: int) -> CalEvent:
    return CalEvent(
        uid=appt.uid,
        start=appt.at,
        end=appt.at + timedelta(minutes=appt.duration_minutes),
        summary=summary,
        dtstamp=appt.updated_at,
        sequence=appt.sequence,
        location=appt.location,
        status="CONFIRMED",
        alarm_minutes=alarm_minutes if alarm_minutes > 0 else None,
        busy=True,
    )


def _corrections(session: Session, dose_ids: list[int]) -> dict[int, int]:
    if not dose_ids:
        return {}
    rows = session.exec(
        select(DoseChange.dose_id, func.count())
        .where(col(DoseChange.dose_id).in_(dose_ids))
        .group_by(col(DoseChange.dose_id))
    ).all()
    return {int(d): int(n) for d, n in rows}


def _regimens(session: Session, plan_ids: set[int]) -> dict[int, str]:
    if not plan_ids:
        return {}
    rows = session.exec(select(Plan.id, Plan.regimen).where(col(Plan.id).in_(plan_ids))).all()
    return {int(i): r for i, r in rows if i is not None}


def patient_events(
    session: Session,
    *,
    patient: Patient,
    catalog: Catalog,
    settings: Settings,
    now: datetime,
) -> list[CalEvent]:
    """Everything the patient's feed shows, in time order."""
    tz = ZoneInfo(patient.tz)
    window = Window.around(now, patient.tz, settings)
    host = host_of(settings)
    alarm = settings.calendar.alarm_minutes
    doses = session.exec(
        select(Dose)
        .where(
            Dose.patient_id == patient.id,
            Dose.due_at >= window.start,
            Dose.due_at < window.end,
            Dose.status != "cancelled",
        )
        .order_by(col(Dose.due_at), col(Dose.id))
    ).all()
    appts = session.exec(
        select(Appointment)
        .where(
            Appointment.patient_id == patient.id,
            Appointment.status == "booked",
            Appointment.at >= window.start,
            Appointment.at < window.end,
        )
        .order_by(col(Appointment.at), col(Appointment.id))
    ).all()
    booked = {a.dose_id for a in appts if a.dose_id is not None}
    corrections = _corrections(session, [d.id for d in doses if d.id is not None])
    regimens = _regimens(session, {d.plan_id for d in doses} | {a.plan_id for a in appts})
    names: dict[int, str] = {}

    def what(plan_id: int) -> str:
        if plan_id not in names:
            names[plan_id] = _what(catalog, regimens.get(plan_id, ""))
        return names[plan_id]

    events: list[tuple[datetime, CalEvent]] = []
    for dose in doses:
        if dose.kind == "infusion" and dose.id in booked and STATUS_RANK.get(dose.status) == 0:
            continue  # the booked appointment stands for it
        ev = dose_event(
            dose,
            discreet=patient.discreet,
            what="" if patient.discreet else what(dose.plan_id),
            tz=tz,
            host=host,
            corrections=corrections.get(dose.id or 0, 0),
            alarm_minutes=alarm,
        )
        events.append((dose.due_at, ev))
    for appt in appts:
        summary = DISCREET["infusion"] if patient.discreet else f"{what(appt.plan_id)} infusion"
        events.append((appt.at, appointment_event(appt, summary=summary, alarm_minutes=alarm)))
    # Booked neurology visits and MRI (discreet "Clinic visit" titles by default).
    events += visit_events(
        session, patient, start=window.start, end=window.end, alarm_minutes=alarm
    )
    events.sort(key=lambda pair: (pair[0], pair[1].uid))
    return [ev for _, ev in events]


def team_label(patient: Patient) -> str:
    # The clinic's calendar may be shared more widely than the chart: a pseudonymous
    # reference, never the patient's name.
    return patient.external_id or f"patient {patient.id}"


def team_events(
    session: Session,
    *,
    team: CareTeam,
    catalog: Catalog,
    settings: Settings,
    now: datetime,
) -> list[CalEvent]:
    """The care team's feed: every active patient's booked infusions, and the infusions not
    booked yet (all-day over their window), in the team's zone."""
    tz = ZoneInfo(team.tz)
    window = Window.around(now, team.tz, settings)
    host = host_of(settings)
    patients = {
        p.id: p
        for p in session.exec(
            select(Patient).where(Patient.team_id == team.id, Patient.active == True)  # noqa: E712
        ).all()
    }
    if not patients:
        return []
    ids = list(patients)
    appts = session.exec(
        select(Appointment)
        .where(
            col(Appointment.patient_id).in_(ids),
            Appointment.status == "booked",
            Appointment.at >= window.start,
            Appointment.at < window.end,
        )
        .order_by(col(Appointment.at), col(Appointment.id))
    ).all()
    booked = {a.dose_id for a in appts if a.dose_id is not None}
    doses = session.exec(
        select(Dose)
        .where(
            col(Dose.patient_id).in_(ids),
            Dose.kind == "infusion",
            col(Dose.status).in_(DOSE_OPEN),
            Dose.due_at >= window.start,
            Dose.due_at < window.end,
        )
        .order_by(col(Dose.due_at), col(Dose.id))
    ).all()
    regimens = _regimens(session, {d.plan_id for d in doses} | {a.plan_id for a in appts})

    def title(patient: Patient, plan_id: int) -> str:
        drug = "" if patient.discreet else f" ({_what(catalog, regimens.get(plan_id, ''))})"
        return f"Infusion{drug} — {team_label(patient)}"

    events: list[tuple[datetime, CalEvent]] = []
    for appt in appts:
        summary = title(patients[appt.patient_id], appt.plan_id)
        events.append((appt.at, appointment_event(appt, summary=summary, alarm_minutes=0)))
    for dose in doses:
        if dose.id in booked:
            continue
        patient = patients[dose.patient_id]
        ev = dose_event(
            dose,
            discreet=True,
            what="",
            tz=tz,
            host=host,
            corrections=0,
            alarm_minutes=0,
            for_patient=False,
        )
        summary = f"To book: {title(patient, dose.plan_id)}"
        events.append((dose.due_at, replace(ev, summary=summary)))
    events.sort(key=lambda pair: (pair[0], pair[1].uid))
    return [ev for _, ev in events]
