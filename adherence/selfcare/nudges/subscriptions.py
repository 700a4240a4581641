"""Starting, stopping and listing a patient's opt-in self-care nudges.

Off by default: a patient gets a nudge only after the care team adds its topic with the
patient's agreement (CLI or workspace). Each topic is one row (``nudge_subscription``),
re-used when the topic is added again after a stop. Stopping keeps the row (inactive,
with when it stopped) and withdraws its texts not yet sent. Every change leaves an audit
row. Each function commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.core.config import Settings
from adherence.storage import audit
from adherence.storage.models import Patient
from adherence.storage.nudges import stop_subscriptions
from adherence.storage.selfcare import NudgeSubscription
from notifiers.nudge_texts import TOPICS
from schedules.localtime import local_instant, parse_hhmm

log = logging.getLogger("adherence.nudges")

MAX_EVERY_DAYS = 90


class NudgeError(ValueError):
    """A nudge request that cannot be done; the message names the field."""


def check_topic(topic: str) -> str:
    code = topic.strip().lower()
    if code not in TOPICS:
        raise NudgeError(f"topic: {topic!r} is not one of {', '.join(TOPICS)}")
    return code


def first_at(local_time: str, tz: str, now: datetime) -> datetime:
    """The first instant at ``local_time`` (the patient's zone) after ``now``."""
    zone = ZoneInfo(tz)
    when = parse_hhmm(local_time)
    day = now.astimezone(zone).date()
    candidate = local_instant(day, when, zone)
    return candidate if candidate > now else local_instant(day + timedelta(days=1), when, zone)


def add(
    session: Session,
    *,
    patient: Patient,
    topic: str,
    now: datetime,
    settings: Settings,
    by: str,
    every_days: int | None = None,
    local_time: str | None = None,
) -> NudgeSubscription:
    """Start (or restart, or change) the patient's nudge on ``topic``."""
    code = check_topic(topic)
    every = every_days if every_days is not None else settings.nudges.every_days
    if not 1 <= every <= MAX_EVERY_DAYS:
        raise NudgeError(f"every: {every} is not 1 to {MAX_EVERY_DAYS} days")
    hhmm = local_time if local_time is not None else settings.nudges.local_time
    try:
        hhmm = parse_hhmm(hhmm).strftime("%H:%M")
    except ValueError:
        raise NudgeError(f'at: {hhmm!r} is not a time of day HH:MM (e.g. "10:00")') from None
    if not patient.active:
        raise NudgeError(f"patient {patient.id} has been removed")
    assert patient.id is not None
    sub = session.exec(
        select(NudgeSubscription).where(
            NudgeSubscription.patient_id == patient.id, NudgeSubscription.topic == code
        )
    ).first()
    if sub is None:
        sub = NudgeSubscription(
            patient_id=patient.id, topic=code, local_time=hhmm, created_at=now, created_by=by
        )
    sub.every_days = every
    sub.local_time = hhmm
    sub.active = True
    sub.stopped_at = None
    sub.next_at = first_at(hhmm, patient.tz, now)
    session.add(sub)
    session.flush()
    audit.record(
        session,
        actor=by or "unknown",
        team_id=patient.team_id,
        action="nudge.add",
        resource=f"nudge:{sub.id}",
        now=now,
        patient_id=patient.id,
        details={"topic": code, "every_days": every, "at": hhmm},
    )
    session.commit()
    session.refresh(sub)
    log.info("nudge added id=%s patient=%s topic=%s", sub.id, patient.id, code)
    return sub


def stop(
    session: Session, *, patient: Patient, now: datetime, by: str, topic: str | None = None
) -> int:
    """Stop one topic or all of the patient's nudges; returns how many were active."""
    code = check_topic(topic) if topic is not None else None
    assert patient.id is not None
    stopped = stop_subscriptions(session, patient.id, now, code)
    audit.record(
        session,
        actor=by or "unknown",
        team_id=patient.team_id,
        action="nudge.stop",
        resource=f"patient:{patient.id}",
        now=now,
        patient_id=patient.id,
        details={"topic": code or "all", "stopped": stopped},
    )
    session.commit()
    return stopped


def list_for(session: Session, patient: Patient) -> list[NudgeSubscription]:
    return list(
        session.exec(
            select(NudgeSubscription)
            .where(NudgeSubscription.patient_id == patient.id)
            .order_by(col(NudgeSubscription.topic))
        ).all()
    )
