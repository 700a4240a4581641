"""What a calendar feed shows: the events made from a patient's doses and appointments (or,
for a care team, from its patients' infusions), over the feed's window.

What a patient's feed shows, in the patient's zone, over [calendar] past_days/future_days:
- doses (15 minutes, not busy), past ones with their recorded status in the title;
- clinic infusions not yet booked, as an all-day entry over the label's allowed window;
- booked appointments (the infusion's own entry then gives way to the appointment);
- monitoring items (labs, check-ups), all-day.
Titles are discreet ("Medication", "Clinic appointment", "Lab test / check-up") unless the
patient opted out (``Patient.discreet`` False), then they name the therapy; titles,
descriptions and alarms are in the patient's language (``notifiers.calendar_texts``).
A booked appointment whose infusion is recorded shows as given / not given (derived from
the dose, ``adherence.calendar.state``) and stands for the dose's own entry.

SEQUENCE of a dose entry: the rank of its status (open 0, missed / not recorded 1,
taken / skipped 2) plus the number of corrections people made to it (``dose_change`` rows).
Every change the engine allows moves that sum up: a late SMS reply turns missed (1) into
taken (2); a clinic correction adds a ``dose_change`` row. Appointments carry their own
``sequence`` (one more once their infusion is recorded).

DTSTAMP is when what the entry shows last changed, derived from the rows, never their
``updated_at`` (every reminder and nudge touches that, and a feed whose bytes moved with it
would be downloaded again by every subscribed phone): for a dose, the latest of its
recording (``confirmed_at``), its window's close when it went missed, its last correction
and its plan's creation; for an appointment, its own ``updated_at`` (only booking, moving
and cancelling write it) or its dose's. The same shown state renders the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from adherence.calendar.state import state
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
from adherence.storage.utc import latest
from notifiers import calendar_texts as texts
from notifiers.ical import CalEvent
from schedules import Catalog

DOSE_MINUTES = 15
STATUS_RANK = {"scheduled": 0, "reminded": 0, "missed": 1, "not_sent": 1, "taken": 2, "skipped": 2}


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


def _title(dose: Dose, discreet: bool, what: str, language: str) -> str:
    if discreet:
        return texts.discreet_title(dose.kind, language)
    if dose.kind == "monitoring":
        return dose.label or texts.discreet_title("monitoring", language)
    if dose.kind == "infusion":
        return texts.infusion_title(what, language)
    return f"{what} {dose.amount:g} {dose.unit}"


@dataclass(frozen=True, slots=True)
class Changes:
    """What people changed on a dose: how many corrections, the latest one's time."""

    count: int = 0
    last: datetime | None = None


def revised_at(dose: Dose, changes: Changes, plan_created: datetime) -> datetime:
    """When what the dose's entry shows last changed (its DTSTAMP): its recording, the close
    of its window once missed, its last correction, else its plan's creation. Reminders,
    nudges and snoozes write ``updated_at`` only, so they leave this where it was."""
    marks: list[datetime | None] = [plan_created, changes.last]
    if dose.status in ("taken", "skipped"):
        marks.append(dose.confirmed_at or dose.taken_at)
    elif dose.status in ("missed", "not_sent"):
        marks.append(dose.window_closes_at)
    return latest(*marks)


def _local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def dose_event(
    dose: Dose,
    *,
    discreet: bool,
    what: str,
    tz: ZoneInfo,
    host: str,
    changes: Changes,
    revised: datetime,
    alarm_minutes: int,
    for_patient: bool = True,
    language: str = "en",
) -> CalEvent:
    title = _title(dose, discreet, what, language)
    outcome = texts.outcome(dose.kind, dose.status, language)
    summary = f"{title} — {outcome}" if outcome else title
    sequence = STATUS_RANK.get(dose.status, 0) + changes.count
    # Alarms on every open item, past ones included: a render must depend only on the rows
    # (and the window's day), never on the minute it is made, or the cache and ETag would lie.
    # Clients never ring an alarm for an event already past.
    is_open = outcome is None
    notes: list[str] = []
    if dose.kind == "dose":
        start: datetime | date = dose.due_at
        end: datetime | date = dose.due_at + timedelta(minutes=DOSE_MINUTES)
        if dose.status == "taken" and dose.taken_at is not None:
            notes.append(texts.taken_at(dose.taken_at.astimezone(tz), language))
    else:
        # Clinic items are days to plan around, not times: all-day over the label's allowed
        # window while open, on the day itself once recorded.
        due = _local_day(dose.due_at, tz)
        if outcome is None and dose.earliest and dose.latest:
            start, end = dose.earliest, dose.latest + timedelta(days=1)
            notes.append(texts.due_window(due, dose.earliest, dose.latest, language))
            if dose.kind == "infusion" and for_patient:
                notes.append(texts.booking_note(language))
        else:
            day = _local_day(dose.taken_at, tz) if dose.taken_at else due
            start, end = day, day + timedelta(days=1)
    return CalEvent(
        uid=_uid(dose.kind, dose.id, host),
        start=start,
        end=end,
        summary=summary,
        dtstamp=revised,
        sequence=sequence,
        description=" ".join(notes),
        status="CONFIRMED",
        alarm_minutes=alarm_minutes if is_open and alarm_minutes > 0 else None,
        busy=False,
    )


