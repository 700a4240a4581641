"""`adherence flags`, `adherence flag ack|resolve`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlmodel import col, select

from adherence.care.flags import (
    RULES,
    FlagError,
    FlagNotFound,
    acknowledge,
    flag_json,
    list_flags,
    resolve,
)
from adherence.cli.common import Config, JsonOpt, fail, load_app, print_json, table
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import NotFound, find_team
from adherence.storage.audit import cli_actor, record
from adherence.storage.models import CareTeam, Flag, Patient

flag_app = typer.Typer(help="Acknowledge or resolve a care-team flag.", no_args_is_help=True)

ByOpt = Annotated[str | None, typer.Option("--by", help="Who is acting (default: cli:<OS user>).")]


def _now() -> datetime:
    return SystemClock().now()


def _flag_id(text: str) -> int:
    if not text.isdigit():
        fail(f"ID {text!r} is not a flag id (a whole number, as `adherence flags` shows)")
    return int(text)


def _row(f: Flag, patient: Patient | None, zone: ZoneInfo) -> list[str]:
    who = patient.external_id or patient.name if patient else str(f.patient_id)
    return [
        str(f.id),
        f.severity,
        f.status,
        f.rule,
        f"{f.patient_id} {who}",
        str(f.plan_id or "-"),
        str(f.occurrences),
        f.last_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    ]


def flags(
    team: Annotated[
        str | None, typer.Option("--team", help="Team id or name (default: every team).")
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include resolved flags.")] = False,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """List open and acknowledged flags (urgent first); --all adds resolved ones."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        team_id = None
        if team is not None:
            try:
                team_id = find_team(s, team).id
            except NotFound as exc:
                fail(f"--team: {exc}")
        rows = list_flags(s, team_id=team_id, status="all" if show_all else None)
        record(
            s,
            actor=cli_actor(),
            team_id=team_id,
            action="read",
            resource="flags",
            now=now,
            details={"count": len(rows), "all": show_all},
        )
        s.commit()
        if as_json:
            print_json([flag_json(f) for f in rows])
            return
        if not rows:
            typer.echo("no flags" if show_all else "no open flags")
            return
        pids = {f.patient_id for f in rows}
        patients = {p.id: p for p in s.exec(select(Patient).where(col(Patient.id).in_(pids))).all()}
        teams = {t.id: t for t in s.exec(select(CareTeam)).all()}
        out: list[list[str]] = []
        for f in rows:
            t = teams.get(f.team_id)
            zone = ZoneInfo(t.tz) if t is not None else ZoneInfo("UTC")
            out.append(_row(f, patients.get(f.patient_id), zone))
        typer.echo(
            table(
                out,
                ["id", "severity", "status", "rule", "patient", "plan", "times", "last (local)"],
            )
        )
        typer.echo("")
        for rule in sorted({f.rule for f in rows}):
            typer.echo(f"{rule}: {RULES.get(rule, rule)}")


def _done(flag: Flag, as_json: bool) -> None:
    if as_json:
        print_json(flag_json(flag))
    else:
        typer.echo(f"flag {flag.id} {flag.status}")


def _change(
    action: str, flag_id: int, *, by: str | None, note: str, as_json: bool, config: str | None
) -> None:
    app = load_app(config)
    now = _now()
    actor = cli_actor()
    who = by.strip() if by is not None else actor
    if not who:
        fail("--by: give a name (or leave it out to use the OS user)")
    with app.session() as s:
        existing = s.get(Flag, flag_id)
        if existing is None:
            fail(f"no flag {flag_id}")
        record(
            s,
            actor=actor,
            team_id=existing.team_id,
            action=action,
            resource=f"flag:{flag_id}",
            now=now,
            patient_id=existing.patient_id,
            details={"by": who},
        )
        changed: Any
        try:
            if action == "ack":
                changed = acknowledge(s, flag_id, by=who, now=now, note=note)
            else:
                changed = resolve(s, flag_id, by=who, note=note, now=now)
        except (FlagError, FlagNotFound) as exc:
            s.rollback()
            fail(str(exc).replace("note: ", "--note: ").replace("by: ", "--by: "))
        _done(changed, as_json)


@flag_app.command("ack")
def ack_cmd(
    flag_id: Annotated[str, typer.Argument(metavar="ID", help="The flag id.")],
    note: Annotated[str, typer.Option("--note", help="What you are doing about it.")] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Acknowledge a flag: someone is on it (it stays open)."""
    _change("ack", _flag_id(flag_id), by=by, note=note, as_json=as_json, config=config)


@flag_app.command("resolve")
def resolve_cmd(
    flag_id: Annotated[str, typer.Argument(metavar="ID", help="The flag id.")],
    note: Annotated[str, typer.Option("--note", help="What was done (required).")] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Resolve a flag with a note; a later occurrence opens a new flag."""
    _change("resolve", _flag_id(flag_id), by=by, note=note, as_json=as_json, config=config)


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
    app.command("flags")(flags)
