"""``/plans/{plan_id}/supply``: a plan's home supply, and recording a pharmacy fill.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The same figures as ``adherence supply list`` (``adherence.supply.actions``): fills, doses
on hand, when the supply runs out (by the draw-down and by PQA), from when a refill is
allowed, and the pending refill text and overdue check. Recording a fill answers 201 with
the fill, or 200 when the same fill was already recorded (an import sent twice).
"""

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from adherence.storage.models import Coordinator
from adherence.supply.actions import add_fill
from adherence.supply.onhand import supply_of
from adherence.supply.public import FillPublic, SupplyPublic
from adherence.supply.records import MAX_DAYS_SUPPLY, SupplyError
from adherence.web.api.deps import Deps, Id, invalid


class FillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dispensed: date = Field(description="The date dispensed (the patient's local date).")
    days_supply: int = Field(ge=1, le=MAX_DAYS_SUPPLY, description="Days the fill supplies.")
    quantity: float | None = Field(
        default=None, gt=0, description="Doses supplied (tablets, syringes, pens), if known."
    )
    source: str = Field(default="", max_length=200, description="Where the record came from.")


class FillOut(BaseModel):
    created: bool = Field(description="False: the same fill was already recorded.")
    fill: FillPublic
    supply: SupplyPublic


# SupplyError messages start with the field they are about.
_FIELDS = {"days_supply": "days_supply", "quantity": "quantity", "dispensed": "dispensed"}


def supply_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.get(
        "/plans/{plan_id}/supply",
        response_model=SupplyPublic,
        summary="A plan's home supply: fills, on hand, run-out, refill dates",
    )
    def get_supply(me: Me, plan_id: Id) -> SupplyPublic:
        with deps.session() as s:
            plan, patient = deps.own_plan(s, me, plan_id)
            supply = supply_of(
                s,
                catalog=deps.app.catalog,
                plan=plan,
                patient=patient,
                settings=deps.app.settings.supply,
                now=deps.clock(),
            )
            out = SupplyPublic.of(plan, supply, ZoneInfo(patient.tz))
            deps.audit(
                s, me, "read", f"plan:{plan_id}/supply", patient_id=patient.id, count=len(out.fills)
            )
            return out

    @router.post(
        "/plans/{plan_id}/supply",
        response_model=FillOut,
        status_code=201,
        summary="Record a pharmacy fill (200 if the same fill was already recorded)",
        responses={200: {"model": FillOut, "description": "The fill was already recorded."}},
    )
    def post_fill(me: Me, plan_id: Id, body: FillIn, response: Response) -> FillOut:
        with deps.session() as s:
            plan, patient = deps.own_plan(s, me, plan_id)
            try:
                recorded, supply = add_fill(
                    s,
                    catalog=deps.app.catalog,
                    plan=plan,
                    patient=patient,
                    settings=deps.app.settings.supply,
                    dispensed_on=body.dispensed,
                    days_supply=body.days_supply,
                    now=deps.clock(),
                    quantity=body.quantity,
                    source=body.source,
                    via="api",
                    by=f"{me.name} (coordinator:{me.id})",
                )
            except SupplyError as exc:
                s.rollback()
                message = str(exc)
                word = message.split(" ", 1)[0]
                if word in _FIELDS:
                    raise invalid(_FIELDS[word], message, where="body") from None
                raise invalid("plan_id", message, where="path") from None  # given in clinic
            if not recorded.created:
                response.status_code = 200
            zone = ZoneInfo(patient.tz)
            out = FillOut(
                created=recorded.created,
                fill=FillPublic.of(recorded.fill, zone),
                supply=SupplyPublic.of(plan, supply, zone),
            )
            deps.audit(
                s,
                me,
                "dispense",
                f"plan:{plan_id}/supply",
                patient_id=patient.id,
                fill_id=recorded.fill.id,
                created=recorded.created,
            )
            return out

    return router
