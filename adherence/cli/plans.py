"""Plan, dose and confirmation commands: `adherence plan ...`, `adherence doses` and
`adherence confirm` (a clinic entry or a phone call recording a dose taken or skipped).
Care teams and patients are in ``adherence.cli.enroll``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlmodel import col, select

from adherence.calendar.feed import offer_feed_link
from adherence.cli.common import (
    Config,
    JsonOpt,
    fail,
    found,
    load_app,
    parse_date,
    parse_options,
    print_json,
    table,
)
from adherence.core.clock import SystemClock
from adherence.dosing.confirm import ConfirmError, confirm, open_dose_for_reply
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import (
    EnrollmentError,
    find_patient,
    find_plan,
    pause_plan,
    resume_plan,
    stop_plan,
)
from adherence.patients.midtherapy import (
    PositionError,
    last_dose_instant,
    phase_name,
    position,
    start_plan,
)
from adherence.storage.audit import cli_actor
from adherence.storage.models import Dose, Plan
from adherence.storage.public import PlanPublic, as_json, dose_json
from schedules import OptionError, UnknownTherapy

plan_app = typer.Typer(help="Therapy plans.", no_args_is_help=True)


def _now() -> datetime:
    return SystemClock().now()


def plan_dict(plan: Plan) -> dict[str, Any]:
    return as_json(PlanPublic.of(plan))


def dose_dict(d: Dose, tz: str) -> dict[str, Any]:
    return dose_json(d, ZoneInfo(tz))


# --- plans -----------------------------------------------------------------------------------


def _plan_error(message: str) -> str:
    """Name the option a plan error is about: a times problem is a --time problem."""
    if message.startswith("time: "):
        return "--time " + message.removeprefix("time: ").removeprefix("time ")
    if "time(s)" in message or "same time" in message:
        return f"--time: {message}"
    return message


@plan_app.command("add")
def plan_add(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    regimen: Annotated[str, typer.Argument(help="Therapy: generic or brand name.")],
    start: Annotated[str | None, typer.Option("--start", help="Day 1, YYYY-MM-DD.")] = None,
    day: Annotated[
        int | None,
        typer.Option(
            "--day", help="Already on therapy: today is Day N (titration done = maintenance)."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Already on therapy: the real Day 1, YYYY-MM-DD (in the past)."
        ),
    ] = None,
    last_dose: Annotated[
        str | None,
        typer.Option(
            "--last-dose",
            help="Interval therapies: the dose last given, YYYY-MM-DD[THH:MM] local; the next counts from it.",
        ),
    ] = None,
    course: Annotated[
        int | None,
        typer.Option(
            "--course",
            help="Yearly courses (cladribine, alemtuzumab): the course the last dose completed.",
        ),
    ] = None,
    cycle: Annotated[
        int | None,
        typer.Option("--cycle", help="With --course: the cycle the last dose completed."),
    ] = None,
    phase: Annotated[
        str | None, typer.Option("--phase", help="With --last-dose: the phase it belonged to.")
    ] = None,
    time_: Annotated[list[str] | None, typer.Option("--time", help="HH:MM, repeatable.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="KEY=VALUE.")] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Start a therapy plan; doses are materialised at once. Prints the plan id.

    For a patient already on therapy give where they are (--day, --since, --last-dose):
    nothing before now is reminded, and days before enrolment are "not recorded" (neither
    taken nor missed) until history is imported."""
    app = load_app(config)
    now = _now()
    first = parse_date("--start", start) if start else None
    since_day = parse_date("--since", since) if since else None
    opts = parse_options(option or [])
    with app.session() as s:
        p = found(find_patient, s, patient)
        if not p.active:
            # A removed patient is never materialised: the plan would sit there doseless.
            fail(f"patient {patient} was removed: a removed patient gets no new plans")
        today = now.astimezone(ZoneInfo(p.tz)).date()
        try:
            resolved = app.catalog.get(regimen).regimen(opts)
            given_on, given_at = last_dose_instant(last_dose) if last_dose else (None, None)
            where = position(
                resolved,
                today=today,
                start=first,
                day=day,
                since=since_day,
                last_dose=given_on,
                last_dose_time=given_at,
                phase=phase_name(resolved, course, cycle) if course or cycle else phase,
            )
        except (UnknownTherapy, OptionError, PositionError) as exc:
            fail(str(exc))
        try:
            plan = start_plan(
                s,
                catalog=app.catalog,
                patient=p,
                regimen=regimen,
                where=where,
                now=now,
                by=cli_actor(),
                times=list(time_ or []),
                options=opts,
            )
        except EnrollmentError as exc:
            fail(_plan_error(str(exc)))
        assert plan.id is not None
        materialize(
            s,
            now=now,
            catalog=app.catalog,
            horizon_days=app.settings.engine.horizon_days,
            plan_ids=[plan.id],
        )
        # With [calendar] text_link_at_enrollment: one SMS with the feed link, the first
        # time a plan is added (a patient who has a link already is left alone).
        offer_feed_link(s, p, now, app.settings)
        print_json(plan_dict(plan)) if as_json else typer.echo(plan.id)


