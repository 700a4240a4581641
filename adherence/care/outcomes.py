"""The team page's figures: how the team's patients are doing and whether calls help.

Each figure is a few cheap queries (counts in SQL where the databases agree, a column or
two read otherwise) for one care team, at ``now``:

- ``pdc_distribution``: active patients' PDC (``adherence.care.measures``) over the last
  ``[care] pdc_days`` days, the window the low-PDC flag reads, in 10% bins. A patient with
  nothing to measure yet (no dose due, or only infusions, which PQA's PDC leaves out) is
  counted apart, never as 0%.
- ``flags_per_week``: flags opened (``first_at``) and resolved (``resolved_at``) in each of
  the last weeks, Monday to Sunday in the team's zone.
- ``clinic_doses_due``: clinic doses (every kind but home doses and monitoring: infusions
  today) still open and due in the next days, with their booked appointment if any.
- ``flagged_contacted``: of the patients with a flag raised in the period, how many had a
  call after their first such flag: an *attempt* is any call result but ``wrong_number``;
  *contacted* is ``reached`` or ``agreed_restart``.
- ``back_on_track``: of the contacts (a call result ``reached`` or ``agreed_restart``) in
  the period and at least ``days`` days ago, how many were followed within ``days`` days
  by a dose taken (home or clinic; ``taken_at`` after the call and at most ``days`` days
  after it) and then no dose missed: none of the patient's doses due after that taken
  dose's due time, up to ``days`` days after the call, has the status ``missed``. Skipped
  doses are the patient's stated choice and do not count against them. Counted per
  contact, as Simple.org counts its follow-up calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, distinct, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adherence.care.measures.latest import PdcCache, measure_pdc, pdc_period
from adherence.core.config import Settings
from adherence.storage.models import DOSE_OPEN, Appointment, CareTeam, Dose, Flag, Patient, Plan
from adherence.storage.utc import from_storage
from adherence.storage.workspace import CallOutcome, CallResult
from schedules import Catalog

WEEKS = 12  # the period of the flag, contact and follow-up figures
DUE_DAYS = 30  # clinic doses due this far ahead
BACK_ON_TRACK_DAYS = 15
CONTACTED = (CallOutcome.REACHED, CallOutcome.AGREED_RESTART)
ATTEMPTED = tuple(o for o in CallOutcome if o != CallOutcome.WRONG_NUMBER)
HOME_AND_MONITORING = ("dose", "monitoring")


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def period_start(team: CareTeam, now: datetime, weeks: int = WEEKS) -> datetime:
    """Monday 00:00 (team's zone) of the first of the last ``weeks`` weeks, this one included."""
    zone = ZoneInfo(team.tz)
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    return datetime.combine(monday, time(0), zone)


# --- PDC ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bin:
    low: int  # percent, inclusive
    high: int  # percent, exclusive (100 for the last bin: 100% is in it)
    patients: int

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high}%" if self.high == 100 else f"{self.low}–{self.high - 1}%"


@dataclass
class PdcDistribution:
    start: date
    end: date
    threshold: float
    bins: list[Bin]
    not_measured: int  # active patients with nothing to measure yet

    @property
    def measured(self) -> int:
        return sum(b.patients for b in self.bins)

    @property
    def at_or_above(self) -> int:
        """Patients at or above the threshold (its bin edge: 80% is a 10% bin's edge)."""
        return sum(b.patients for b in self.bins if b.low >= round(100 * self.threshold))


def bin_of(pdc: float) -> int:
    """0..9: the 10% bin of a PDC in [0, 1] (100% is in the last)."""
    return min(9, max(0, math.floor(round(pdc * 100, 6) / 10)))


