"""Shared set-up for the self-care tests: a patient on a plan, a reply through the real
router, the self-care step on a virtual clock, and the rows read back."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from adherence.core.config import settings_from_mapping
from adherence.dosing.replies import ReplyOutcome
from adherence.selfcare.router import ReplyRouter
from adherence.selfcare.step import selfcare_step
from adherence.storage.models import Flag, OutboxMessage, Patient
from adherence.storage.selfcare import Observation, Prompt
from schedules import Catalog

DEFAULTS = settings_from_mapping({})
ROUTER = ReplyRouter(DEFAULTS.checkins, DEFAULTS.triage)


def reply(
    session: Session, catalog: Catalog, patient: Patient, text: str, now: datetime
) -> ReplyOutcome:
    return ROUTER(session, catalog=catalog, patient=patient, text=text, now=now)


def step(session: Session, now: datetime) -> datetime | None:
    return selfcare_step(
        session, now=now, checkin_settings=DEFAULTS.checkins, triage_settings=DEFAULTS.triage
    )


def prompts(session: Session) -> list[Prompt]:
    session.expire_all()
    return list(session.exec(select(Prompt).order_by(col(Prompt.id))).all())


def observations(session: Session, item: str | None = None) -> list[Observation]:
    session.expire_all()
    query = select(Observation)
    if item is not None:
        query = query.where(Observation.item == item)
    return list(session.exec(query.order_by(col(Observation.id))).all())


def texts_sent(session: Session, purpose: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == purpose)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def flags(session: Session, rule: str) -> list[Flag]:
    session.expire_all()
    return list(session.exec(select(Flag).where(Flag.rule == rule).order_by(col(Flag.id))).all())
