"""PDC and the dose counts of one plan from its rows, and a patient's from its plans.

``measure_rows`` is the hot loop (a team's year is millions of rows): it reads the raw
driver values (``day_of``, ``_takenday_of``), counts the doses and builds the fills that
``cover_chain`` turns into days covered under PQA's rule; ``combine_plans`` unions a
patient's plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from adherence.care.measures.dispensing import combine_cover
from adherence.care.measures.results import PatientMeasures, PlanMeasures
from adherence.care.measures.rows import (
    KIND,
    LATE,
    LATEST,
    LOCAL_DATE,
    PHASE,
    STATUS,
    TAKEN_AT,
    Facts,
)
from adherence.core.config import Settings
from adherence.storage.models import DOSE_FINAL, Patient, Plan
from adherence.storage.utc import day_bounds_text, instant
from adherence.supply.coverage import cover_chain, covered_and_gap, union
from schedules import Regimen

PDC_KINDS = ("oral", "injectable")  # therapy kinds measured by PDC (PDC-MS: non-infused DMTs)
FINAL = DOSE_FINAL  # a dose that counts as scheduled
NOT_SCHEDULED = ("cancelled", "not_sent")  # dropped from the schedule (plan stopped, ...)


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


def measure_rows(
    plan: Plan,
    patient: Patient,
    rows: Sequence[Facts],
    regimen: Regimen,
    *,
    start: date,
    end: date,
    settings: Settings,
    now: datetime | None = None,
) -> PlanMeasures:
    """``now``: PDC counts only the days that are over by then (up to yesterday in the
    patient's zone); without it, the whole period (a period wholly in the past)."""
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
    today = now.astimezone(zone).date() if now is not None else None
    # The last day measured: today is not over (its doses may still be taken), and later
    # days have not happened.
    last = end if today is None else min(end, today - timedelta(days=1))
    m.measured_to = last
    pdc_plan = regimen.kind in PDC_KINDS
    days: dict[Any, date] = {}
    per_date: dict[date, int] = {}  # doses scheduled on each date: the interval is shared
    in_period: list[tuple[date, str, bool, Any]] = []
    last_phase, last_day = "", date.min
    for r in rows:
        status, kind = r[STATUS], r[KIND]
        if status in NOT_SCHEDULED or kind == "monitoring":
            continue
        d = day_of(r[LOCAL_DATE], days)
        if kind == "infusion":
            if start <= d <= end:
                _count_infusion(m, r, d, zone, days)
            continue
        per_date[d] = per_date.get(d, 0) + 1
        if d >= last_day:  # rows come in any order; the last date's phase is the fallback
            last_phase, last_day = r[PHASE], d
        if d < start or d > end:
            continue
        in_period.append((d, status, r[LATE], r[TAKEN_AT]))
        if status in FINAL:
            m.scheduled += 1
            if status == "taken":
                m.taken += 1
                m.on_time += not r[LATE]
            elif status == "missed":
                m.missed += 1
            else:
                m.skipped += 1
        else:
            m.pending += 1
    if not pdc_plan:
        return m
    if today is not None:
        in_period = [row for row in in_period if row[0] <= last]
    if not in_period:
        # Doses to come and none over yet: nothing to measure yet (not a PDC of 0).
        m.nothing_yet = today is not None and any(d >= today for d in per_date)
        if last >= start:
            m.not_recorded = not_recorded(plan, zone, per_date, [], start=start, end=last)
            m.days_not_recorded = _days(m.not_recorded)
        return m
    dates = sorted(per_date)
    interval = {d: float((nxt - d).days) for d, nxt in pairwise(dates)}
    interval[dates[-1]] = _fallback_interval(regimen, last_phase)
    fills: list[tuple[float, float]] = []
    for d, status, _late, taken in in_period:
        if status != "taken":
            continue
        day = _takenday_of(taken, d, zone) if taken is not None else d
        if day <= last:
            fills.append((float(day.toordinal()), interval[d] / per_date[d]))
    fills.sort()
    index = min(d for d, *_ in in_period)
    m.index_date = index
    lo, hi = float(index.toordinal()), float(last.toordinal() + 1)
    m.days_in_period = int(hi - lo)
    m.days_covered, m.longest_gap_days, m.cover = cover_chain(fills, lo, hi)
    m.not_recorded = not_recorded(plan, zone, per_date, m.cover, start=start, end=last)
    if m.not_recorded:
        _leave_out(m, m.cover, m.not_recorded, lo, hi)
    return m


def not_recorded(
    plan: Plan,
    zone: ZoneInfo,
    recorded: Iterable[date],
    cover: list[tuple[float, float]],
    *,
    start: date,
    end: date,
) -> list[tuple[float, float]]:
    """Days from the plan's real Day 1 to the day before it was enrolled (inside the
    period) with no dose record and no cover: the patient was on therapy, nobody recorded
    whether a dose was taken. They are neither taken nor missed: left out of PDC."""
    enrolled = plan.created_at.astimezone(zone).date()
    lo = max(start, plan.start_date).toordinal()
    hi = min(end, enrolled - timedelta(days=1)).toordinal()
    if hi < lo:
        return []
    seen = {d.toordinal() for d in recorded}
    out: list[tuple[float, float]] = []
    for day in range(lo, hi + 1):
        if day in seen or any(a <= day < b for a, b in cover):
            continue
        if out and out[-1][1] == day:
            out[-1] = (out[-1][0], day + 1.0)
        else:
            out.append((float(day), day + 1.0))
    return out


def _days(intervals: list[tuple[float, float]]) -> int:
    return round(sum(b - a for a, b in intervals))


def _leave_out(
    m: PlanMeasures | PatientMeasures,
    cover: list[tuple[float, float]],
    unknown: list[tuple[float, float]],
    lo: float,
    hi: float,
) -> None:
    """Take days not recorded out of the period (from the index date on) and out of the
    gaps: a stretch nobody recorded is not a gap in therapy."""
    m.days_not_recorded = _days(unknown)
    inside = [(max(a, lo), min(b, hi)) for a, b in unknown if min(b, hi) > max(a, lo)]
    m.days_in_period -= _days(inside)
    _, m.longest_gap_days = covered_and_gap(union(cover + inside), lo, hi)


def _count_infusion(
    m: PlanMeasures,
    r: Facts,
    due_day: date,
    zone: ZoneInfo,
    days: dict[Any, date],
) -> None:
    if r[STATUS] not in FINAL:
        return
    m.infusions_due += 1
    if r[STATUS] != "taken":
        return
    m.infusions_given += 1
    given = _takenday_of(r[TAKEN_AT], due_day, zone) if r[TAKEN_AT] is not None else due_day
    # Late counts from the end of the label's window when there is one.
    due = day_of(r[LATEST], days) if r[LATEST] is not None else due_day
    late = max(0, (given - due).days)
    if late == 0 and not r[LATE]:
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
    # One patient, one zone: every plan was measured to the same day.
    pm.measured_to = min((p.measured_to for p in plans if p.measured_to), default=end)
    pm.nothing_yet = not indexed and any(p.nothing_yet for p in plans)
    if indexed:
        index = min(p.index_date for p in indexed if p.index_date)
        lo, hi = float(index.toordinal()), float(pm.measured_to.toordinal() + 1)
        merged = union([iv for p in indexed for iv in p.cover])
        pm.index_date = index
        pm.days_in_period = int(hi - lo)
        pm.days_covered, pm.longest_gap_days = covered_and_gap(merged, lo, hi)
        unknown = _minus(union([iv for p in plans for iv in p.not_recorded]), merged)
        if unknown:
            _leave_out(pm, merged, unknown, lo, hi)
    else:
        pm.days_not_recorded = _days(union([iv for p in plans for iv in p.not_recorded]))
    pm.dispensing = combine_cover((p.dispensing for p in plans), end=end)
    for p in plans:
        # Only needed for the union: a team's year would keep millions.
        p.cover, p.not_recorded, p.dispensing.cover = [], [], []
    return pm


def _minus(
    intervals: list[tuple[float, float]], cover: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """``intervals`` without the days ``cover`` covers (both sorted and disjoint)."""
    out: list[tuple[float, float]] = []
    for a, b in intervals:
        pieces = [(a, b)]
        for c, d in cover:
            pieces = [
                part
                for x, y in pieces
                for part in ((x, min(y, c)), (max(x, d), y))
                if part[1] > part[0]
            ]
        out.extend(pieces)
    return out
