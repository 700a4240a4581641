"""Booking, moving and cancelling a clinic infusion from the patient page.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

The label's window is enforced by ``adherence.calendar.appointments`` exactly as for the
CLI: a slot outside the window or the spacing is refused with the rule and the dates, and
the form answered again offers "book outside the window" with a required reason (the CLI's
``--force REASON``), kept on the appointment. Times are the patient's wall clock.

- ``POST /patients/{id}/appointments`` (plan, date, time, location; force, reason)
- ``POST /appointments/{id}/move`` (date, time, location; force, reason)
- ``POST /appointments/{id}/cancel`` (reason, required)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlmodel import Session

from adherence.calendar.appointments import AppointmentError, OutsideWindow, book, cancel, move
from adherence.storage.models import Appointment, Patient, Plan
from adherence.web.workspace.actions.forms import (
    Refused,
    back,
    local_when,
    parse_id,
    reason_of,
    sections,
)
from adherence.web.workspace.auth import Viewer, Workspace
from adherence.web.workspace.errors import PageNotFound

# The domain's errors name their field ("at: ..."); the form's inputs for it.
FIELDS = {"at": "date", "location": "location"}
LABELS = {"at": "Date and time", "location": "Location"}


def _refusal(form: str, exc: AppointmentError, forcing: bool) -> Refused:
    """The domain's error on the form's field. Outside the label's rules, the form offers
    booking anyway; asked to and no reason given, the reason is the field named."""
    if isinstance(exc, OutsideWindow):
        text = "; ".join(exc.violations)
        if forcing:
            return Refused(form, "reason", f"Reason: say why it goes outside the label's "
                           f"rules ({text}).", outside=True)  # fmt: skip
        return Refused(
            form,
            "date",
            f"Outside the label's rules: {text}. Pick another day, or book it anyway "
            "with the reason.",
            outside=True,
        )
    name, sep, rest = str(exc).partition(": ")
    if sep and name in FIELDS:
        return Refused(form, FIELDS[name], f"{LABELS[name]}: {rest}")
    return Refused(form, "", str(exc))


def _force(fields: dict[str, str], form: str) -> str | None:
    """The reason to book outside the label's rules, when that was asked for. A blank one
    is passed on: a slot inside the rules needs none, one outside is refused for it."""
    if fields.get("force") != "1":
        return None
    return reason_of(fields, form, required=False)


def _location(fields: dict[str, str], form: str) -> str:
    location = " ".join(fields.get("location", "").split())
    if len(location) > 300:
        raise Refused(form, "location", "Location: at most 300 characters.")
    return location


def appointment_routes(ws: Workspace) -> APIRouter:
    router = APIRouter()
    Me = Annotated[Viewer, Depends(ws.viewer)]
    Form = Annotated[dict[str, str], Depends(ws.form)]
    app = ws.app

    def _own_appointment(s: Session, me: Viewer, raw: str) -> tuple[Appointment, Patient]:
        found = s.get(Appointment, parse_id(raw, "appointment"))
        patient = s.get(Patient, found.patient_id) if found is not None else None
        if found is None or patient is None or patient.team_id != me.team_id:
            raise PageNotFound("appointment")  # another team's looks like none at all
        return found, patient

    @router.post("/patients/{patient_id}/appointments", summary="Book an infusion")
    def book_appointment(me: Me, fields: Form, patient_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            patient = ws.own_patient(s, me, parse_id(patient_id, "patient"))
            raw_plan = fields.get("plan", "")
            plan = s.get(Plan, int(raw_plan)) if raw_plan.isdigit() else None
            form = f"book-{raw_plan}"
            try:
                if plan is None or plan.patient_id != patient.id:
                    raise Refused(form, "", "Plan: not one of this patient's plans.")
                forced = _force(fields, form)
                at = local_when(fields, form, patient.tz)
                if at <= ws.clock():
                    raise Refused(form, "date", "Date and time: that is in the past.")
                try:
                    a = book(
                        s,
                        plan=plan,
                        at=at,
                        location=_location(fields, form),
                        now=ws.clock(),
                        catalog=app.catalog,
                        settings=app.settings,
                        by=me.by,
                        force_reason=forced,
                    )
                except AppointmentError as exc:
                    s.rollback()
                    raise _refusal(form, exc, forced is not None) from None
            except Refused as refused:
                return sections(ws, s, me, patient, status_code=422, refused=refused,
                                fields=fields)  # fmt: skip
            ws.audit(s, me, "book", f"appointment:{a.id}", patient_id=patient.id,
                     forced=bool(a.forced_reason))  # fmt: skip
        return back(patient.id or 0, "appointment-booked")

    @router.post("/appointments/{appointment_id}/move", summary="Move an appointment")
    def move_appointment(me: Me, fields: Form, appointment_id: Annotated[str, Path()]) -> Response:
        with ws.session() as s:
            found, patient = _own_appointment(s, me, appointment_id)
            form = f"move-{found.id}"
            try:
                forced = _force(fields, form)
                at = local_when(fields, form, patient.tz)
                if at <= ws.clock():
                    raise Refused(form, "date", "Date and time: that is in the past.")
                try:
                    a = move(
                        s,
                        appointment=found,
                        at=at,
                        now=ws.clock(),
                        catalog=app.catalog,
                        settings=app.settings,
                        by=me.by,
                        force_reason=forced,
                        location=_location(fields, form),
                    )
                except AppointmentError as exc:
                    s.rollback()
                    raise _refusal(form, exc, forced is not None) from None
            except Refused as refused:
                return sections(ws, s, me, patient, status_code=422, refused=refused,
                                fields=fields)  # fmt: skip
            ws.audit(s, me, "move", f"appointment:{a.id}", patient_id=patient.id,
                     forced=bool(a.forced_reason))  # fmt: skip
        return back(patient.id or 0, "appointment-moved")

    @router.post("/appointments/{appointment_id}/cancel", summary="Cancel an appointment")
    def cancel_appointment(
        me: Me, fields: Form, appointment_id: Annotated[str, Path()]
    ) -> Response:
        with ws.session() as s:
            found, patient = _own_appointment(s, me, appointment_id)
            form = f"cancel-{found.id}"
            try:
                reason = reason_of(fields, form, required=True)
                try:
                    a = cancel(
                        s,
                        appointment=found,
                        now=ws.clock(),
                        catalog=app.catalog,
                        settings=app.settings,
                        by=me.by,
                        reason=reason,
                    )
                except AppointmentError as exc:
                    s.rollback()
                    raise Refused(form, "", str(exc)) from None
            except Refused as refused:
                return sections(ws, s, me, patient, status_code=422, refused=refused,
                                fields=fields)  # fmt: skip
            ws.audit(s, me, "cancel", f"appointment:{a.id}", patient_id=patient.id)
        return back(patient.id or 0, "appointment-cancelled")

    return router