@plan_app.command("list")
def plan_list(
    patient: Annotated[str | None, typer.Argument(help="Patient id or external id.")] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """List plans (of one patient, or all)."""
    app = load_app(config)
    with app.session() as s:
        q = select(Plan).order_by(col(Plan.id))
        if patient:
            q = q.where(Plan.patient_id == found(find_patient, s, patient).id)
        plans = s.exec(q).all()
        if as_json:
            print_json([plan_dict(x) for x in plans])
        else:
            typer.echo(
                table(
                    [
                        [str(x.id), str(x.patient_id), x.regimen, str(x.start_date), x.status]
                        for x in plans
                    ],
                    ["id", "patient", "regimen", "start", "status"],
                )
            )


@plan_app.command("show")
def plan_show(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """One plan."""
    app = load_app(config)
    with app.session() as s:
        data = plan_dict(found(find_plan, s, plan))
        if as_json:
            print_json(data)
        else:
            for k, v in data.items():
                typer.echo(f"{k}: {v}")


def _plan_change(action: str, plan: str, config: str | None, reason: str = "") -> None:
    app = load_app(config)
    now = _now()
    with app.session() as s:
        p = found(find_plan, s, plan)
        assert p.id is not None
        try:
            if action == "pause":
                pause_plan(s, plan=p, now=now)
            elif action == "resume":
                resume_plan(s, plan=p, now=now)
                materialize(
                    s,
                    now=now,
                    catalog=app.catalog,
                    horizon_days=app.settings.engine.horizon_days,
                    plan_ids=[p.id],
                )
            else:
                stop_plan(s, plan=p, now=now, reason=reason or "stopped")
        except EnrollmentError as exc:
            fail(str(exc))
        typer.echo(f"plan {p.id} {p.status}")


@plan_app.command("pause")
def plan_pause(plan: Annotated[str, typer.Argument()], config: Config = None) -> None:
    """Pause: no reminders, future doses cancelled until resumed."""
    _plan_change("pause", plan, config)


@plan_app.command("resume")
def plan_resume(plan: Annotated[str, typer.Argument()], config: Config = None) -> None:
    """Resume a paused plan."""
    _plan_change("resume", plan, config)


@plan_app.command("stop")
def plan_stop(
    plan: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason")] = "",
    config: Config = None,
) -> None:
    """Stop a plan for good (records kept)."""
    _plan_change("stop", plan, config, reason)


# --- doses and confirmations -------------------------------------------------------------------


def doses(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    from_: Annotated[str | None, typer.Option("--from", help="First local date.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last local date.")] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """A patient's doses with their status."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        q = (
            select(Dose)
            .where(Dose.patient_id == p.id, Dose.status != "cancelled")
            .order_by(col(Dose.due_at), col(Dose.id))
        )
        if from_:
            q = q.where(Dose.local_date >= parse_date("--from", from_))
        if to:
            q = q.where(Dose.local_date <= parse_date("--to", to))
        rows = s.exec(q).all()
        if as_json:
            print_json([dose_dict(d, p.tz) for d in rows])
            return
        zone = ZoneInfo(p.tz)
        typer.echo(
            table(
                [
                    [
                        str(d.id),
                        d.due_at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %z"),
                        f"{d.amount:g} {d.unit}",
                        d.kind,
                        d.phase,
                        d.status + (" (late)" if d.late else ""),
                    ]
                    for d in rows
                ],
                ["id", "at", "amount", "kind", "phase", "status"],
            )
        )


def confirm_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    taken: Annotated[bool, typer.Option("--taken", help="The dose was taken.")] = False,
    skipped: Annotated[bool, typer.Option("--skipped", help="The dose was skipped.")] = False,
    dose: Annotated[
        int | None, typer.Option("--dose", help="Dose id (default: the latest open one).")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="When, ISO 8601 with offset (default now).")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who records it.")] = "clinic",
    reason: Annotated[str, typer.Option("--reason", help="Why (for a correction).")] = "",
    config: Config = None,
) -> None:
    """Record a dose taken or skipped (a clinic entry or phone call); may correct a record."""
    if taken == skipped:
        fail("give exactly one of --taken or --skipped")
    app = load_app(config)
    now = _now()
    when = now
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 date-time, e.g. 2026-03-08T08:15:00-05:00")
        if when.tzinfo is None:
            fail(f"--at {at!r} needs a UTC offset, e.g. 2026-03-08T08:15:00-05:00")
        when = when.astimezone(UTC)
    with app.session() as s:
        p = found(find_patient, s, patient)
        assert p.id is not None
        target = (
            s.get(Dose, dose)
            if dose is not None
            else open_dose_for_reply(s, p.id, when + timedelta(minutes=15))
        )
        if target is None or target.patient_id != p.id:
            fail(
                f"no dose {dose} for patient {patient}"
                if dose
                else f"patient {patient} has no open dose; give --dose ID"
            )
        try:
            result = confirm(
                s,
                catalog=app.catalog,
                dose=target,
                status="taken" if taken else "skipped",
                at=when,
                now=now,
                via="clinic",
                by=by,
                reason=reason,
                horizon_days=app.settings.engine.horizon_days,
            )
        except ConfirmError as exc:
            fail(str(exc))
        note = " (late)" if result.late else ""
        typer.echo(f"dose {target.id}: {result.old_status} -> {target.status}{note}")
        for event in result.events:
            typer.echo(f"rule: {event.type} {event.details_json}")
