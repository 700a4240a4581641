"""``/workspace/signin`` and ``/workspace/signout``.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

A coordinator signs in with the token ``adherence coordinator add`` printed; the token is
checked once and never kept in the browser. A wrong token answers the form again with a
plain message (401), and says nothing about why.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from adherence.care.signin import sign_in, sign_out
from adherence.web.workspace.auth import (
    CSRF_FIELD,
    PRE_COOKIE,
    SESSION_COOKIE,
    Workspace,
    csrf_for,
    csrf_ok,
    read_form,
)
from adherence.web.workspace.errors import CsrfRejected
from adherence.web.workspace.render import page

log = logging.getLogger("adherence.workspace")

PRE_MAX_AGE = 3600


def _next(raw: str) -> str:
    # Only a path inside the workspace: never an open redirect to another site.
    if raw.startswith("/workspace/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/workspace/"


def signin_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()

    def _form(request: Request, *, error: str = "", status: int = 200, nxt: str = "") -> Response:
        pre = ws.pre_token(request)
        response = page(
            "signin.html",
            status_code=status,
            title="Sign in",
            signin_csrf=csrf_for(pre),
            error=error,
            signed_out=request.query_params.get("signed_out") == "1",
            next=_next(nxt or request.query_params.get("next", "")),
        )
        ws.set_cookie(response, request, PRE_COOKIE, pre, PRE_MAX_AGE)
        return response

    @router.get("/signin", summary="The sign-in form")
    def signin_form(request: Request) -> Response:
        return _form(request)

    @router.post("/signin", summary="Sign in with a coordinator token")
    async def signin(request: Request) -> Response:
        fields = await read_form(request)
        if not csrf_ok(request.cookies.get(PRE_COOKIE, ""), fields.get(CSRF_FIELD, "")):
            raise CsrfRejected()
        opened = await run_in_threadpool(_open, fields.get("token", ""))
        if opened is None:
            log.info("workspace sign-in refused")
            return _form(
                request,
                error="That token did not sign you in. Check it and try again.",
                status=401,
                nxt=fields.get("next", ""),
            )
        coordinator_id, raw = opened
        log.info("workspace sign-in coordinator=%s", coordinator_id)
        response = RedirectResponse(_next(fields.get("next", "")), status_code=303)
        ws.set_cookie(
            response, request, SESSION_COOKIE, raw, ws.settings.workspace.session_hours * 3600
        )
        ws.clear_cookie(response, request, PRE_COOKIE)
        return response

    def _open(token: str) -> tuple[int | None, str] | None:
        with ws.session() as s:
            opened = sign_in(s, token, now=ws.clock(), settings=ws.settings.workspace)
        if opened is None:
            return None
        found, raw = opened
        return found.coordinator.id, raw

    @router.post("/signout", summary="Sign out")
    async def signout(
        request: Request, fields: Annotated[dict[str, str], Depends(ws.form)]
    ) -> Response:
        raw = request.cookies.get(SESSION_COOKIE, "")
        await run_in_threadpool(_close, raw)
        response = RedirectResponse("/workspace/signin?signed_out=1", status_code=303)
        ws.clear_cookie(response, request, SESSION_COOKIE)
        return response

    def _close(raw: str) -> None:
        with ws.session() as s:
            sign_out(s, raw, now=ws.clock())

    return router
