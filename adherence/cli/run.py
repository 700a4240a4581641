"""`adherence run`: the daemon's worker and the HTTP service, composed in one process.

The CLI is where the two meet: ``adherence.daemon`` runs the engine and knows nothing of
HTTP, ``adherence.web`` serves requests and knows the worker only as the state it reports
and the ``wake`` it calls, so neither imports the other.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from adherence.cli.common import Config, fail, load_app

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel import Session

    from adherence.bootstrap import App
    from notifiers.sms import SmsChannel


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
    from adherence.core.clock import SystemClock
    from adherence.patients.demo import seed_demo
    from adherence.storage.db import upgrade

    app = load_app(config, check=not demo)
    configure_logging(app.settings)
    if demo:
        upgrade(app.engine)
        with app.session() as s:
            now = SystemClock().now()
            seeded = seed_demo(
                s, catalog=app.catalog, now=now, horizon_days=app.settings.engine.horizon_days
            )
            token = _demo_coordinator(s, now) if seeded else None
        workspace = app.settings.http.public_base_url.rstrip("/") + "/workspace/"
        if token:
            typer.echo("demo: seeded a care team and 3 patients with doses in the next minutes")
            typer.echo(f"demo: the care workspace is at {workspace}")
            typer.echo(f"demo: sign in with the demo coordinator's token (shown once): {token}")
        else:
            typer.echo(
                "demo: demo data already present; the workspace is at "
                f"{workspace} (a new sign-in token: adherence coordinator list, then rotate ID)"
            )
    http = app.settings.http
    try:
        code = serve(app, host=host or http.host, port=port or http.port, once=once)
    except OSError as exc:
        fail(f"cannot listen on {host or http.host}:{port or http.port}: {exc.strerror}")
    raise typer.Exit(code)


def _demo_coordinator(s: Session, now: datetime) -> str:
    """The demo team's coordinator, so that the workspace can be tried at once."""
    from sqlmodel import select

    from adherence.care.coordinators import add_coordinator
    from adherence.patients.demo import DEMO_TEAM
    from adherence.storage.models import CareTeam

    team = s.exec(select(CareTeam).where(CareTeam.name == DEMO_TEAM)).one()
    _, token = add_coordinator(
        s, team=team, name="Demo Coordinator", email="coordinator@demo.example.org", now=now
    )
    return token


def serve(
    app: App, *, host: str, port: int, once: bool = False, channel: SmsChannel | None = None
) -> int:
    """Start the worker, serve HTTP on ``host:port`` until SIGTERM/SIGINT, then let the
    worker record its sends on the wire. With ``once``: one tick, no HTTP."""
    import uvicorn

    from adherence.daemon import open_worker
    from adherence.web import create_app

    worker = open_worker(app, channel)
    if once:
        worker.once()
        return 0
    web = create_app(app, state=worker.state, wake=worker.wake)

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM after its shutdown, which would kill the process
            # before our in-flight sends are recorded: we handle the signals ourselves.
            yield

    server = Server(
        uvicorn.Config(web, host=host, port=port, log_level="warning", access_log=False)
    )

    def _exit(signum: int, _frame: object) -> None:
        worker.signalled(signum)
        server.should_exit = True

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    worker.start()
    try:
        server.run()  # returns once should_exit is set and open requests are answered
    finally:
        worker.shutdown()
    return 0
