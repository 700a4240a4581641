"""`adherence report (PATIENT | --team TEAM) [--from DATE --to DATE] [--json]`: adherence
measures (PDC, taken and on-time rates, gaps, persistence, infusions) for a patient or a
whole care team; the last 30, 90 and 365 days when no dates are given. PDC comes twice:
from confirmations ("PDC") and from dispensing records ("PDC fills", PQA's claims way)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

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


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pdc(js: dict[str, Any]) -> str:
    """PDC, or why there is none yet (every dose still to come)."""
    if js.get("pdc_status") == "nothing to measure yet":
        return "nothing to measure yet"
    return _pct(js["pdc"])


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _periods(from_: str | None, to: str | None, today: date) -> dict[str, tuple[date, date]]:
    from adherence.care.measures import default_periods

    if from_ is None and to is None:
        return default_periods(today)
    if from_ is None or to is None:
        fail("--from and --to go together (or give neither for the last 30/90/365 days)")
    start, end = parse_date("--from", from_), parse_date("--to", to)
    if end < start:
        fail(f"--to {to} is before --from {from_}")
    return {f"{start.isoformat()}..{end.isoformat()}": (start, end)}


def _patient_lines(label: str, js: dict[str, Any]) -> list[list[str]]:
    rows = []
    for p in js["plans"]:
        rows.append(
            [
                label,
                str(p["plan_id"]),
                p["regimen"],
                _pdc(p),
                _pct(p["dispensing"]["pdc"]) if p["dispensing"] else "-",
                _yes(p["adherent"]),
                f"{p['doses_taken']}/{p['doses_scheduled']}",
                _pct(p["on_time_rate"]),
                "-" if p["longest_gap_days"] is None else f"{p['longest_gap_days']:g}",
                _yes(p["persistent"]),
                "-"
                if not p["infusions_due"]
                else f"{p['infusions_given']}/{p['infusions_due']} "
                f"on time {_pct(p['infusion_on_time_rate'])}",
                str(p["days_not_recorded"]) if p["days_not_recorded"] else "-",
            ]
        )
    return rows


def report(
    patient: Annotated[
        str | None, typer.Argument(help="Patient id or external id (or use --team).")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Care team id or name.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Adherence measures for a patient or a care team."""
    from adherence.care.measures import measure_patient, measure_team
    from adherence.patients.enrollment import find_patient, find_team
    from adherence.storage.audit import cli_actor, record
    from adherence.storage.models import CareTeam, Patient

    if (patient is None) == (team is None):
        fail("give a PATIENT or --team TEAM (one of them)")
    app = load_app(config)
    now: datetime = SystemClock().now()
    out: dict[str, Any] = {}
    with app.session() as s:
        # Exactly one of PATIENT and --team is given (checked above).
        subject: Patient | CareTeam = (
            found(find_patient, s, patient)
            if patient is not None
            else found(find_team, s, team or "")
        )
        zone = ZoneInfo(subject.tz)
        periods = _periods(from_, to, now.astimezone(zone).date())
        for label, (start, end) in periods.items():
            if isinstance(subject, Patient):
                out[label] = measure_patient(
                    s, subject, start=start, end=end, catalog=app.catalog, settings=app.settings,
                    now=now,
                ).to_json()  # fmt: skip
            else:
                out[label] = measure_team(
                    s,
                    subject,
                    start=start,
                    end=end,
                    catalog=app.catalog,
                    settings=app.settings,
                    now=now,
                ).to_json()
        target = subject if isinstance(subject, Patient) else None
        record(
            s,
            actor=cli_actor(),
            team_id=target.team_id if target is not None else subject.id,
            action="read",
            resource=f"report:patient:{target.id}" if target else f"report:team:{subject.id}",
            patient_id=target.id if target is not None else None,
            now=now,
            details={"periods": list(periods)},
        )
        s.commit()
    if as_json:
        print_json(next(iter(out.values())) if len(out) == 1 and from_ else out)
        return
    # PDC from confirmations (the patient's answers) and from fills (dispensing records).
    header = ["period", "plan", "regimen", "PDC", "PDC fills", "adherent", "taken", "on time",
              "longest gap", "persistent", "infusions", "not recorded"]  # fmt: skip
    if patient is not None:
        rows = [row for label, js in out.items() for row in _patient_lines(label, js)]
        typer.echo(table(rows, header) if rows else "no plans")
        return
    for label, js in out.items():
        typer.echo(
            f"{label}: {js['patients']} patients, {js['patients_in_pdc']} with PDC"
            f" ({js['patients_nothing_to_measure_yet']} with nothing to measure yet), "
            f"median PDC {_pct(js['pdc_median'])} (confirmations), "
            f"{_pct(js['dispensing_pdc_median'])} (fills, {js['patients_with_fills']} patients), "
            f"adherent (>= {_pct(js['threshold'])}) "
            f"{js['patients_adherent']}, taken {_pct(js['taken_rate'])}, "
            f"on time {_pct(js['on_time_rate'])}"
        )
    last = out[list(out)[-1]]
    rows = [
        [str(p["patient_id"]), p["external_id"] or "", _pdc(p),
         _pct(p["dispensing"]["pdc"]) if p["dispensing"] else "-", _yes(p["adherent"]),
         f"{p['doses_taken']}/{p['doses_scheduled']}", _pct(p["on_time_rate"]),
         _yes(p["persistent"])]
        for p in last["patient_measures"]
    ]  # fmt: skip
    if rows:
        typer.echo(f"\npatients ({list(out)[-1]}):")
        typer.echo(
            table(
                rows,
                [
                    "patient",
                    "external id",
                    "PDC",
                    "PDC fills",
                    "adherent",
                    "taken",
                    "on time",
                    "persistent",
                ],
            )
        )
