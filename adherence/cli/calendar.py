"""`adherence calendar url|rotate|team-url|team-rotate`: subscribed calendar feeds.

Only a hash of a feed token is stored, so a URL is printed once, when it is issued. Asking
for the URL of a patient who already has one is refused with the way out (rotate), rather
than silently rotating and breaking a subscription that works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from adherence.calendar.feed import (
    CalendarError,
    feed_urls,
    issue_patient_token,
    issue_team_token,
    rotate,
)
from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json
from adherence.core.clock import SystemClock
from adherence.core.config import Settings
from adherence.patients.enrollment import find_patient, find_team

calendar_app = typer.Typer(
    help="Calendar feeds: a patient's (or a care team's) URL, and rotating it.",
    no_args_is_help=True,
)

PatientArg = Annotated[str, typer.Argument(help="Patient id or external id.")]
TeamArg = Annotated[str, typer.Argument(help="Care team id or exact name.")]


def _now() -> datetime:
    return SystemClock().now()


_NOTE = (
    "This link is shown only once (only a hash is kept). Anyone with it can read the "
    "calendar; `adherence calendar {cmd} {ref}` replaces it."
)


def _show(
    settings: Settings, kind: str, owner_id: int | None, ref: str, token: str, as_json: bool
) -> None:
    """The feed's URLs (``kind`` "patient" or "team"; ``ref`` as the user gave it)."""
    team = kind == "team"
    urls = feed_urls(settings, token, team=team)
    data: dict[str, Any] = {
        "id": owner_id,
        "kind": kind,
        "url": urls.url,
        "webcal_url": urls.webcal_url,
        "google_url": urls.google_url,
    }
    if as_json:
        print_json(data)
        return
    typer.echo(f"https:  {urls.url}")
    typer.echo(f"webcal: {urls.webcal_url}")
    typer.echo(f"Google: {urls.google_url}")
    typer.echo(_NOTE.format(cmd="team-rotate" if team else "rotate", ref=ref))


@calendar_app.command("url")
def url(patient: PatientArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """Issue the patient's feed URL (https, webcal, and an add-to-Google-Calendar link)."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        try:
            token = issue_patient_token(s, p, now=_now())
        except CalendarError as exc:
            fail(str(exc))
        _show(app.settings, "patient", p.id, patient, token, as_json)


@calendar_app.command("rotate")
def rotate_cmd(patient: PatientArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """Replace the patient's feed URL: the old one answers 404 from now on."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        if not p.active:
            fail(f"patient {patient!r} was removed: no calendar feed")
        token = rotate(s, p, now=_now())
        _show(app.settings, "patient", p.id, patient, token, as_json)


@calendar_app.command("team-url")
def team_url(team: TeamArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """Issue the care team's feed URL: every patient's infusion appointments."""
    app = load_app(config)
    with app.session() as s:
        t = found(find_team, s, team)
        try:
            token = issue_team_token(s, t, now=_now())
        except CalendarError as exc:
            fail(str(exc))
        _show(app.settings, "team", t.id, team, token, as_json)


@calendar_app.command("team-rotate")
def team_rotate(team: TeamArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """Replace the care team's feed URL: the old one answers 404 from now on."""
    app = load_app(config)
    with app.session() as s:
        t = found(find_team, s, team)
        token = rotate(s, t, now=_now())
        _show(app.settings, "team", t.id, team, token, as_json)