def pdc_distribution(
    session: Session,
    team: CareTeam,
    *,
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    cache: PdcCache | None = None,
) -> PdcDistribution:
    """The active patients' latest PDC in 10% bins (``measures.latest``, from ``cache``
    for every patient whose doses did not change since it was last measured)."""
    start, end = pdc_period(now, team.tz, settings)
    active = list(
        session.exec(select(col(Patient.id)).where(Patient.team_id == team.id, col(Patient.active)))
    )
    pdc = measure_pdc(
        session,
        [pid for pid in active if pid is not None],
        team_id=team.id,
        start=start,
        end=end,
        catalog=catalog,
        settings=settings,
        cache=cache,
    )
    counts = [0] * 10
    not_measured = 0
    for value in pdc.values():
        if value is None:
            not_measured += 1
        else:
            counts[bin_of(value)] += 1
    bins = [Bin(10 * i, 10 * i + 10, n) for i, n in enumerate(counts)]
    return PdcDistribution(start, end, settings.care.pdc_threshold, bins, not_measured)


# --- flags per week ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    monday: date
    opened: int
    resolved: int


def flags_per_week(
    session: Session, team: CareTeam, *, now: datetime, weeks: int = WEEKS
) -> list[Week]:
    """Flags opened and resolved in each of the last ``weeks`` weeks (oldest first)."""
    zone = ZoneInfo(team.tz)
    since = period_start(team, now, weeks)
    first = since.date()
    opened = [0] * weeks
    resolved = [0] * weeks

    def count(column: Any, into: list[int]) -> None:
        rows = session.exec(
            select(column).where(Flag.team_id == team.id, column >= since, column <= now)
        )
        for raw in rows:
            at = from_storage(raw)
            assert at is not None
            index = (at.astimezone(zone).date() - first).days // 7
            if 0 <= index < weeks:
                into[index] += 1

    count(col(Flag.first_at), opened)
    count(col(Flag.resolved_at), resolved)
    return [Week(first + timedelta(days=7 * i), opened[i], resolved[i]) for i in range(weeks)]


# --- clinic doses due --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicDose:
    dose_id: int
    patient_id: int
    patient_name: str
    kind: str
    label: str
    due_at: datetime
    booked_at: datetime | None  # the booked appointment, None when not booked


def clinic_doses_due(
    session: Session, team: CareTeam, *, now: datetime, days: int = DUE_DAYS
) -> list[ClinicDose]:
    """Open clinic doses of active plans due from ``now`` to ``days`` ahead, soonest first."""
    booked = and_(col(Appointment.dose_id) == col(Dose.id), col(Appointment.status) == "booked")
    rows = session.execute(
        sa_select(
            col(Dose.id),
            col(Dose.patient_id),
            col(Patient.name),
            col(Dose.kind),
            col(Dose.label),
            col(Dose.due_at),
            func.min(Appointment.at),
        )
        .join(Patient, col(Patient.id) == col(Dose.patient_id))
        .join(Plan, col(Plan.id) == col(Dose.plan_id))
        .outerjoin(Appointment, booked)
        .where(
            col(Patient.team_id) == team.id,
            col(Patient.active),
            col(Plan.status) == "active",
            col(Dose.kind).not_in(HOME_AND_MONITORING),
            col(Dose.status).in_(DOSE_OPEN),
            col(Dose.due_at) >= now,
            col(Dose.due_at) <= now + timedelta(days=days),
        )
        .group_by(
            col(Dose.id),
            col(Dose.patient_id),
            col(Patient.name),
            col(Dose.kind),
            col(Dose.label),
            col(Dose.due_at),
        )
        .order_by(col(Dose.due_at), col(Dose.id))
    ).all()
    out = []
    for dose_id, patient_id, name, kind, label, due_at, appointment in rows:
        due = from_storage(due_at)
        assert due is not None
        out.append(
            ClinicDose(dose_id, patient_id, name, kind, label, due, from_storage(appointment))
        )
    return out


# --- follow-up: contacted, back on track -------------------------------------------------------


@dataclass(frozen=True)
class Contacted:
    since: datetime
    flagged: int  # patients with a flag raised in the period
    attempted: int  # ... with a call after it (any result but wrong_number)
    contacted: int  # ... with a call that reached them (reached, agreed_restart)

    @property
    def attempted_share(self) -> float | None:
        return _ratio(self.attempted, self.flagged)

    @property
    def contacted_share(self) -> float | None:
        return _ratio(self.contacted, self.flagged)


