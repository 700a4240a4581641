"""A patient's doses between two local dates.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from sqlmodel import col, select

from adherence.storage.models import Coordinator, Dose
from adherence.storage.public import DosePublic
from adherence.web.api.deps import MAX_DOSE_SPAN_DAYS, Deps, FromQ, Id, ToQ, date_range, span


def dose_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]

    @router.get(
        "/patients/{patient_id}/doses",
        response_model=list[DosePublic],
        summary="A patient's doses between two local dates (default: 30 days back, 14 ahead)",
    )
    def patient_doses(
        me: Me, patient_id: Id, start: FromQ = None, end: ToQ = None
    ) -> list[DosePublic]:
        with deps.session() as s:
            patient = deps.own_patient(s, me, patient_id)
            zone = ZoneInfo(patient.tz)
            today = deps.clock().astimezone(zone).date()
            first, last = date_range(
                start,
                end,
                default=(today - timedelta(days=30), today + timedelta(days=14)),
                max_days=MAX_DOSE_SPAN_DAYS,
            )
            rows = s.exec(
                select(Dose)
                .where(
                    Dose.patient_id == patient_id,
                    Dose.local_date >= first,
                    Dose.local_date <= last,
                )
                .order_by(col(Dose.due_at), col(Dose.id))
            ).all()
            out = [DosePublic.of(d, zone) for d in rows]
            deps.audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/doses",
                patient_id=patient_id,
                **span(first, last),
                count=len(out),
            )
            return out

    return router
