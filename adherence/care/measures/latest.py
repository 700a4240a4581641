"""Each patient's latest PDC: the proportion of days covered over the last ``[care] pdc_days``
days, measured as the report does (``measures.measure_rows`` per plan, ``combine_plans`` per
patient), fast enough for a big team's pages: the workspace's patient list filters by it and
its team page draws its distribution, both from one ``PdcCache`` per app.

- Rows are read by the (patient, due time) index, bounded by due time as well as local
  date: for a 30-day PDC that is each patient's month of rows, not every plan's history.
- ``PdcCache`` keeps each patient's PDC with the version of what it was measured from (the
  period, the patient's and plans' ``updated_at``, the count and latest ``updated_at`` of
  the dose rows in the period: one index-only scan for the whole team). A patient is
  measured again only when one of them changed (bench/patient_page.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adherence.care.measures import (
    DOSES,
    LOOKAHEAD_DAYS,
    MEASURE_COLUMNS,
    Facts,
    combine_plans,
    dose_batches,
    measure_rows,
)
from adherence.care.measures.rows import PLAN_ID
from adherence.core.config import Settings
from adherence.dosing.plans import regimen_for
from adherence.storage.models import Patient, Plan
from adherence.storage.utc import sqlite_text
from schedules import Catalog

_T = DOSES.c


def pdc_period(now: datetime, zone: str, settings: Settings) -> tuple[date, date]:
    today = now.astimezone(ZoneInfo(zone)).date()
    return today - timedelta(days=settings.care.pdc_days - 1), today


def _rows(
    s: Session,
    members: Any,
    *,
    start: date,
    end: date,
) -> Iterator[tuple[int, list[Facts]]]:
    """Each patient's dose rows of the period (and its look-ahead), patient by patient.

    Bounded by due time as well as by local date, so the database walks the (patient, due
    time) index for each patient instead of every plan's whole history: for a 30-day PDC
    that is the month's rows, not the year's (bench/patient_page.py)."""
    due, lo, hi = _bounds(s, start, end)
    stmt = (
        sa_select(*MEASURE_COLUMNS, _T.patient_id)
        .where(
            _T.patient_id.in_(members),
            due >= lo,
            due < hi,
            _T.local_date >= start,
            _T.local_date <= end + timedelta(days=LOOKAHEAD_DAYS),
        )
        .order_by(_T.patient_id)
    )
    current: int | None = None
    bucket: list[Facts] = []
    for part in dose_batches(s, stmt, tuple):
        for row in part:
            if row[-1] != current:
                if current is not None:
                    yield current, bucket
                current, bucket = row[-1], []
            bucket.append(row)
    if current is not None:
        yield current, bucket


class PdcCache:
    """Each patient's last measured PDC with the version of what it was measured from: the
    period, the patient's and plans' ``updated_at``, and the count and latest
    ``updated_at`` of the dose rows in the period (one index-only scan of the patient/due
    time index for the whole team). A patient is measured again only when one of them
    changed, so a band filter over a big team costs the scan and the patients whose doses
    moved since the last view, not the whole team's PDC each time."""

    MAX = 200_000  # patients kept (dropped all at once past it: a cache, not a store)

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, pid: int, version: Any) -> tuple[bool, float | None]:
        found = self._seen.get(pid)
        if found is None or found[0] != version:
            return False, None
        return True, found[1]

    def put(self, values: dict[int, tuple[Any, float | None]]) -> None:
        with self._lock:
            if len(self._seen) + len(values) > self.MAX:
                self._seen.clear()
            self._seen.update(values)


def _bounds(s: Session, start: date, end: date) -> tuple[Any, Any, Any]:
    """The due-time column and the period's bounds on it (a day either side for any zone,
    and the look-ahead), as the dialect compares them."""
    lo = datetime.combine(start - timedelta(days=1), time(0), UTC)
    hi = datetime.combine(end + timedelta(days=LOOKAHEAD_DAYS + 2), time(0), UTC)
    if s.get_bind().dialect.name == "sqlite":  # compared as stored text (literal binds)
        return type_coerce(_T.due_at, String), sqlite_text(lo), sqlite_text(hi)
    return _T.due_at, lo, hi


