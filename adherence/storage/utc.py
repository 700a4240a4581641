"""The one codec for stored instants: UTC in the database, aware datetimes in the code.

PostgreSQL stores ``timestamptz`` and hands back aware datetimes. SQLite has no time type:
SQLAlchemy's ``DateTime`` writes naive UTC text ("YYYY-MM-DD HH:MM:SS.ffffff", microseconds
always written) and the driver hands that text back. ``UTCDateTime`` (the column type in
``adherence.storage.models``) goes through ``to_storage``/``from_storage``; the fast paths that skip
the ORM (materialising's bulk insert, the measures' and exports' raw reads, the feed's
version check, aggregate ``max()``/``min()`` results) use the same functions, so that one
format is written in one place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_storage(value: datetime, dialect: str) -> datetime:
    """What a UTC column binds: aware UTC for PostgreSQL, naive UTC for SQLite."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if dialect == "sqlite" else value


def from_storage(raw: Any) -> datetime | None:
    """An aware UTC datetime from whatever a driver returned for a UTC column: an aware or
    naive (UTC) datetime, or SQLite's naive UTC text (what raw reads and aggregates give)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    if not isinstance(raw, datetime):
        raise TypeError(f"not a stored instant: {raw!r}")
    return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)


def instant(raw: Any) -> datetime:
    """``from_storage`` for a value known not to be NULL (the measures' hot path: SQLite
    text or an aware PostgreSQL datetime)."""
    return datetime.fromisoformat(raw).replace(tzinfo=UTC) if isinstance(raw, str) else raw


def latest(*values: Any) -> datetime:
    """The newest of some stored instants (NULLs ignored); the epoch when there are none."""
    found = [v for v in map(from_storage, values) if v is not None]
    return max(found) if found else EPOCH


def sqlite_text(value: datetime) -> str:
    """An instant in SQLite's storage format, exactly as the ORM would have written it, so
    rows written by a fast path read back like any other."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.fold:
        return _format(value)
    # Patients share zones and dose times, so the same instants come up again and again.
    # Aware datetimes are equal (and hash alike) only for the same instant; fold=1 is left
    # out because within one zone equality ignores it.
    return _format_cached(value)


def _format(value: datetime) -> str:
    # ``str`` and a cut "+00:00" cost less than ``isoformat`` with a timespec.
    utc = value.astimezone(UTC)
    text = str(utc)[:-6]
    return text if utc.microsecond else text + ".000000"


_format_cached = lru_cache(maxsize=8192)(_format)


@lru_cache(maxsize=1 << 16)
def day_bounds_text(zone: ZoneInfo, day: date) -> tuple[str, str]:
    """A local day's first instant and the next day's, in SQLite's storage format: stored
    text compares with them as instants do (zoneinfo resolves a midnight in a DST gap)."""
    return _day_start_text(day, zone), _day_start_text(day + timedelta(days=1), zone)


def _day_start_text(day: date, zone: ZoneInfo) -> str:
    return sqlite_text(datetime(day.year, day.month, day.day, tzinfo=zone))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_storage(value, dialect.name)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return from_storage(value)


def utc_field(*, index: bool = False, nullable: bool = True, **kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=nullable, **kw)
