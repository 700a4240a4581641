"""Database engine for SQLite (default, one file) or PostgreSQL, and the schema check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaOutdated(RuntimeError):
    """The database is behind the code: says which command fixes it."""


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        engine = create_engine(url, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, open transactions (below): otherwise a
            # SAVEPOINT as the first statement of a transaction commits on release.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-32768")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if conn.get_execution_options().get(_READ_ONLY_KEY):
                # A read (see ``read_only``): deferred, so under WAL it neither waits for
                # the writer nor holds it up.
                conn.exec_driver_sql("BEGIN")
                return
            # IMMEDIATE takes the write lock up front: no deadlock when a reader later
            # writes (the busy timeout then simply waits).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


_READ_ONLY_KEY = "adherence_read_only"


def read_only(session: Session) -> Session:
    """Start ``session``'s transaction as a read that never writes (a calendar feed): on
    SQLite a deferred ``BEGIN`` instead of ``BEGIN IMMEDIATE``, so it does not queue for
    the write lock behind the engine's tick. Call before the session's first statement;
    nothing changes on PostgreSQL. Writing in such a transaction can fail with
    "database is locked" at once: do not."""
    session.connection(execution_options={_READ_ONLY_KEY: True})
    return session


def insert_ignoring_existing(dialect: str, model: Any, unique: list[str]) -> Any:
    """``INSERT .. ON CONFLICT (unique) DO NOTHING`` for SQLite or PostgreSQL: what makes
    materialising and enqueueing idempotent (and safe when two workers race)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing(index_elements=unique)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model).on_conflict_do_nothing(index_elements=unique)


def try_transaction_lock(session: Session, key: int) -> bool:
    """Take PostgreSQL's advisory lock ``key`` for the session's current transaction (it is
    released at commit or rollback), or say that another one holds it. SQLite needs none:
    its writers are serialised by ``BEGIN IMMEDIATE`` and one daemon owns the file."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar()
    return bool(got)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}"
        raise SchemaOutdated(
            f"the database {state}, the code needs {head}: run `adherence db upgrade`"
        )
