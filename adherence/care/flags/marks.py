"""The care step's watermarks: which plans had a dose record change since a pass last ran.

A periodic rule reads ``dose.updated_at`` past its mark (by ``ix_dose_updated_at``, so the
cost is the rows that changed, not the history) and moves the mark in the commit that
records its decisions. The mark is read back ``OVERLAP`` early: a worker whose transaction
began before this pass may commit rows stamped a little before its ``now``; reading a few
rows twice is harmless (every rule's raise is idempotent). A mark written under another
``basis`` (thresholds changed in the config) is not used: the rule reads everything once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from adherence.storage.models import Dose, Watermark

OVERLAP = timedelta(minutes=10)


def read_mark(session: Session, name: str, *, basis: str) -> datetime | None:
    """Where the pass ``name`` may resume from, or None (never ran, or ran on another basis)."""
    row = session.get(Watermark, name)
    if row is None or row.basis != basis:
        return None
    return row.at - OVERLAP


def move_mark(session: Session, name: str, *, basis: str, now: datetime) -> None:
    """Part of the caller's transaction: the mark moves with the decisions it led to."""
    row = session.get(Watermark, name)
    if row is None:
        row = Watermark(name=name, at=now, basis=basis)
    row.at, row.basis = now, basis
    session.add(row)


def changed_plans(session: Session, since: datetime, *, missed_only: bool = False) -> set[int]:
    """Plans with a dose row written after ``since``. Not ``DISTINCT``: SQLite would then
    walk the plan index (every dose) to avoid a sort; the changed rows are few."""
    stmt = select(Dose.plan_id).where(col(Dose.updated_at) > since)
    if missed_only:
        stmt = stmt.where(Dose.status == "missed", Dose.kind == "dose")
    return set(session.exec(stmt).all())
