"""Alembic environment: the engine is passed in by adherence.storage.db (never built here)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import adherence.storage.models  # noqa: F401  (registers the tables)

engine = context.config.attributes.get("engine")
if engine is None:  # pragma: no cover - only `alembic` run by hand
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
