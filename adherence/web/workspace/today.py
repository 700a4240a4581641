"""``/workspace/``: today's call list (the landing page).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.render import page


def today_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/", summary="Today's call list")
    def today(me: Me) -> Response:
        with ws.session() as s:
            ws.audit(s, me, "read", "workspace:calls")
        return page("today.html", viewer=me, csrf=me.csrf, nav="today", title="Today", rows=[])

    return router
