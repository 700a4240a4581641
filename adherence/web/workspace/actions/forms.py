"""What the action routes share: reading ids and fields, the notices after a redirect, and
the page that answers a refused form (422, the sections again with the field named and
what was typed kept) or a rotation (200, the new feed link shown once).

A refusal raises ``Refused`` before anything is written, so a route reads as the happy path
and nothing is half-recorded.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from adherence.storage.models import Patient
from adherence.web.workspace.actions.context import Actions, FormError, build
from adherence.web.workspace.auth import CSRF_FIELD, Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.render import page
from schedules.localtime import local_instant

MAX_ID = 2**31 - 1
MAX_REASON = 300  # the room a reason has once the domain adds what it overrides

# ``?notice=`` codes the action routes redirect with, and what the patient page says.
NOTICES = {
    "appointment-booked": "Appointment booked. The patient's reminders and invitation follow it.",
    "appointment-moved": "Appointment moved. The patient's reminders and invitation follow it.",
    "appointment-cancelled": "Appointment cancelled. The infusion still needs booking.",
    "dose-recorded": "Dose record saved, with your name and the reason.",
}


class Refused(Exception):
    """A form refused before anything was written."""

    def __init__(self, form: str, field: str, message: str, *, outside: bool = False) -> None:
        super().__init__(message)
        self.error = FormError(form=form, field=field, message=message, outside=outside)


def parse_id(raw: str, what: str) -> int:
    """An id from a path; anything else is the same 404 page as an unknown id."""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise PageNotFound(what)
    return int(raw)


def back(patient_id: int, notice: str) -> Response:
    return RedirectResponse(f"/workspace/patients/{patient_id}?notice={notice}", status_code=303)


def local_when(fields: dict[str, str], form: str, tz: str) -> datetime:
    """The ``date`` and ``time`` fields as an instant, read on the patient's wall clock."""
    raw_day, raw_time = fields.get("date", "").strip(), fields.get("time", "").strip()
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise Refused(form, "date", "Date: give a date, e.g. 2026-03-24.") from None
    try:
        at = time.fromisoformat(raw_time)
    except ValueError:
        raise Refused(form, "time", "Time: give a time as hours and minutes, e.g. 09:30.") from None
    return local_instant(day, at.replace(tzinfo=None, microsecond=0), ZoneInfo(tz))


def reason_of(fields: dict[str, str], form: str, *, required: bool) -> str:
    reason = " ".join(fields.get("reason", "").split())
    if required and not reason:
        raise Refused(form, "reason", "Reason: say why (it is kept with your name).")
    if len(reason) > MAX_REASON:
        raise Refused(form, "reason", f"Reason: at most {MAX_REASON} characters.")
    return reason


def sections(
    ws: Workspace,
    s: Session,
    viewer: Viewer,
    patient: Patient,
    *,
    status_code: int,
    actions: Actions | None = None,
    refused: Refused | None = None,
    fields: dict[str, str] | None = None,
) -> Response:
    """The action sections on a page of their own (a refused form, or the new feed link),
    with a way back to the whole patient page. Audited: it shows the patient's data."""
    shown = actions or build(s, patient, ws.clock())
    if refused is not None:
        shown.error = refused.error
        shown.values = {k: v for k, v in (fields or {}).items() if k != CSRF_FIELD}
    ws.audit(s, viewer, "read", f"patient:{patient.id}/actions", patient_id=patient.id)
    return page(
        "patient_actions_page.html",
        status_code=status_code,
        viewer=viewer,
        csrf=viewer.csrf,
        nav="patients",
        title=patient.name,
        patient=patient,
        actions=shown,
    )
