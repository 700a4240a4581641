"""PDC from dispensing records, the way PQA's PDC-MS measure counts it from pharmacy claims.

The treatment period starts on the first fill dispensed in the measurement period (the
index date) and ends with the period; each fill supplies its days from the day it was
dispensed, an early refill's overlap is carried forward (``supply.coverage``), supply past
the period's end is not counted, and when two fills of a plan were dispensed on the same
day only the one with the longest days supply counts. This is the payer's view of
adherence: it says the medication was in the patient's hands, where the confirmation PDC
(``pdc``) says the patient answered that each dose was taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from adherence.storage.models import Dispense, Patient, Plan
from adherence.supply.coverage import cover_chain, union


@dataclass
class DispensingCover:
    """One plan's (or a patient's) PDC from fills over a period."""

    fills: int = 0
    index_date: date | None = None
    days_in_period: int = 0
    days_covered: float = 0.0
    cover: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def pdc(self) -> float | None:
        if self.index_date is None or not self.days_in_period:
            return None
        return self.days_covered / self.days_in_period

    def to_json(self, threshold: float) -> dict[str, Any] | None:
        if self.index_date is None:
            return None
        pdc = self.pdc
        return {
            "pdc_basis": "dispensing",
            "fills": self.fills,
            "index_date": self.index_date.isoformat(),
            "days_in_period": self.days_in_period,
            "days_covered": round(self.days_covered, 4),
            "pdc": None if pdc is None else round(pdc, 4),
            "adherent": None if pdc is None else pdc >= threshold,
        }


def fills_by_plan(
    session: Session, plan_ids: list[int] | None, team_id: int | None, *, start: date, end: date
) -> dict[int, list[tuple[date, int]]]:
    """(dispensed on, days supply) of each plan's fills in the period, in date order."""
    stmt = select(
        col(Dispense.plan_id), col(Dispense.dispensed_on), col(Dispense.days_supply)
    ).where(col(Dispense.dispensed_on) >= start, col(Dispense.dispensed_on) <= end)
    if plan_ids is not None:
        stmt = stmt.where(col(Dispense.plan_id).in_(plan_ids))
    if team_id is not None:
        members = select(col(Patient.id)).where(col(Patient.team_id) == team_id)
        stmt = stmt.where(
            col(Dispense.plan_id).in_(select(col(Plan.id)).where(col(Plan.patient_id).in_(members)))
        )
    out: dict[int, list[tuple[date, int]]] = {}
    for plan_id, day, supply in session.execute(
        stmt.order_by(col(Dispense.dispensed_on), col(Dispense.id))
    ):
        out.setdefault(plan_id, []).append((day, supply))
    return out


def dispensing_cover(fills: Iterable[tuple[date, int]], *, end: date) -> DispensingCover:
    """PQA's PDC from ``fills`` (all inside the period) up to ``end`` inclusive."""
    longest: dict[date, int] = {}
    for day, supply in fills:
        longest[day] = max(supply, longest.get(day, 0))
    if not longest:
        return DispensingCover()
    index = min(longest)
    lo, hi = float(index.toordinal()), float(end.toordinal() + 1)
    covered, _, merged = cover_chain(
        ((float(d.toordinal()), float(n)) for d, n in sorted(longest.items())), lo, hi
    )
    return DispensingCover(
        fills=len(longest),
        index_date=index,
        days_in_period=int(hi - lo),
        days_covered=covered,
        cover=merged,
    )


def combine_cover(plans: Iterable[DispensingCover], *, end: date) -> DispensingCover:
    """A patient's days in hand from any plan's fills (a switch of therapy is no gap)."""
    indexed = [p for p in plans if p.index_date is not None]
    if not indexed:
        return DispensingCover()
    index = min(p.index_date for p in indexed if p.index_date is not None)
    lo, hi = float(index.toordinal()), float(end.toordinal() + 1)
    merged = union([iv for p in indexed for iv in p.cover])
    return DispensingCover(
        fills=sum(p.fills for p in indexed),
        index_date=index,
        days_in_period=int(hi - lo),
        days_covered=round(sum(b - a for a, b in merged), 9),
    )
