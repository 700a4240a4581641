"""`adherence export`: a team's doses and measures as CSV, JSON or FHIR."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from adherence.cli.common import Config, fail, found, load_app, parse_date
from adherence.core.clock import SystemClock


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
    app.command("export")(export)


@contextlib.contextmanager
def _progress_bar(total_hint: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing in pipes, files and CI."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=None) as bar:
        task = bar.add_task(total_hint, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _atomic_write(path: Path, chunks: Iterator[bytes]) -> int:
    """Write to a temporary file next to ``path`` and rename it over: a reader never sees
    half an export, and a failed export leaves the old file (if any) as it was."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


def export(
    team: Annotated[str, typer.Option("--team", help="Care team id or name.")],
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or fhir.")] = "csv",
    out: Annotated[
        str | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="FHIR: validate every resource (slower).")
    ] = False,
    config: Config = None,
) -> None:
    """Export a care team's doses and measures for a date range."""
    from adherence.care.exports import FORMATS, export_stream
    from adherence.patients.enrollment import find_team
    from adherence.storage.audit import cli_actor, record

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    start, end = parse_date("--from", from_), parse_date("--to", to)
    if end < start:
        fail(f"--to {to} is before --from {from_}")
    target: Path | None = None
    if out is not None and out != "-":
        target = Path(out)
        if target.is_dir():
            fail(f"--out {out!r} is a directory")
        if not target.parent.is_dir():
            fail(f"--out {out!r}: directory {str(target.parent)!r} does not exist")
    app = load_app(config)
    with app.session() as s:
        t = found(find_team, s, team)
        now = SystemClock().now()
        with _progress_bar(f"export {fmt}") as progress:
            chunks = export_stream(
                s,
                team=t,
                start=start,
                end=end,
                fmt=fmt,
                catalog=app.catalog,
                settings=app.settings,
                progress=progress,
                validate=validate,
            )
            try:
                if target is not None:
                    _atomic_write(target, chunks)
                else:
                    for chunk in chunks:
                        sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
            except OSError as exc:
                fail(f"--out {out!r}: {exc.strerror or exc}")
        record(
            s,
            actor=cli_actor(),
            team_id=t.id,
            action="export",
            resource=f"export:{fmt}",
            now=now,
            details={"from": start.isoformat(), "to": end.isoformat()},
        )
        s.commit()
