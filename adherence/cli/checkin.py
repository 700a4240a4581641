"""`adherence checkin set|stop|show`: a patient's symptom check-in cadence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import find_patient
from adherence.selfcare.cadence import (
    CadenceError,
    CadenceView,
    set_cadence,
    show_cadence,
    stop_cadence,
)
from adherence.storage.audit import cli_actor, record
from adherence.storage.models import Patient

checkin_app = typer.Typer(
    help="Symptom check-ins by text: a patient's cadence (off unless set).", no_args_is_help=True
)

PatientArg = Annotated[str, typer.Argument(help="Patient id or external id.")]


def _now() -> datetime:
    return SystemClock().now()


def _view_json(view: CadenceView | None, patient: Patient) -> dict[str, object]:
    if view is None:
        return {"patient_id": patient.id, "active": False}
    zone = ZoneInfo(patient.tz)
    return {
        "patient_id": view.patient_id,
        "active": view.active,
        "every_days": view.every_days,
        "at": view.local_time,
        "items": list(view.items),
        "next_at": view.next_at.astimezone(zone).isoformat() if view.next_at else None,
    }


def _say(view: CadenceView | None, patient: Patient) -> str:
    if view is None or not view.active:
        return f"patient {patient.id}: no check-ins"
    assert view.next_at is not None
    when = view.next_at.astimezone(ZoneInfo(patient.tz)).strftime("%Y-%m-%d %H:%M")
    return (
        f"patient {patient.id}: every {view.every_days} days at {view.local_time} "
        f"({', '.join(view.items)}); next {when}"
    )


@checkin_app.command("set")
def checkin_set(
    patient: PatientArg,
    every: Annotated[int, typer.Option("--every", help="Days between check-ins.")],
    at: Annotated[str, typer.Option("--at", help="Local time HH:MM in the patient's zone.")],
    items: Annotated[
        str, typer.Option("--items", help="Question codes, comma-separated; default: the clinic's.")
    ] = "",
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Start (or change) a patient's check-ins."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        row = found(find_patient, s, patient)
        try:
            set_cadence(
                s,
                patient=row,
                every_days=every,
                local_time=at,
                items=items,
                settings=app.settings.checkins,
                now=now,
                by=cli_actor(),
            )
        except CadenceError as exc:
            field, _, rest = str(exc).partition(": ")
            fail(f"--{field} {rest}" if field in ("every", "at", "items") else str(exc))
        record(
            s, actor=cli_actor(), team_id=row.team_id, action="checkin_set",
            resource=f"patient:{row.id}/checkins", now=now, patient_id=row.id,
            details={"every_days": every, "at": at, "items": items},
        )  # fmt: skip
        s.commit()
        assert row.id is not None
        view = show_cadence(s, patient_id=row.id, settings=app.settings.checkins)
        if as_json:
            print_json(_view_json(view, row))
        else:
            typer.echo(_say(view, row))


@checkin_app.command("stop")
def checkin_stop(patient: PatientArg, config: Config = None) -> None:
    """Stop a patient's check-ins (the answers so far are kept)."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        row = found(find_patient, s, patient)
        assert row.id is not None
        stopped = stop_cadence(s, patient_id=row.id, now=now)
        record(
            s, actor=cli_actor(), team_id=row.team_id, action="checkin_stop",
            resource=f"patient:{row.id}/checkins", now=now, patient_id=row.id,
            details={"stopped": stopped},
        )  # fmt: skip
        s.commit()
        typer.echo(f"patient {row.id}: check-ins stopped" if stopped else _say(None, row))


@checkin_app.command("show")
def checkin_show(patient: PatientArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """A patient's check-in cadence and when the next one goes."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        row = found(find_patient, s, patient)
        assert row.id is not None
        view = show_cadence(s, patient_id=row.id, settings=app.settings.checkins)
        record(
            s, actor=cli_actor(), team_id=row.team_id, action="read",
            resource=f"patient:{row.id}/checkins", now=now, patient_id=row.id,
        )  # fmt: skip
        s.commit()
        if as_json:
            print_json(_view_json(view, row))
        else:
            typer.echo(_say(view, row))
