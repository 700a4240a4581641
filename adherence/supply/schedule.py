"""When a plan's refill text goes and when it becomes refill-overdue, kept in its row.

``refresh`` recomputes a plan's supply and writes its two instants (UTC):
``refill_remind_at``, ``[supply] remind_time`` local on run-out minus ``remind_days_before``
(never before the day after the last fill; at once when that has passed), and
``refill_overdue_at``, ``remind_time`` on run-out plus ``overdue_days``. The engine refreshes
each plan with fills once a local day (``supply_checked_on``) and at once after a fill is
recorded (``record_fill`` clears that day).

``send_refill_reminders`` acts on the reminders that are due. Each is claimed with a
conditional update (the instant is cleared only where it still holds what this worker
read), so two daemons never both send it, and its outbox key ``refill:<plan>:<fill>`` makes
it one text per fill however often the plan is recomputed. The overdue instant is claimed
the same way by the care layer, which raises the flag (``adherence.care.flags.refill``).
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from adherence.core.config import SupplySettings
from adherence.dosing.dispatch import in_quiet_hours
from adherence.dosing.replies import REFILL_PURPOSE
from adherence.messaging.outbox import enqueue
from adherence.storage.models import CareTeam, Dispense, Flag, OutboxMessage, Patient, Plan
from adherence.storage.utc import from_storage
from adherence.supply.onhand import Supply, supply_of
from notifiers import texts
from schedules import Catalog
from schedules.localtime import local_instant, parse_hhmm

log = logging.getLogger("adherence.supply")

PURPOSE = REFILL_PURPOSE  # the outbox purpose of a refill text (a reply "R" looks for it)
OVERDUE_RULE = "refill_overdue"
REFRESH_BATCH = 1000  # plans recomputed per materialising tick
MIN_VALID = timedelta(hours=12)  # a refill text sent past run-out still gets this long


def refill_key(plan_id: int, fill_id: int) -> str:
    return f"{PURPOSE}:{plan_id}:{fill_id}"


def overdue_occurrence(fill_id: int) -> str:
    return f"fill:{fill_id}"


def _reminded(session: Session, plan_id: int, fill_id: int) -> bool:
    key = refill_key(plan_id, fill_id)
    return (
        session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).first() is not None
    )


def overdue_flagged(session: Session, plan_id: int, fill_id: int) -> bool:
    """A refill_overdue flag (open or resolved) was raised for this fill already."""
    rows = session.exec(
        select(Flag).where(Flag.plan_id == plan_id, Flag.rule == OVERDUE_RULE)
    ).all()
    return any(f.details.get("occurrence") == overdue_occurrence(fill_id) for f in rows)


def refill_times(
    session: Session,
    supply: Supply,
    *,
    plan: Plan,
    patient: Patient,
    settings: SupplySettings,
    now: datetime,
) -> tuple[datetime | None, datetime | None]:
    """(reminder instant, overdue instant) for the supply's last fill; None where there is
    nothing (left) to do: no fill, the text already went, the flag already raised."""
    last = supply.last_fill
    if last is None or supply.runs_out is None or plan.id is None or last.id is None:
        return None, None
    assert supply.remind_on is not None and supply.overdue_on is not None
    zone = ZoneInfo(patient.tz)
    at = parse_hhmm(settings.remind_time)
    overdue_at: datetime | None = local_instant(supply.overdue_on, at, zone)
    remind_day = max(supply.remind_on, last.dispensed_on + timedelta(days=1))
    remind_at: datetime | None = local_instant(remind_day, at, zone)
    assert overdue_at is not None and remind_at is not None
    if _reminded(session, plan.id, last.id):
        remind_at = None
    elif remind_at <= now:
        # Late (a short fill, a daemon that was down): at once, unless already overdue.
        remind_at = now if overdue_at > now else None
    if overdue_at <= now and overdue_flagged(session, plan.id, last.id):
        overdue_at = None
    return remind_at, overdue_at


def refresh(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    patient: Patient,
    settings: SupplySettings,
    now: datetime,
) -> Supply:
    """Recompute the plan's supply and store its refill instants and check day (part of
    the caller's transaction)."""
    assert plan.id is not None
    supply = supply_of(
        session,
        catalog=catalog,
        plan=plan,
        patient=patient,
        now=now,
        settings=settings,
    )
    remind_at, overdue_at = refill_times(
        session, supply, plan=plan, patient=patient, settings=settings, now=now
    )
    plan.refill_remind_at = remind_at
    plan.refill_overdue_at = overdue_at
    plan.supply_checked_on = supply.today  # not updated_at: the plan itself has not changed
    session.add(plan)
    return supply


