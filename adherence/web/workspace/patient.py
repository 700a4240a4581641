"""``/workspace/patients/{id}``: one patient's page.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``GET /workspace/patients/{id}?month=YYYY-MM``: the header, the month's adherence calendar
(default: the current month in the patient's zone), the dose timeline, messages, flags,
calls, supply and appointments (``adherence.care.chart.timeline``), then the action
sections (``patient_actions``). Another team's id, or none, is the same 404 page; a
malformed month shows the current one and says so. One audit row per view.
"""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response

from adherence.care.chart.calendar import LEGEND, PRECEDENCE, parse_month
from adherence.care.chart.timeline import read_chart
from adherence.storage.public import FLAG_TITLES
from adherence.web.workspace import patient_actions
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.checkins import NOTICES as CHECKIN_NOTICES
from adherence.web.workspace.checkins import checkin_context
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.monitoring import monitoring_context
from adherence.web.workspace.patient_actions import actions_context
from adherence.web.workspace.render import page
from adherence.web.workspace.visits import visits_context

# Out-of-range ids are the same 404 page as unknown ones (not FastAPI's JSON 422).
MAX_ID = 2**31 - 1

# ?notice= codes (the flag forms' redirects and the action sections'): never patient data.
NOTICES: dict[str, str] = {
    "flag-acknowledged": "Flag acknowledged.",
    "flag-resolved": "Flag resolved.",
    **getattr(patient_actions, "ACTION_NOTICES", {}),
    **CHECKIN_NOTICES,
}

TEXTING = {
    "active": "active",
    "opted_out": "opted out (texted nothing)",
    "undeliverable": "undeliverable (texts do not arrive)",
}
CONFIRMED_VIA = {
    "sms": "text reply",
    "link": "one-tap link",
    "clinic": "at the clinic",
    "phone": "by phone",
    "import": "imported",
    "enrolment": "at enrolment",
    "api": "API",
    "cli": "command line",
    "workspace": "workspace",
}
CALL_OUTCOMES = {
    "reached": "reached",
    "voicemail": "left voicemail",
    "no_answer": "no answer",
    "wrong_number": "wrong number",
    "agreed_restart": "agreed to restart",
    "call_back": "call back later",
    "removed": "removed from the list",
}
DOSE_STATUS = {
    "scheduled": "scheduled",
    "reminded": "reminded, no answer yet",
    "taken": "taken",
    "skipped": "skipped",
    "missed": "missed",
    "cancelled": "cancelled",
    "not_sent": "not sent",
}


def patient_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    @router.get("/patients/{patient_id}", summary="A patient's page")
    def patient_page(
        me: Me,
        patient_id: Annotated[str, Path()],
        month: Annotated[str, Query(max_length=20)] = "",
        notice: Annotated[str, Query(max_length=40)] = "",
    ) -> Response:
        if not patient_id.isdigit() or not 1 <= int(patient_id) <= MAX_ID:
            raise PageNotFound("patient")
        return patient_view(ws, me, int(patient_id), month, notice=NOTICES.get(notice, ""))

    return router


def patient_view(
    ws: Workspace, me: Viewer, patient_id: int, month: str = "", *, notice: str = ""
) -> HTMLResponse:
    """The page of the viewer's own ``patient_id`` (bench/patient_page.py times this)."""
    now = ws.clock()
    with ws.session() as s:
        patient = ws.own_patient(s, me, patient_id)
        today = now.astimezone(ZoneInfo(patient.tz)).date()
        shown = parse_month(month, today)
        error = "" if shown is not None else "month: use YYYY-MM, e.g. 2026-03"
        chart = read_chart(
            s, patient, now=now, month=shown, catalog=ws.app.catalog, settings=ws.settings
        )
        actions = actions_context(ws, s, me, patient)
        checkins = checkin_context(ws, s, patient)
        visits = visits_context(s, patient, now, ws.settings)
        checks = monitoring_context(s, patient, now, ws.settings)
        ws.audit(
            s, me, "read", f"patient:{patient.id}", patient_id=patient.id,
            month=chart.month.first.strftime("%Y-%m"),
        )  # fmt: skip
    return page(
        "patient.html",
        viewer=me,
        csrf=me.csrf,
        nav="patients",
        title=patient.name,
        notice=notice,
        patient=patient,
        chart=chart,
        error=error,
        now=now,
        legend=list(LEGEND.items()),
        precedence=[LEGEND[s][2] for s in PRECEDENCE],
        texting=TEXTING,
        confirmed_via=CONFIRMED_VIA,
        call_outcomes=CALL_OUTCOMES,
        dose_status=DOSE_STATUS,
        flag_titles=FLAG_TITLES,
        **actions,
        **checkins,
        **visits,
        **checks,
    )
