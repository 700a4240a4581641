"""The patient page's forms: appointments, the calendar feed link, exports, dose entry.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``actions_context`` gives the patient page what its action sections show (rendered by
``templates/patient_actions.html``, included in the patient page); ``action_routes`` are
the POST routes (and downloads) those sections call.
"""

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session

from adherence.storage.models import Patient
from adherence.web.workspace.auth import Viewer, Workspace


def actions_context(ws: Workspace, s: Session, viewer: Viewer, patient: Patient) -> dict[str, Any]:
    """What the action sections of ``patient``'s page need (read in the page's session)."""
    return {}


def action_routes(ws: Workspace) -> APIRouter:
    return APIRouter()
