"""Calendar feeds: tokens, what a patient's (or a care team's) feed shows, and a render cache.

Tokens come from ``adherence.core.tokens`` (256 random bits, only their SHA-256 stored), so a feed
URL cannot be shown again after it was issued: rotating issues a new one and the old URL
answers exactly like a token that never existed.

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

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, true
from sqlmodel import Session, col, select

from adherence.core.config import Settings
from adherence.core.tokens import hash_token as token_hash
from adherence.core.tokens import new_token
from adherence.messaging.outbox import enqueue
from adherence.storage.models import (
    DOSE_OPEN,
    Appointment,
    CareTeam,
    Dose,
    DoseChange,
    Patient,
    Plan,
)
from adherence.storage.utc import from_storage, latest
from notifiers import texts
from notifiers.ical import CalEvent, FeedInfo, feed
from schedules import Catalog

MAX_TOKEN_LENGTH = 128  # longer "tokens" are not looked up at all (still the same 404)
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


class CalendarError(ValueError):
    """A refusal the CLI shows as one line."""


# --- tokens ------------------------------------------------------------------------------------


def rotate(session: Session, owner: Patient | CareTeam, *, now: datetime) -> str:
    """A new token for ``owner`` (a patient or a care team); the old one stops working at
    once. Commits. Returns the token: the only moment it exists outside the hash."""
    token = new_token()
    owner.calendar_token_hash = token_hash(token)
    if isinstance(owner, Patient):
        owner.calendar_token_at = now
    session.add(owner)
    session.commit()
    return token


def _issue_first(session: Session, owner: Patient | CareTeam, *, now: datetime) -> str:
    """``owner``'s first feed token; refused if one exists (it cannot be shown again)."""
    if owner.calendar_token_hash:
        what, cmd = (
            ("patient", "rotate") if isinstance(owner, Patient) else ("care team", "team-rotate")
        )
        raise CalendarError(
            f"{what} {owner.id} already has a calendar link, and only its hash is kept so it "
            f"cannot be shown again: `adherence calendar {cmd} {owner.id}` issues a new one "
            "(the old link then stops working)"
        )
    return rotate(session, owner, now=now)


def issue_patient_token(session: Session, patient: Patient, *, now: datetime) -> str:
    """The patient's first feed token; refused if one exists (it cannot be shown again)."""
    if not patient.active:
        raise CalendarError(f"patient {patient.id} was removed: no calendar feed")
    return _issue_first(session, patient, now=now)


def issue_team_token(session: Session, team: CareTeam, *, now: datetime) -> str:
    return _issue_first(session, team, now=now)


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH


def patient_by_token(session: Session, token: str) -> Patient | None:
    if not _plausible(token):
        return None
    return session.exec(
        select(Patient).where(
            Patient.calendar_token_hash == token_hash(token),
            Patient.active == True,  # noqa: E712
        )
    ).first()


def team_by_token(session: Session, token: str) -> CareTeam | None:
    if not _plausible(token):
        return None
    return session.exec(
        select(CareTeam).where(CareTeam.calendar_token_hash == token_hash(token))
    ).first()


@dataclass(frozen=True, slots=True)
class FeedUrls:
    url: str
    webcal_url: str
    google_url: str


def feed_urls(settings: Settings, token: str, *, team: bool = False) -> FeedUrls:
    base = settings.http.public_base_url.rstrip("/")
    url = f"{base}/calendar/{'team/' if team else ''}{token}.ics"
    rest = url.split("://", 1)[1]
    webcal = f"webcal://{rest}"
    # Google adds a subscription from ?cid=<webcal URL>, URL-encoded whole.
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    return FeedUrls(url=url, webcal_url=webcal, google_url=google)


def offer_feed_link(
    session: Session, patient: Patient, now: datetime, settings: Settings
) -> str | None:
    """At enrollment ([calendar] text_link_at_enrollment): issue the patient's feed token and
    text them the link (outbox purpose "calendar_link"). Does nothing (None) when the setting
    is off, the patient cannot be texted, or already has a feed (rotating it here would break
    a subscription that works). Returns the URL texted. Commits."""
    if not settings.calendar.text_link_at_enrollment:
        return None
    if not patient.active or patient.sms_status != "active" or patient.calendar_token_hash:
        return None
    team = session.get(CareTeam, patient.team_id)
    token = issue_patient_token(session, patient, now=now)
    url = feed_urls(settings, token).url
    enqueue(
        session,
        key=f"calendar_link:{patient.id}:{patient.calendar_token_hash}",
        to=patient.phone,
        body=texts.feed_link(team.name if team is not None else None, url, patient.language),
        purpose="calendar_link",
        now=now,
        valid_until=now + timedelta(days=1),
        patient_id=patient.id,
    )
    session.commit()
    return url


# --- what a feed shows -----------------------------------------------------------------------


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
        .group_by(DoseChange.dose_id)
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


# --- rendering, versions and the cache --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str  # quoted, strong
    last_modified: datetime


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """What the version check needs of a patient, read without loading the ORM object."""

    id: int
    tz: str
    discreet: bool
    updated_at: datetime


