"""A new calendar feed link for the patient: ``POST /patients/{id}/calendar/rotate``.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Only the token's hash is kept, so the new link exists in the clear once: on the page this
POST answers (200, never cached, never in a URL the browser is sent to, never logged). The
old link stops working at once; a calendar subscribed to it must subscribe to the new one.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from adherence.calendar.links import feed_urls, rotate
from adherence.web.workspace.actions.context import build
from adherence.web.workspace.actions.forms import Refused, parse_id, sections
from adherence.web.workspace.auth import Viewer, Workspace


def feed_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]

    @router.post("/patients/{patient_id}/calendar/rotate", summary="A new calendar feed link")
    def rotate_feed(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            if not patient.active:
                refused = Refused("rotate", "", "This patient was removed: no calendar feed.")
                return sections(ws, s, me, patient, status_code=422, refused=refused)
            had = bool(patient.calendar_token_hash)
            token = rotate(s, patient, now=ws.clock())
            ws.audit(s, me, "rotate", f"patient:{patient.id}/calendar", patient_id=patient.id,
                     replaced=had)  # fmt: skip
            actions = build(s, patient, ws.clock())
            actions.new_feed = feed_urls(ws.settings, token)
            return sections(ws, s, me, patient, status_code=200, actions=actions)

    return router
