"""Shared fixtures: the suite runs on real SQLite files and, when available, real PostgreSQL.

PostgreSQL comes from ADHERENCE_TEST_DATABASE_URL (``.ci/run`` sets it when the local
server answers). Without it the PostgreSQL half is skipped on a developer's machine, but
under CI (``CI`` set) a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from adherence.storage.db import make_engine, upgrade
from schedules import Catalog, load_catalog

PG_URL = os.environ.get("ADHERENCE_TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _pg_engine() -> Engine:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI run without PostgreSQL: set ADHERENCE_TEST_DATABASE_URL")
        pytest.skip("PostgreSQL not configured (set ADHERENCE_TEST_DATABASE_URL)")
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database URL: a fresh SQLite file or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "adherence.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    engine = _pg_engine()
    engine.dispose()
    yield PG_URL


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def t0() -> datetime:
    return datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # 2026-03-01 00:00 in New York
