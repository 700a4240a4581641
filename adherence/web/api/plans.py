"""A patient's plans, and one plan.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import col, select

from adherence.storage.models import Coordinator, Plan
from adherence.storage.public import PlanPublic
from adherence.web.api.deps import Deps, Id


def plan_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.get(
        "/patients/{patient_id}/plans", response_model=list[PlanPublic], summary="A patient's plans"
    )
    def patient_plans(me: Me, patient_id: Id) -> list[PlanPublic]:
        with deps.session() as s:
            deps.own_patient(s, me, patient_id)
            plans = s.exec(
                select(Plan).where(Plan.patient_id == patient_id).order_by(col(Plan.id))
            ).all()
            deps.audit(s, me, "read", f"patient:{patient_id}/plans", patient_id=patient_id)
            return [PlanPublic.of(p) for p in plans]

    @router.get("/plans/{plan_id}", response_model=PlanPublic, summary="One plan")
    def get_plan(me: Me, plan_id: Id) -> PlanPublic:
        with deps.session() as s:
            plan, patient = deps.own_plan(s, me, plan_id)
            deps.audit(s, me, "read", f"plan:{plan_id}", patient_id=patient.id)
            return PlanPublic.of(plan)

    return router
