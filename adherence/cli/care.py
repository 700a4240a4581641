"""`adherence flags`, `adherence flag ack|resolve`, `adherence report`."""

from __future__ import annotations

import typer

flag_app = typer.Typer(help="Acknowledge or resolve a care-team flag.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Top-level commands of this module (the sub-groups are added in cli/__init__)."""
