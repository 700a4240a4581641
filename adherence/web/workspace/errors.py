"""The workspace's answers that are not pages of their own: sign in first (303), a form
without a valid CSRF token (403), and not found (404, for another team's ids too).

Raised anywhere below a route and turned into HTML here, so that a route reads as the
happy path. Installed on the app by ``install_handlers``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from adherence.web.workspace.render import page

SIGNIN = "/workspace/signin"


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in form, then back here."""


class CsrfRejected(Exception):
    """A POST whose CSRF token is missing or wrong: nothing was changed."""


class PageNotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _signin(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.method == "GET" and target.startswith("/workspace/") and target != SIGNIN:
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"{SIGNIN}?next={quote(target, safe='')}", status_code=303)
    return RedirectResponse(SIGNIN, status_code=303)


def _signed_in(request: Request) -> dict[str, object]:
    viewer = getattr(request.state, "viewer", None)
    return {"viewer": viewer, "csrf": viewer.csrf if viewer else ""}


def _csrf(request: Request, exc: Exception) -> Response:
    return page(
        "error.html",
        status_code=403,
        title="Form expired",
        **_signed_in(request),
        message="This form was out of date or not sent from the workspace, so nothing was "
        "changed. Go back, reload the page and try again.",
    )


def _not_found(request: Request, exc: Exception) -> Response:
    what = exc.what if isinstance(exc, PageNotFound) else "page"
    return page(
        "error.html",
        status_code=404,
        title="Not found",
        message=f"There is no {what} here for your care team.",
        **_signed_in(request),
    )


def install_handlers(web: FastAPI) -> None:
    web.add_exception_handler(SignInRequired, _signin)
    web.add_exception_handler(CsrfRejected, _csrf)
    web.add_exception_handler(PageNotFound, _not_found)
