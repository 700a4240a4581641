"""`adherence history import FILE [--dry-run] [--strict] [--json]`: bring in a clinic's
dose history or dispensing records (CSV, or a FHIR R4/R4B Bundle).

Exit status: 0 when every row was imported or was already there; 1 when any row was
refused (the others are kept, unless --strict); 2 when the file itself cannot be used (not
UTF-8, an unknown header, not JSON, not a Bundle) or the configuration/database is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adherence.cli.common import Config, JsonOpt, fail, load_app, print_json
from adherence.core.clock import SystemClock
from adherence.history.apply import Settings
from adherence.history.files import import_path
from adherence.history.rows import HistoryFileError
from adherence.storage.audit import cli_actor

history_app = typer.Typer(
    help="Import what happened before the daemon: dose history and dispensing records.",
    no_args_is_help=True,
)


@history_app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(help="A CSV file (doses or dispensing) or a FHIR Bundle (JSON).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count every row; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Keep nothing if any row is refused.")
    ] = False,
    json_out: JsonOpt = False,
    config: Config = None,
) -> None:
    """Import dose history or fills; rows already imported are left as they are."""
    if not file.is_file():
        fail(f"{file}: no such file")
    app = load_app(config)
    settings = Settings(
        catalog=app.catalog,
        now=SystemClock().now(),
        actor=cli_actor(),
        horizon_days=app.settings.engine.horizon_days,
    )
    with app.session() as s:
        try:
            result = import_path(s, file, settings=settings, strict=strict, dry_run=dry_run)
        except HistoryFileError as exc:
            fail(f"{file}: {exc}")
    if json_out:
        print_json(result.as_json())
    else:
        for line in result.summary_lines():
            typer.echo(line)
        for error in result.errors:
            typer.echo(str(error), err=True)
    if not result.ok:
        raise typer.Exit(1)
