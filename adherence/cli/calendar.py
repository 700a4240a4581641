"""`adherence calendar url|rotate`: a patient's subscribed feed."""

from __future__ import annotations

import typer

calendar_app = typer.Typer(
    help="A patient's calendar feed: its URL, and rotating it.", no_args_is_help=True
)
