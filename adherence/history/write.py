"""Deciding what a matched row does to the dose it is about, and writing it.

``decide`` is the whole conflict policy (pure: a row, the item, what is stored); ``Writer``
writes the decisions: new doses gathered and inserted in one executemany per chunk (on
SQLite straight to the driver, as ``dosing.materialize`` does: SQLAlchemy's per-value
processing would cost more than the insert), and updates of existing doses as conditional
updates with their ``DoseChange`` rows, so a dose another writer changed meanwhile is never
clobbered (the chunk is decided again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from adherence.history.match import PlanRef
from adherence.history.rows import TAKEN, DoseRow
from adherence.storage.models import DOSE_OPEN, Dose, DoseChange, DoseStatus
from adherence.storage.utc import sqlite_text
from schedules import Item

VIA = "import"
REASON = "history import"
# Stored doses a row may give its outcome to: nobody answered them (or the engine closed
# them as missed). Anything else holds a recorded answer, which an import never overwrites.
_OPEN = (*DOSE_OPEN, DoseStatus.CANCELLED)


class Changed(Exception):
    """A dose changed between the chunk's read and its write."""


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    status: str
    taken_at: datetime | None
    via: str
    confirmed_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # "insert" | "update" | "unchanged"
    stored: Stored | None = None


Refusal = tuple[str, str]  # (field, message)


