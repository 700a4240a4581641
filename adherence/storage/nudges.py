"""Ending opt-in self-care nudges: the one query both the reply keyword (TIPS OFF, in
``adherence.dosing.replies``) and the care team's stop (``adherence.selfcare.nudges``) use,
so that stopping means the same everywhere: the subscription is kept (inactive, with when
it stopped) and its texts not yet sent are withdrawn."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.storage.models import OutboxMessage
from adherence.storage.selfcare import NudgeSubscription

PURPOSE = "selfcare_nudge"  # the outbox purpose of a nudge text


def stop_subscriptions(
    session: Session, patient_id: int, now: datetime, topic: str | None = None
) -> int:
    """Stop the patient's active nudges (one topic, or all); returns how many. Does not
    commit."""
    query = select(NudgeSubscription).where(
        NudgeSubscription.patient_id == patient_id, col(NudgeSubscription.active)
    )
    if topic is not None:
        query = query.where(NudgeSubscription.topic == topic)
    subs = list(session.exec(query).all())
    for sub in subs:
        sub.active = False
        sub.next_at = None
        sub.stopped_at = now
        session.add(sub)
        session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.key).startswith(f"tip:{sub.id}:"),
                col(OutboxMessage.status) == "pending",
            )
            .values(status="cancelled", next_attempt_at=None, updated_at=now)
        )
    return len(subs)
