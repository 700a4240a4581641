"""Pharmacy fills of a plan's home supply: validated, recorded once.

Pills and self-injections are dispensed to the patient (28/30-day specialty-pharmacy
shipments); infusions given in clinic have no home supply, so a fill for one is refused.
A fill is unique by (plan, date dispensed, days supplied, source): recording the same one
again (a file imported twice) finds the row already there and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adherence.storage.models import Dispense, Plan
from schedules import Catalog

HOME_SUPPLY_KINDS = ("oral", "injectable")  # therapy kinds the patient keeps at home
MAX_DAYS_SUPPLY = 365


class SupplyError(ValueError):
    """A fill that cannot be recorded; the message names the field."""


@dataclass(frozen=True)
class Recorded:
    fill: Dispense
    created: bool  # False: the same fill was already recorded


def has_home_supply(catalog: Catalog, plan: Plan) -> bool:
    return catalog.get(plan.regimen).kind in HOME_SUPPLY_KINDS


def check_fill(
    catalog: Catalog,
    plan: Plan,
    *,
    dispensed_on: date,
    days_supply: int,
    quantity: float | None,
    today: date,
) -> None:
    """Raise ``SupplyError`` naming the field when a fill cannot be recorded."""
    therapy = catalog.get(plan.regimen)
    if therapy.kind not in HOME_SUPPLY_KINDS:
        raise SupplyError(
            f"plan {plan.id} ({therapy.kind}) is given in clinic: it has no home supply"
        )
    if not 1 <= days_supply <= MAX_DAYS_SUPPLY:
        raise SupplyError(f"days_supply {days_supply} must be between 1 and {MAX_DAYS_SUPPLY}")
    if quantity is not None and not quantity > 0:
        raise SupplyError(f"quantity {quantity:g} must be more than 0")
    if dispensed_on > today:
        raise SupplyError(f"dispensed {dispensed_on.isoformat()} is in the future")


def record_fill(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    dispensed_on: date,
    days_supply: int,
    now: datetime,
    today: date,
    quantity: float | None = None,
    source: str = "",
    via: str = "cli",
    by: str = "",
) -> Recorded:
    """Record a fill (flushed, not committed: the caller commits it with whatever else it
    records, so an import applies a row whole or not at all)."""
    check_fill(
        catalog,
        plan,
        dispensed_on=dispensed_on,
        days_supply=days_supply,
        quantity=quantity,
        today=today,
    )
    source = source.strip()[:200]
    existing = find_fill(
        session,
        plan_id=plan.id or 0,
        dispensed_on=dispensed_on,
        days_supply=days_supply,
        source=source,
    )
    if existing is not None:
        return Recorded(existing, created=False)
    fill = Dispense(
        plan_id=plan.id or 0,
        patient_id=plan.patient_id,
        dispensed_on=dispensed_on,
        days_supply=days_supply,
        quantity=quantity,
        source=source,
        recorded_via=via,
        recorded_by=by[:200],
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(fill)
    except IntegrityError:
        # Another writer recorded the same fill between our read and our insert.
        again = find_fill(
            session,
            plan_id=plan.id or 0,
            dispensed_on=dispensed_on,
            days_supply=days_supply,
            source=source,
        )
        if again is None:
            raise
        return Recorded(again, created=False)
    # Recomputed by the engine from the fills: the next pass sees this one at once.
    plan.supply_checked_on = None
    session.add(plan)
    return Recorded(fill, created=True)


def find_fill(
    session: Session, *, plan_id: int, dispensed_on: date, days_supply: int, source: str
) -> Dispense | None:
    return session.exec(
        select(Dispense).where(
            Dispense.plan_id == plan_id,
            Dispense.dispensed_on == dispensed_on,
            Dispense.days_supply == days_supply,
            Dispense.source == source,
        )
    ).first()


def fills_of(session: Session, plan_id: int) -> list[Dispense]:
    """A plan's fills in the order PQA reads them (date dispensed, then as recorded)."""
    return list(
        session.exec(
            select(Dispense)
            .where(Dispense.plan_id == plan_id)
            .order_by(col(Dispense.dispensed_on), col(Dispense.id))
        ).all()
    )