def decide(
    row: DoseRow,
    at: datetime,
    item: Item,
    stored: Stored | None,
    earlier: str | None,
    now: datetime,
) -> Decision | Refusal:
    """What the row does to the dose ``item`` names (``earlier``: the origin of a row of
    this chunk that already took this dose)."""
    if earlier is not None:
        return "at", f"is the same dose as {earlier} (the dose due {item.at.isoformat()})"
    if stored is None:
        return Decision("insert")
    if stored.via == VIA and stored.confirmed_at == now:
        # Written by this import (an earlier chunk): a second row for the same dose.
        return "at", f"is the same dose as an earlier row (the dose due {item.at.isoformat()})"
    taken_at = at if row.status == TAKEN else None
    if stored.status == row.status and stored.taken_at == taken_at:
        return Decision("unchanged", stored)
    if stored.status in _OPEN or (stored.status == DoseStatus.MISSED and not stored.via):
        return Decision("update", stored)
    when = stored.confirmed_at.date().isoformat() if stored.confirmed_at else "an earlier date"
    how = stored.via or "the engine"
    return "status", f"already recorded as {stored.status} via {how} on {when}; not overwritten"


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
    "taken_at",
    "confirmed_at",
    "confirmed_via",
    "confirmed_by",
    "source",
    "note",
    "nudges_sent",
    "next_action_at",
    "updated_at",
)
_SQLITE_INSERT = (
    f"INSERT INTO dose ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


class Writer:
    def __init__(self, session: Session, *, now: datetime, actor: str) -> None:
        self.session = session
        self.now = now
        self.actor = actor[:200]
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self.now_text = sqlite_text(now)
        self._inserts: list[Any] = []
        self._changes: list[dict[str, Any]] = []

    def existing(
        self, plan_ids: set[int], keys: set[str] | None
    ) -> dict[tuple[int, int, str], Stored]:
        """The stored doses of these plans (with these keys), in one query."""
        out: dict[tuple[int, int, str], Stored] = {}
        if not plan_ids or keys == set():
            return out
        query = sa_select(
            col(Dose.plan_id),
            col(Dose.epoch),
            col(Dose.key),
            col(Dose.id),
            col(Dose.status),
            col(Dose.taken_at),
            col(Dose.confirmed_via),
            col(Dose.confirmed_at),
            col(Dose.updated_at),
        ).where(col(Dose.plan_id).in_(plan_ids))
        if keys is not None:
            query = query.where(col(Dose.key).in_(keys))
        for plan_id, epoch, key, *rest in self.session.execute(query):
            out[(plan_id, epoch, key)] = Stored(*rest)
        return out

    def _values(self, row: DoseRow, at: datetime, item: Item, closes: datetime) -> dict[str, Any]:
        taken = row.status == TAKEN
        return {
            "status": row.status,
            "taken_at": at if taken else None,
            "late": taken and at > closes,
            "confirmed_at": self.now,
            "confirmed_via": VIA,
            "confirmed_by": self.actor,
            "source": row.source,
            "note": row.note,
            "amount": row.amount if row.amount is not None else item.amount,
            "next_action_at": None,
            "snoozed_until": None,
            "updated_at": self.now,
        }

    def _change(self, stored: Stored, row: DoseRow, at: datetime) -> None:
        self._changes.append(
            {
                "dose_id": stored.id,
                "old_status": stored.status,
                "new_status": row.status,
                "old_taken_at": stored.taken_at,
                "new_taken_at": at if row.status == TAKEN else None,
                "changed_by": self.actor,
                "changed_at": self.now,
                "reason": REASON,
            }
        )

    def _update(self, stored: Stored, values: dict[str, Any]) -> None:
        result = self.session.execute(
            update(Dose)
            .where(
                col(Dose.id) == stored.id,
                col(Dose.status) == stored.status,
                col(Dose.updated_at) == stored.updated_at,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            raise Changed(f"dose {stored.id} changed while being imported")

    def apply(
        self,
        decision: Decision,
        row: DoseRow,
        ref: PlanRef,
        at: datetime,
        item: Item,
        key: str,
        closes: datetime,
    ) -> None:
        """Write a decision now (updates) or with the chunk's executemany (new doses)."""
        if decision.kind == "unchanged":
            return
        if decision.kind == "update":
            assert decision.stored is not None
            self._update(decision.stored, self._values(row, at, item, closes))
            self._change(decision.stored, row, at)
            return
        taken = row.status == TAKEN
        amount = row.amount if row.amount is not None else item.amount
        if self.sqlite:
            due = _text(item.at)
            self._inserts.append(
                (
                    ref.id,
                    ref.patient_id,
                    ref.epoch,
                    key,
                    item.occasion,
                    due,
                    item.local_date.isoformat(),
                    _hhmm(item.local_time),
                    item.day,
                    amount,
                    item.unit,
                    item.kind,
                    item.phase,
                    item.label,
                    item.earliest.isoformat() if item.earliest else None,
                    item.latest.isoformat() if item.latest else None,
                    _text(closes),
                    row.status,
                    1 if taken and at > closes else 0,
                    _text(at) if taken else None,
                    self.now_text,
                    VIA,
                    self.actor,
                    row.source,
                    row.note,
                    0,
                    None,
                    self.now_text,
                )
            )
            return
        values = self._values(row, at, item, closes)
        del values["snoozed_until"]
        self._inserts.append(
            {
                "plan_id": ref.id,
                "patient_id": ref.patient_id,
                "epoch": ref.epoch,
                "key": key,
                "occasion": item.occasion,
                "due_at": item.at,
                "local_date": item.local_date,
                "local_time": _hhmm(item.local_time),
                "day": item.day,
                "unit": item.unit,
                "kind": item.kind,
                "phase": item.phase,
                "label": item.label,
                "earliest": item.earliest,
                "latest": item.latest,
                "window_closes_at": closes,
                "nudges_sent": 0,
            }
            | values
        )

    def apply_one(
        self,
        decision: Decision,
        row: DoseRow,
        ref: PlanRef,
        at: datetime,
        item: Item,
        closes: datetime,
    ) -> Dose:
        """Write a decision at once and return the dose (for the engine's rules)."""
        session = self.session
        if decision.kind != "insert":
            assert decision.stored is not None
            if decision.kind == "update":
                self.apply(decision, row, ref, at, item, item.key, closes)
                self.flush()
            dose = session.get(Dose, decision.stored.id, populate_existing=True)
            assert dose is not None
            return dose
        dose = Dose(
            plan_id=ref.id,
            patient_id=ref.patient_id,
            epoch=ref.epoch,
            key=item.key,
            occasion=item.occasion,
            due_at=item.at,
            local_date=item.local_date,
            local_time=_hhmm(item.local_time),
            day=item.day,
            unit=item.unit,
            kind=item.kind,
            phase=item.phase,
            label=item.label,
            earliest=item.earliest,
            latest=item.latest,
            window_closes_at=closes,
            nudges_sent=0,
            **self._values(row, at, item, closes),
        )
        session.add(dose)
        session.flush()
        return dose

    def flush(self) -> None:
        """Insert the gathered new doses and dose changes."""
        if self._inserts:
            rows, self._inserts = self._inserts, []
            if self.sqlite:
                self.session.connection().exec_driver_sql(_SQLITE_INSERT, rows)
            else:
                self.session.connection().execute(insert(Dose), rows)
        if self._changes:
            changes, self._changes = self._changes, []
            self.session.connection().execute(insert(DoseChange), changes)


def _text(value: datetime) -> str:
    """``storage.utc.sqlite_text`` without its cache (history instants rarely repeat)."""
    return _utc_text(value.astimezone(UTC))


def _utc_text(utc: datetime) -> str:
    text = str(utc)[:-6]
    return text if utc.microsecond else text + ".000000"


@lru_cache(maxsize=4096)
def _hhmm(value: time) -> str:
    # A plan has a few dose times, shared by all its items: format each once.
    return value.strftime("%H:%M")
