"""Reading dose rows for the measures: plain columns, in batches, straight from the driver.

``MEASURE_COLUMNS`` are read in ``DoseFacts``' layout, as plain tuples indexed by the
field positions defined next to it; ``dose_batches`` streams any such statement (the export reads wider
rows the same way), and ``rows_by_plan`` yields each plan's rows, plan by plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta
from functools import partial
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import String, Table, select, type_coerce
from sqlmodel import Session, col

from adherence.storage.models import Dose, Patient, Plan

# Doses after the period are read only to know the interval of the period's last doses.
LOOKAHEAD_DAYS = 200
BATCH = 20_000


# One dose as read for the measures: a named tuple (millions are read for a team's year).
# Values come straight from the driver: dates and instants are ``date``/aware ``datetime``
# on PostgreSQL, ISO text (instants naive UTC) on SQLite; ``day_of`` and ``_takenday_of``
# read both.
class DoseFacts(NamedTuple):
    plan_id: int
    local_date: Any
    status: str
    late: bool
    taken_at: Any
    kind: str
    phase: str
    latest: Any


# SQLModel sets ``__table__`` in its metaclass; its stubs do not declare it.
DOSES: Table = Dose.__table__  # type: ignore[attr-defined]
_T = DOSES.c
MEASURE_COLUMNS = (
    _T.plan_id,
    type_coerce(_T.local_date, String).label("local_date"),
    _T.status,
    _T.late,
    type_coerce(_T.taken_at, String).label("taken_at"),
    _T.kind,
    _T.phase,
    type_coerce(_T.latest, String).label("latest"),
)


# A row whose first fields are DoseFacts' (a DoseFacts, the export's wider row, or the
# driver's plain tuple in that layout), read with the positions below.
Facts = tuple[Any, ...]

# DoseFacts' fields by position. The team report reads the driver's plain tuples with them
# instead of building a DoseFacts per row: named tuples (unlike plain ones) stay tracked by
# the cyclic GC, and building and collecting them made a year's team report about 40%
# slower (bench/export.py). The names come from the one layout above.
PLAN_ID, LOCAL_DATE, STATUS, LATE, TAKEN_AT, KIND, PHASE, LATEST = map(
    DoseFacts._fields.index,
    ("plan_id", "local_date", "status", "late", "taken_at", "kind", "phase", "latest"),
)


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def row_maker(row_type: type[_Row], columns: Sequence[Any]) -> Callable[[Iterable[Any]], _Row]:
    """``row_type._make`` without a Python frame per row: ``tuple.__new__`` is called from C.
    The length check ``_make`` would do per row is done here once, on the column labels."""
    names = tuple(c.key for c in columns)
    fields = getattr(row_type, "_fields", ())
    if names != fields:
        raise TypeError(f"columns {names} do not match {row_type.__name__}{fields}")
    return cast(Callable[[Iterable[Any]], _Row], partial(tuple.__new__, row_type))


if tuple(c.key for c in MEASURE_COLUMNS) != DoseFacts._fields:
    raise TypeError("MEASURE_COLUMNS do not match DoseFacts")


def rows_by_plan(
    session: Session, plan_ids: list[int] | None, team_id: int | None, *, start: date, end: date
) -> Iterator[tuple[int, list[Facts]]]:
    """Each plan's rows, plan by plan, streamed in batches (never the team at once)."""
    stmt = select(*MEASURE_COLUMNS).where(
        _T.local_date >= start, _T.local_date <= end + timedelta(days=LOOKAHEAD_DAYS)
    )
    if plan_ids is not None:
        stmt = stmt.where(_T.plan_id.in_(plan_ids))
    if team_id is not None:
        # By the team's plans, not its patients: the plan index then yields the rows
        # grouped by plan with no sort (by patient, SQLite sorted the team's whole year in a
        # temporary B-tree: a third slower).
        members = select(col(Patient.id)).where(col(Patient.team_id) == team_id)
        stmt = stmt.where(
            _T.plan_id.in_(select(col(Plan.id)).where(col(Plan.patient_id).in_(members)))
        )
    # Core, not the ORM: no per-row entity or type processing (the raw values are read
    # above). Ordered by plan only: measuring needs a plan's rows together, in any order,
    # which spares the database a sort of millions of rows by (plan, due time).
    stmt = stmt.order_by(_T.plan_id)
    current: int | None = None
    bucket: list[Facts] = []
    for part in dose_batches(session, stmt, tuple):
        for row in part:
            if row[PLAN_ID] != current:
                if current is not None:
                    yield current, bucket
                current, bucket = row[PLAN_ID], []
            bucket.append(row)
    if current is not None:
        yield current, bucket


def dose_batches(
    session: Session, stmt: Any, make: Callable[[Iterable[Any]], _Row], batch: int = BATCH
) -> Iterator[list[_Row]]:
    """Rows built by ``make`` (see ``row_maker``), ``batch`` at a time. On SQLite straight
    from the driver's cursor (the statement rendered with its literal dates and ids):
    SQLAlchemy's per-row work would cost more than the measures. PostgreSQL streams
    through a server-side cursor."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        for part in conn.execute(stmt.execution_options(yield_per=batch)).partitions():
            yield list(map(make, part))
        return
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    driver = conn.connection.driver_connection
    assert driver is not None  # None only once the connection has been closed
    cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while part := cursor.fetchmany(batch):
            yield list(map(make, part))
    finally:
        cursor.close()
