"""`adherence appointment book|move|cancel|list`: clinic infusion appointments."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlmodel import Session, col, select

from adherence.calendar.appointments import AppointmentError, book, cancel, list_for, move
from adherence.calendar.state import dose_statuses, state
from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json, table
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import find_patient, find_plan, find_team
from adherence.storage.models import Appointment, Dose, Patient, Plan
from schedules.localtime import local_instant

appointment_app = typer.Typer(
    help="Clinic infusion appointments and their invitations.", no_args_is_help=True
)

AtOpt = Annotated[
    str,
    typer.Option(
        "--at",
        help="When: ISO 8601 with an offset (2027-03-02T09:30-05:00), or without one for "
        "the patient's local time (2027-03-02T09:30).",
    ),
]
ForceOpt = Annotated[
    str | None,
    typer.Option("--force", help="Book outside the label's window or spacing; the reason is kept."),
]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who books (default: your user name).")]


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a container: still record that it was the CLI
        return "cli"


def parse_at(text: str, tz: str) -> datetime:
    """An aware instant; a naive time is the patient's wall clock (the DST rule applies)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at {text!r} is not an ISO 8601 date-time, e.g. 2027-03-02T09:30")
    if value.tzinfo is None:
        return local_instant(value.date(), value.time(), ZoneInfo(tz))
    return value


def appointment_dict(
    a: Appointment, tz: str, dose: Dose | None = None, dose_status: str | None = None
) -> dict[str, Any]:
    """``status`` is what the appointment stands at: booked / cancelled, or given / not given
    once its infusion is recorded (``adherence.calendar.state``)."""
    zone = ZoneInfo(tz)
    if dose is not None:
        dose_status = dose.status
    out: dict[str, Any] = {
        "id": a.id,
        "uid": a.uid,
        "plan_id": a.plan_id,
        "patient_id": a.patient_id,
        "dose_id": a.dose_id,
        "at": a.at.astimezone(zone).isoformat(),
        "duration_minutes": a.duration_minutes,
        "location": a.location,
        "status": state(a, dose_status),
        "sequence": a.sequence,
        "forced_reason": a.forced_reason or None,
        "booked_by": a.booked_by,
    }
    if dose is not None:
        out["target"] = dose.local_date.isoformat()
        out["earliest"] = (dose.earliest or dose.local_date).isoformat()
        out["latest"] = dose.latest.isoformat() if dose.latest else None
    return out


def _appointment(s: Session, ref: str) -> Appointment:
    found = s.get(Appointment, int(ref)) if ref.isdigit() else None
    if found is None:
        found = s.exec(select(Appointment).where(Appointment.uid == ref)).first()
    if found is None:
        fail(f"no appointment {ref!r} (give its id)")
    return found


def _tz(s: Session, patient_id: int) -> str:
    patient = s.get(Patient, patient_id)
    assert patient is not None
    return patient.tz


def _show(s: Session, a: Appointment, as_json: bool, verb: str) -> None:
    tz = _tz(s, a.patient_id)
    dose = s.get(Dose, a.dose_id) if a.dose_id is not None else None
    if as_json:
        print_json(appointment_dict(a, tz, dose))
        return
    when = a.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
    note = " (forced)" if a.forced_reason else ""
    typer.echo(f"appointment {a.id} {verb}: {when}{note}")


@appointment_app.command("book")
def book_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    at: AtOpt,
    location: Annotated[str, typer.Option("--location", help="Where (shown to the patient).")] = "",
    duration: Annotated[
        int | None, typer.Option("--duration", help="Minutes (default 240).")
    ] = None,
    force: ForceOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Book the plan's next clinic infusion; refused outside the label's window unless --force."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        p = found(find_plan, s, plan)
        when = parse_at(at, _tz(s, p.patient_id))
        try:
            a = book(
                s,
                plan=p,
                at=when,
                location=location,
                now=now,
                catalog=app.catalog,
                settings=app.settings,
                by=_actor(by),
                force_reason=force,
                duration_minutes=duration,
            )
        except AppointmentError as exc:
            fail(_flag(str(exc)))
        _show(s, a, as_json, "booked")


def _flag(message: str) -> str:
    """Name the flag an error is about (the domain layer names fields)."""
    for name in ("at", "location", "duration"):
        if message.startswith(f"{name}: "):
            return f"--{message}"
    return message


@appointment_app.command("move")
def move_cmd(
    appointment: Annotated[str, typer.Argument(help="Appointment id.")],
    at: AtOpt,
    location: Annotated[str | None, typer.Option("--location")] = None,
    duration: Annotated[int | None, typer.Option("--duration", help="Minutes.")] = None,
    force: ForceOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Move a booked appointment; reminders and the invitation follow."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        a = _appointment(s, appointment)
        when = parse_at(at, _tz(s, a.patient_id))
        try:
            a = move(
                s,
                appointment=a,
                at=when,
                now=now,
                catalog=app.catalog,
                settings=app.settings,
                by=_actor(by),
                force_reason=force,
                location=location,
                duration_minutes=duration,
            )
        except AppointmentError as exc:
            fail(_flag(str(exc)))
        _show(s, a, as_json, "moved")


@appointment_app.command("cancel")
def cancel_cmd(
    appointment: Annotated[str, typer.Argument(help="Appointment id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Cancel a booked appointment: pending texts withdrawn, a cancellation e-mailed."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        a = _appointment(s, appointment)
        try:
            a = cancel(
                s,
                appointment=a,
                now=now,
                catalog=app.catalog,
                settings=app.settings,
                by=_actor(by),
                reason=reason,
            )
        except AppointmentError as exc:
            fail(str(exc))
        _show(s, a, as_json, "cancelled")


@appointment_app.command("list")
def list_cmd(
    patient: Annotated[
        str | None, typer.Argument(help="Patient id or external id (or give --team).")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team id or name.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include cancelled ones.")] = False,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """A patient's or a team's appointments, soonest first."""
    if (patient is None) == (team is None):
        fail("give a PATIENT or --team (one of them)")
    app = load_app(config)
    with app.session() as s:
        if patient is not None:
            rows = list_for(s, patient=found(find_patient, s, patient), include_cancelled=all_)
        else:
            rows = list_for(s, team=found(find_team, s, team or ""), include_cancelled=all_)
        zones = {
            p.id: p.tz
            for p in s.exec(
                select(Patient).where(col(Patient.id).in_({a.patient_id for a in rows}))
            )
        }
        plans = {
            p.id: p.regimen
            for p in s.exec(select(Plan).where(col(Plan.id).in_({a.plan_id for a in rows})))
        }
        statuses = dose_statuses(s, rows)

        def dose_status(a: Appointment) -> str | None:
            return statuses.get(a.dose_id) if a.dose_id is not None else None

        if as_json:
            print_json(
                [appointment_dict(a, zones[a.patient_id], None, dose_status(a)) for a in rows]
            )
            return
        typer.echo(
            table(
                [
                    [
                        str(a.id),
                        str(a.patient_id),
                        plans.get(a.plan_id, ""),
                        a.at.astimezone(ZoneInfo(zones[a.patient_id])).strftime(
                            "%Y-%m-%d %H:%M %Z"
                        ),
                        a.location,
                        state(a, dose_status(a)) + (" (forced)" if a.forced_reason else ""),
                    ]
                    for a in rows
                ],
                ["id", "patient", "regimen", "at", "location", "status"],
            )
        )
