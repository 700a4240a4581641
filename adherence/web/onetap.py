"""The patient's one-tap page (``/c/{token}``): Taken and Skip for one dose.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

- ``GET`` / ``HEAD`` only read: a messenger's link preview or a mail scanner that fetches the
  link records nothing. The page shows the dose as the texts do (discreet unless the patient
  opted in), in the patient's language, with two POST buttons.
- ``POST`` records the answer (``adherence.dosing.onetap.confirm_through``, ``via="link"``)
  and shows what was recorded, or that an answer (by text, say) was already there.
- The page is reached without a session, so its form is bound to the link itself: a hidden
  HMAC of the token (``form_key``). A POST that a browser says came from another site
  (``Sec-Fetch-Site``, or an ``Origin`` that is not ours) is refused with a plain 403 page,
  as is one without the right form key; nothing is changed then.
- A link that expired or was used answers 410, one that was never ours 404: the same plain
  page, with no dose information, asking the patient to reply to the text instead.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from adherence.bootstrap import App
from adherence.dosing import onetap
from adherence.dosing.confirm import ConfirmError
from adherence.web.workspace.auth import read_form
from adherence.web.workspace.errors import CsrfRejected
from adherence.web.workspace.render import page
from notifiers import texts

log = logging.getLogger("adherence.web.onetap")

Token = Annotated[str, Path(max_length=200)]
ANSWERS = ("taken", "skipped")
HEADERS = {"X-Robots-Tag": "noindex, nofollow"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def onetap_routes(app: App, *, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    settings = app.settings
    ours = {_origin(settings.http.public_base_url)}

    def session() -> Session:
        return Session(app.engine, expire_on_commit=False)

    def gone(status_code: int, notice: dict[str, tuple[str, str]] = texts.LINK_GONE) -> Response:
        """The plain page: no dose information, in every language (whose link it was is
        not known, or not to be told)."""
        response = page(
            "onetap.html", status_code=status_code, title=notice["en"][0],
            language="en", gone=notice, words={}, state="gone", token="", key="",
        )  # fmt: skip
        response.headers.update(HEADERS)
        return response

    def shown(
        linked: onetap.Linked, state: str, token: str, taken_at: datetime | None, status: int = 200
    ) -> Response:
        zone = ZoneInfo(linked.patient.tz)
        taken = "" if taken_at is None else taken_at.astimezone(zone).strftime("%H:%M")
        words = texts.page_texts(linked.info, taken_time=taken)
        response = page(
            "onetap.html", status_code=status, title=words["title"],
            language=texts.language_of(linked.info.language), gone={}, words=words,
            state=state, token=token, key=onetap.form_key(token),
        )  # fmt: skip
        response.headers.update(HEADERS)
        return response

    def state_of(linked: onetap.Linked) -> str:
        """What the page shows: the buttons, or the answer already recorded."""
        if linked.dose.status == "taken":
            return "already_taken"
        if linked.dose.status == "skipped":
            return "already_skipped"
        return "ask"

    @router.api_route("/c/{token}", methods=["GET", "HEAD"])
    def open_link(token: Token) -> Response:
        with session() as s:
            found = onetap.look_up(s, token, now=clock(), catalog=app.catalog)
        if found == "unknown":
            return gone(404)
        if found == "gone":
            return gone(410)
        assert isinstance(found, onetap.Linked)
        return shown(found, state_of(found), token, found.dose.taken_at)

    def same_site(request: Request) -> bool:
        """False when the browser says the POST came from another site. A same-origin form
        under ``Referrer-Policy: no-referrer`` sends ``Origin: null``: that alone is no
        reason to refuse (the form key still has to be right)."""
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return True
        return origin.lower() in ours | {_origin(str(request.base_url))}

    @router.post("/c/{token}")
    async def answer_link(request: Request, token: Token) -> Response:
        refused = gone(403, texts.LINK_REFUSED)
        if not same_site(request):
            return refused
        try:
            fields = await read_form(request)
        except CsrfRejected:  # larger than any form of ours
            return refused
        status = fields.get("answer", "")
        if not onetap.form_key_ok(token, fields.get("key", "")) or status not in ANSWERS:
            return refused  # only our two buttons, on the page of this link, post here
        return await run_in_threadpool(_answer, token, status)

    def _answer(token: str, status: str) -> Response:
        with session() as s:
            now = clock()
            found = onetap.look_up(s, token, now=now, catalog=app.catalog)
            if found == "unknown":
                return gone(404)
            if found == "gone":
                return gone(410)
            assert isinstance(found, onetap.Linked)
            try:
                outcome = onetap.confirm_through(
                    s, found, status, now=now, catalog=app.catalog,
                    horizon_days=settings.engine.horizon_days,
                )  # fmt: skip
            except ConfirmError:
                log.info("one-tap answer refused link=%s", found.link.id)
                return shown(found, "failed", token, None, 409)
        if not outcome.applied:
            return shown(found, f"already_{outcome.status}", token, outcome.taken_at)
        return shown(found, f"recorded_{outcome.status}", token, outcome.taken_at)

    return router
