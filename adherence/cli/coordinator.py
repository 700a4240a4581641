"""`adherence coordinator add|list|revoke|rotate` and `adherence audit`."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

import typer

from adherence.care.coordinators import (
    CoordinatorError,
    add_coordinator,
    coordinator_json,
    list_coordinators,
    revoke,
    rotate_token,
)
from adherence.cli.common import (
    Config,
    JsonOpt,
    fail,
    found,
    load_app,
    parse_date,
    print_json,
    table,
)
from adherence.core.clock import SystemClock
from adherence.patients.enrollment import NotFound, find_patient, find_team
from adherence.storage.audit import audit_json, list_audit
from adherence.storage.models import Coordinator

coordinator_app = typer.Typer(help="Care coordinators and their API tokens.", no_args_is_help=True)

ONCE = "warning: this token is shown only once; store it now (it cannot be shown again)."


def _now() -> datetime:
    return SystemClock().now()


def _show_token(c: Coordinator, token: str, action: str, as_json: bool) -> None:
    if as_json:
        print_json(coordinator_json(c) | {"token": token})
    else:
        typer.echo(f"coordinator {c.id} {action}")
        typer.echo(f"token: {token}")
    typer.echo(ONCE, err=True)


@coordinator_app.command("add")
def add(
    team: Annotated[str, typer.Argument(help="Team id or name.")],
    name: Annotated[str, typer.Option("--name", help="The coordinator's name.")],
    email: Annotated[str, typer.Option("--email", help="Where flags and digests go.")],
    phone: Annotated[
        str | None, typer.Option("--phone", help="E.164, for urgent flags by SMS.")
    ] = None,
    sms: Annotated[
        bool, typer.Option("--sms/--no-sms", help="Also tell this coordinator by SMS.")
    ] = False,
    digest_time: Annotated[
        str | None,
        typer.Option("--digest-time", help="HH:MM local time of the daily digest ([care])."),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA zone of the digest (default: the team's).")
    ] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Add a coordinator and print their API token (shown only this once)."""
    app = load_app(config)
    with app.session() as s:
        t = found(find_team, s, team)
        try:
            c, token = add_coordinator(
                s,
                team=t,
                name=name,
                email=email,
                phone=phone,
                now=_now(),
                notify_sms=sms,
                digest_time=digest_time or app.settings.care.digest_time,
                tz=tz,
            )
        except CoordinatorError as exc:
            fail(_flag_error(str(exc)))
        _show_token(c, token, f"added to team {t.name!r}", as_json)


def _flag_error(message: str) -> str:
    """Name the flag a validation message is about."""
    for field, flag in (
        ("digest time", "--digest-time"),
        ("email", "--email"),
        ("phone", "--phone"),
        ("tz", "--tz"),
        ("name", "--name"),
        ("sms", "--sms"),
    ):
        if message.startswith(field):
            return f"{flag}: {message}"
    return message


@coordinator_app.command("list")
def list_cmd(
    team: Annotated[str | None, typer.Option("--team", help="Team id or name.")] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """List coordinators (tokens are never shown)."""
    app = load_app(config)
    with app.session() as s:
        team_id = found(find_team, s, team).id if team else None
        rows = list_coordinators(s, team_id=team_id)
        if as_json:
            print_json([coordinator_json(c) for c in rows])
            return
        typer.echo(
            table(
                [
                    [
                        str(c.id),
                        str(c.team_id),
                        c.name,
                        c.email,
                        ",".join(
                            x for x, on in (("sms", c.notify_sms), ("email", c.notify_email)) if on
                        )
                        or "-",
                        c.digest_time,
                        "active" if c.active else "revoked",
                    ]
                    for c in rows
                ],
                ["id", "team", "name", "email", "notify", "digest", "status"],
            )
        )


def _coordinator_id(ref: str) -> int:
    if not ref.isdigit():
        fail(f"coordinator id {ref!r} is not a number")
    return int(ref)


@coordinator_app.command("revoke")
def revoke_cmd(
    coordinator: Annotated[str, typer.Argument(help="Coordinator id.")],
    config: Config = None,
) -> None:
    """Revoke a coordinator's token at once (their audit trail is kept)."""
    app = load_app(config)
    with app.session() as s:
        try:
            c = revoke(s, _coordinator_id(coordinator), _now())
        except (NotFound, CoordinatorError) as exc:
            fail(str(exc))
        typer.echo(f"coordinator {c.id} revoked")


@coordinator_app.command("rotate")
def rotate_cmd(
    coordinator: Annotated[str, typer.Argument(help="Coordinator id.")],
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Issue a new token; the old one stops working at once."""
    app = load_app(config)
    with app.session() as s:
        try:
            c, token = rotate_token(s, _coordinator_id(coordinator), _now())
        except (NotFound, CoordinatorError) as exc:
            fail(str(exc))
        _show_token(c, token, "has a new token", as_json)


def audit(
    team: Annotated[str | None, typer.Option("--team", help="Team id or name.")] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Patient id or external id.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (UTC), YYYY-MM-DD.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 100,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Who read or exported patient data, and when (newest first)."""
    if limit < 1:
        fail(f"--limit {limit} must be at least 1")
    start = datetime.combine(parse_date("--since", since), time(0), tzinfo=UTC) if since else None
    app = load_app(config)
    with app.session() as s:
        team_id = found(find_team, s, team).id if team else None
        patient_id = found(find_patient, s, patient).id if patient else None
        rows = list_audit(s, team_id=team_id, patient_id=patient_id, since=start, limit=limit)
        if as_json:
            print_json([audit_json(e) for e in rows])
            return
        typer.echo(
            table(
                [
                    [
                        e.at.isoformat(timespec="seconds"),
                        e.actor,
                        e.action,
                        e.resource,
                        str(e.team_id or ""),
                    ]
                    for e in rows
                ],
                ["at (UTC)", "actor", "action", "resource", "team"],
            )
        )


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
    app.command("audit")(audit)
