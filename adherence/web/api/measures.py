"""Adherence measures: a patient's and the care team's.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from adherence.storage.models import CareTeam, Coordinator
from adherence.web.api.deps import Deps, FromQ, Id, ToQ, date_range, invalid


class MeasuresOut(BaseModel):
    scope: str = Field(description='"patient:<id>" or "team:<id>"')
    today: date = Field(description="Today in the patient's (or team's) zone.")
    periods: dict[str, dict[str, Any]] = Field(
        description='Per period ("30d", "90d", "365d", or "custom" with from/to) the measures.'
    )


def periods(today: date, start: date | None, end: date | None) -> dict[str, tuple[date, date]]:
    from adherence.care.measures import default_periods

    if start is None and end is None:
        return dict(default_periods(today))
    if start is None or end is None:
        missing = "from" if start is None else "to"
        raise invalid(missing, "give both from and to, or neither (30/90/365 days)")
    return {"custom": date_range(start, end, default=(start, end), max_days=3 * 366)}


def measure_routes(deps: Deps) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Coordinator, Depends(deps.current_coordinator)]
    app = deps.app

    @router.get(
        "/patients/{patient_id}/measures",
        response_model=MeasuresOut,
        summary="A patient's adherence measures (default: last 30, 90 and 365 days)",
    )
    def patient_measures(
        me: Me, patient_id: Id, start: FromQ = None, end: ToQ = None
    ) -> MeasuresOut:
        from adherence.care.measures import measure_patient

        with deps.session() as s:
            patient = deps.own_patient(s, me, patient_id)
            now = deps.clock()
            today = now.astimezone(ZoneInfo(patient.tz)).date()
            out: dict[str, dict[str, Any]] = {}
            for name, (first, last) in periods(today, start, end).items():
                result = measure_patient(
                    s, patient, start=first, end=last, catalog=app.catalog, settings=app.settings,
                    now=now,
                )  # fmt: skip
                out[name] = result.to_json()
            deps.audit(
                s,
                me,
                "read",
                f"patient:{patient_id}/measures",
                patient_id=patient_id,
                periods=sorted(out),
            )
            return MeasuresOut(scope=f"patient:{patient_id}", today=today, periods=out)

    @router.get(
        "/team/measures",
        response_model=MeasuresOut,
        summary="The care team's adherence measures (default: last 30, 90 and 365 days)",
    )
    def team_measures(
        me: Me,
        start: FromQ = None,
        end: ToQ = None,
        per_patient: Annotated[
            bool, Query(description="Also each patient's measures (large for a big team).")
        ] = False,
    ) -> MeasuresOut:
        from adherence.care.measures import measure_team

        with deps.session() as s:
            team = s.get(CareTeam, me.team_id)
            assert team is not None  # a coordinator's team is a foreign key
            now = deps.clock()
            today = now.astimezone(ZoneInfo(team.tz)).date()
            out: dict[str, dict[str, Any]] = {}
            for name, (first, last) in periods(today, start, end).items():
                result = measure_team(
                    s, team, start=first, end=last, catalog=app.catalog, settings=app.settings,
                    now=now,
                )  # fmt: skip
                out[name] = result.to_json(patients=per_patient)
            deps.audit(
                s,
                me,
                "read",
                f"team:{team.id}/measures",
                periods=sorted(out),
                per_patient=per_patient,
            )
            return MeasuresOut(scope=f"team:{team.id}", today=today, periods=out)

    return router
