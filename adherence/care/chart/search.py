"""The care team's patients, searched and filtered: by name or external id, therapy, open
flag and PDC band.

PDC is measured over the last ``[care] pdc_days`` days (the low-PDC flag's period) with the
measures package, and only when the page needs it: for the page's own rows (at most
``PER_PAGE`` patients, two queries), or, when the list is filtered by band, for every
patient the other filters keep (the whole team streamed by plan when nothing else narrows
it: bench/patient_page.py measures it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, or_, type_coerce
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
from adherence.storage.models import FLAG_OPEN, CareTeam, Flag, Patient, Plan
from adherence.storage.public import FLAG_TITLES
from adherence.storage.utc import sqlite_text
from schedules import Catalog

PER_PAGE = 50
_T = DOSES.c
ANY_FLAG = "any"
# PDC bands (the form's values and what they say); "none": no PDC in the period.
BANDS: dict[str, str] = {
    "lt50": "below 50%",
    "50to80": "50% to under 80%",
    "ge80": "80% or more",
    "none": "not measured",
}


def band_of(pdc: float | None) -> str:
    if pdc is None:
        return "none"
    if pdc < 0.5:
        return "lt50"
    return "50to80" if pdc < 0.8 else "ge80"


@dataclass(frozen=True)
class Filters:
    q: str = ""
    therapy: str = ""  # a regimen code
    flag: str = ""  # a flag rule, or "any" open flag
    band: str = ""  # a key of BANDS
    page: int = 1

    @property
    def narrowed(self) -> bool:
        """Whether anything but the band keeps fewer than the whole team."""
        return bool(self.q or self.therapy or self.flag)


@dataclass(frozen=True)
class Row:
    patient: Patient
    therapies: list[str]
    flags: list[str]  # titles of open flags
    pdc: float | None
    band: str


@dataclass(frozen=True)
class Result:
    rows: list[Row]
    total: int
    page: int
    pages: int


def _matching(team_id: int, f: Filters):  # type: ignore[no-untyped-def]
    """The ids of the team's patients the filters other than the band keep."""
    stmt = select(col(Patient.id)).where(Patient.team_id == team_id)
    q = f.q.strip()
    if q:
        stmt = stmt.where(
            or_(
                col(Patient.name).icontains(q, autoescape=True),
                func.coalesce(col(Patient.external_id), "").icontains(q, autoescape=True),
            )
        )
    if f.therapy:
        stmt = stmt.where(
            col(Patient.id).in_(select(col(Plan.patient_id)).where(Plan.regimen == f.therapy))
        )
    if f.flag:
        flagged = select(col(Flag.patient_id)).where(
            Flag.team_id == team_id, col(Flag.status).in_(FLAG_OPEN)
        )
        if f.flag != ANY_FLAG:
            flagged = flagged.where(Flag.rule == f.flag)
        stmt = stmt.where(col(Patient.id).in_(flagged))
    return stmt


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


def search_patients(
    s: Session,
    team: CareTeam,
    f: Filters,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    per_page: int = PER_PAGE,
    cache: PdcCache | None = None,
) -> Result:
    team_id = team.id or 0
    start, end = pdc_period(now, team.tz, settings)
    ids = _matching(team_id, f)
    order = (col(Patient.name), col(Patient.id))
    pdc: dict[int, float | None]
    if f.band:
        everyone = [
            pid or 0
            for pid in s.exec(
                select(col(Patient.id)).where(col(Patient.id).in_(ids)).order_by(*order)
            )
        ]
        pdc = measure_pdc(
            s,
            everyone,
            team_id=None if f.narrowed else team_id,
            start=start,
            end=end,
            catalog=catalog,
            settings=settings,
            cache=cache,
        )
        kept = [pid for pid in everyone if band_of(pdc[pid]) == f.band]
        total = len(kept)
        pages = max(1, -(-total // per_page))
        page = min(max(f.page, 1), pages)
        wanted = kept[(page - 1) * per_page : page * per_page]
        found = {p.id: p for p in s.exec(select(Patient).where(col(Patient.id).in_(wanted)))}
        shown = [found[pid] for pid in wanted]
    else:
        total = s.exec(select(func.count()).select_from(ids.subquery())).one()
        pages = max(1, -(-total // per_page))
        page = min(max(f.page, 1), pages)
        shown = list(
            s.exec(
                select(Patient)
                .where(col(Patient.id).in_(ids))
                .order_by(*order)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        )
        pdc = measure_pdc(
            s, [p.id or 0 for p in shown], team_id=None, start=start, end=end, catalog=catalog,
            settings=settings, cache=cache,
        )  # fmt: skip
    shown_ids = [p.id for p in shown]
    therapies: dict[int, list[str]] = {}
    flags: dict[int, list[str]] = {}
    if shown_ids:
        for plan in s.exec(
            select(Plan).where(col(Plan.patient_id).in_(shown_ids)).order_by(col(Plan.id))
        ):
            therapies.setdefault(plan.patient_id, []).append(therapy_name(catalog, plan.regimen))
        for flag in s.exec(
            select(Flag)
            .where(col(Flag.patient_id).in_(shown_ids), col(Flag.status).in_(FLAG_OPEN))
            .order_by(col(Flag.id))
        ):
            flags.setdefault(flag.patient_id, []).append(FLAG_TITLES.get(flag.rule, flag.rule))
    rows = [
        Row(
            p,
            therapies.get(p.id or 0, []),
            flags.get(p.id or 0, []),
            pdc.get(p.id or 0),
            band_of(pdc.get(p.id or 0)),
        )
        for p in shown
    ]
    return Result(rows, total, page, pages)


def therapy_name(catalog: Catalog, code: str) -> str:
    try:
        return catalog.get(code).display
    except LookupError:
        return code


def therapy_choices(s: Session, team_id: int, catalog: Catalog) -> list[tuple[str, str]]:
    """(regimen code, name) of the therapies the team's plans use, by name."""
    members = select(col(Patient.id)).where(Patient.team_id == team_id)
    codes = s.exec(select(Plan.regimen).where(col(Plan.patient_id).in_(members)).distinct()).all()
    return sorted(((c, therapy_name(catalog, c)) for c in codes), key=lambda x: x[1].lower())


def flag_choices() -> list[tuple[str, str]]:
    return [(ANY_FLAG, "any open flag"), *FLAG_TITLES.items()]
