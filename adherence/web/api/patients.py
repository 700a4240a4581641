"""``/patients``: the coordinator's team's patients.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, func, select

from adherence.storage.models import Coordinator, Patient
from adherence.storage.public import PatientPage, PatientPublic
from adherence.web.api.deps import MAX_OFFSET, Deps, Id


def patient_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.get("/patients", response_model=PatientPage, summary="The team's patients")
    def list_patients(
        me: Me,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        include_removed: Annotated[bool, Query(description="Also removed patients.")] = False,
    ) -> PatientPage:
        with deps.session() as s:
            query = select(Patient).where(Patient.team_id == me.team_id)
            if not include_removed:
                query = query.where(Patient.active == True)  # noqa: E712
            total = s.exec(select(func.count()).select_from(query.subquery())).one()
            rows = s.exec(query.order_by(col(Patient.id)).offset(offset).limit(limit)).all()
            page = PatientPage(
                items=[PatientPublic.of(p) for p in rows], total=total, limit=limit, offset=offset
            )
            deps.audit(s, me, "read", "patients", count=len(rows), offset=offset)
            return page

    @router.get("/patients/{patient_id}", response_model=PatientPublic, summary="One patient")
    def get_patient(me: Me, patient_id: Id) -> PatientPublic:
        with deps.session() as s:
            patient = deps.own_patient(s, me, patient_id)
            deps.audit(s, me, "read", f"patient:{patient_id}", patient_id=patient_id)
            return PatientPublic.of(patient)

    return router
