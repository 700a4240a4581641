"""`adherence db upgrade|check`."""

from __future__ import annotations

import typer

from adherence.cli.common import Config, fail, load_app
from adherence.storage.db import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(config: Config = None) -> None:
    """Create or migrate the schema to the latest revision."""
    a = load_app(config, check=False)
    try:
        upgrade(a.engine)
    except Exception as exc:
        fail(f"upgrade failed: {exc}".splitlines()[0])
    typer.echo(f"database at revision {current_revision(a.engine)}")


@app.command("check")
def db_check(config: Config = None) -> None:
    """Exit 0 if the schema is current, else say which command fixes it."""
    a = load_app(config, check=False)
    try:
        current = current_revision(a.engine)
    except Exception as exc:  # unreachable server, unreadable file: one line, not a traceback
        fail(f"database: {type(exc).__name__}: {exc}".splitlines()[0])
    head = head_revision()
    if current != head:
        fail(f"database at {current}, code needs {head}: run `adherence db upgrade`")
    typer.echo(f"database at revision {current} (current)")
