"""`adherence supply add|list`: a plan's pharmacy fills, days on hand and refills."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlmodel import Session

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
from adherence.patients.enrollment import find_plan
from adherence.storage.audit import cli_actor, record
from adherence.storage.models import Patient, Plan
from adherence.storage.public import as_json as public_json
from adherence.supply.actions import add_fill
from adherence.supply.onhand import supply_of
from adherence.supply.public import FillPublic, SupplyPublic
from adherence.supply.records import SupplyError, has_home_supply

supply_app = typer.Typer(
    help="A plan's home supply: pharmacy fills, days on hand, refills.", no_args_is_help=True
)

PlanArg = Annotated[str, typer.Argument(help="Plan id (as `adherence plan list` shows).")]

# The words SupplyError messages start with -> the option a user typed.
_OPTIONS = {"days_supply": "--days-supply", "quantity": "--quantity", "dispensed": "--dispensed"}


def _now() -> datetime:
    return SystemClock().now()


def _option_error(message: str) -> str:
    word, _, rest = message.partition(" ")
    return f"{_OPTIONS[word]} {rest}" if word in _OPTIONS else message


def _whole(flag: str, text: str) -> int:
    if not text.strip().isdigit():
        fail(f"{flag} {text!r} is not a whole number of days")
    return int(text)


def _number(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        fail(f"{flag} {text!r} is not a number of doses")


def _plan_and_patient(s: Session, ref: str) -> tuple[Plan, Patient]:
    plan = found(find_plan, s, ref)
    patient = s.get(Patient, plan.patient_id)
    if patient is None:
        fail(f"plan {ref}: its patient is missing")
    return plan, patient


@supply_app.command("add")
def supply_add(
    plan: PlanArg,
    dispensed: Annotated[str, typer.Option("--dispensed", help="Date dispensed, YYYY-MM-DD.")],
    days_supply: Annotated[str, typer.Option("--days-supply", help="Days the fill supplies.")],
    quantity: Annotated[
        str | None, typer.Option("--quantity", help="Doses supplied (tablets, syringes, pens).")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="Where the record came from.")] = "",
    as_json: JsonOpt = False,
    config: Config = None,
) -> None:
    """Record a pharmacy fill of the plan's home supply. Prints the fill id."""
    day = parse_date("--dispensed", dispensed)
    days = _whole("--days-supply", days_supply)
    doses = _number("--quantity", quantity)
    app = load_app(config)
    now = _now()
    with app.session() as s:
        row, patient = _plan_and_patient(s, plan)
        try:
            recorded, supply = add_fill(
                s,
                catalog=app.catalog,
                plan=row,
                patient=patient,
                settings=app.settings.supply,
                dispensed_on=day,
                days_supply=days,
                now=now,
                quantity=doses,
                source=source,
                via="cli",
                by=cli_actor(),
            )
        except SupplyError as exc:
            fail(_option_error(str(exc)))
        fill = recorded.fill
        record(
            s,
            actor=cli_actor(),
            team_id=patient.team_id,
            action="dispense",
            resource=f"plan:{row.id}/supply",
            now=now,
            patient_id=patient.id,
            details={"fill_id": fill.id, "created": recorded.created},
        )
        s.commit()
        if as_json:
            zone = ZoneInfo(patient.tz)
            print_json(
                {
                    "created": recorded.created,
                    "fill": public_json(FillPublic.of(fill, zone)),
                    "supply": public_json(SupplyPublic.of(row, supply, zone)),
                }
            )
            return
        if recorded.created:
            typer.echo(str(fill.id))
        else:
            typer.echo(f"{fill.id} (already recorded)")


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _instant(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else "-"


@supply_app.command("list")
def supply_list(plan: PlanArg, as_json: JsonOpt = False, config: Config = None) -> None:
    """The plan's fills, doses on hand, when the supply runs out and the refill dates."""
    app = load_app(config)
    now = _now()
    with app.session() as s:
        row, patient = _plan_and_patient(s, plan)
        supply = supply_of(
            s,
            catalog=app.catalog,
            plan=row,
            patient=patient,
            settings=app.settings.supply,
            now=now,
        )
        record(
            s,
            actor=cli_actor(),
            team_id=patient.team_id,
            action="read",
            resource=f"plan:{row.id}/supply",
            now=now,
            patient_id=patient.id,
            details={"count": len(supply.fills)},
        )
        s.commit()
        zone = ZoneInfo(patient.tz)
        if as_json:
            print_json(public_json(SupplyPublic.of(row, supply, zone)))
            return
        if supply.fills:
            rows = [
                [
                    str(f.id),
                    f.dispensed_on.isoformat(),
                    str(f.days_supply),
                    _text(None if f.quantity is None else f"{f.quantity:g}"),
                    _text(f.source),
                    _text(f.recorded_via),
                ]
                for f in supply.fills
            ]
            typer.echo(table(rows, ["fill", "dispensed", "days", "quantity", "source", "via"]))
        elif not has_home_supply(app.catalog, row):
            typer.echo(f"plan {row.id} is given in clinic: no home supply")
            return
        else:
            typer.echo("no fills recorded")
        typer.echo("")
        facts = [
            ("on hand", f"{supply.on_hand_doses:g} doses ({supply.on_hand_days} days)"),
            ("runs out", _text(supply.runs_out)),
            ("PQA runs out", _text(supply.pqa_runs_out)),
            ("refill allowed from", _text(supply.refill_allowed_from)),
            ("refill reminder", _instant(row.refill_remind_at, zone)),
            ("overdue check", _instant(row.refill_overdue_at, zone)),
            ("refill ordered", _instant(supply.refill_ordered_at, zone)),
        ]
        width = max(len(k) for k, _ in facts)
        for key, value in facts:
            typer.echo(f"{key.ljust(width)}  {value}")
        typer.echo(f"(dates and times in {zone.key})")
