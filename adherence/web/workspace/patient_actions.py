"""The patient page's forms: appointments, the calendar feed link, exports, dose entry.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``actions_context`` gives the patient page what its action sections show (rendered by
``templates/patient_actions.html``, included in the patient page, under the one key
``actions``); ``action_routes`` are the POST routes (and downloads) those sections call.
Each POST is CSRF-checked (``ws.form``), audited, and answered with a 303 back to the
patient page with a ``?notice=`` code from ``ACTION_NOTICES``; a refused form is answered
with the sections again (422), the field named. The parts live in ``actions/``.
"""

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session

from adherence.storage.models import Patient
from adherence.web.workspace.actions.appointments import appointment_routes
from adherence.web.workspace.actions.checks import CHECK_NOTICES, check_routes
from adherence.web.workspace.actions.context import build
from adherence.web.workspace.actions.doses import dose_routes
from adherence.web.workspace.actions.exports import export_routes
from adherence.web.workspace.actions.feed import feed_routes
from adherence.web.workspace.actions.forms import NOTICES
from adherence.web.workspace.actions.visits import VISIT_NOTICES, visit_routes
from adherence.web.workspace.auth import Viewer, Workspace

ACTION_NOTICES = {
    **NOTICES,
    **VISIT_NOTICES,
    **CHECK_NOTICES,
}  # ?notice= code -> the sentence the patient page shows


def actions_context(ws: Workspace, s: Session, viewer: Viewer, patient: Patient) -> dict[str, Any]:
    """What the action sections of ``patient``'s page need (read in the page's session)."""
    return {"actions": build(s, patient, ws.clock())}


def action_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    for routes in (appointment_routes, feed_routes, export_routes, dose_routes, visit_routes,
                   check_routes):  # fmt: skip
        router.include_router(routes(ws))
    return router
