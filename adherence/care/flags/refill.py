"""The home-supply step of a tick: refill texts, and the ``refill_overdue`` flag.

The supply layer keeps each plan's refill instants and sends the texts
(``adherence.supply.schedule``); this module adds what belongs to the care team: a plan whose
``refill_overdue_at`` has come (``[supply] overdue_days`` past run-out, no newer fill) raises
a plan-scoped ``refill_overdue`` flag, claimed with the same conditional update so two
daemons raise it once; and an open one is resolved by the system as soon as a newer
dispensing is recorded. ``refill_step`` runs both on every tick and never lets a surprise
stop the tick (it logs, rolls back and asks to be called again shortly).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from adherence.care.flags.store import raise_flag, resolve
from adherence.core.config import SupplySettings
from adherence.storage.models import FLAG_OPEN, Dispense, Flag
from adherence.supply.onhand import supply_of
from adherence.supply.schedule import (
    OVERDUE_RULE,
    claim,
    due,
    next_refill_at,
    overdue_flagged,
    overdue_occurrence,
    refill_times,
    refresh_stale,
    send_refill_reminders,
)
from schedules import Catalog

log = logging.getLogger("adherence.care")

RESOLVED_BY = "system: dispensing recorded"
RETRY_AFTER = timedelta(minutes=1)


def refill_overdue_rule(
    session: Session, *, now: datetime, catalog: Catalog, settings: SupplySettings
) -> list[Flag]:
    """Raise ``refill_overdue`` for each plan whose overdue instant has come and whose last
    fill still leaves it run out. Part of the caller's transaction."""
    flags = []
    for plan, patient in due(session, "refill_overdue_at", now):
        assert plan.id is not None and patient.id is not None
        if plan.status != "active" or not patient.active:
            claim(session, plan, "refill_overdue_at", None)
            continue
        supply = supply_of(
            session,
            catalog=catalog,
            plan=plan,
            patient=patient,
            now=now,
            settings=settings,
        )
        _, overdue_at = refill_times(
            session, supply, plan=plan, patient=patient, settings=settings, now=now
        )
        if overdue_at is None or overdue_at > now:
            claim(session, plan, "refill_overdue_at", overdue_at)  # a newer fill moved it
            continue
        if not claim(session, plan, "refill_overdue_at", None):
            continue  # another worker raised it
        last = supply.last_fill
        assert last is not None and last.id is not None and supply.runs_out is not None
        if overdue_flagged(session, plan.id, last.id):
            continue
        flags.append(
            raise_flag(
                session,
                team_id=patient.team_id,
                patient_id=patient.id,
                plan_id=plan.id,
                rule=OVERDUE_RULE,
                now=now,
                details={
                    "runs_out": supply.runs_out,
                    "days_past_run_out": (supply.today - supply.runs_out).days,
                    "last_fill_id": last.id,
                    "last_dispensed": last.dispensed_on,
                    "refill_ordered_at": supply.refill_ordered_at,
                },
                occurrence=overdue_occurrence(last.id),
            )
        )
    return flags


def resolve_refilled(session: Session, *, now: datetime) -> int:
    """Resolve each open ``refill_overdue`` flag whose plan got a newer fill since it was
    raised (commits each resolution, as a person's would be)."""
    flags = session.exec(
        select(Flag).where(Flag.rule == OVERDUE_RULE, col(Flag.status).in_(FLAG_OPEN))
    ).all()
    resolved = 0
    for flag in flags:
        last_id = flag.details.get("last_fill_id")
        last_day = flag.details.get("last_dispensed")
        if flag.plan_id is None or last_id is None or last_day is None:
            continue
        newer = session.exec(
            select(Dispense)
            .where(
                Dispense.plan_id == flag.plan_id,
                col(Dispense.id) != last_id,
                Dispense.dispensed_on >= date.fromisoformat(str(last_day)),
            )
            .order_by(col(Dispense.id))
            .limit(1)
        ).first()
        if newer is None:
            continue
        resolve(
            session,
            flag.id or 0,
            by=RESOLVED_BY,
            note=f"fill {newer.id} dispensed {newer.dispensed_on.isoformat()}",
            now=now,
        )
        resolved += 1
    return resolved


def refill_step(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    settings: SupplySettings,
    full: bool,
) -> datetime | None:
    """Refresh stale plans (on materialising ticks), send due refill texts, raise due
    overdue flags and resolve those a newer fill answered. Returns the next refill instant."""
    try:
        if full:
            refreshed = refresh_stale(session, now=now, catalog=catalog, settings=settings)
            session.commit()
            if refreshed:
                log.info("supply refreshed plans=%d", refreshed)
        resolve_refilled(session, now=now)
        texts = send_refill_reminders(session, now=now, catalog=catalog, settings=settings)
        session.commit()  # the claims and the texts they queued together
        flags = refill_overdue_rule(session, now=now, catalog=catalog, settings=settings)
        session.commit()  # the claims and the flags together
        if texts or flags:
            log.info("supply step refill_texts=%d overdue_flags=%d", texts, len(flags))
        return next_refill_at(session)
    except Exception:
        session.rollback()
        log.exception("supply step failed; retrying shortly")
        return now + RETRY_AFTER
