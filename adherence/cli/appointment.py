"""`adherence appointment book|move|cancel|list`: clinic infusion appointments."""

from __future__ import annotations

import typer

appointment_app = typer.Typer(
    help="Clinic infusion appointments and their invitations.", no_args_is_help=True
)
