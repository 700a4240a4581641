"""Materialise doses a horizon ahead, and resynchronise future doses after a change.

Idempotent: a dose is unique by (plan, epoch, key), so any worker may run this at any
time. Only doses that have not been acted on yet (``scheduled`` and still in the future)
are moved or cancelled when a plan changes; anything recorded stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.dosing.dose_rows import (
    dose_values as dose_values,  # re-exported: callers build doses with it
)
from adherence.dosing.dose_rows import (
    first_action as first_action,
)
from adherence.dosing.dose_rows import (
    hhmm,
    insert_rows,
    sqlite_row,
)
from adherence.dosing.plans import expected_items, late_window, window_closes
from adherence.storage.db import try_transaction_lock
from adherence.storage.models import Dose, Patient, Plan
from adherence.storage.utc import sqlite_text
from schedules import Catalog
from schedules.items import MONITORING

log = logging.getLogger(__name__)


@dataclass
class SliceResult:
    """What one slice of a materialising pass did. ``next_after`` is the plan id to resume
    after, or None once every plan has been looked at."""

    written: int = 0
    examined: int = 0  # plans expanded (their doses checked and written)
    skipped: int = 0  # plans whose horizon was already written, unchanged since
    failed: int = 0  # plans whose schedule could not be computed (logged, left alone)
    next_after: int | None = None
    locked: bool = False  # another worker is materialising: nothing done, try later


def materialize(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
    plan_ids: Sequence[int] | None = None,
    batch: int = 500,
    skip_written: bool | None = None,
) -> int:
    """Write missing doses up to ``horizon_days`` ahead (and at least each plan's next
    item); move or cancel future untouched doses the plan no longer expects. Returns the
    number of doses written. Commits per batch of plans. A pass over every plan skips the
    plans whose horizon is already written (``skip_written``, the default without
    ``plan_ids``); named plans are always recomputed (they have just changed)."""
    skip = plan_ids is None if skip_written is None else skip_written
    return materialize_slice(
        session,
        now=now,
        catalog=catalog,
        horizon_days=horizon_days,
        plan_ids=plan_ids,
        batch=batch,
        skip_written=skip,
    ).written


def materialize_slice(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
    after_id: int = 0,
    max_plans: int | None = None,
    plan_ids: Sequence[int] | None = None,
    batch: int = 500,
    skip_written: bool = True,
    lock_key: int | None = None,
) -> SliceResult:
    """Materialise the plans after ``after_id`` in id order, a batch per transaction, until
    ``max_plans`` were expanded (or ten times as many looked at): one bounded step of a
    pass, so that the daemon can dispatch between steps. With ``lock_key`` each batch's
    transaction holds that advisory lock (PostgreSQL) while it reads and writes, and the
    slice stops, ``locked``, when another worker holds it."""
    out = SliceResult()
    last_id = after_id
    scan_limit = None if max_plans is None else max_plans * 10
    scanned = 0
    while True:
        if lock_key is not None and not try_transaction_lock(session, lock_key):
            session.rollback()
            out.locked, out.next_after = True, last_id
            return out
        if skip_written:
            window = _plan_marks(session, plan_ids, last_id, batch)
            if not window:
                break
            last_id = window[-1][0]
            scanned += len(window)
            todo = [row[0] for row in window if _needs_work(row, now, horizon_days)]
            out.skipped += len(window) - len(todo)
            rows = _plan_rows(session, todo, None, len(todo)) if todo else []
        else:
            rows = _plan_rows(session, plan_ids, last_id, batch)
            if not rows:
                break
            last_id = rows[-1][0].id or 0
            scanned += len(rows)
        if rows:
            written, failed = _materialize_batch(
                session, rows, now=now, catalog=catalog, horizon_days=horizon_days
            )
            out.written += written
            out.failed += failed
            out.examined += len(rows) - failed
        session.commit()
        if (max_plans is not None and out.examined >= max_plans) or (
            scan_limit is not None and scanned >= scan_limit
        ):
            out.next_after = last_id
            return out
    session.commit()  # ends the last (empty) read, and its lock
    return out


def _active() -> Any:
    return (Plan.status == "active", Patient.active == True)  # noqa: E712


def _plan_rows(
    session: Session, plan_ids: Sequence[int] | None, after_id: int | None, limit: int
) -> list[tuple[Plan, Patient]]:
    query = (
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(*_active())
        .order_by(col(Plan.id))
        .limit(limit)
    )
    if plan_ids is not None:
        query = query.where(col(Plan.id).in_(list(plan_ids)))
    if after_id is not None:
        query = query.where(col(Plan.id) > after_id)
    return list(session.exec(query).all())


def _plan_marks(
    session: Session, plan_ids: Sequence[int] | None, after_id: int, limit: int
) -> list[tuple[int, str, date | None, datetime | None, datetime, datetime]]:
    """The columns that say whether a plan needs work, as plain tuples (no ORM objects):
    a pass with nothing new to write costs one narrow read per plan."""
    query = (
        sa_select(
            col(Plan.id),
            col(Patient.tz),
            col(Plan.materialized_until),
            col(Plan.materialized_at),
            col(Plan.updated_at),
            col(Patient.updated_at),
        )
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(*_active(), col(Plan.id) > after_id)
        .order_by(col(Plan.id))
        .limit(limit)
    )
    if plan_ids is not None:
        query = query.where(col(Plan.id).in_(list(plan_ids)))
    return [tuple(row) for row in session.execute(query)]


def _needs_work(
    row: tuple[int, str, date | None, datetime | None, datetime, datetime],
    now: datetime,
    horizon_days: int,
) -> bool:
    """Not written this far yet for the patient's local today, or changed (the plan or the
    patient: a new zone, a restart, a rebase) since it was."""
    _, tz, until, at, plan_changed, patient_changed = row
    if until is None or at is None or at <= plan_changed or at <= patient_changed:
        return True
    try:
        today = now.astimezone(_zone(tz)).date()
    except (ValueError, KeyError):
        return True  # let the batch report the plan
    return until < today + timedelta(days=horizon_days)


@lru_cache(maxsize=1024)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def existing_doses_query(plan_ids: Sequence[int], now: datetime) -> Any:
    """The batch's doses from two days ago on (what it may move, revive or find written).
    The index on (plan_id, due_at) answers it (migration 0012), not a scan of every dose.
    SQLAlchemy's select: SQLModel's own is typed for at most four columns."""
    return sa_select(
        col(Dose.plan_id),
        col(Dose.epoch),
        col(Dose.key),
        col(Dose.id),
        col(Dose.status),
        col(Dose.due_at),
    ).where(
        col(Dose.plan_id).in_(list(plan_ids)),
        col(Dose.due_at) >= now - timedelta(days=2),
    )


def _materialize_batch(
    session: Session,
    rows: Iterable[tuple[Plan, Patient]],
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
) -> tuple[int, int]:
    """Doses written, and the plans that failed (their schedule could not be computed)."""
    pairs = list(rows)
    ids = [plan.id for plan, _ in pairs if plan.id is not None]
    existing: dict[int, dict[tuple[int, str], tuple[int, str, datetime]]] = {pid: {} for pid in ids}
    result = session.execute(existing_doses_query(ids, now))
    for plan_id, epoch, key, dose_id, status, due_at in result:
        existing[plan_id][(epoch, key)] = (dose_id, status, due_at)
    dialect = session.get_bind().dialect.name
    # New doses go straight into the form the insert takes (driver tuples for SQLite,
    # column dicts otherwise): built once, in the one pass over the plan's items.
    new_rows: list[Any] = []
    make_row = sqlite_row if dialect == "sqlite" else dose_values
    stamp: Any = sqlite_text(now) if dialect == "sqlite" else now
    marks: dict[date, list[int]] = {}
    failed = 0
    for plan, patient in pairs:
        plan_id = plan.id or 0
        try:
            planned = _plan_changes(
                plan,
                patient,
                existing.get(plan_id, {}),
                now=now,
                catalog=catalog,
                horizon_days=horizon_days,
                make_row=make_row,
                stamp=stamp,
            )
        except Exception as exc:  # one bad plan must not stop the others
            failed += 1
            log.warning(
                "materialise: plan %d skipped, its schedule cannot be computed (%s: %s)",
                plan_id,
                type(exc).__name__,
                exc,
            )
            continue
        until, plan_rows, moves, stale = planned
        new_rows.extend(plan_rows)
        marks.setdefault(until, []).append(plan_id)
        for dose_id, values in moves:
            # Moved (travel, a shifted schedule) or revived (a resumed plan).
            session.execute(
                update(Dose)
                .where(col(Dose.id) == dose_id, col(Dose.status).in_(("scheduled", "cancelled")))
                .values(**values)
            )
        if stale:
            session.execute(
                update(Dose)
                .where(col(Dose.id).in_(stale), col(Dose.status) == "scheduled")
                .values(status="cancelled", next_action_at=None, updated_at=now)
            )
    if new_rows:
        insert_rows(session, dialect, new_rows)
    for until, plan_ids in marks.items():
        # In the transaction that wrote the doses: the mark never claims more than is there.
        session.execute(
            update(Plan)
            .where(col(Plan.id).in_(plan_ids))
            .values(materialized_until=until, materialized_at=now)
        )
    return len(new_rows), failed


def _plan_changes(
    plan: Plan,
    patient: Patient,
    have: dict[tuple[int, str], tuple[int, str, datetime]],
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
    make_row: Callable[..., Any],
    stamp: Any,
) -> tuple[date, list[Any], list[tuple[int, dict[str, Any]]], list[int]]:
    """One plan's work, computed without touching the database: the local date written up
    to, the new rows, the doses to move or revive (id, values) and those to cancel."""
    # Plain values once per plan: ORM attribute reads cost more than the arithmetic.
    plan_id, patient_id, epoch = plan.id or 0, patient.id or 0, plan.epoch
    zone = ZoneInfo(patient.tz)
    today = now.astimezone(zone).date()
    since = max(
        plan.epoch_start, plan.created_at.astimezone(zone).date(), today - timedelta(days=1)
    )
    until = today + timedelta(days=horizon_days)
    regimen, items = expected_items(catalog, plan, patient, until=until, since=since)
    if not any(i.at >= now and i.kind != MONITORING for i in items):
        # Always at least the next dose, however far (a six-monthly infusion), with the
        # monitoring due before it (mitoxantrone's heart check precedes each infusion,
        # and must not stand in for the infusion itself).
        _, later = expected_items(
            catalog, plan, patient, until=today + timedelta(days=800), since=since
        )
        upcoming = [i for i in later if i.at >= now]
        nxt = next((n for n, i in enumerate(upcoming) if i.kind != MONITORING), 0)
        items = [i for i in items if i.at < now] + upcoming[: nxt + 1]
    tracked_from = plan.created_at if plan.epoch == 0 else plan.updated_at
    cutoff = tracked_from - timedelta(minutes=1)
    late = late_window(regimen)
    expected_keys = set()
    rows: list[Any] = []
    moves: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        if item.at < cutoff:
            continue  # before the plan was enrolled (or restarted): not ours to track
        if item.day < 1 and item.local_date < today - timedelta(days=1):
            continue  # a baseline check (before Day 1) already past: as ``since`` does
        key = (epoch, item.key)
        expected_keys.add(key)
        found = have.get(key)
        if found is None:
            # ``window_closes``, without its per-item rule lookup for the usual case.
            if item.kind == MONITORING or item.latest is not None:
                closes = window_closes(item, regimen, zone)
            else:
                closes = item.at + late
            rows.append(make_row(plan_id, patient_id, epoch, key[1], item, closes, stamp))
        elif (found[1] == "scheduled" and found[2] != item.at and found[2] > now) or (
            found[1] == "cancelled" and item.at > now
        ):
            values = {
                "status": "scheduled",
                "nudges_sent": 0,
                "due_at": item.at,
                "local_date": item.local_date,
                "local_time": hhmm(item.local_time),
                "day": item.day,
                "earliest": item.earliest,
                "latest": item.latest,
                "window_closes_at": window_closes(item, regimen, zone),
                "next_action_at": first_action(item.kind, item.at),
                "updated_at": now,
            }
            moves.append((found[0], values))
    stale = [
        dose_id
        for key, (dose_id, status, due) in have.items()
        if status == "scheduled"
        and due > now
        and key not in expected_keys
        and (key[0] != epoch or not items or due <= items[-1].at)
    ]
    return until, rows, moves, stale