def appointment_event(
    appt: Appointment,
    *,
    summary: str,
    alarm_minutes: int,
    dose_status: str | None = None,
    dose_revised: datetime | None = None,
    language: str = "en",
) -> CalEvent:
    """A booked appointment; once its dose is recorded (``dose_revised`` its DTSTAMP) the
    title says given / not given, SEQUENCE goes one up and the alarm is gone."""
    outcome = texts.appointment_outcome(state(appt, dose_status), language)
    recorded = outcome is not None
    return CalEvent(
        uid=appt.uid,
        start=appt.at,
        end=appt.at + timedelta(minutes=appt.duration_minutes),
        summary=f"{summary} — {outcome}" if recorded else summary,
        dtstamp=latest(appt.updated_at, dose_revised) if recorded else appt.updated_at,
        sequence=appt.sequence + (1 if recorded else 0),
        location=appt.location,
        status="CONFIRMED",
        alarm_minutes=alarm_minutes if alarm_minutes > 0 and not recorded else None,
        busy=True,
    )


def _changes(session: Session, dose_ids: list[int]) -> dict[int, Changes]:
    if not dose_ids:
        return {}
    rows = session.exec(
        select(DoseChange.dose_id, func.count(), func.max(DoseChange.changed_at))
        .where(col(DoseChange.dose_id).in_(dose_ids))
        .group_by(col(DoseChange.dose_id))
    ).all()
    return {int(d): Changes(int(n), latest(last)) for d, n, last in rows}


@dataclass(frozen=True, slots=True)
class PlanInfo:
    regimen: str
    created_at: datetime


def _plans(session: Session, plan_ids: set[int]) -> dict[int, PlanInfo]:
    if not plan_ids:
        return {}
    rows = session.exec(
        select(Plan.id, Plan.regimen, Plan.created_at).where(col(Plan.id).in_(plan_ids))
    ).all()
    return {int(i): PlanInfo(r, latest(c)) for i, r, c in rows if i is not None}


def _with_booked(session: Session, doses: Sequence[Dose], booked: set[int]) -> dict[int, Dose]:
    """The window's doses by id, plus the doses booked appointments stand for (a moved
    appointment's dose may be due outside the window)."""
    by_id = {d.id: d for d in doses if d.id is not None}
    missing = booked - set(by_id)
    if missing:
        for d in session.exec(select(Dose).where(col(Dose.id).in_(missing))).all():
            if d.id is not None:
                by_id[d.id] = d
    return by_id


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
    by_id = _with_booked(session, doses, booked)
    changes = _changes(session, list(by_id))
    plans = _plans(session, {d.plan_id for d in by_id.values()} | {a.plan_id for a in appts})
    names: dict[int, str] = {}
    language = patient.language

    def what(plan_id: int) -> str:
        if plan_id not in names:
            info = plans.get(plan_id)
            names[plan_id] = _what(catalog, info.regimen if info else "")
        return names[plan_id]

    def revised(dose: Dose) -> datetime:
        info = plans.get(dose.plan_id)
        created = info.created_at if info else latest()
        return revised_at(dose, changes.get(dose.id or 0, Changes()), created)

    events: list[tuple[datetime, CalEvent]] = []
    for dose in doses:
        if dose.kind == "infusion" and dose.id in booked:
            continue  # the booked appointment stands for it (and says given / not given)
        ev = dose_event(
            dose,
            discreet=patient.discreet,
            what="" if patient.discreet else what(dose.plan_id),
            tz=tz,
            host=host,
            changes=changes.get(dose.id or 0, Changes()),
            revised=revised(dose),
            alarm_minutes=alarm,
            language=language,
        )
        events.append((dose.due_at, ev))
    for appt in appts:
        summary = (
            texts.discreet_title("infusion", language)
            if patient.discreet
            else texts.infusion_title(what(appt.plan_id), language)
        )
        its = by_id.get(appt.dose_id) if appt.dose_id is not None else None
        ev = appointment_event(
            appt,
            summary=summary,
            alarm_minutes=alarm,
            dose_status=its.status if its else None,
            dose_revised=revised(its) if its else None,
            language=language,
        )
        events.append((appt.at, ev))
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
    by_id = _with_booked(session, doses, booked)
    changes = _changes(session, list(by_id))
    plans = _plans(session, {d.plan_id for d in by_id.values()} | {a.plan_id for a in appts})

    def title(patient: Patient, plan_id: int) -> str:
        info = plans.get(plan_id)
        drug = "" if patient.discreet else f" ({_what(catalog, info.regimen if info else '')})"
        return f"Infusion{drug} — {team_label(patient)}"

    def revised(dose: Dose) -> datetime:
        info = plans.get(dose.plan_id)
        created = info.created_at if info else latest()
        return revised_at(dose, changes.get(dose.id or 0, Changes()), created)

    events: list[tuple[datetime, CalEvent]] = []
    for appt in appts:
        summary = title(patients[appt.patient_id], appt.plan_id)
        booked_dose = by_id.get(appt.dose_id) if appt.dose_id is not None else None
        ev = appointment_event(
            appt,
            summary=summary,
            alarm_minutes=0,
            dose_status=booked_dose.status if booked_dose else None,
            dose_revised=revised(booked_dose) if booked_dose else None,
        )
        events.append((appt.at, ev))
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
            changes=Changes(),
            revised=revised(dose),
            alarm_minutes=0,
            for_patient=False,
        )
        summary = f"To book: {title(patient, dose.plan_id)}"
        events.append((dose.due_at, replace(ev, summary=summary)))
    events.sort(key=lambda pair: (pair[0], pair[1].uid))
    return [ev for _, ev in events]
