"""Enrollment commands: care teams and patients (`adherence team ...`, `adherence patient
...`). Plans, doses and clinic confirmations are in ``adherence.cli.plans``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from sqlmodel import col, select

from adherence.cli.common import Config, JsonOpt, fail, found, load_app, print_json, table
from adherence.cli.plans import plan_dict
from adherence.core.clock import SystemClock
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import (
    EnrollmentError,
    create_patient,
    create_team,
    find_patient,
    find_team,
    remove_patient,
    shared_phone_warning,
    update_patient,
)
from adherence.storage.models import CareTeam, Patient, Plan
from adherence.storage.public import PatientPublic, TeamPublic, as_json

team_app = typer.Typer(help="Care teams (a clinic or programme).", no_args_is_help=True)
patient_app = typer.Typer(help="Patients.", no_args_is_help=True)

# The contact and caregiver options `patient add` and `patient update` share.
InvitesOpt = Annotated[
    bool | None,
    typer.Option("--invites/--no-invites", help="E-mail appointment invitations."),
]
CaregiverNameOpt = Annotated[str | None, typer.Option("--caregiver-name")]
CaregiverPhoneOpt = Annotated[
    str | None, typer.Option("--caregiver-phone", help="E.164, e.g. +15551234567.")
]
CaregiverEmailOpt = Annotated[str | None, typer.Option("--caregiver-email")]
CaregiverConsentOpt = Annotated[
    bool | None,
    typer.Option(
        "--caregiver-consent/--no-caregiver-consent",
        help="The patient consents (recorded as now) to the caregiver being told, or withdraws.",
    ),
]


def _now() -> datetime:
    return SystemClock().now()


def team_dict(team: CareTeam) -> dict[str, Any]:
    return as_json(TeamPublic.of(team))


def patient_dict(p: Patient) -> dict[str, Any]:
    return as_json(PatientPublic.of(p))


# --- teams -----------------------------------------------------------------------------------


@team_app.command("add")
def team_add(
    name: Annotated[str, typer.Argument(help="Team name (unique).")],
    tz: Annotated[str, typer.Option("--tz", help="The team's IANA time zone.")],
    phone: Annotated[
        str, typer.Option("--phone", help="How patients reach the team (E.164).")
    ] = "",
    email: Annotated[str, typer.Option("--email")] = "",
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Add a care team; prints its id."""
    app = load_app(config)
    with app.session() as s:
        try:
            team = create_team(s, name=name, tz=tz, phone=phone, email=email, now=_now())
        except EnrollmentError as exc:
            fail(str(exc))
        print_json(team_dict(team)) if as_json else typer.echo(team.id)


@team_app.command("list")
def team_list(as_json: JsonOpt = False, config: Config = None) -> None:
    """List care teams."""
    app = load_app(config)
    with app.session() as s:
        teams = s.exec(select(CareTeam).order_by(col(CareTeam.id))).all()
        if as_json:
            print_json([team_dict(t) for t in teams])
        else:
            typer.echo(table([[str(t.id), t.name, t.tz] for t in teams], ["id", "name", "tz"]))


# --- patients --------------------------------------------------------------------------------


