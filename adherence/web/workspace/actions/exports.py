"""This patient's data as a download: ``GET /patients/{id}/export.csv``, ``.json``,
``.fhir.json`` (or ``/export?format=csv|json|fhir``), with optional ``from`` / ``to`` local
dates (default: from the first plan's start to today).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The care team's export (``adherence.care.exports``) narrowed to one patient, streamed as the
API streams it. The file name carries the patient's id only (no name, no therapy), and the
audit row ("export") is written before the first byte: an export cut short was still one.
"""

from collections.abc import Iterator
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from adherence.care.exports import export_stream
from adherence.storage.models import CareTeam, Patient
from adherence.web.workspace.actions.context import MAX_EXPORT_DAYS, build
from adherence.web.workspace.actions.forms import Refused, parse_id, sections
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.render import SECURITY_HEADERS

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "fhir": "application/fhir+json",
}
SUFFIX = {"csv": "csv", "json": "json", "fhir": "fhir.json"}
FORMAT_OF = {suffix: fmt for fmt, suffix in SUFFIX.items()}


def _day(raw: str, name: str, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        label = "From" if name == "from" else "To"
        raise Refused("export", name, f"{label}: give a date, e.g. 2026-03-01.") from None


def export_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    app = ws.app

    def _export(me: Viewer, patient_id: str, fmt: str, start: str, end: str) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            actions = build(s, patient, ws.clock())
            fields = {"from": start, "to": end}
            try:
                first = _day(start, "from", actions.export_from)
                last = _day(end, "to", actions.export_to)
                if last < first:
                    raise Refused("export", "to", "To: the last day is before the first.")
                if (last - first).days + 1 > MAX_EXPORT_DAYS:
                    raise Refused("export", "from", f"From: at most {MAX_EXPORT_DAYS} days.")
            except Refused as refused:
                return sections(ws, s, me, patient, status_code=422, actions=actions,
                                refused=refused, fields=fields)  # fmt: skip
            ws.audit(s, me, "export", f"patient:{patient.id}/export:{fmt}",
                     patient_id=patient.id, **{"from": first.isoformat(),
                                               "to": last.isoformat()})  # fmt: skip
        pid, team_id = patient.id, me.team_id

        def body() -> Iterator[bytes]:
            with ws.session() as s:
                team = s.get(CareTeam, team_id)
                who = s.get(Patient, pid)
                assert team is not None and who is not None
                yield from export_stream(
                    s,
                    team=team,
                    patient=who,
                    start=first,
                    end=last,
                    fmt=fmt,
                    catalog=app.catalog,
                    settings=app.settings,
                )

        filename = f"patient-{pid}.{SUFFIX[fmt]}"
        return StreamingResponse(
            body(),
            media_type=MEDIA[fmt],
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )

    @router.get("/patients/{patient_id}/export", summary="Download this patient's data")
    def export(
        me: Me,
        patient_id: Annotated[str, Path()],
        fmt: Annotated[str, Query(alias="format")] = "csv",
        start: Annotated[str, Query(alias="from")] = "",
        end: Annotated[str, Query(alias="to")] = "",
    ) -> Response:
        if fmt not in SUFFIX:
            raise PageNotFound("export in that format")
        return _export(me, patient_id, fmt, start, end)

    @router.get("/patients/{patient_id}/export.{suffix}", summary="Download (by file type)")
    def export_file(
        me: Me,
        patient_id: Annotated[str, Path()],
        suffix: Annotated[str, Path()],
        start: Annotated[str, Query(alias="from")] = "",
        end: Annotated[str, Query(alias="to")] = "",
    ) -> Response:
        if suffix not in FORMAT_OF:
            raise PageNotFound("export in that format")
        return _export(me, patient_id, FORMAT_OF[suffix], start, end)

    return router
