"""The visit summary from the patient page: ``GET /patients/{id}/summary.html`` and
``/summary.pdf``, with optional ``since`` (a local date; default six months back) and
``paper`` (``a4`` or ``letter``). Own team only (another team's id is the same 404 as
none), audited as an export, never cached; the PDF is named by the patient's number only.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)
"""

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response

from adherence.care.summary import (
    PAPERS,
    PdfUnavailable,
    default_since,
    gather,
    render_html,
    render_pdf,
)
from adherence.web.workspace.actions.forms import parse_id
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.render import SECURITY_HEADERS

# The summary's stylesheet is inline (one self-contained page to print): its own policy.
SUMMARY_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _problem(message: str, status: int) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8",
                    headers=SECURITY_HEADERS)  # fmt: skip


def summary_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]

    def _summary(me: Viewer, patient_id: str, fmt: str, since: str, paper: str) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            now = ws.clock()
            today = now.astimezone(ZoneInfo(patient.tz)).date()
            try:
                first = date.fromisoformat(since) if since else default_since(today)
            except ValueError:
                return _problem("since: give a date, e.g. 2026-03-01.", 422)
            if first > today:
                return _problem(f"since: {first} is after today ({today}).", 422)
            if paper not in PAPERS:
                return _problem(f"paper: one of {', '.join(PAPERS)}.", 422)
            data = gather(s, patient, since=first, until=today, now=now,
                          catalog=ws.app.catalog, settings=ws.settings)  # fmt: skip
            html = render_html(data, paper=paper)
            if fmt == "pdf":
                try:
                    body = render_pdf(html)
                except PdfUnavailable as exc:
                    return _problem(f"The PDF cannot be made here: {exc}", 503)
            ws.audit(s, me, "export", f"patient:{patient.id}/summary:{fmt}",
                     patient_id=patient.id, since=first.isoformat(),
                     until=today.isoformat())  # fmt: skip
        if fmt == "html":
            return HTMLResponse(html, headers=SUMMARY_HEADERS)
        filename = f"visit-summary-patient-{patient.id}-{today.isoformat()}.pdf"
        return Response(body, media_type="application/pdf", headers={
            **SUMMARY_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'})  # fmt: skip

    @router.get("/patients/{patient_id}/summary.{suffix}", summary="The visit summary")
    def summary(
        me: Me,
        patient_id: Annotated[str, Path()],
        suffix: Annotated[str, Path()],
        since: Annotated[str, Query()] = "",
        paper: Annotated[str, Query()] = "a4",
    ) -> Response:
        if suffix not in ("html", "pdf"):
            raise PageNotFound("summary in that format")
        return _summary(me, patient_id, suffix, since, paper)

    return router
