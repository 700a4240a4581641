"""Materialise doses a horizon ahead, and resynchronise future doses after a change.

Idempotent: a dose is unique by (plan, epoch, key), so any worker may run this at any
time. Only doses that have not been acted on yet (``scheduled`` and still in the future)
are moved or cancelled when a plan changes; anything recorded stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from adherence.core.selfcare_config import MAX_REMIND_DAYS
from adherence.dosing.plans import expected_items, late_window, window_closes
from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import Dose, Patient, Plan
from adherence.storage.utc import sqlite_text
from schedules import Catalog, Item
from schedules.items import MONITORING

REMIND_BEFORE = {
    "dose": timedelta(0),
    "infusion": timedelta(days=1),
    # Dispatch moves a check's first action to its first reminder (``dosing.checks``).
    "monitoring": timedelta(days=MAX_REMIND_DAYS + 1),
}


def first_action(kind: str, due_at: datetime) -> datetime:
    return due_at - REMIND_BEFORE.get(kind, timedelta(0))


def dose_values(
    plan_id: int,
    patient_id: int,
    epoch: int,
    key: str,
    item: Item,
    closes: datetime,
    now: datetime,
) -> dict[str, Any]:
    """A new (scheduled) dose of ``item`` as column values, for SQLAlchemy's insert or a
    ``Dose(**...)``."""
    due = item.at
    return {
        "plan_id": plan_id,
        "patient_id": patient_id,
        "epoch": epoch,
        "key": key,
        "occasion": item.occasion,
        "due_at": due,
        "local_date": item.local_date,
        "local_time": _hhmm(item.local_time),
        "day": item.day,
        "amount": item.amount,
        "unit": item.unit,
        "kind": item.kind,
        "phase": item.phase,
        "label": item.label,
        "earliest": item.earliest,
        "latest": item.latest,
        "window_closes_at": closes,
        "status": "scheduled",
        "late": False,
        "confirmed_via": "",
        "confirmed_by": "",
        "source": "",
        "note": "",
        "nudges_sent": 0,
        "next_action_at": first_action(item.kind, due),
        "updated_at": now,
    }


def materialize(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
    plan_ids: Sequence[int] | None = None,
    batch: int = 500,
) -> int:
    """Write missing doses up to ``horizon_days`` ahead (and at least each plan's next
    item); move or cancel future untouched doses the plan no longer expects. Returns the
    number of doses written. Commits per batch of plans."""
    query = (
        select(Plan, Patient)
        .join(Patient, col(Patient.id) == Plan.patient_id)
        .where(Plan.status == "active", Patient.active == True)  # noqa: E712
        .order_by(col(Plan.id))
    )
    if plan_ids is not None:
        query = query.where(col(Plan.id).in_(list(plan_ids)))
    written = 0
    last_id = 0
    while True:
        rows = session.exec(query.where(col(Plan.id) > last_id).limit(batch)).all()
        if not rows:
            break
        last_id = rows[-1][0].id or 0
        written += _materialize_batch(
            session, rows, now=now, catalog=catalog, horizon_days=horizon_days
        )
        session.commit()
    return written


def _materialize_batch(
    session: Session,
    rows: Iterable[tuple[Plan, Patient]],
    *,
    now: datetime,
    catalog: Catalog,
    horizon_days: int,
) -> int:
    pairs = list(rows)
    ids = [plan.id for plan, _ in pairs if plan.id is not None]
    existing: dict[int, dict[tuple[int, str], tuple[int, str, datetime]]] = {pid: {} for pid in ids}
    # SQLAlchemy's select: SQLModel's own is typed for at most four columns.
    result = session.execute(
        sa_select(
            col(Dose.plan_id),
            col(Dose.epoch),
            col(Dose.key),
            col(Dose.id),
            col(Dose.status),
            col(Dose.due_at),
        ).where(
            col(Dose.plan_id).in_(ids),
            col(Dose.due_at) >= now - timedelta(days=2),
        )
    )
    for plan_id, epoch, key, dose_id, status, due_at in result:
        existing[plan_id][(epoch, key)] = (dose_id, status, due_at)
    dialect = session.get_bind().dialect.name
    # New doses go straight into the form the insert takes (driver tuples for SQLite,
    # column dicts otherwise): built once, in the one pass over the plan's items.
    new_rows: list[Any] = []
    make_row = _sqlite_row if dialect == "sqlite" else dose_values
    stamp: Any = sqlite_text(now) if dialect == "sqlite" else now
    for plan, patient in pairs:
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
        have = existing.get(plan_id, {})
        expected_keys = set()
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
                new_rows.append(make_row(plan_id, patient_id, epoch, key[1], item, closes, stamp))
            elif (found[1] == "scheduled" and found[2] != item.at and found[2] > now) or (
                found[1] == "cancelled" and item.at > now
            ):
                # Moved (travel, a shifted schedule) or revived (a resumed plan).
                session.execute(
                    update(Dose)
                    .where(
                        col(Dose.id) == found[0], col(Dose.status).in_(("scheduled", "cancelled"))
                    )
                    .values(
                        status="scheduled",
                        nudges_sent=0,
                        due_at=item.at,
                        local_date=item.local_date,
                        local_time=_hhmm(item.local_time),
                        day=item.day,
                        earliest=item.earliest,
                        latest=item.latest,
                        window_closes_at=window_closes(item, regimen, zone),
                        next_action_at=first_action(item.kind, item.at),
                        updated_at=now,
                    )
                )
        stale = [
            dose_id
            for key, (dose_id, status, due) in have.items()
            if status == "scheduled"
            and due > now
            and key not in expected_keys
            and (key[0] != epoch or not items or due <= items[-1].at)
        ]
        if stale:
            session.execute(
                update(Dose)
                .where(col(Dose.id).in_(stale), col(Dose.status) == "scheduled")
                .values(status="cancelled", next_action_at=None, updated_at=now)
            )
    if new_rows:
        _insert_rows(session, dialect, new_rows)
    return len(new_rows)


_COLUMNS = (
    "plan_id",
    "patient_id",
    "epoch",
    "key",
    "occasion",
    "due_at",
    "local_date",
    "local_time",
    "day",
    "amount",
    "unit",
    "kind",
    "phase",
    "label",
    "earliest",
    "latest",
    "window_closes_at",
    "status",
    "late",
    "confirmed_via",
    "confirmed_by",
    "source",
    "note",
    "nudges_sent",
    "next_action_at",
    "updated_at",
)
_SQLITE_INSERT = (
    f"INSERT INTO dose ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (plan_id, epoch, key) DO NOTHING"
)


@lru_cache(maxsize=4096)
def _hhmm(value: time) -> str:
    # A plan has a few dose times, shared by all its items: format each once.
    return value.strftime("%H:%M")


def _sqlite_row(
    plan_id: int,
    patient_id: int,
    epoch: int,
    key: str,
    item: Item,
    closes: datetime,
    now_text: str,
) -> tuple[Any, ...]:
    """A new dose as the SQLite driver takes it: the values of ``_COLUMNS``, in order,
    in the storage formats SQLAlchemy would have written."""
    due = sqlite_text(item.at)
    kind = item.kind
    earliest, latest = item.earliest, item.latest
    return (
        plan_id,
        patient_id,
        epoch,
        key,
        item.occasion,
        due,
        item.local_date.isoformat(),
        _hhmm(item.local_time),
        item.day,
        item.amount,
        item.unit,
        kind,
        item.phase,
        item.label,
        earliest.isoformat() if earliest else None,
        latest.isoformat() if latest else None,
        sqlite_text(closes),
        "scheduled",
        0,
        "",
        "",
        "",
        "",
        0,
        due if kind == "dose" else sqlite_text(first_action(kind, item.at)),
        now_text,
    )


def _insert_rows(session: Session, dialect: str, rows: list[Any]) -> None:
    """INSERT .. ON CONFLICT DO NOTHING for many doses. On SQLite, straight to the driver's
    executemany: SQLAlchemy's per-value type processing costs more than the insert itself."""
    if dialect == "sqlite":
        session.connection().exec_driver_sql(_SQLITE_INSERT, rows)
        return
    stmt = insert_ignoring_existing(dialect, Dose, ["plan_id", "epoch", "key"])
    session.connection().execute(stmt, rows)
