"""A dose entered or corrected by the clinic: ``POST /patients/{id}/doses`` (dose, status
taken|skipped, date and time when taken, reason).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Recorded by ``adherence.dosing.confirm`` as a clinic entry (``via="clinic"``), which keeps a
``DoseChange`` row with who (the coordinator) and why (the reason, required here), so a
correction never hides what was recorded before. Only the doses the form offers (today and
the last 14 days) can be chosen; the domain's refusals (a time in the future, a cancelled
dose) come back on the form, naming the field.
"""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from adherence.dosing.confirm import ConfirmError, confirm
from adherence.web.workspace.actions.context import recent_doses
from adherence.web.workspace.actions.forms import (
    Refused,
    back,
    local_when,
    parse_id,
    reason_of,
    sections,
)
from adherence.web.workspace.auth import Viewer, Workspace

FORM = "dose"


def dose_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]
    app = ws.app

    @router.post("/patients/{patient_id}/doses", summary="Enter or correct a dose")
    def record_dose(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        now = ws.clock()
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            try:
                today = now.astimezone(ZoneInfo(patient.tz)).date()
                offered = {str(d.id): d for d in recent_doses(s, patient, today)}
                dose = offered.get(fields.get("dose", ""))
                if dose is None:
                    raise Refused(FORM, "dose", "Dose: pick one of the doses listed.")
                status = fields.get("status", "")
                if status not in ("taken", "skipped"):
                    raise Refused(FORM, "status", "Status: choose taken or skipped.")
                at = local_when(fields, FORM, patient.tz) if status == "taken" else now
                reason = reason_of(fields, FORM, required=True)
                old = dose.status
                try:
                    confirm(
                        s,
                        catalog=app.catalog,
                        dose=dose,
                        status=status,
                        at=at,
                        now=now,
                        via="clinic",
                        by=me.by,
                        reason=reason,
                        horizon_days=app.settings.engine.horizon_days,
                    )
                except ConfirmError as exc:
                    s.rollback()
                    raise _refusal(str(exc)) from None
            except Refused as refused:
                return sections(ws, s, me, patient, status_code=422, refused=refused,
                                fields=fields)  # fmt: skip
            ws.audit(s, me, "dose", f"dose:{dose.id}", patient_id=patient.id, old=old,
                     new=status)  # fmt: skip
        return back(patient.id or 0, "dose-recorded")

    return router


def _refusal(message: str) -> Refused:
    """``confirm``'s refusal on the field it is about: the time taken, or the dose."""
    if "in the future" in message:
        return Refused(FORM, "time", "Time: that is in the future; give when it was taken.")
    if "before the dose was due" in message:
        return Refused(FORM, "time", "Time: that is more than 3 days before the dose was due.")
    return Refused(FORM, "dose", f"Dose: {message}.")