def _versions(s: Session, members: Any, start: date, end: date) -> dict[int, tuple[int, Any]]:
    due, lo, hi = _bounds(s, start, end)
    stmt = (
        sa_select(_T.patient_id, func.count(), func.max(type_coerce(_T.updated_at, String)))
        .where(_T.patient_id.in_(members), due >= lo, due < hi)
        .group_by(_T.patient_id)
    )
    return {r[0]: (r[1], r[2]) for r in s.connection().execute(stmt)}


def measure_pdc(
    s: Session,
    ids: list[int],
    *,
    team_id: int | None,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
    cache: PdcCache | None = None,
) -> dict[int, float | None]:
    """PDC over [start, end] of the patients ``ids``, measured as the report does
    (``measure_rows`` per plan, ``combine_plans`` per patient), from ``cache`` when nothing
    they were measured from changed. ``team_id``: the ids are most of that team, so rows
    are selected by the team's subquery rather than a long list of ids."""
    if not ids:
        return {}
    members: Any = (
        select(col(Patient.id)).where(Patient.team_id == team_id) if team_id is not None else ids
    )
    out: dict[int, float | None] = {}
    versions: dict[int, Any] = {}
    if cache is not None:
        # Plain columns: the versions of a big team without building its ORM rows.
        doses = _versions(s, members, start, end)
        plan_v: dict[int, list[tuple[Any, ...]]] = {}
        for row in s.exec(
            select(col(Plan.patient_id), col(Plan.id), col(Plan.updated_at), col(Plan.status))
            .where(col(Plan.patient_id).in_(members))
            .order_by(col(Plan.id))
        ):
            plan_v.setdefault(row[0], []).append(tuple(row[1:]))
        patient_v = dict(
            s.exec(
                select(col(Patient.id), col(Patient.updated_at)).where(col(Patient.id).in_(members))
            ).all()
        )
        for pid in ids:
            versions[pid] = (
                start, end, patient_v.get(pid), doses.get(pid), tuple(plan_v.get(pid, ()))
            )  # fmt: skip
            hit, value = cache.get(pid, versions[pid])
            if hit:
                out[pid] = value
    stale = [pid for pid in ids if pid not in out]
    if not stale:
        return out
    # Few stale patients: by their ids; many: the team's subquery (no huge IN list).
    scope = members if team_id is not None and len(stale) > 500 else stale
    patients = {p.id or 0: p for p in s.exec(select(Patient).where(col(Patient.id).in_(scope)))}
    plans: dict[int, list[Plan]] = {}
    for plan in s.exec(select(Plan).where(col(Plan.patient_id).in_(scope)).order_by(col(Plan.id))):
        plans.setdefault(plan.patient_id, []).append(plan)
    fresh = _measure(s, patients, plans, scope, start, end, catalog, settings)
    for pid in stale:
        out[pid] = fresh.get(pid)  # no dose row in the period: not measured
    if cache is not None:
        cache.put({pid: (versions[pid], out[pid]) for pid in stale})
    return out


def _measure(
    s: Session,
    by_id: dict[int, Patient],
    plans: dict[int, list[Plan]],
    scope: Any,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> dict[int, float | None]:
    out: dict[int, float | None] = {}
    for pid, rows in _rows(s, scope, start=start, end=end):
        patient = by_id.get(pid)
        if patient is None:
            continue
        per_plan: dict[int, list[Facts]] = {}
        for r in rows:
            per_plan.setdefault(r[PLAN_ID], []).append(r)
        measured = [
            measure_rows(
                plan,
                patient,
                per_plan.get(plan.id or 0, []),
                regimen_for(catalog, plan),
                start=start,
                end=end,
                settings=settings,
            )
            for plan in plans.get(pid, [])
        ]
        out[pid] = combine_plans(patient, measured, start=start, end=end, settings=settings).pdc
    return out
