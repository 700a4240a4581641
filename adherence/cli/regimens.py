"""`adherence regimens` and `adherence preview`: the therapy catalog and dose previews."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from adherence.cli.common import fail, parse_date, parse_options, print_json, table
from schedules import Therapy, UnknownTherapy, expand, load_catalog
from schedules.catalog import Catalog
from schedules.describe import describe
from schedules.localtime import load_zone, parse_hhmm
from schedules.options import OptionError

app = typer.Typer(help="The therapy catalog.", no_args_is_help=False)

MAX_PREVIEW_DAYS = 366 * 10


def _catalog() -> Catalog:
    return load_catalog()


def find_therapy(catalog: Catalog, name: str) -> Therapy:
    try:
        return catalog.get(name)
    except UnknownTherapy as exc:
        fail(str(exc))


def therapy_summary(therapy: Therapy) -> dict[str, Any]:
    raw = therapy.raw
    return {
        "code": therapy.code,
        "name": therapy.name,
        "brands": list(therapy.brands),
        "aliases": list(therapy.aliases),
        "kind": therapy.kind,
        "route": therapy.route,
        "unit": therapy.unit,
        "default_times": list(raw.get("default_times", ["09:00"])),
        "summary": therapy.summary,
        "options": {
            spec.name: {
                "type": spec.type,
                "values": list(spec.values),
                "min": spec.minimum,
                "max": spec.maximum,
                "default": spec.default,
                "required": spec.required,
                "help": spec.help,
            }
            for spec in therapy.options.values()
        },
        "unconfirmed": therapy.unconfirmed(),
        "sources": list(therapy.sources),
    }


@app.callback(invoke_without_command=True)
def regimens(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every therapy: code, name, brands, kind, options."""
    if ctx.invoked_subcommand is not None:
        return
    catalog = _catalog()
    if as_json:
        print_json([therapy_summary(t) for t in catalog])
        return
    rows = []
    for t in catalog:
        opts = ", ".join(
            f"{s.name}={s.valid_words()}" + (f" (default {s.default})" if s.default else "")
            for s in t.options.values()
        )
        rows.append([t.code, t.name, ", ".join(t.brands + t.aliases[:1]), t.kind, opts or "-"])
    typer.echo(table(rows, ["code", "name", "brands", "kind", "options"]))


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Generic or brand name.")],
    option: Annotated[
        list[str] | None, typer.Option("--option", help="KEY=VALUE, repeatable.")
    ] = None,
) -> None:
    """One therapy, its pattern and rules in plain words."""
    therapy = find_therapy(_catalog(), name)
    given = parse_options(option or [])
    try:
        # Show required options' first valid value when none is given, and say so.
        for spec in therapy.options.values():
            if spec.required and spec.name not in given:
                given[spec.name] = next(
                    (v for v in spec.values if v not in spec.refused),
                    str(int(spec.minimum)) if spec.minimum is not None else "1",
                )
                typer.echo(f"(showing {spec.name}={given[spec.name]}; pass --option to choose)")
        regimen = therapy.regimen(given)
    except OptionError as exc:
        fail(str(exc))
    typer.echo("\n".join(describe(therapy, regimen)))


def preview(
    name: Annotated[str, typer.Argument(help="Generic or brand name.")],
    start: Annotated[str, typer.Option("--start", help="Day 1, YYYY-MM-DD.")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. America/Chicago.")],
    time_: Annotated[
        list[str] | None, typer.Option("--time", help="HH:MM, repeat for several a day.")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="KEY=VALUE, repeatable.")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="Cover Day 1 to Day N.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day, YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Expand a therapy's doses, infusions and monitoring in a time zone."""
    therapy = find_therapy(_catalog(), name)
    first = parse_date("--start", start)
    try:
        zone = load_zone(tz)
    except ValueError as exc:
        fail(f"--tz: {exc}")
    if (days is None) == (until is None):
        fail("give exactly one of --days N or --until YYYY-MM-DD")
    if days is not None:
        if days < 1 or days > MAX_PREVIEW_DAYS:
            fail(f"--days {days} is out of range (1 to {MAX_PREVIEW_DAYS})")
        last = first + timedelta(days=days - 1)
    else:
        last = parse_date("--until", until or "")
        if last < first:
            fail(f"--until {last} is before --start {first}")
        if (last - first).days >= MAX_PREVIEW_DAYS:
            fail(f"--until is more than {MAX_PREVIEW_DAYS} days after --start")
    try:
        times = [parse_hhmm(t) for t in (time_ or [])]
    except ValueError as exc:
        fail(f"--time: {exc}")
    try:
        regimen = therapy.regimen(parse_options(option or []))
    except OptionError as exc:
        fail(str(exc))
    if times and len(times) != regimen.times_per_day:
        defaults = ", ".join(t.strftime("%H:%M") for t in regimen.default_times)
        fail(
            f"{therapy.name} is taken {regimen.times_per_day} time(s) a day: give --time "
            f"{regimen.times_per_day} time(s) (default {defaults})"
        )
    if len(set(times)) != len(times):
        fail("--time: the same time is given twice")
    items = expand(regimen, start=first, zone=zone, until=last, times=sorted(times) or None)
    if as_json:
        print_json([i.as_dict() for i in items])
        return
    rows = []
    for i in items:
        window = ""
        if i.earliest or i.latest:
            window = f"{i.earliest or ''}..{i.latest or ''}"
        rows.append(
            [
                str(i.day),
                i.at.strftime("%a %Y-%m-%d"),
                i.at.strftime("%H:%M"),
                i.at.strftime("%z"),
                f"{i.amount:g} {i.unit}",
                i.kind,
                i.phase,
                i.label,
                window,
            ]
        )
    typer.echo(
        f"{therapy.display}: Day 1 = {first}, through {last}, zone {tz}, {len(items)} item(s)"
    )
    if rows:
        typer.echo(
            table(
                rows, ["day", "date", "time", "utc", "amount", "kind", "phase", "label", "window"]
            )
        )
