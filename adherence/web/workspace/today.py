"""``/workspace/``: today's call list (the landing page), and recording a call's result.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The ranking and the queue live in ``adherence.care.calls``; this module only reads the
viewer's team, renders the list and turns a posted result into a stored ``CallResult``
(audited, then a 303 back to the list: POST-redirect-GET).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse, Response

from adherence.care.calls import OUTCOME_WORDS, CallError, CallNotFound, call_list, record_call
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.render import page

MAX_ID = 2**31 - 1
# ?notice= codes (this page's and the flag forms'): never patient data in a URL.
NOTICES = {
    "call-saved": "Call result saved. The patient has left the list until they are due again.",
    "flag-acknowledged": "Flag acknowledged.",
    "flag-resolved": "Flag resolved.",
}
TIER_WORDS = {1: "urgent", 2: "missed doses", 3: "supply", 4: "infusion", 5: "adherence"}


def parse_id(raw: str, what: str) -> int:
    """A path id as an int; anything else is the same 404 page as an unknown id."""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise PageNotFound(what)
    return int(raw)


def not_saved(me: Viewer, message: str, *, status_code: int = 422) -> Response:
    """The form's input was refused: a page that says which field and why."""
    return page(
        "error.html",
        status_code=status_code,
        viewer=me,
        csrf=me.csrf,
        title="Not saved",
        message=f"Nothing was changed. {message}",
    )


def today_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]

    @router.get("/", summary="Today's call list")
    def today(me: Me, notice: Annotated[str, Query()] = "") -> Response:
        with ws.session() as s:
            calls = call_list(s, team_id=me.team_id, now=ws.clock(), settings=ws.settings)
            ws.audit(s, me, "read", "workspace:calls", count=len(calls.rows))
        return page(
            "today.html",
            viewer=me,
            csrf=me.csrf,
            nav="today",
            title="Today",
            notice=NOTICES.get(notice, ""),
            rows=calls.rows,
            waiting=calls.waiting,
            called_today=calls.called_today,
            outcomes=list(OUTCOME_WORDS.items()),
            outcome_words=OUTCOME_WORDS,
            tier_words=TIER_WORDS,
            tz=me.team.tz,
        )

    @router.post("/patients/{patient_id}/calls", summary="Record a call's result")
    def record(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        pid = parse_id(patient_id, "patient")
        with ws.session() as s:
            ws.own_patient(s, me, pid)
            try:
                result = record_call(
                    s,
                    team_id=me.team_id,
                    patient_id=pid,
                    coordinator_id=me.coordinator.id,
                    by=me.by,
                    outcome=fields.get("outcome", ""),
                    note=fields.get("note", ""),
                    now=ws.clock(),
                    settings=ws.settings,
                )
            except CallError as exc:
                return not_saved(me, str(exc))
            except CallNotFound:
                raise PageNotFound("patient") from None
            # The note is the coordinator's words about a patient: not copied to the audit.
            ws.audit(s, me, "call", f"patient:{pid}/calls", patient_id=pid, outcome=result.outcome)
        return RedirectResponse("/workspace/?notice=call-saved", status_code=303)

    return router
