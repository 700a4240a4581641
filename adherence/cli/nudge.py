"""`adherence nudge add|stop|list`: opt-in self-care nudges a patient chose with the team."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from adherence.cli.appointment import ByOpt, _actor
from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json, table
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import find_patient
from adherence.selfcare.nudges.subscriptions import NudgeError, add, list_for, stop
from notifiers.nudge_texts import TOPICS

nudge_app = typer.Typer(
    help=f"Opt-in self-care nudges ({', '.join(TOPICS)}); off unless added.",
    no_args_is_help=True,
)


@nudge_app.command("add")
def add_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    topic: Annotated[str, typer.Argument(help=f"One of {', '.join(TOPICS)}.")],
    every: Annotated[
        int | None, typer.Option("--every", help="Days between nudges ([nudges] every_days).")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="HH:MM, the patient's time ([nudges] local_time).")
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Start a nudge the patient agreed to (or change its cadence)."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        p = found(find_patient, s, patient)
        try:
            sub = add(
                s,
                patient=p,
                topic=topic,
                now=now,
                settings=app.settings,
                by=_actor(by),
                every_days=every,
                local_time=at,
            )
        except NudgeError as exc:
            fail(f"--{exc}" if str(exc).startswith(("every:", "at:")) else str(exc))
        assert sub.next_at is not None
        first = sub.next_at.astimezone(ZoneInfo(p.tz)).strftime("%Y-%m-%d %H:%M %Z")
        if as_json:
            print_json(
                {"id": sub.id, "topic": sub.topic, "every_days": sub.every_days, "next": first}
            )
            return
        typer.echo(
            f"nudge {sub.topic} every {sub.every_days} days at {sub.local_time}: next {first}"
        )


@nudge_app.command("stop")
def stop_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    topic: Annotated[str | None, typer.Argument(help="One topic (default: all).")] = None,
    by: ByOpt = None,
    config: Config = None,
) -> None:
    """Stop one nudge or all of them; texts not yet sent are withdrawn."""
    app = load_app(config)
    now = SystemClock().now()
    with app.session() as s:
        p = found(find_patient, s, patient)
        try:
            n = stop(s, patient=p, topic=topic, now=now, by=_actor(by))
        except NudgeError as exc:
            fail(str(exc))
        typer.echo(f"stopped {n} nudge{'s' if n != 1 else ''}")


@nudge_app.command("list")
def list_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """The patient's nudges, active and stopped."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        rows = list_for(s, p)
        zone = ZoneInfo(p.tz)

        def nxt(at: datetime | None) -> str:
            return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else ""

        if as_json:
            print_json(
                [
                    {
                        "topic": r.topic,
                        "every_days": r.every_days,
                        "at": r.local_time,
                        "active": r.active,
                        "next": nxt(r.next_at) or None,
                    }
                    for r in rows
                ]
            )
            return
        typer.echo(
            table(
                [
                    [
                        r.topic,
                        str(r.every_days),
                        r.local_time,
                        "yes" if r.active else "stopped",
                        nxt(r.next_at),
                    ]
                    for r in rows
                ],
                ["topic", "every", "at", "active", "next"],
            )
        )