@patient_app.command("add")
def patient_add(
    team: Annotated[str, typer.Option("--team", help="Team id or name.")],
    name: Annotated[str, typer.Option("--name")],
    phone: Annotated[str, typer.Option("--phone", help="E.164, e.g. +15551234567.")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")],
    external_id: Annotated[str | None, typer.Option("--external-id")] = None,
    no_discreet: Annotated[
        bool, typer.Option("--no-discreet", help="Name the therapy in texts and calendar titles.")
    ] = False,
    quiet_hours: Annotated[
        str | None, typer.Option("--quiet-hours", help="e.g. 22:00-07:00")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="en or es")] = "en",
    email: Annotated[str, typer.Option("--email")] = "",
    invites: InvitesOpt = None,
    caregiver_name: CaregiverNameOpt = None,
    caregiver_phone: CaregiverPhoneOpt = None,
    caregiver_email: CaregiverEmailOpt = None,
    caregiver_consent: CaregiverConsentOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Enrol a patient; prints the id."""
    app = load_app(config)
    with app.session() as s:
        t = found(find_team, s, team)
        try:
            p = create_patient(
                s,
                team=t,
                name=name,
                phone=phone,
                tz=tz,
                now=_now(),
                external_id=external_id,
                discreet=not no_discreet,
                quiet_hours=quiet_hours,
                language=language,
                email=email,
                invites=bool(invites),
                caregiver_name=caregiver_name or "",
                caregiver_phone=caregiver_phone or "",
                caregiver_email=caregiver_email or "",
                caregiver_consent=bool(caregiver_consent),
            )
        except EnrollmentError as exc:
            fail(str(exc))
        if (shared := shared_phone_warning(s, p)) is not None:
            typer.echo(shared, err=True)
        print_json(patient_dict(p)) if as_json else typer.echo(p.id)


@patient_app.command("list")
def patient_list(
    team: Annotated[str | None, typer.Option("--team")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include removed patients.")] = False,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """List patients."""
    app = load_app(config)
    with app.session() as s:
        q = select(Patient).order_by(col(Patient.id))
        if team:
            q = q.where(Patient.team_id == found(find_team, s, team).id)
        if not all_:
            q = q.where(Patient.active == True)  # noqa: E712
        rows = s.exec(q).all()
        if as_json:
            print_json([patient_dict(p) for p in rows])
        else:
            typer.echo(
                table(
                    [[str(p.id), p.external_id or "", p.name, p.tz, p.sms_status] for p in rows],
                    ["id", "external id", "name", "tz", "sms"],
                )
            )


@patient_app.command("show")
def patient_show(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """One patient and their plans."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        plans = s.exec(select(Plan).where(Plan.patient_id == p.id).order_by(col(Plan.id))).all()
        data = patient_dict(p) | {"plans": [plan_dict(x) for x in plans]}
        if as_json:
            print_json(data)
        else:
            for k, v in data.items():
                if k != "plans":
                    typer.echo(f"{k}: {v}")
            for x in plans:
                typer.echo(f"plan {x.id}: {x.regimen} from {x.start_date} ({x.status})")


@patient_app.command("update")
def patient_update(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="New zone: future doses keep their wall-clock time.")
    ] = None,
    discreet: Annotated[bool | None, typer.Option("--discreet/--no-discreet")] = None,
    quiet_hours: Annotated[
        str | None, typer.Option("--quiet-hours", help="HH:MM-HH:MM, or '' to clear")
    ] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    email: Annotated[str | None, typer.Option("--email", help="'' to clear")] = None,
    invites: InvitesOpt = None,
    caregiver_name: CaregiverNameOpt = None,
    caregiver_phone: CaregiverPhoneOpt = None,
    caregiver_email: CaregiverEmailOpt = None,
    caregiver_consent: CaregiverConsentOpt = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Change a patient's details (a new --tz moves future doses, same local time)."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        p = found(find_patient, s, patient)
        try:
            p = update_patient(
                s,
                patient=p,
                now=now,
                name=name,
                phone=phone,
                tz=tz,
                discreet=discreet,
                quiet_hours=quiet_hours,
                language=language,
                email=email,
                invites=invites,
                caregiver_name=caregiver_name,
                caregiver_phone=caregiver_phone,
                caregiver_email=caregiver_email,
                caregiver_consent=caregiver_consent,
            )
        except EnrollmentError as exc:
            fail(str(exc))
        if phone is not None and (shared := shared_phone_warning(s, p)) is not None:
            typer.echo(shared, err=True)
        if tz is not None:
            ids = [x.id for x in s.exec(select(Plan).where(Plan.patient_id == p.id))]
            materialize(
                s,
                now=now,
                catalog=app.catalog,
                horizon_days=app.settings.engine.horizon_days,
                plan_ids=ids,
            )
        print_json(patient_dict(p)) if as_json else typer.echo(f"patient {p.id} updated")


@patient_app.command("remove")
def patient_remove(
    patient: Annotated[str, typer.Argument(help="Patient id or external id.")],
    config: Config = None,
) -> None:
    """Stop texting a patient and stop their plans; everything recorded is kept."""
    app = load_app(config)
    with app.session() as s:
        p = found(find_patient, s, patient)
        remove_patient(s, patient=p, now=_now())
        typer.echo(f"patient {p.id} removed (records kept)")
