"""Adherence measures per plan, patient and care team over a date range.

PDC follows the Pharmacy Quality Alliance rule (docs/measures.md has the full definition):
a taken dose is a "fill" on the local date it was taken, supplying the days until the
regimen's next scheduled dose divided by the doses scheduled that day (1 day for a daily
pill, half a day for each dose of a twice-daily pill, 2 or 3 days for Copaxone 40, 14 for
Plegridy, a month for Kesimpta). Supply that overlaps earlier supply is shifted forward,
each day counts once, cover stops at the period end. Infusions (outside PQA's PDC-MS),
relapse courses and monitoring items are not part of PDC.

Rows are read once, as plain columns in batches, so a full-year report for a team of
10,000 patients stays fast and small (bench/export.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from itertools import pairwise
from typing import Any, NamedTuple, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import String, select, type_coerce
from sqlmodel import Session, col

from adherence.core.config import Settings
from adherence.dosing.plans import regimen_for
from adherence.storage.models import DOSE_FINAL, CareTeam, Dose, Patient, Plan
from adherence.storage.utc import day_bounds_text, instant
from schedules import Catalog, Regimen

PDC_KINDS = ("oral", "injectable")  # therapy kinds measured by PDC (PDC-MS: non-infused DMTs)
FINAL = DOSE_FINAL  # a dose that counts as scheduled
NOT_SCHEDULED = ("cancelled", "not_sent")  # dropped from the schedule (plan stopped, ...)
# Doses after the period are read only to know the interval of the period's last doses.
LOOKAHEAD_DAYS = 200
BATCH = 20_000


def default_periods(today: date) -> dict[str, tuple[date, date]]:
    """The last 30, 90 and 365 days, each ending today (inclusive)."""
    return {f"{n}d": (today - timedelta(days=n - 1), today) for n in (30, 90, 365)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


# --- results --------------------------------------------------------------------------------


class _Coverage:
    """What a plan and a patient compute alike from their days covered: PDC, adherent,
    persistent, and the JSON block that shows them. Subclasses are dataclasses with these
    fields (a plain base class, so the dataclasses keep their own field order)."""

    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    index_date: date | None
    days_in_period: int
    days_covered: float
    longest_gap_days: float

    @property
    def in_pdc(self) -> bool:
        return self.index_date is not None

    @property
    def pdc(self) -> float | None:
        return _ratio(self.days_covered, self.days_in_period) if self.in_pdc else None

    @property
    def adherent(self) -> bool | None:
        pdc = self.pdc
        return None if pdc is None else pdc >= self.threshold

    @property
    def persistent(self) -> bool | None:
        return None if not self.in_pdc else self.longest_gap_days <= self.permissible_gap_days

    def _coverage_json(self) -> dict[str, Any]:
        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "index_date": self.index_date.isoformat() if self.index_date else None,
            "days_in_period": self.days_in_period,
            "days_covered": round(self.days_covered, 4),
            "pdc": _r(self.pdc),
            "threshold": self.threshold,
            "adherent": self.adherent,
        }


@dataclass
class PlanMeasures(_Coverage):
    plan_id: int
    patient_id: int
    regimen: str
    therapy_kind: str
    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    scheduled: int = 0  # doses due in the period with a final status
    taken: int = 0
    on_time: int = 0
    missed: int = 0
    skipped: int = 0
    pending: int = 0  # due in the period, not yet answered
    index_date: date | None = None
    days_in_period: int = 0
    days_covered: float = 0.0
    longest_gap_days: float = 0.0
    infusions_due: int = 0
    infusions_given: int = 0
    infusions_on_time: int = 0
    infusion_days_late: list[int] = field(default_factory=list)
    # Cover as merged [start, end) day ordinals: the patient level unions them.
    cover: list[tuple[float, float]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        late = self.infusion_days_late
        return {
            "plan_id": self.plan_id,
            "patient_id": self.patient_id,
            "regimen": self.regimen,
            "therapy_kind": self.therapy_kind,
            **self._coverage_json(),
            "doses_scheduled": self.scheduled,
            "doses_taken": self.taken,
            "doses_missed": self.missed,
            "doses_skipped": self.skipped,
            "doses_pending": self.pending,
            "taken_rate": _r(_ratio(self.taken, self.scheduled)),
            "on_time_rate": _r(_ratio(self.on_time, self.taken)),
            "longest_gap_days": round(self.longest_gap_days, 4) if self.in_pdc else None,
            "permissible_gap_days": self.permissible_gap_days,
            "persistent": self.persistent,
            "infusions_due": self.infusions_due,
            "infusions_given": self.infusions_given,
            "infusion_on_time_rate": _r(_ratio(self.infusions_on_time, self.infusions_due)),
            "infusion_days_late_max": max(late) if late else None,
            "infusion_days_late_mean": _r(statistics.fmean(late)) if late else None,
        }


@dataclass
class PatientMeasures(_Coverage):
    patient_id: int
    external_id: str | None
    start: date
    end: date
    threshold: float
    permissible_gap_days: int
    plans: list[PlanMeasures] = field(default_factory=list)
    index_date: date | None = None
    days_in_period: int = 0
    days_covered: float = 0.0
    longest_gap_days: float = 0.0

    def _sum(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.plans)

    def to_json(self, *, plans: bool = True) -> dict[str, Any]:
        scheduled, taken = self._sum("scheduled"), self._sum("taken")
        due, on_time = self._sum("infusions_due"), self._sum("infusions_on_time")
        out: dict[str, Any] = {
            "patient_id": self.patient_id,
            "external_id": self.external_id,
            **self._coverage_json(),
            "doses_scheduled": scheduled,
            "doses_taken": taken,
            "doses_missed": self._sum("missed"),
            "doses_skipped": self._sum("skipped"),
            "doses_pending": self._sum("pending"),
            "taken_rate": _r(_ratio(taken, scheduled)),
            "on_time_rate": _r(_ratio(self._sum("on_time"), taken)),
            "longest_gap_days": round(self.longest_gap_days, 4) if self.in_pdc else None,
            "persistent": self.persistent,
            "infusions_due": due,
            "infusions_given": self._sum("infusions_given"),
            "infusion_on_time_rate": _r(_ratio(on_time, due)),
        }
        if plans:
            out["plans"] = [p.to_json() for p in self.plans]
        return out


@dataclass
class TeamMeasures:
    team_id: int
    team_name: str
    start: date
    end: date
    threshold: float
    patients: list[PatientMeasures] = field(default_factory=list)

    def to_json(self, *, patients: bool = True) -> dict[str, Any]:
        pdcs = [p.pdc for p in self.patients if p.pdc is not None]
        scheduled = sum(p._sum("scheduled") for p in self.patients)
        taken = sum(p._sum("taken") for p in self.patients)
        on_time = sum(p._sum("on_time") for p in self.patients)
        adherent = sum(1 for p in self.patients if p.adherent)
        out: dict[str, Any] = {
            "team_id": self.team_id,
            "team": self.team_name,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "threshold": self.threshold,
            "patients": len(self.patients),
            "patients_in_pdc": len(pdcs),
            "patients_adherent": adherent,
            "adherent_rate": _r(_ratio(adherent, len(pdcs))),
            # The team is "adherent" when its median patient is: one yes/no for a dashboard.
            "adherent": (statistics.median(pdcs) >= self.threshold) if pdcs else None,
            "pdc_mean": _r(statistics.fmean(pdcs)) if pdcs else None,
            "pdc_median": _r(statistics.median(pdcs)) if pdcs else None,
            "patients_persistent": sum(1 for p in self.patients if p.persistent),
            "doses_scheduled": scheduled,
            "doses_taken": taken,
            "taken_rate": _r(_ratio(taken, scheduled)),
            "on_time_rate": _r(_ratio(on_time, taken)),
        }
        if patients:
            out["patient_measures"] = [p.to_json() for p in self.patients]
        return out


# --- the computation ------------------------------------------------------------------------


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


_T = Dose.__table__.c
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


class Facts(Protocol):
    """What the measures read of a dose row: ``DoseFacts`` or a wider row (the export's)."""

    @property
    def local_date(self) -> Any: ...
    @property
    def status(self) -> str: ...
    @property
    def late(self) -> bool: ...
    @property
    def taken_at(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def latest(self) -> Any: ...


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def row_maker(row_type: type[_Row], columns: Sequence[Any]) -> Callable[[Iterable[Any]], _Row]:
    """``row_type._make`` without a Python frame per row: ``tuple.__new__`` is called from C.
    The length check ``_make`` would do per row is done here once, on the column labels."""
    names = tuple(c.key for c in columns)
    fields = getattr(row_type, "_fields", ())
    if names != fields:
        raise TypeError(f"columns {names} do not match {row_type.__name__}{fields}")
    return cast(Callable[[Iterable[Any]], _Row], partial(tuple.__new__, row_type))


_facts = row_maker(DoseFacts, MEASURE_COLUMNS)


def day_of(raw: Any, cache: dict[Any, date]) -> date:
    day = cache.get(raw)
    if day is None:
        day = cache[raw] = raw if isinstance(raw, date) else date.fromisoformat(raw)
    return day


def _takenday_of(raw: Any, scheduled: date, zone: ZoneInfo) -> date:
    """The local date a dose was taken. SQLite text is compared with the scheduled day's
    bounds in UTC first: nearly every dose is taken on its own day, and a string comparison
    costs a fraction of a time-zone conversion."""
    if isinstance(raw, str):
        lo, hi = day_bounds_text(zone, scheduled)
        if lo <= raw < hi:
            return scheduled
    return instant(raw).astimezone(zone).date()


def _fallback_interval(regimen: Regimen, phase: str) -> float:
    """The regimen's own interval for the last known dose of a plan (no next dose yet)."""
    for p in regimen.phases:
        if p.name == phase:
            if p.weekdays and regimen.weekdays:
                return 7 / len(regimen.weekdays)
            if p.every is not None:
                return p.every.approx_days()
    return 1.0


def cover_chain(
    fills: Iterable[tuple[float, float]], index: float, end: float
) -> tuple[float, float, list[tuple[float, float]]]:
    """PQA's rule on (fill day, days supplied) in fill order: each fill starts when the
    earlier supply runs out (overlap shifted forward). Returns days covered inside
    [index, end), the longest uncovered stretch there, and the merged cover intervals."""
    cursor = float("-inf")
    merged: list[tuple[float, float]] = []
    for day, supply in fills:
        begin = max(day, cursor)
        cursor = begin + supply
        lo, hi = max(begin, index), min(cursor, end)
        if hi <= lo:
            continue
        if merged and merged[-1][1] >= lo - 1e-9:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    covered, gap = _covered_and_gap(merged, index, end)
    return covered, gap, merged


def _covered_and_gap(
    merged: list[tuple[float, float]], index: float, end: float
) -> tuple[float, float]:
    covered = sum(hi - lo for lo, hi in merged)
    edges = [index, *(x for pair in merged for x in pair), end]
    gap = max(edges[i + 1] - edges[i] for i in range(0, len(edges), 2))
    return round(covered, 9), round(max(gap, 0.0), 9)


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and out[-1][1] >= lo - 1e-9:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def measure_rows(
    plan: Plan,
    patient: Patient,
    rows: Sequence[Facts],
    regimen: Regimen,
    *,
    start: date,
    end: date,
    settings: Settings,
) -> PlanMeasures:
    care = settings.care
    m = PlanMeasures(
        plan_id=plan.id or 0,
        patient_id=patient.id or 0,
        regimen=plan.regimen,
        therapy_kind=regimen.kind,
        start=start,
        end=end,
        threshold=care.pdc_threshold,
        permissible_gap_days=care.permissible_gap_days,
    )
    zone = ZoneInfo(patient.tz)
    pdc_plan = regimen.kind in PDC_KINDS
    days: dict[Any, date] = {}
    per_date: dict[date, int] = {}  # doses scheduled on each date: the interval is shared
    in_period: list[tuple[date, str, bool, Any]] = []
    last_phase, last_day = "", date.min
    for r in rows:
        status, kind = r.status, r.kind
        if status in NOT_SCHEDULED or kind == "monitoring":
            continue
        d = day_of(r.local_date, days)
        if kind == "infusion":
            if start <= d <= end:
                _count_infusion(m, r, d, zone, days)
            continue
        per_date[d] = per_date.get(d, 0) + 1
        if d >= last_day:  # rows come in any order; the last date's phase is the fallback
            last_phase, last_day = r.phase, d
        if d < start or d > end:
            continue
        in_period.append((d, status, r.late, r.taken_at))
        if status in FINAL:
            m.scheduled += 1
            if status == "taken":
                m.taken += 1
                m.on_time += not r.late
            elif status == "missed":
                m.missed += 1
            else:
                m.skipped += 1
        else:
            m.pending += 1
    if not pdc_plan or not in_period:
        return m
    dates = sorted(per_date)
    interval = {d: float((nxt - d).days) for d, nxt in pairwise(dates)}
    interval[dates[-1]] = _fallback_interval(regimen, last_phase)
    fills: list[tuple[float, float]] = []
    for d, status, _late, taken in in_period:
        if status != "taken":
            continue
        day = _takenday_of(taken, d, zone) if taken is not None else d
        if day <= end:
            fills.append((float(day.toordinal()), interval[d] / per_date[d]))
    fills.sort()
    index = min(d for d, *_ in in_period)
    m.index_date = index
    lo, hi = float(index.toordinal()), float(end.toordinal() + 1)
    m.days_in_period = int(hi - lo)
    m.days_covered, m.longest_gap_days, m.cover = cover_chain(fills, lo, hi)
    return m


def _count_infusion(
    m: PlanMeasures,
    r: Facts,
    due_day: date,
    zone: ZoneInfo,
    days: dict[Any, date],
) -> None:
    if r.status not in FINAL:
        return
    m.infusions_due += 1
    if r.status != "taken":
        return
    m.infusions_given += 1
    given = _takenday_of(r.taken_at, due_day, zone) if r.taken_at is not None else due_day
    # Late counts from the end of the label's window when there is one.
    due = day_of(r.latest, days) if r.latest is not None else due_day
    late = max(0, (given - due).days)
    if late == 0 and not r.late:
        m.infusions_on_time += 1
    else:
        m.infusion_days_late.append(late)


def combine_plans(
    patient: Patient, plans: list[PlanMeasures], *, start: date, end: date, settings: Settings
) -> PatientMeasures:
    """Days covered by any measured plan (PQA counts a day covered by any drug of the class
    once; switching therapy is not a gap)."""
    pm = PatientMeasures(
        patient_id=patient.id or 0,
        external_id=patient.external_id,
        start=start,
        end=end,
        threshold=settings.care.pdc_threshold,
        permissible_gap_days=settings.care.permissible_gap_days,
        plans=plans,
    )
    indexed = [p for p in plans if p.index_date is not None]
    if indexed:
        index = min(p.index_date for p in indexed if p.index_date)
        lo, hi = float(index.toordinal()), float(end.toordinal() + 1)
        merged = _union([iv for p in indexed for iv in p.cover])
        pm.index_date = index
        pm.days_in_period = int(hi - lo)
        pm.days_covered, pm.longest_gap_days = _covered_and_gap(merged, lo, hi)
    for p in plans:
        p.cover = []  # only needed for the union: a team's year would keep millions
    return pm


def _rows_by_plan(
    session: Session, plan_ids: list[int] | None, team_id: int | None, *, start: date, end: date
) -> Iterator[tuple[int, list[DoseFacts]]]:
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
        members = select(Patient.id).where(Patient.team_id == team_id)
        stmt = stmt.where(_T.plan_id.in_(select(Plan.id).where(col(Plan.patient_id).in_(members))))
    # Core, not the ORM: no per-row entity or type processing (the raw values are read
    # above). Ordered by plan only: measuring needs a plan's rows together, in any order,
    # which spares the database a sort of millions of rows by (plan, due time).
    stmt = stmt.order_by(_T.plan_id)
    current: int | None = None
    bucket: list[DoseFacts] = []
    for part in dose_batches(session, stmt, _facts):
        for row in part:
            if row.plan_id != current:
                if current is not None:
                    yield current, bucket
                current, bucket = row.plan_id, []
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
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        while part := cursor.fetchmany(batch):
            yield list(map(make, part))
    finally:
        cursor.close()


def _measure_plans(
    session: Session,
    plans: list[Plan],
    patients: dict[int, Patient],
    *,
    team_id: int | None,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> dict[int, PlanMeasures]:
    by_id = {p.id: p for p in plans}
    ids = None if team_id is not None else [p.id for p in plans if p.id is not None]
    out: dict[int, PlanMeasures] = {}
    seen: set[int] = set()
    for plan_id, rows in _rows_by_plan(session, ids, team_id, start=start, end=end):
        plan = by_id.get(plan_id)
        if plan is None:
            continue
        seen.add(plan_id)
        out[plan_id] = measure_rows(
            plan,
            patients[plan.patient_id],
            rows,
            regimen_for(catalog, plan),
            start=start,
            end=end,
            settings=settings,
        )
    for plan in plans:  # plans without a dose in the period still appear, empty
        if plan.id not in seen and plan.id is not None:
            out[plan.id] = measure_rows(
                plan,
                patients[plan.patient_id],
                [],
                regimen_for(catalog, plan),
                start=start,
                end=end,
                settings=settings,
            )
    return out


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")


def measure_plan(
    session: Session,
    plan: Plan,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> PlanMeasures:
    _check_period(start, end)
    patient = session.get(Patient, plan.patient_id)
    assert patient is not None
    measured = _measure_plans(
        session,
        [plan],
        {patient.id or 0: patient},
        team_id=None,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
    )
    return measured[plan.id or 0]


def measure_patient(
    session: Session,
    patient: Patient,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> PatientMeasures:
    _check_period(start, end)
    plans = list(
        session.exec(
            select(Plan).where(Plan.patient_id == patient.id).order_by(col(Plan.id))
        ).scalars()
    )
    measured = _measure_plans(
        session,
        plans,
        {patient.id or 0: patient},
        team_id=None,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
    )
    return combine_plans(
        patient,
        [measured[p.id] for p in plans if p.id is not None],
        start=start,
        end=end,
        settings=settings,
    )


def iter_team_patients(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> Iterator[PatientMeasures]:
    """Each patient's measures in patient id order (patients and plans are small rows;
    the doses are streamed)."""
    _check_period(start, end)
    patients = {
        p.id: p
        for p in session.exec(
            select(Patient).where(Patient.team_id == team.id).order_by(col(Patient.id))
        ).scalars()
    }
    plans = list(
        session.exec(
            select(Plan)
            .where(col(Plan.patient_id).in_(select(Patient.id).where(Patient.team_id == team.id)))
            .order_by(col(Plan.id))
        ).scalars()
    )
    measured = _measure_plans(
        session,
        plans,
        patients,
        team_id=team.id,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
    )
    by_patient: dict[int, list[PlanMeasures]] = {}
    for plan in plans:
        by_patient.setdefault(plan.patient_id, []).append(measured[plan.id or 0])
    for pid, patient in patients.items():
        yield combine_plans(
            patient, by_patient.get(pid or 0, []), start=start, end=end, settings=settings
        )


def measure_team(
    session: Session,
    team: CareTeam,
    *,
    start: date,
    end: date,
    catalog: Catalog,
    settings: Settings,
) -> TeamMeasures:
    tm = TeamMeasures(
        team_id=team.id or 0,
        team_name=team.name,
        start=start,
        end=end,
        threshold=settings.care.pdc_threshold,
    )
    tm.patients = list(
        iter_team_patients(session, team, start=start, end=end, catalog=catalog, settings=settings)
    )
    return tm
