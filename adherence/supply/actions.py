"""What the CLI and the coordinator API do with a plan's supply: record a fill (and move
the plan's refill instants to its new run-out at once), and read the supply as it is now.
One place, so both entry points answer the same."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from adherence.core.config import SupplySettings
from adherence.storage.models import Patient, Plan
from adherence.supply.onhand import Supply
from adherence.supply.records import Recorded, record_fill
from adherence.supply.schedule import refresh
from schedules import Catalog


def add_fill(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    patient: Patient,
    settings: SupplySettings,
    dispensed_on: date,
    days_supply: int,
    now: datetime,
    quantity: float | None = None,
    source: str = "",
    via: str = "cli",
    by: str = "",
) -> tuple[Recorded, Supply]:
    """Record the fill (``SupplyError`` names a bad field), refresh the plan's refill
    instants, commit. The engine's next tick resolves an open refill_overdue flag."""
    recorded = record_fill(
        session,
        catalog=catalog,
        plan=plan,
        dispensed_on=dispensed_on,
        days_supply=days_supply,
        now=now,
        today=now.astimezone(ZoneInfo(patient.tz)).date(),
        quantity=quantity,
        source=source,
        via=via,
        by=by,
    )
    supply = refresh(
        session, catalog=catalog, plan=plan, patient=patient, settings=settings, now=now
    )
    session.commit()
    return recorded, supply
