"""`adherence visit due|book|move|cancel|done|list`: neurology visits and MRI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlmodel import Session, col, select

from adherence.calendar.slots import AppointmentError
from adherence.calendar.visits import booking
from adherence.calendar.visits.due import LATER, due_for
from adherence.cli.appointment import AtOpt, ByOpt, _actor, parse_at
from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json, table
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import find_patient, find_team
from adherence.storage.models import Patient
from adherence.storage.visits import Visit

visit_app = typer.Typer(
    help="Neurology visits and MRI: who is due, booking, recording.", no_args_is_help=True
)


def visit_dict(v: Visit, tz: str) -> dict[str, Any]:
    return {
        "id": v.id,
        "uid": v.uid,
        "patient_id": v.patient_id,
        "type": v.visit_type,
        "at": v.at.astimezone(ZoneInfo(tz)).isoformat(),
        "duration_minutes": v.duration_minutes,
        "location": v.location,
        "status": v.status,
        "sequence": v.sequence,
        "booked_by": v.booked_by,
    }


def _visit(s: Session, ref: str) -> tuple[Visit, Patient]:
    v = s.get(Visit, int(ref)) if ref.isdigit() else None
    if v is None:
        fail(f"no visit {ref!r} (give its id)")
    patient = s.get(Patient, v.patient_id)
    assert patient is not None
    return v, patient


def _flag(message: str) -> str:
    for name in ("at", "location", "duration"):
        if message.startswith(f"{name}: "):
            return f"--{message}"
    return message


def _show(v: Visit, tz: str, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(visit_dict(v, tz))
        return
    when = v.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
    typer.echo(f"visit {v.id} ({v.visit_type}) {verb}: {when}")


@visit_app.command("due")
def due_cmd(
    team: Annotated[str | None, typer.Option("--team", help="Team id or name.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also those not due yet.")] = False,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Who is due or overdue for each visit type (and whether it is booked)."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        query = select(Patient).where(col(Patient.active))
        if team is not None:
            query = query.where(Patient.team_id == found(find_team, s, team).id)
        rows = due_for(s, list(s.exec(query).all()), settings=app.settings, now=now)
        rows = [d for d in rows if all_ or d.state != LATER]
        if as_json:
            print_json(
                [
                    {
                        "patient_id": d.patient.id,
                        "type": d.visit_type,
                        "due_on": d.due_on.isoformat(),
                        "window": [d.opens.isoformat(), d.closes.isoformat()],
                        "last_done": d.last_done.isoformat() if d.last_done else None,
                        "state": d.state,
                        "visit_id": d.booked.id if d.booked else None,
                    }
                    for d in rows
                ]
            )
            return
        typer.echo(
            table(
                [
                    [
                        str(d.patient.id),
                        d.patient.name,
                        d.visit_type,
                        d.due_on.isoformat(),
                        d.state,
                        str(d.booked.id) if d.booked else "",
                    ]
                    for d in rows
                ],
                ["patient", "name", "type", "due", "state", "visit"],
            )
        )


@visit_app.command("book")
def book_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    visit_type: Annotated[str, typer.Argument(help="A type from [visits] cadences, e.g. mri.")],
    at: AtOpt,
    location: Annotated[str, typer.Option("--location", help="Where (shown to the patient).")] = "",
    duration: Annotated[int | None, typer.Option("--duration", help="Minutes.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Book a visit; reminder texts follow ([calendar] appointment_reminder_days)."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        p = found(find_patient, s, patient)
        try:
            v = booking.book(
                s,
                patient=p,
                visit_type=visit_type,
                at=parse_at(at, p.tz),
                now=now,
                settings=app.settings,
                by=_actor(by),
                location=location,
                duration_minutes=duration,
            )
        except AppointmentError as exc:
            fail(_flag(str(exc)))
        _show(v, p.tz, as_json, "booked")


@visit_app.command("move")
def move_cmd(
    visit: Annotated[str, typer.Argument(help="Visit id.")],
    at: AtOpt,
    location: Annotated[str | None, typer.Option("--location")] = None,
    duration: Annotated[int | None, typer.Option("--duration", help="Minutes.")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Move a booked visit; its reminders follow."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        v, p = _visit(s, visit)
        try:
            v = booking.move(
                s,
                visit=v,
                at=parse_at(at, p.tz),
                now=now,
                settings=app.settings,
                by=_actor(by),
                location=location,
                duration_minutes=duration,
            )
        except AppointmentError as exc:
            fail(_flag(str(exc)))
        _show(v, p.tz, as_json, "moved")


@visit_app.command("cancel")
def cancel_cmd(
    visit: Annotated[str, typer.Argument(help="Visit id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Cancel a booked visit: its pending texts are withdrawn."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        v, p = _visit(s, visit)
        try:
            v = booking.cancel(s, visit=v, now=now, by=_actor(by), reason=reason)
        except AppointmentError as exc:
            fail(str(exc))
        _show(v, p.tz, as_json, "cancelled")


@visit_app.command("done")
def done_cmd(
    ref: Annotated[str, typer.Argument(help="Visit id, or a patient with --type.")],
    visit_type: Annotated[
        str | None,
        typer.Option("--type", help="Record an unbooked past visit of this type for patient REF."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When it took place (default: as booked).")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Record a visit as attended: the type's next cadence starts from it."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        try:
            if visit_type is not None:
                p = found(find_patient, s, ref)
                if at is None:
                    fail("--at is needed with --type (when the visit took place)")
                when: datetime = parse_at(at, p.tz)
                v = booking.record_past(
                    s,
                    patient=p,
                    visit_type=visit_type,
                    at=when,
                    now=now,
                    settings=app.settings,
                    by=_actor(by),
                )
            else:
                v, p = _visit(s, ref)
                taken = parse_at(at, p.tz) if at is not None else None
                v = booking.done(s, visit=v, now=now, by=_actor(by), at=taken)
        except AppointmentError as exc:
            fail(_flag(str(exc)))
        _show(v, p.tz, as_json, "recorded as attended")


@visit_app.command("list")
def list_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    all_: Annotated[bool, typer.Option("--all", help="Include cancelled ones.")] = False,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """A patient's visits, soonest first."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        rows = booking.list_for(s, p, include_cancelled=all_)
        if as_json:
            print_json([visit_dict(v, p.tz) for v in rows])
            return
        zone = ZoneInfo(p.tz)
        typer.echo(
            table(
                [
                    [
                        str(v.id),
                        v.visit_type,
                        v.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
                        v.location,
                        v.status,
                    ]
                    for v in rows
                ],
                ["id", "type", "at", "location", "status"],
            )
        )
