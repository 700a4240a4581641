"""The public shape of a plan's home supply: one model, used by the coordinator API (its
responses and /openapi.json) and by ``adherence supply list --json``.

Dates are the patient's local dates; instants are given in the patient's zone. A value
that does not apply (no fill yet, nothing pending) is ``null``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from adherence.storage.models import Dispense, Plan
from adherence.storage.public import Instant
from adherence.supply.onhand import Supply


class FillPublic(BaseModel):
    id: int
    plan_id: int
    dispensed_on: date
    days_supply: int
    quantity: float | None = Field(description="Doses supplied (tablets, syringes), if known.")
    source: str
    recorded_via: str
    recorded_by: str
    created_at: Instant

    @classmethod
    def of(cls, fill: Dispense, zone: ZoneInfo) -> FillPublic:
        return cls(
            id=fill.id or 0,
            plan_id=fill.plan_id,
            dispensed_on=fill.dispensed_on,
            days_supply=fill.days_supply,
            quantity=fill.quantity,
            source=fill.source,
            recorded_via=fill.recorded_via,
            recorded_by=fill.recorded_by,
            created_at=fill.created_at.astimezone(zone),
        )


class SupplyPublic(BaseModel):
    plan_id: int
    today: date = Field(description="The patient's local date the figures are for.")
    fills: list[FillPublic]
    on_hand_doses: float
    on_hand_days: int
    runs_out: date | None = Field(description="The day of the first dose not on hand.")
    pqa_runs_out: date | None = Field(
        description="The first day PQA's carried-forward cover misses (fills only)."
    )
    refill_allowed_from: date | None = Field(
        description="From when the insurer allows a refill ([supply] refill_allowed_fraction)."
    )
    remind_on: date | None
    overdue_on: date | None
    refill_remind_at: Instant | None = Field(description="The pending refill text, if any.")
    refill_overdue_at: Instant | None = Field(description="The pending overdue check, if any.")
    refill_ordered_at: Instant | None = Field(
        description="The patient's reply that the refill is ordered, after the last fill."
    )

    @classmethod
    def of(cls, plan: Plan, supply: Supply, zone: ZoneInfo) -> SupplyPublic:
        def local(at: datetime | None) -> datetime | None:
            return at.astimezone(zone) if at is not None else None

        return cls(
            plan_id=plan.id or 0,
            today=supply.today,
            fills=[FillPublic.of(f, zone) for f in supply.fills],
            on_hand_doses=supply.on_hand_doses,
            on_hand_days=supply.on_hand_days,
            runs_out=supply.runs_out,
            pqa_runs_out=supply.pqa_runs_out,
            refill_allowed_from=supply.refill_allowed_from,
            remind_on=supply.remind_on,
            overdue_on=supply.overdue_on,
            refill_remind_at=local(plan.refill_remind_at),
            refill_overdue_at=local(plan.refill_overdue_at),
            refill_ordered_at=local(supply.refill_ordered_at),
        )
