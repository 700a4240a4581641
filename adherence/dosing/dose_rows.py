"""A new dose as the row the insert takes, and the insert itself: column values for
SQLAlchemy, or driver tuples straight to SQLite's executemany (what materialising writes)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from adherence.core.selfcare_config import MAX_REMIND_DAYS
from adherence.storage.db import insert_ignoring_existing
from adherence.storage.models import Dose
from adherence.storage.utc import sqlite_text
from schedules import Item

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
        "local_time": hhmm(item.local_time),
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
def hhmm(value: time) -> str:
    # A plan has a few dose times, shared by all its items: format each once.
    return value.strftime("%H:%M")


def sqlite_row(
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
        hhmm(item.local_time),
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


def insert_rows(session: Session, dialect: str, rows: list[Any]) -> None:
    """INSERT .. ON CONFLICT DO NOTHING for many doses. On SQLite, straight to the driver's
    executemany: SQLAlchemy's per-value type processing costs more than the insert itself."""
    if dialect == "sqlite":
        session.connection().exec_driver_sql(_SQLITE_INSERT, rows)
        return
    stmt = insert_ignoring_existing(dialect, Dose, ["plan_id", "epoch", "key"])
    session.connection().execute(stmt, rows)
