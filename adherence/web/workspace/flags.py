"""``/workspace/flags/{id}/ack`` and ``/resolve``: a flag acknowledged or resolved from the
call list or the patient page.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from fastapi import APIRouter

from adherence.web.workspace.auth import Workspace


def flag_routes(ws: Workspace) -> APIRouter:
    return APIRouter()
