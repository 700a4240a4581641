"""`adherence coordinator add|list|revoke` and `adherence audit`."""

from __future__ import annotations

import typer

coordinator_app = typer.Typer(help="Care coordinators and their API tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
