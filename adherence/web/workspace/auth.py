"""Who is looking: the session cookie, the CSRF token every form carries, and the audit row
every page view of patient data writes.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

- The cookie (``msa_session``) is HttpOnly, SameSite=Lax, path ``/workspace``, and Secure
  whenever the workspace is served over HTTPS (``[workspace] secure_cookies``).
- CSRF: each form carries an HMAC of the session's own token (signed double submit), so it
  needs no server-side state and is worthless without the cookie. The sign-in form, before
  any session, is bound the same way to a short-lived random cookie. A POST without the
  right token raises ``CsrfRejected`` (403) before the route runs: nothing is changed.
- Form bodies are URL-encoded (every form here is), read at most ``MAX_FORM_BYTES``.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from sqlmodel import Session

from adherence.bootstrap import App
from adherence.care.measures.latest import PdcCache
from adherence.care.signin import signed_in
from adherence.core.tokens import new_token
from adherence.storage.audit import coordinator_actor, record
from adherence.storage.models import CareTeam, Coordinator, Patient
from adherence.web.workspace.errors import CsrfRejected, PageNotFound, SignInRequired

SESSION_COOKIE = "msa_session"
PRE_COOKIE = "msa_signin"  # binds the sign-in form's CSRF token before there is a session
CSRF_FIELD = "csrf"
COOKIE_PATH = "/workspace"
MAX_FORM_BYTES = 64 * 1024


def csrf_for(secret: str) -> str:
    return hmac.new(secret.encode(), b"workspace-form", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, sent: str) -> bool:
    return bool(secret) and hmac.compare_digest(csrf_for(secret), sent)


@dataclass(frozen=True)
class Viewer:
    """The signed-in coordinator, their team, and the CSRF token their forms carry."""

    coordinator: Coordinator
    team: CareTeam
    csrf: str

    @property
    def team_id(self) -> int:
        return self.coordinator.team_id

    @property
    def by(self) -> str:
        """How a change is attributed (as the API attributes it)."""
        return f"{self.coordinator.name} (coordinator:{self.coordinator.id})"


class Workspace:
    """The app, the clock and what every workspace route shares."""

    def __init__(self, app: App, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.clock = clock
        self.settings = app.settings
        # This app's latest PDC per patient, shared by the patient list and the team page:
        # a patient is measured again only when something it was measured from changed.
        self.pdc = PdcCache()

    def session(self) -> Session:
        return Session(self.app.engine, expire_on_commit=False)

    # --- cookies -----------------------------------------------------------------------

    def secure(self, request: Request) -> bool:
        mode = self.settings.workspace.secure_cookies
        if mode != "auto":
            return mode == "always"
        return (
            self.settings.http.public_base_url.startswith("https://")
            or request.url.scheme == "https"
        )

    def set_cookie(self, response: Response, request: Request, name: str, value: str,
                   max_age: int) -> None:  # fmt: skip
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )

    def clear_cookie(self, response: Response, request: Request, name: str) -> None:
        response.delete_cookie(
            name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=self.secure(request)
        )

    def pre_token(self, request: Request) -> str:
        """The sign-in form's cookie value (a fresh one when the browser has none yet)."""
        raw = request.cookies.get(PRE_COOKIE, "")
        return raw if raw.startswith("msp_") and len(raw) < 100 else new_token("msp_")

    # --- dependencies ------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer:
        """The signed-in coordinator, or ``SignInRequired`` (a 303 to the sign-in form)."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        if not raw:
            raise SignInRequired()
        with self.session() as s:
            found = signed_in(s, raw, now=self.clock(), settings=self.settings.workspace)
            if found is None:
                raise SignInRequired()
            team = s.get(CareTeam, found.coordinator.team_id)
        assert team is not None
        viewer = Viewer(coordinator=found.coordinator, team=team, csrf=csrf_for(raw))
        request.state.viewer = viewer  # the error pages show the same header and sign-out
        return viewer

    async def form(self, request: Request) -> dict[str, str]:
        """The posted form, once its CSRF token is checked against the session cookie."""
        fields = await read_form(request)
        if not csrf_ok(request.cookies.get(SESSION_COOKIE, ""), fields.get(CSRF_FIELD, "")):
            raise CsrfRejected()
        return fields

    # --- lookups and the audit row -----------------------------------------------------

    def own_patient(self, s: Session, viewer: Viewer, patient_id: int) -> Patient:
        patient = s.get(Patient, patient_id)
        if patient is None or patient.team_id != viewer.team_id:
            raise PageNotFound("patient")  # the same page for another team's id and for none
        return patient

    def audit(
        self,
        s: Session,
        viewer: Viewer,
        action: str,
        resource: str,
        *,
        patient_id: int | None = None,
        **details: Any,
    ) -> None:
        """One audit row (committed), as the API writes, marked as seen in the workspace."""
        record(
            s,
            actor=coordinator_actor(viewer.coordinator),
            team_id=viewer.team_id,
            action=action,
            resource=resource,
            patient_id=patient_id,
            details={"via": "workspace", **details},
            now=self.clock(),
        )
        s.commit()


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded body as a dict (the last value of a repeated field wins)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise CsrfRejected()  # no form of ours is this large
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
