"""Calendar feeds answered: the version check (a cheap fingerprint of what a feed is made
of), the render cache keyed by it, and ``Feeds``, the entry point the web layer calls.

The cheap fingerprint only says when to render again; what a client sees as the feed's
version is the render itself: the ETag is a hash of the bytes and Last-Modified the latest
DTSTAMP in them (or the owner's own last edit: zone, language, discretion), and both are
made only of what the feed shows (``adherence.calendar.events``). A reminder or a nudge
touches a dose's ``updated_at``: the feed is rendered again, to the same bytes, so the
ETag and Last-Modified stay and the phone's conditional request gets its 304.

Tokens and URLs live in ``adherence.calendar.links``, the events a feed shows in
``adherence.calendar.events``; the names other modules import from here are re-exported.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, true
from sqlmodel import Session, col, select

from adherence.calendar.events import Window, patient_events, team_events
from adherence.calendar.links import (
    CalendarError,
    feed_urls,
    issue_patient_token,
    issue_team_token,
    offer_feed_link,
    patient_by_token,
    plausible,
    rotate,
    team_by_token,
    token_hash,
)
from adherence.calendar.visits.feed import visits_version
from adherence.core.config import Settings
from adherence.storage.models import Appointment, CareTeam, Dose, Patient
from adherence.storage.utc import from_storage, latest
from notifiers.calendar_texts import feed_name
from notifiers.ical import FeedInfo, feed
from schedules import Catalog

__all__ = [
    "CalendarError",
    "FeedCache",
    "FeedOwner",
    "Feeds",
    "Rendered",
    "Window",
    "etag_of",
    "feed_urls",
    "issue_patient_token",
    "issue_team_token",
    "offer_feed_link",
    "owner_by_token",
    "patient_by_token",
    "patient_events",
    "patient_version",
    "rotate",
    "team_by_token",
    "team_events",
    "team_version",
    "token_hash",
]


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
    if not plausible(token):
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
    v_count, v_last = visits_version(session, patient.id, window.start, window.end)
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
        v_count,
        v_last,
    )
    return version, latest(updated, d_last, a_last, v_last)


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
        version, _ = patient_version(session, owner, window)

        def render() -> tuple[bytes, datetime]:
            patient = session.get(Patient, owner.id)
            assert patient is not None
            events = patient_events(
                session, patient=patient, catalog=self.catalog, settings=self.settings, now=now
            )
            body = feed(self._info(feed_name(patient.language), patient.tz), events)
            return body, latest(patient.updated_at, *(e.dtstamp for e in events))

        return self._cached(("patient", owner.id), version, render)

    def team(self, session: Session, token: str, now: datetime) -> Rendered | None:
        team = team_by_token(session, token)
        if team is None or team.id is None:
            return None
        window = Window.around(now, team.tz, self.settings)
        version, _ = team_version(session, team, window)

        def render() -> tuple[bytes, datetime]:
            events = team_events(
                session, team=team, catalog=self.catalog, settings=self.settings, now=now
            )
            body = feed(self._info(f"{team.name}: infusions", team.tz), events)
            return body, latest(team.created_at, *(e.dtstamp for e in events))

        return self._cached(("team", team.id), version, render)

    def _info(self, name: str, zone: str) -> FeedInfo:
        return FeedInfo(
            name=name, zone=zone, refresh_minutes=self.settings.calendar.refresh_minutes
        )

    def _cached(
        self,
        key: tuple[str, int],
        version: tuple[Any, ...],
        render: Callable[[], tuple[bytes, datetime]],
    ) -> Rendered:
        hit = self.cache.get(key, version)
        if hit is not None:
            return hit
        body, modified = render()
        rendered = Rendered(body=body, etag=etag_of(body), last_modified=modified)
        self.cache.put(key, version, rendered)
        return rendered
