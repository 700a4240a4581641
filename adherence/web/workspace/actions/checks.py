"""Recording a label check (lab, exam) done from the patient page's label monitoring section
(``templates/patient_monitoring.html``): ``POST /checks/{dose id}/done`` (date done, note).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Recorded as the CLI's ``adherence confirm --taken --dose ID`` records it, by
``adherence.dosing.confirm`` as a clinic entry (``via="clinic"``, the coordinator's name, the
note as the reason), so the check's ``monitoring_overdue`` flag resolves itself on the next
care step. CSRF-checked (``ws.form``), one audit row (``check.done``, resource ``dose:ID``).
The day is the patient's calendar; a lab's time is rarely known, so the check is recorded at
midday that day, or now when that is earlier. A refused form changes nothing and answers 422
naming the field; another team's check, or a dose that is not a check, is the same 404 page
as none.
"""

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from adherence.dosing.confirm import ConfirmError, confirm
from adherence.storage.models import DOSE_OPEN, Dose, Patient
from adherence.web.workspace.actions.forms import Refused, back, parse_id, reason_of
from adherence.web.workspace.actions.visits import refused_page
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from schedules.localtime import local_instant

CHECK_NOTICES = {"check-done": "Check recorded as done, with your name."}
MIDDAY = time(12, 0)


def done_at(raw: str, tz: str, now: datetime) -> datetime:
    """The instant a check done on local day ``raw`` is recorded at (midday, or now)."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise Refused("check", "date", "Date done: give a date, e.g. 2026-03-24.") from None
    if day > now.astimezone(ZoneInfo(tz)).date():
        raise Refused("check", "date", f"Date done: {day.isoformat()} is in the future.")
    return min(local_instant(day, MIDDAY, ZoneInfo(tz)), now)


def check_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]
    app = ws.app

    @router.post("/checks/{dose_id}/done", summary="Record a label check done")
    def check_done(me: Me, fields: Form, dose_id: Annotated[str, Path()]) -> Response:
        now = ws.clock()
        with ws.session() as s:
            check = s.get(Dose, parse_id(dose_id, "check"))
            patient = s.get(Patient, check.patient_id) if check is not None else None
            if check is None or patient is None or patient.team_id != me.team_id:
                raise PageNotFound("check")  # another team's looks like none at all
            if check.kind != "monitoring":
                raise PageNotFound("check")
            try:
                if check.status not in DOSE_OPEN:
                    raise Refused("check", "date", f"Check: already {check.status}.")
                at = done_at(fields.get("date", ""), patient.tz, now)
                note = reason_of(fields | {"reason": fields.get("note", "")}, "check",
                                 required=False)  # fmt: skip
                old = check.status
                try:
                    confirm(s, catalog=app.catalog, dose=check, status="taken", at=at, now=now,
                            via="clinic", by=me.by, reason=note,
                            horizon_days=app.settings.engine.horizon_days)  # fmt: skip
                except ConfirmError as exc:
                    s.rollback()
                    raise _refusal(str(exc)) from None
            except Refused as refused:
                return refused_page(me, patient, refused.error.message)
            ws.audit(s, me, "check.done", f"dose:{check.id}", patient_id=patient.id, old=old,
                     on=fields.get("date", "").strip())  # fmt: skip
        return back(patient.id or 0, "check-done")

    return router


def _refusal(message: str) -> Refused:
    if "before the dose was due" in message:
        return Refused("check", "date", "Date done: more than 3 days before the check's date.")
    return Refused("check", "date", f"Check: {message}.")
