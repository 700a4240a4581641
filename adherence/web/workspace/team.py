"""``/workspace/team``: the team's measures.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.render import page


def team_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/team", summary="The team's measures")
    def team(me: Me) -> Response:
        with ws.session() as s:
            ws.audit(s, me, "read", "workspace:team")
        return page("team.html", viewer=me, csrf=me.csrf, nav="team", title="Team")

    return router
