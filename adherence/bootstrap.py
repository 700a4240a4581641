"""Builds the pieces once (settings, database engine, catalog) and hands them to whoever
asked: the CLI, the daemon, the simulation, tests. A foundation: it imports storage and
config only, never an engine step (the engine builds its own policy from the settings)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from adherence.core.config import Settings, twilio_configured
from adherence.storage.db import check_schema, make_engine
from schedules import Catalog, load_catalog


@dataclass
class App:
    settings: Settings
    engine: Engine
    catalog: Catalog

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session


def build_app(settings: Settings, *, check: bool = True) -> App:
    """Engine + catalog. With ``check``, refuse an outdated schema (SchemaOutdated)."""
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if check:
        check_schema(engine)
    return App(settings=settings, engine=engine, catalog=load_catalog())


def sms_channel_name(settings: Settings) -> str:
    if settings.sms.channel == "auto":
        return "twilio" if twilio_configured(settings) else "console"
    return settings.sms.channel


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log.level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # Libraries that would log phone numbers, bodies or URLs with tokens at INFO.
    for noisy in ("twilio", "twilio.http_client", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
