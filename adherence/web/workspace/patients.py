"""``/workspace/patients``: the team's patients, searched and filtered.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlmodel import col, select

from adherence.storage.models import Patient
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.render import page


def patients_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/patients", summary="The team's patients")
    def patients(me: Me) -> Response:
        with ws.session() as s:
            rows = s.exec(
                select(Patient).where(Patient.team_id == me.team_id).order_by(col(Patient.name))
            ).all()
            ws.audit(s, me, "read", "workspace:patients", count=len(rows))
        return page(
            "patients.html", viewer=me, csrf=me.csrf, nav="patients", title="Patients", rows=rows
        )

    return router
