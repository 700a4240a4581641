"""`adherence run`: the daemon."""

from __future__ import annotations

from typing import Annotated

import typer

from adherence.cli.common import Config, fail, load_app


def run(
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (default [http] host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Listen port (default [http] port).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run every due step once and exit.")] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the schema if needed and seed demo patients.")
    ] = False,
    config: Config = None,
) -> None:
    """Run the daemon: reminders, replies, the HTTP service."""
    from adherence.bootstrap import configure_logging
    from adherence.clock import SystemClock
    from adherence.daemon import run_daemon
    from adherence.db import upgrade
    from adherence.demo import seed_demo

    app = load_app(config, check=not demo)
    configure_logging(app.settings)
    if demo:
        upgrade(app.engine)
        with app.session() as s:
            seeded = seed_demo(
                s,
                catalog=app.catalog,
                now=SystemClock().now(),
                horizon_days=app.settings.engine.horizon_days,
            )
        typer.echo(
            "demo: seeded a care team and 3 patients with doses in the next minutes"
            if seeded
            else "demo: demo data already present"
        )
    http = app.settings.http
    try:
        code = run_daemon(app, host=host or http.host, port=port or http.port, once=once)
    except OSError as exc:
        fail(f"cannot listen on {host or http.host}:{port or http.port}: {exc.strerror}")
    raise typer.Exit(code)