def flagged_contacted(
    session: Session, team: CareTeam, *, now: datetime, weeks: int = WEEKS
) -> Contacted:
    since = period_start(team, now, weeks)
    first = (
        select(col(Flag.patient_id).label("patient_id"), func.min(Flag.first_at).label("at"))
        .where(Flag.team_id == team.id, col(Flag.first_at) >= since, col(Flag.first_at) <= now)
        .group_by(col(Flag.patient_id))
        .subquery()
    )
    flagged = session.exec(select(func.count()).select_from(first)).one()

    def called(outcomes: tuple[str, ...]) -> int:
        after = and_(
            col(CallResult.patient_id) == first.c.patient_id,
            col(CallResult.at) >= first.c.at,
            col(CallResult.at) <= now,
            col(CallResult.outcome).in_(outcomes),
        )
        query = select(func.count(distinct(first.c.patient_id))).select_from(
            first.join(CallResult, after)
        )
        return int(session.exec(query).one())

    return Contacted(since, int(flagged), called(ATTEMPTED), called(CONTACTED))


@dataclass
class BackOnTrack:
    since: datetime
    until: datetime  # contacts up to here: at least ``days`` days ago
    days: int
    contacts: int = 0
    back: int = 0
    patients: set[int] = field(default_factory=set, repr=False)

    @property
    def share(self) -> float | None:
        return _ratio(self.back, self.contacts)


def back_on_track(
    session: Session,
    team: CareTeam,
    *,
    now: datetime,
    weeks: int = WEEKS,
    days: int = BACK_ON_TRACK_DAYS,
) -> BackOnTrack:
    since = period_start(team, now, weeks)
    window = timedelta(days=days)
    out = BackOnTrack(since=since, until=now - window, days=days)
    calls = session.exec(
        select(col(CallResult.patient_id), col(CallResult.at)).where(
            CallResult.team_id == team.id,
            col(CallResult.outcome).in_(CONTACTED),
            col(CallResult.at) >= since,
            col(CallResult.at) <= out.until,
        )
    ).all()
    if not calls:
        return out
    contacts = [(pid, from_storage(at)) for pid, at in calls]
    lo = min(at for _, at in contacts if at is not None)
    hi = max(at for _, at in contacts if at is not None) + window
    taken = and_(col(Dose.status) == "taken", col(Dose.taken_at) > lo, col(Dose.taken_at) <= hi)
    missed = and_(col(Dose.status) == "missed", col(Dose.due_at) > lo, col(Dose.due_at) <= hi)
    by_patient: dict[int, list[tuple[str, datetime, datetime | None]]] = {}
    for pid, status, due_at, taken_at in session.exec(
        select(col(Dose.patient_id), col(Dose.status), col(Dose.due_at), col(Dose.taken_at))
        .where(
            col(Dose.patient_id).in_({pid for pid, _ in contacts}),
            Dose.kind != "monitoring",
            or_(taken, missed),
        )
        .order_by(col(Dose.due_at))
    ):
        due = from_storage(due_at)
        assert due is not None
        by_patient.setdefault(pid, []).append((status, due, from_storage(taken_at)))
    for pid, at in contacts:
        assert at is not None
        out.contacts += 1
        if _back(by_patient.get(pid, []), at, at + window):
            out.back += 1
            out.patients.add(pid)
    return out


def _back(
    doses: list[tuple[str, datetime, datetime | None]], call: datetime, end: datetime
) -> bool:
    """A dose taken in (call, end], then no dose due after it (up to ``end``) missed."""
    taken = [(t, due) for status, due, t in doses if status == "taken" and t and call < t <= end]
    if not taken:
        return False
    _, first_due = min(taken)
    return not any(status == "missed" and first_due < due <= end for status, due, _ in doses)
