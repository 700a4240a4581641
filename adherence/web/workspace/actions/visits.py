"""Booking, moving and cancelling a neurology visit or MRI, and adding or stopping a
self-care nudge, from the patient page's visits section (``templates/patient_visits.html``).

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Each POST is CSRF-checked (``ws.form``); the domain writes the audit row with the
coordinator's name. Done: a 303 back to the patient page with a ``?notice=`` code. Refused:
nothing is changed and a 422 page names the field. Times are the patient's wall clock.

- ``POST /patients/{id}/visits`` (type, date, time, location)
- ``POST /visits/{id}/move`` (date, time)
- ``POST /visits/{id}/cancel`` (reason, required)
- ``POST /visits/{id}/done`` (date, time: when attended; both empty: at the booked time)
- ``POST /patients/{id}/nudges`` (topic, every, time)
- ``POST /patients/{id}/nudges/stop`` (topic; empty: all)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlmodel import Session

from adherence.calendar.slots import AppointmentError
from adherence.calendar.visits import booking
from adherence.selfcare.nudges.subscriptions import NudgeError, add, stop
from adherence.storage.models import Patient
from adherence.storage.visits import Visit
from adherence.web.workspace.actions.forms import Refused, back, local_when, parse_id, reason_of
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound
from adherence.web.workspace.render import page

VISIT_NOTICES = {
    "visit-booked": "Visit booked. The patient's reminder texts follow it.",
    "visit-moved": "Visit moved. The patient's reminder texts follow it.",
    "visit-cancelled": "Visit cancelled. Its reminder texts were withdrawn.",
    "visit-done": "Visit recorded as attended. The next one is due from it.",
    "nudge-added": "Self-care nudge added, as the patient chose.",
    "nudge-stopped": "Self-care nudge stopped.",
}
LABELS = {"at": "Date and time", "location": "Location", "every": "Every", "topic": "Topic"}


def refused_page(viewer: Viewer, patient: Patient, message: str) -> Response:
    return page(
        "error.html",
        status_code=422,
        viewer=viewer,
        csrf=viewer.csrf,
        nav="patients",
        title="Not saved",
        message=f"{message} Nothing was changed: go back to {patient.name}'s page and try again.",
    )


def _named(exc: Exception) -> str:
    name, sep, rest = str(exc).partition(": ")
    return f"{LABELS[name]}: {rest}" if sep and name in LABELS else str(exc)


def visit_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]
    settings = ws.app.settings

    def _own_visit(s: Session, me: Viewer, raw: str) -> tuple[Visit, Patient]:
        found = s.get(Visit, parse_id(raw, "visit"))
        patient = s.get(Patient, found.patient_id) if found is not None else None
        if found is None or patient is None or patient.team_id != me.team_id:
            raise PageNotFound("visit")  # another team's looks like none at all
        return found, patient

    @router.post("/patients/{patient_id}/visits", summary="Book a visit")
    def book_visit(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            try:
                at = local_when(fields, "visit-book", patient.tz)
                booking.book(s, patient=patient, visit_type=fields.get("type", ""), at=at,
                             now=ws.clock(), settings=settings, by=me.by,
                             location=" ".join(fields.get("location", "").split()))  # fmt: skip
            except Refused as refused:
                return refused_page(me, patient, refused.error.message)
            except AppointmentError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "visit-booked")

    @router.post("/visits/{visit_id}/move", summary="Move a visit")
    def move_visit(me: Me, fields: Form, visit_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            visit, patient = _own_visit(s, me, visit_id)
            try:
                at = local_when(fields, f"visit-move-{visit.id}", patient.tz)
                booking.move(s, visit=visit, at=at, now=ws.clock(), settings=settings, by=me.by)
            except Refused as refused:
                return refused_page(me, patient, refused.error.message)
            except AppointmentError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "visit-moved")

    @router.post("/visits/{visit_id}/cancel", summary="Cancel a visit")
    def cancel_visit(me: Me, fields: Form, visit_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            visit, patient = _own_visit(s, me, visit_id)
            try:
                reason = reason_of(fields, f"visit-cancel-{visit.id}", required=True)
                booking.cancel(s, visit=visit, now=ws.clock(), by=me.by, reason=reason)
            except Refused as refused:
                return refused_page(me, patient, refused.error.message)
            except AppointmentError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "visit-cancelled")

    @router.post("/visits/{visit_id}/done", summary="Record a visit as attended")
    def visit_done(me: Me, fields: Form, visit_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            visit, patient = _own_visit(s, me, visit_id)
            try:
                given = fields.get("date", "").strip() or fields.get("time", "").strip()
                at = local_when(fields, f"visit-done-{visit.id}", patient.tz) if given else None
                booking.done(s, visit=visit, now=ws.clock(), by=me.by, at=at)
            except Refused as refused:
                return refused_page(me, patient, refused.error.message)
            except AppointmentError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "visit-done")

    @router.post("/patients/{patient_id}/nudges", summary="Add a self-care nudge")
    def add_nudge(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            raw_every = fields.get("every", "").strip()
            if raw_every and not raw_every.isdigit():
                return refused_page(
                    me, patient, f"Every: {raw_every!r} is not a whole number of days."
                )
            try:
                add(s, patient=patient, topic=fields.get("topic", ""), now=ws.clock(),
                    settings=settings, by=me.by, every_days=int(raw_every) if raw_every else None,
                    local_time=fields.get("time", "").strip() or None)  # fmt: skip
            except NudgeError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "nudge-added")

    @router.post("/patients/{patient_id}/nudges/stop", summary="Stop self-care nudges")
    def stop_nudge(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            try:
                stop(s, patient=patient, topic=fields.get("topic", "").strip() or None,
                     now=ws.clock(), by=me.by)  # fmt: skip
            except NudgeError as exc:
                s.rollback()
                return refused_page(me, patient, _named(exc))
        return back(patient.id or 0, "nudge-stopped")

    return router
