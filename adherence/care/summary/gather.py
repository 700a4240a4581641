"""What the visit summary holds, read once from the rows: one ``Summary`` per patient and
period, plain values the template shows as they are.

The period is the patient's local days ``since`` .. ``until`` (inclusive). Doses are read
with their plan's therapy name (this page is for the clinician). Nothing here writes.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.care.measures import measure_patient
from adherence.care.summary.checkins import Flare, Trend, flares, trends
from adherence.core.config import Settings
from adherence.storage.models import CareTeam, Dispense, Dose, Patient, Plan
from adherence.supply.coverage import cover_chain
from schedules import Catalog

# The default period: the six months before the visit (about two visits apart).
DEFAULT_MONTHS = 6
# The lists of single doses stop here (the month table still counts every one).
MAX_LISTED = 10


def default_since(today: date, months: int = DEFAULT_MONTHS) -> date:
    """The same day ``months`` months before ``today`` (the month's last day if shorter),
    plus one: six months back from 15 Jun is 16 Dec, so the period has six whole months."""
    month = today.month - months
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    day = min(today.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) + timedelta(days=1)


@dataclass
class Month:
    label: str  # "Mar 2026"
    first: date
    last: date
    pdc: float | None
    scheduled: int
    taken: int
    missed: int
    late: int


@dataclass
class DoseLine:
    due: datetime  # in the patient's zone
    therapy: str
    what: str  # "missed" | "taken late" | "skipped"
    taken: datetime | None


@dataclass
class Gap:
    therapy: str
    first: date
    last: date  # inclusive
    ongoing: bool  # no supply at the end of the period

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass
class Check:
    therapy: str
    label: str
    due: date
    window_end: date
    status: str  # done | overdue | due | skipped
    done_on: date | None


@dataclass
class SiteUse:
    name: str
    uses: int
    last: date


@dataclass
class SiteRepeat:
    on: date
    name: str
    note: str


@dataclass
class Summary:
    patient: Patient
    team: CareTeam
    since: date
    until: date
    generated_at: datetime  # in the patient's zone
    therapies: list[str]
    pdc: float | None
    threshold: float
    months: list[Month]
    dose_lines: list[DoseLine]
    missed_total: int
    late_total: int
    skipped_total: int
    gaps: list[Gap]
    flares: list[Flare]
    trends: list[Trend]
    checks: list[Check]
    sites: list[SiteUse] = field(default_factory=list)
    repeats: list[SiteRepeat] = field(default_factory=list)
    listed_max: int = MAX_LISTED

    @property
    def checks_overdue(self) -> int:
        return sum(1 for c in self.checks if c.status == "overdue")


def _months(since: date, until: date) -> list[tuple[date, date]]:
    out = []
    first = since
    while first <= until:
        last_day = calendar.monthrange(first.year, first.month)[1]
        last = min(date(first.year, first.month, last_day), until)
        out.append((first, last))
        first = last + timedelta(days=1)
    return out


def _month_label(first: date, last: date) -> str:
    whole = first.day == 1 and last.day == calendar.monthrange(last.year, last.month)[1]
    label = first.strftime("%b %Y")
    return label if whole else f"{label} ({first.day}-{last.day})"


def _therapy_name(catalog: Catalog, code: str) -> str:
    try:
        return catalog.get(code).display
    except LookupError:
        return code


def _site_name(catalog: Catalog, code: str, site: str) -> str:
    try:
        rotation = catalog.get(code).sites
    except LookupError:
        return site
    found = rotation.site(site) if rotation else None
    return f"{found.en} ({site})" if found else site


def gather(
    session: Session,
    patient: Patient,
    *,
    since: date,
    until: date,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
) -> Summary:
    """The visit summary of ``patient`` for the local days ``since`` .. ``until``."""
    if until < since:
        raise ValueError(f"since: {since} is after the last day {until}")
    zone = ZoneInfo(patient.tz)
    team = session.get(CareTeam, patient.team_id)
    assert team is not None
    plans = list(
        session.exec(select(Plan).where(Plan.patient_id == patient.id).order_by(col(Plan.id)))
    )
    names = {p.id: _therapy_name(catalog, p.regimen) for p in plans}
    codes = {p.id: p.regimen for p in plans}
    rows = list(
        session.exec(
            select(Dose)
            .where(
                Dose.patient_id == patient.id,
                col(Dose.local_date) <= until,
                Dose.status != "cancelled",
            )
            .order_by(col(Dose.due_at), col(Dose.id))
        )
    )
    in_period = [d for d in rows if since <= d.local_date]
    doses = [d for d in in_period if d.kind != "monitoring"]
    active = {p.id for p in plans if p.status == "active" and p.id is not None}
    used = sorted({d.plan_id for d in doses} | active)
    months = []
    for first, last in _months(since, until):
        measured = measure_patient(
            session, patient, start=first, end=last, catalog=catalog, settings=settings
        )
        month = [d for d in doses if first <= d.local_date <= last]
        months.append(
            Month(
                label=_month_label(first, last),
                first=first,
                last=last,
                pdc=measured.pdc,
                scheduled=sum(1 for d in month if d.status in ("taken", "skipped", "missed")),
                taken=sum(1 for d in month if d.status == "taken"),
                missed=sum(1 for d in month if d.status == "missed"),
                late=sum(1 for d in month if d.status == "taken" and d.late),
            )
        )
    whole = measure_patient(
        session, patient, start=since, end=until, catalog=catalog, settings=settings
    )
    notable = [
        d for d in doses if d.status in ("missed", "skipped") or (d.status == "taken" and d.late)
    ]
    lines = [
        DoseLine(
            due=d.due_at.astimezone(zone),
            therapy=names.get(d.plan_id, ""),
            what="taken late" if d.status == "taken" else d.status,
            taken=d.taken_at.astimezone(zone) if d.taken_at else None,
        )
        for d in notable[-MAX_LISTED:]
    ]
    checks = []
    for d in rows:
        if d.kind != "monitoring":
            continue
        window_end = d.latest or d.window_closes_at.astimezone(zone).date()
        if d.status == "taken":
            status = "done"
        elif d.status == "skipped":
            status = "skipped"
        elif d.window_closes_at <= now:
            status = "overdue"
        else:
            status = "due"
        # Before the period: only what is still overdue (a check never done stays news).
        if d.local_date < since and status != "overdue":
            continue
        checks.append(
            Check(
                therapy=names.get(d.plan_id, ""),
                label=d.label or d.phase,
                due=d.local_date,
                window_end=window_end,
                status=status,
                done_on=d.taken_at.astimezone(zone).date() if d.taken_at else None,
            )
        )
    uses: dict[str, SiteUse] = {}
    repeats = []
    for d in doses:
        if not d.site:
            continue
        name = _site_name(catalog, codes.get(d.plan_id, ""), d.site)
        use = uses.setdefault(name, SiteUse(name, 0, d.local_date))
        use.uses += 1
        use.last = max(use.last, d.local_date)
        if d.site_note:
            repeats.append(SiteRepeat(d.local_date, name, d.site_note))
    return Summary(
        patient=patient,
        team=team,
        since=since,
        until=until,
        generated_at=now.astimezone(zone),
        therapies=[names[p] for p in used if p in names],
        pdc=whole.pdc,
        threshold=settings.care.pdc_threshold,
        months=months,
        dose_lines=lines,
        missed_total=sum(1 for d in notable if d.status == "missed"),
        late_total=sum(1 for d in notable if d.status == "taken"),
        skipped_total=sum(1 for d in notable if d.status == "skipped"),
        gaps=_gaps(session, plans, names, since=since, until=until, zone=zone),
        flares=flares(session, patient, since=since, until=until),
        trends=trends(session, patient, since=since, until=until),
        checks=checks,
        sites=sorted(uses.values(), key=lambda u: (-u.uses, u.name)),
        repeats=repeats[-MAX_LISTED:],
    )


def _gaps(
    session: Session,
    plans: list[Plan],
    names: dict[int | None, str],
    *,
    since: date,
    until: date,
    zone: ZoneInfo,
) -> list[Gap]:
    """Days without home supply by PQA's carry-forward count, from the plan's first fill
    (or the period's start) to the period's end, or to the day a stopped plan stopped.
    Plans with no fill recorded show none: no record is not the same as no supply."""
    out = []
    for plan in plans:
        last_day = until
        if plan.status in ("stopped", "completed"):
            last_day = min(until, plan.updated_at.astimezone(zone).date() - timedelta(days=1))
        fills = list(
            session.exec(
                select(Dispense)
                .where(Dispense.plan_id == plan.id, col(Dispense.dispensed_on) <= last_day)
                .order_by(col(Dispense.dispensed_on), col(Dispense.id))
            )
        )
        if not fills or last_day < since:
            continue
        index = max(since, fills[0].dispensed_on).toordinal()
        end = last_day.toordinal() + 1
        chain = [(float(f.dispensed_on.toordinal()), float(f.days_supply)) for f in fills]
        _, _, merged = cover_chain(chain, float(index), float(end))
        cursor = float(index)
        for lo, hi in [*merged, (float(end), float(end))]:
            if lo - cursor >= 1:
                first = date.fromordinal(int(cursor))
                last = date.fromordinal(int(lo) - 1)
                out.append(
                    Gap(
                        names.get(plan.id, ""), first, last, ongoing=lo >= end and last_day == until
                    )
                )
            cursor = max(cursor, hi)
    return sorted(out, key=lambda g: g.first)