def refresh_stale(
    session: Session, *, now: datetime, catalog: Catalog, settings: SupplySettings
) -> int:
    """Refresh active plans with fills not yet checked on their patient's local today."""
    has_fill = select(Dispense.id).where(Dispense.plan_id == Plan.id).exists()
    rows = session.exec(
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(
            Plan.status == "active",
            Patient.active,
            has_fill,
            # Local today is within a day of UTC's: rows checked later cannot be stale.
            col(Plan.supply_checked_on).is_(None)
            | (col(Plan.supply_checked_on) <= now.date() + timedelta(days=1)),
        )
        .order_by(col(Plan.id))
    ).all()
    done = 0
    for plan, patient in rows:
        if plan.supply_checked_on == now.astimezone(ZoneInfo(patient.tz)).date():
            continue
        if done >= REFRESH_BATCH:
            break
        refresh(session, catalog=catalog, plan=plan, patient=patient, settings=settings, now=now)
        done += 1
    return done


def claim(session: Session, plan: Plan, field: str, value: datetime | None) -> bool:
    """Set the plan's ``field`` (``refill_remind_at`` or ``refill_overdue_at``) to ``value``
    if it still holds what this worker read. True if it did: what was due is this worker's
    to act on. Part of the caller's transaction, so a failure gives the claim back."""
    column = getattr(Plan, field)
    seen = getattr(plan, field)
    unchanged = col(column).is_(None) if seen is None else col(column) == seen
    values: dict[str, Any] = {field: value}
    done = session.connection().execute(
        update(Plan).where(col(Plan.id) == plan.id, unchanged).values(**values)
    )
    if done.rowcount != 1:
        return False  # another worker claimed it first
    set_committed_value(plan, field, value)
    return True


def due(
    session: Session, field: str, now: datetime, batch: int = 200
) -> list[tuple[Plan, Patient]]:
    """Plans whose ``field`` instant has come, earliest first, read fresh (the value read
    is what the claim compares with)."""
    column = getattr(Plan, field)
    rows = session.exec(
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(col(column).is_not(None), col(column) <= now)
        .order_by(col(column), col(Plan.id))
        .limit(batch)
        .execution_options(populate_existing=True)
    ).all()
    return [(plan, patient) for plan, patient in rows]


def send_refill_reminders(
    session: Session, *, now: datetime, catalog: Catalog, settings: SupplySettings
) -> int:
    """Queue the refill texts that are due (part of the caller's transaction). Returns
    the texts queued."""
    queued = 0
    for plan, patient in due(session, "refill_remind_at", now):
        assert plan.id is not None and patient.id is not None
        if plan.status != "active" or not patient.active or patient.sms_status != "active":
            claim(session, plan, "refill_remind_at", None)  # nobody to text: dropped
            continue
        quiet_end = in_quiet_hours(patient, now)
        if quiet_end is not None:
            claim(session, plan, "refill_remind_at", quiet_end)  # the morning, as nudges
            continue
        supply = supply_of(
            session,
            catalog=catalog,
            plan=plan,
            patient=patient,
            now=now,
            settings=settings,
        )
        remind_at, _ = refill_times(
            session, supply, plan=plan, patient=patient, settings=settings, now=now
        )
        if remind_at is None or remind_at > now:
            # A newer fill (not refreshed yet) moved it, or it went already.
            claim(session, plan, "refill_remind_at", remind_at)
            continue
        if not claim(session, plan, "refill_remind_at", None):
            continue
        queued += _queue(session, supply, plan=plan, patient=patient, catalog=catalog, now=now)
    return queued


def _queue(
    session: Session,
    supply: Supply,
    *,
    plan: Plan,
    patient: Patient,
    catalog: Catalog,
    now: datetime,
) -> int:
    last = supply.last_fill
    team = session.get(CareTeam, patient.team_id)
    assert last is not None and last.id is not None and plan.id is not None
    assert supply.runs_out is not None and team is not None
    therapy = catalog.get(plan.regimen)
    body = texts.refill_reminder(
        team=team.name,
        runs_out=supply.runs_out,
        allowed_from=supply.refill_allowed_from,
        today=supply.today,
        language=patient.language,
        discreet=patient.discreet,
        what=therapy.brands[0] if therapy.brands else therapy.name,
    )
    zone = ZoneInfo(patient.tz)
    # Until the run-out day ends: after that the overdue flag takes over.
    valid = local_instant(supply.runs_out + timedelta(days=1), time(0, 0), zone)
    added = enqueue(
        session,
        key=refill_key(plan.id, last.id),
        to=patient.phone,
        body=body,
        purpose=PURPOSE,
        now=now,
        valid_until=max(valid, now + MIN_VALID),
        patient_id=patient.id,
    )
    if added:
        log.info("refill reminder queued plan=%s patient=%s fill=%s", plan.id, patient.id, last.id)
    return int(added)


def next_refill_at(session: Session) -> datetime | None:
    """The earliest refill instant (a reminder or an overdue check) any plan holds."""
    instants = [
        from_storage(session.exec(select(func.min(column))).one())  # raw from the driver
        for column in (Plan.refill_remind_at, Plan.refill_overdue_at)
    ]
    found = [t for t in instants if t is not None]
    return min(found) if found else None
