"""The coordinator workspace under ``/workspace/``: server-rendered pages for the people who
work the call list every morning.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

One module per page (``today``: the call list; ``patients``: the list and search;
``patient``: one patient's page; ``patient_actions``: its forms (appointments, feed link,
exports, dose entry); ``summary``: the visit summary (HTML, PDF); ``flags``: acknowledge and resolve; ``team``: the team's measures), sharing
``auth`` (session cookie, CSRF, the team-scoped lookups and the audit row), ``render``
(Jinja2 templates, security headers) and ``errors`` (sign-in redirect, 403, 404 pages).
Routes that touch the database are plain ``def`` (FastAPI's threadpool), as in the API.
"""

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from adherence.bootstrap import App
from adherence.web.workspace.auth import Workspace
from adherence.web.workspace.checkins import checkin_routes
from adherence.web.workspace.errors import PageNotFound, install_handlers
from adherence.web.workspace.flags import flag_routes
from adherence.web.workspace.patient import patient_routes
from adherence.web.workspace.patient_actions import action_routes
from adherence.web.workspace.patients import patients_routes
from adherence.web.workspace.render import STATIC
from adherence.web.workspace.signin import signin_routes
from adherence.web.workspace.summary import summary_routes
from adherence.web.workspace.team import team_routes
from adherence.web.workspace.today import today_routes


def install_workspace(web: FastAPI, app: App, *, clock: Callable[[], datetime]) -> None:
    """Mount the workspace's pages, its stylesheet and its error pages on ``web``."""
    ws = Workspace(app, clock)
    router = APIRouter(prefix="/workspace", include_in_schema=False)
    for routes in (
        signin_routes,
        today_routes,
        flag_routes,
        patients_routes,
        patient_routes,
        action_routes,
        checkin_routes,
        summary_routes,
        team_routes,
    ):
        router.include_router(routes(ws))
    web.include_router(router)
    web.mount("/workspace/static", StaticFiles(directory=STATIC), name="workspace-static")

    @web.get("/workspace/{rest:path}", include_in_schema=False)
    def unknown_page(rest: str) -> None:
        raise PageNotFound("page")  # an HTML 404 page, not the API's JSON

    install_handlers(web)