# Built once: a feed request runs these two statements and nothing else when nothing changed
# (building SQL expressions per request cost more than running them).
_OWNER = select(Patient.id, Patient.tz, Patient.discreet, Patient.updated_at).where(
    Patient.calendar_token_hash == bindparam("hash"),
    Patient.active == True,  # noqa: E712
)
_IN_DOSES = (
    Dose.patient_id == bindparam("patient"),
    Dose.due_at >= bindparam("start"),
    Dose.due_at < bindparam("end"),
)
_IN_APPTS = (
    Appointment.patient_id == bindparam("patient"),
    Appointment.at >= bindparam("start"),
    Appointment.at < bindparam("end"),
)
# Count and latest change of each table in one pass over its rows (two scalar subqueries
# per table read the patient's doses twice: the feed's 304 cost that much more).
_D = select(func.count().label("n"), func.max(Dose.updated_at).label("last"))
_A = select(func.count().label("n"), func.max(Appointment.updated_at).label("last"))
_DOSES = _D.where(*_IN_DOSES).subquery()
_APPTS = _A.where(*_IN_APPTS).subquery()
_VERSION = select(_DOSES.c.n, _DOSES.c.last, _APPTS.c.n, _APPTS.c.last).select_from(
    _DOSES.join(_APPTS, true())
)


def owner_by_token(session: Session, token: str) -> FeedOwner | None:
    if not _plausible(token):
        return None
    row = session.connection().execute(_OWNER, {"hash": token_hash(token)}).first()
    if row is None:
        return None
    return FeedOwner(
        id=row[0], tz=row[1], discreet=bool(row[2]), updated_at=from_storage(row[3]) or latest()
    )


def patient_version(
    session: Session, patient: FeedOwner | Patient, window: Window
) -> tuple[tuple[Any, ...], datetime]:
    """A cheap fingerprint of everything the patient's feed is made of (one statement of
    four indexed aggregates), and the Last-Modified it implies. Cancelled rows count:
    dropping an event is a change."""
    params = {"patient": patient.id, "start": window.start, "end": window.end}
    d_count, d_max, a_count, a_max = session.connection().execute(_VERSION, params).one()
    d_last, a_last = from_storage(d_max), from_storage(a_max)
    updated = from_storage(patient.updated_at)
    version = (
        window.start,
        patient.tz,
        patient.discreet,
        updated,
        d_count,
        d_last,
        a_count,
        a_last,
    )
    return version, latest(updated, d_last, a_last)


def team_version(
    session: Session, team: CareTeam, window: Window
) -> tuple[tuple[Any, ...], datetime]:
    members = select(Patient.id).where(Patient.team_id == team.id)
    p_count, p_max = session.exec(
        select(func.count(), func.max(Patient.updated_at)).where(Patient.team_id == team.id)
    ).one()
    d_count, d_max = session.exec(
        select(func.count(), func.max(Dose.updated_at)).where(
            col(Dose.patient_id).in_(members),
            Dose.kind == "infusion",
            Dose.due_at >= window.start,
            Dose.due_at < window.end,
        )
    ).one()
    a_count, a_max = session.exec(
        select(func.count(), func.max(Appointment.updated_at)).where(
            col(Appointment.patient_id).in_(members),
            Appointment.at >= window.start,
            Appointment.at < window.end,
        )
    ).one()
    last = (from_storage(p_max), from_storage(d_max), from_storage(a_max))
    version = (window.start, team.tz, team.name, p_count, d_count, a_count, *last)
    return version, latest(team.created_at, *last)


class FeedCache:
    """Rendered feeds keyed by owner, valid while the owner's version is unchanged.
    Bounded (least recently used out) and safe to share between request threads."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], Rendered]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int], version: tuple[Any, ...]) -> Rendered | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[0] != version:
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: tuple[str, int], version: tuple[Any, ...], rendered: Rendered) -> None:
        with self._lock:
            self._entries[key] = (version, rendered)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Feeds:
    """Looks a token up and answers with the rendered feed (from the cache when nothing in
    it changed). The web layer and the benchmark use this; it never logs tokens."""

    settings: Settings
    catalog: Catalog
    cache: FeedCache

    def patient(self, session: Session, token: str, now: datetime) -> Rendered | None:
        owner = owner_by_token(session, token)
        if owner is None:
            return None
        window = Window.around(now, owner.tz, self.settings)
        version, modified = patient_version(session, owner, window)

        def render() -> bytes:
            patient = session.get(Patient, owner.id)
            assert patient is not None
            events = patient_events(
                session, patient=patient, catalog=self.catalog, settings=self.settings, now=now
            )
            return feed(self._info("Therapy calendar", patient.tz), events)

        return self._cached(("patient", owner.id), version, modified, render)

    def team(self, session: Session, token: str, now: datetime) -> Rendered | None:
        team = team_by_token(session, token)
        if team is None or team.id is None:
            return None
        window = Window.around(now, team.tz, self.settings)
        version, modified = team_version(session, team, window)

        def render() -> bytes:
            events = team_events(
                session, team=team, catalog=self.catalog, settings=self.settings, now=now
            )
            return feed(self._info(f"{team.name}: infusions", team.tz), events)

        return self._cached(("team", team.id), version, modified, render)

    def _info(self, name: str, zone: str) -> FeedInfo:
        return FeedInfo(
            name=name, zone=zone, refresh_minutes=self.settings.calendar.refresh_minutes
        )

    def _cached(
        self,
        key: tuple[str, int],
        version: tuple[Any, ...],
        modified: datetime,
        render: Callable[[], bytes],
    ) -> Rendered:
        hit = self.cache.get(key, version)
        if hit is not None:
            return hit
        body = render()
        rendered = Rendered(body=body, etag=etag_of(body), last_modified=modified)
        self.cache.put(key, version, rendered)
        return rendered
