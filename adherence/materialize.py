"""Materialise doses a horizon ahead, and resynchronise future doses after a change.

Idempotent: a dose is unique by (plan, epoch, key), so any worker may run this at any
time. Only doses that have not been acted on yet (``scheduled`` and still in the future)
are moved or cancelled when a plan changes; anything recorded stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from adherence.db import insert_ignoring_existing
from adherence.models import Dose, Patient, Plan
from adherence.plans import expected_items, window_closes
from schedules import Catalog, Item

REMIND_BEFORE = {
    "dose": timedelta(0),
    "infusion": timedelta(days=1),
    "monitoring": timedelta(days=1),
}


def first_action(kind: str, due_at: datetime) -> datetime:
    return due_at - REMIND_BEFORE.get(kind, timedelta(0))


def _row(
    plan: Plan, patient: Patient, item: Item, closes: datetime, now: datetime
) -> dict[str, Any]:
    due = item.at
    return {
        "plan_id": plan.id,
        "patient_id": patient.id,
        "epoch": plan.epoch,
        "key": item.key,
        "occasion": item.occasion,
        "due_at": due,
        "local_date": item.local_date,
        "local_time": item.local_time.strftime("%H:%M"),
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
        .join(Patient, Patient.id == Plan.patient_id)
        .where(Plan.status == "active", Patient.active == True)  # noqa: E712
        .order_by(Plan.id)
    )
    if plan_ids is not None:
        query = query.where(Plan.id.in_(list(plan_ids)))
    written = 0
    last_id = 0
    while True:
        rows = session.exec(query.where(Plan.id > last_id).limit(batch)).all()
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
    ids = [plan.id for plan, _ in pairs]
    existing: dict[int, dict[tuple[int, str], tuple[int, str, datetime]]] = {pid: {} for pid in ids}
    result = session.execute(
        select(Dose.plan_id, Dose.epoch, Dose.key, Dose.id, Dose.status, Dose.due_at).where(
            Dose.plan_id.in_(ids),
            Dose.due_at >= now - timedelta(days=2),
        )
    )
    for plan_id, epoch, key, dose_id, status, due_at in result:
        existing[plan_id][(epoch, key)] = (dose_id, status, due_at)
    new_rows: list[tuple[Plan, Patient, Item, datetime]] = []
    for plan, patient in pairs:
        zone = ZoneInfo(patient.tz)
        today = now.astimezone(zone).date()
        since = max(
            plan.epoch_start, plan.created_at.astimezone(zone).date(), today - timedelta(days=1)
        )
        until = today + timedelta(days=horizon_days)
        regimen, items = expected_items(catalog, plan, patient, until=until, since=since)
        if not any(i.at >= now and i.kind != "monitoring" for i in items):
            # Always at least the next dose, however far (a six-monthly infusion), with the
            # monitoring due before it (mitoxantrone's heart check precedes each infusion,
            # and must not stand in for the infusion itself).
            _, later = expected_items(
                catalog, plan, patient, until=today + timedelta(days=800), since=since
            )
            upcoming = [i for i in later if i.at >= now]
            nxt = next((n for n, i in enumerate(upcoming) if i.kind != "monitoring"), 0)
            items = [i for i in items if i.at < now] + upcoming[: nxt + 1]
        tracked_from = plan.created_at if plan.epoch == 0 else plan.updated_at
        have = existing.get(plan.id, {})
        expected_keys = set()
        for item in items:
            if item.at < tracked_from - timedelta(minutes=1):
                continue  # before the plan was enrolled (or restarted): not ours to track
            key = (plan.epoch, item.key)
            expected_keys.add(key)
            closes = window_closes(item, regimen, zone)
            found = have.get(key)
            if found is None:
                new_rows.append((plan, patient, item, closes))
            elif (found[1] == "scheduled" and found[2] != item.at and found[2] > now) or (
                found[1] == "cancelled" and item.at > now
            ):
                # Moved (travel, a shifted schedule) or revived (a resumed plan).
                session.execute(
                    update(Dose)
                    .where(Dose.id == found[0], Dose.status.in_(("scheduled", "cancelled")))
                    .values(
                        status="scheduled",
                        nudges_sent=0,
                        due_at=item.at,
                        local_date=item.local_date,
                        local_time=item.local_time.strftime("%H:%M"),
                        day=item.day,
                        earliest=item.earliest,
                        latest=item.latest,
                        window_closes_at=closes,
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
            and (key[0] != plan.epoch or not items or due <= items[-1].at)
        ]
        if stale:
            session.execute(
                update(Dose)
                .where(Dose.id.in_(stale), Dose.status == "scheduled")
                .values(status="cancelled", next_action_at=None, updated_at=now)
            )
    if new_rows:
        _insert_rows(session, new_rows, now)
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
    "nudges_sent",
    "next_action_at",
    "updated_at",
)
_SQLITE_INSERT = (
    f"INSERT INTO dose ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (plan_id, epoch, key) DO NOTHING"
)


def _utc_text(value: datetime) -> str:
    # The storage format of SQLAlchemy's SQLite DateTime (naive UTC, microseconds always
    # written), so rows written here read back exactly like rows written through the ORM.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_rows(
    session: Session, new: list[tuple[Plan, Patient, Item, datetime]], now: datetime
) -> None:
    """INSERT .. ON CONFLICT DO NOTHING for many doses. On SQLite, straight to the driver's
    executemany: SQLAlchemy's per-value type processing costs more than the insert itself."""
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        rows = [_row(plan, patient, item, closes, now) for plan, patient, item, closes in new]
        stmt = insert_ignoring_existing(dialect, Dose, ["plan_id", "epoch", "key"])
        session.connection().execute(stmt, rows)
        return
    now_s = _utc_text(now)
    params = []
    for plan, patient, item, closes in new:
        due_s = _utc_text(item.at)
        kind = item.kind
        params.append(
            (
                plan.id,
                patient.id,
                plan.epoch,
                item.key,
                item.occasion,
                due_s,
                item.local_date.isoformat(),
                item.local_time.strftime("%H:%M"),
                item.day,
                item.amount,
                item.unit,
                kind,
                item.phase,
                item.label,
                item.earliest.isoformat() if item.earliest else None,
                item.latest.isoformat() if item.latest else None,
                _utc_text(closes),
                "scheduled",
                0,
                "",
                "",
                0,
                due_s if kind == "dose" else _utc_text(first_action(kind, item.at)),
                now_s,
            )
        )
    session.connection().exec_driver_sql(_SQLITE_INSERT, params)
