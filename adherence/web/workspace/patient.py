"""``/workspace/patients/{id}``: one patient's page.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.patient_actions import ACTION_NOTICES, actions_context
from adherence.web.workspace.render import page

# Out-of-range ids are the same 404 page as unknown ones (not FastAPI's JSON 422).
MAX_ID = 2**31 - 1


def patient_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/patients/{patient_id}", summary="A patient's page")
    def patient_page(
        me: Me, patient_id: Annotated[str, Path()], notice: Annotated[str, Query()] = ""
    ) -> Response:
        if not patient_id.isdigit() or not 1 <= int(patient_id) <= MAX_ID:
            raise PageNotFound("patient")
        with ws.session() as s:
            patient = ws.own_patient(s, me, int(patient_id))
            ws.audit(s, me, "read", f"patient:{patient.id}", patient_id=patient.id)
            actions = actions_context(ws, s, me, patient)
        return page(
            "patient.html",
            viewer=me,
            csrf=me.csrf,
            nav="patients",
            title=patient.name,
            patient=patient,
            notice=ACTION_NOTICES.get(notice, ""),
            **actions,
        )

    return router
