"""The migrations build exactly the schema the models describe, and step down and up again
without losing rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, func, select

import adherence.storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from adherence.storage.models import Dose
from schedules import Catalog


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(db_url: str) -> None:
    assert _differences(db_url) == []


def test_the_dose_index_by_patient_and_time_covers_the_feed_check(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("dose")}
    finally:
        engine.dispose()
    assert indexes["ix_dose_patient_due"] == ["patient_id", "due_at", "updated_at"]
    assert "ix_dose_patient_id" not in indexes  # replaced, not added beside it


def test_down_to_0002_and_up_again_keeps_every_dose(
    db_url: str, catalog: Catalog, t0: datetime
) -> None:
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            team = create_team(s, name="Clinic", tz="America/New_York", now=t0)
            patient = create_patient(
                s, team=team, name="Ann", phone="+12025550123", tz="America/New_York", now=t0
            )
            create_plan(
                s,
                catalog=catalog,
                patient=patient,
                regimen="Tecfidera",
                start=date(2026, 3, 1),
                now=t0,
            )
            written = materialize(s, now=t0, catalog=catalog, horizon_days=14)
        assert written > 0
        command.downgrade(alembic_config(engine), "0002")
        assert current_revision(engine) == "0002"
        names = {ix["name"] for ix in inspect(engine).get_indexes("dose")}
        assert "ix_dose_patient_id" in names and "ix_dose_patient_due" not in names
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with Session(engine) as s:
            assert s.exec(select(func.count()).select_from(Dose)).one() == written
    finally:
        engine.dispose()
    assert _differences(db_url) == []
