"""The engine step that texts the self-care nudges that are due.

A subscription is due when its ``next_at`` has come. Its text goes through the outbox
under the key ``tip:<subscription>:<local date>`` (so a second tick, or a second worker,
adds nothing) and ``next_at`` moves on by its cadence, past ``now`` (occurrences missed
while the daemon was down are skipped, not sent in a burst). Nothing is sent, and the
occurrence skipped, when the patient is removed or has opted out of texts (STOP); an
occurrence in the patient's quiet hours waits for their end. The hydration and cooling
topic is sent only in ``[nudges] hot_months`` (the patient's local month).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.core.config import Settings
from adherence.dosing.dispatch import in_quiet_hours
from adherence.messaging.outbox import enqueue
from adherence.storage.models import CareTeam, Patient
from adherence.storage.nudges import PURPOSE
from adherence.storage.selfcare import NudgeSubscription
from notifiers import nudge_texts
from schedules.localtime import local_instant, parse_hhmm

log = logging.getLogger("adherence.nudges")

VALID_FOR = timedelta(hours=6)  # a nudge not sent by then is dropped
BATCH = 500


def _following(sub: NudgeSubscription, tz: str, slot: datetime, now: datetime) -> datetime:
    zone = ZoneInfo(tz)
    when = parse_hhmm(sub.local_time)
    day = slot.astimezone(zone).date()
    step = timedelta(days=max(1, sub.every_days))
    nxt = local_instant(day + step, when, zone)
    while nxt <= now:
        day = nxt.astimezone(zone).date()
        nxt = local_instant(day + step, when, zone)
    return nxt


def _hot(settings: Settings, local: datetime) -> bool:
    months = {int(m) for m in settings.nudges.hot_months.split(",") if m.strip()}
    return local.month in months


def nudge_step(session: Session, *, now: datetime, settings: Settings) -> datetime | None:
    """Send the due nudges; commits. Returns when the next one is due (None: none)."""
    due = session.exec(
        select(NudgeSubscription)
        .where(col(NudgeSubscription.active), col(NudgeSubscription.next_at) <= now)
        .order_by(col(NudgeSubscription.next_at), col(NudgeSubscription.id))
        .limit(BATCH)
    ).all()
    sent = 0
    for sub in due:
        patient = session.get(Patient, sub.patient_id)
        assert patient is not None and sub.next_at is not None
        slot = sub.next_at
        if not patient.active or patient.sms_status != "active":
            sub.next_at = _following(sub, patient.tz, slot, now)
            session.add(sub)
            continue
        quiet_end = in_quiet_hours(patient, now)
        if quiet_end is not None:
            sub.next_at = quiet_end  # the same occurrence, once quiet hours end
            session.add(sub)
            continue
        local = slot.astimezone(ZoneInfo(patient.tz))
        if sub.topic not in nudge_texts.TOPICS:
            # A row written outside ``add`` (an import, an old topic): skipped, never a crash.
            log.warning("nudge subscription %s has an unknown topic: skipped", sub.id)
        elif sub.topic != "hydration" or _hot(settings, local):
            team = session.get(CareTeam, patient.team_id)
            assert team is not None
            line = settings.nudges.quitline_es if patient.language == "es" else ""
            body = nudge_texts.nudge(
                sub.topic,
                team=team.name,
                language=patient.language,
                line=line or settings.nudges.quitline_en,
            )
            if enqueue(
                session,
                key=f"tip:{sub.id}:{local.date().isoformat()}",
                to=patient.phone,
                body=body,
                purpose=PURPOSE,
                now=now,
                valid_until=now + VALID_FOR,
                patient_id=patient.id,
            ):
                sent += 1
        sub.next_at = _following(sub, patient.tz, slot, now)
        session.add(sub)
    session.commit()
    if sent:
        log.info("self-care nudges queued=%s", sent)
    # Ordered rather than min(): the column's type decodes the stored instant.
    return session.exec(
        select(NudgeSubscription.next_at)
        .where(col(NudgeSubscription.active), col(NudgeSubscription.next_at).is_not(None))
        .order_by(col(NudgeSubscription.next_at))
        .limit(1)
    ).first()
