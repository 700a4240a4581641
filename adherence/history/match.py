"""From a row to the dose it is about: the patient, the plan, the expected item.

- The patient: a reference tried as an external id, then (CSV, ``Patient/<id>``) as our id;
  an import for a care team sees only that team's patients (another team's is "no patient").
- The plan: the patient's plan for the therapy that had started by the row's local date
  (``start_date``); of several, the latest to start (the one in force then). A row before
  the plan's current Day 1 (``epoch_start``, moved by a titration restart) is refused.
- The dose: the plan's expected items (``dosing.plans.expected_items``, from its Day 1,
  with its rebases), monitoring left out. On the row's local date the item nearest in time
  (the morning or the evening pill); on a day with none (an infusion given late or early)
  the nearest item, which lies within half the interval to its neighbouring occasion.

A plan is expanded once per chunk of rows, a few days around its rows, and wider only when a
row finds no item on one side (an interval therapy).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.dosing.plans import expected_items, late_window, window_closes
from adherence.storage.models import Patient, Plan
from schedules import Catalog, Item, Regimen
from schedules.items import MONITORING

NEAR_DAYS = 3  # the first expansion around a plan's rows: enough for pills and weeklies
WIDE_DAYS = 400  # when a row finds no neighbour: more than the longest interval (a year)
LONE_LIMIT = timedelta(days=1)  # an item with no neighbour at all matches within a day


class Patients:
    """The patients a chunk of rows names, read in two queries."""

    def __init__(
        self, session: Session, refs: Iterable[tuple[tuple[str, ...], bool]], team_id: int | None
    ) -> None:
        external: set[str] = set()
        ids: set[int] = set()
        for values, by_id in refs:
            external.update(values)
            if by_id:
                ids.update(int(v) for v in values if v.isdigit() and len(v) < 10)
        self.by_external: dict[str, Patient] = {}
        self.by_id: dict[int, Patient] = {}
        if external:
            for p in session.exec(select(Patient).where(col(Patient.external_id).in_(external))):
                self.by_external[p.external_id or ""] = p
        if ids:
            for p in session.exec(select(Patient).where(col(Patient.id).in_(ids))):
                self.by_id[p.id or 0] = p
        self.team_id = team_id

    def find(self, values: tuple[str, ...], by_id: bool) -> Patient | None:
        for value in values:
            patient = self.by_external.get(value)
            if patient is None and by_id and value.isdigit():
                patient = self.by_id.get(int(value))
            if patient is not None:
                if self.team_id is not None and patient.team_id != self.team_id:
                    return None  # another team's patient: the same answer as no patient
                return patient
        return None


@dataclass(slots=True)
class PlanRef:
    """A plan with the values every row of it reads, as plain attributes (an ORM attribute
    read costs more than the matching itself, a million times over)."""

    plan: Plan
    patient: Patient
    id: int
    patient_id: int
    epoch: int
    epoch_start: date
    start_date: date
    zone: ZoneInfo
    moves: bool  # recording a taken dose may move the plan (``rebasing``)


@dataclass(slots=True)
class Choice:
    """A patient's plans for one therapy, and which is in force on a given day."""

    refs: list[PlanRef]
    zone: ZoneInfo
    _by_day: dict[date, PlanRef | None] = field(default_factory=dict)

    def on(self, day: date) -> PlanRef | None:
        """The plan in force on ``day``: the latest to have started by then."""
        try:
            return self._by_day[day]
        except KeyError:
            started = [r for r in self.refs if r.start_date <= day]
            found = self._by_day[day] = started[-1] if started else None
            return found


def choices(
    catalog: Catalog, plans: dict[tuple[int, str], list[Plan]], patients: dict[int, Patient]
) -> dict[tuple[int, str], Choice]:
    from adherence.dosing.plans import regimen_for

    out: dict[tuple[int, str], Choice] = {}
    for key, own in plans.items():
        patient = patients[key[0]]
        zone = ZoneInfo(patient.tz)
        refs = [
            PlanRef(
                plan=p,
                patient=patient,
                id=p.id or 0,
                patient_id=p.patient_id,
                epoch=p.epoch,
                epoch_start=p.epoch_start,
                start_date=p.start_date,
                zone=zone,
                moves=rebasing(regimen_for(catalog, p)),
            )
            for p in own
        ]
        out[key] = Choice(refs, zone)
    return out


def plans_of(session: Session, patient_ids: set[int]) -> dict[tuple[int, str], list[Plan]]:
    """Each patient's plans per therapy, oldest start first."""
    out: dict[tuple[int, str], list[Plan]] = {}
    if not patient_ids:
        return out
    rows = session.exec(
        select(Plan)
        .where(col(Plan.patient_id).in_(patient_ids))
        .order_by(col(Plan.start_date), col(Plan.id))
    )
    for plan in rows:
        out.setdefault((plan.patient_id, plan.regimen), []).append(plan)
    return out


def plan_on(plans: list[Plan], day: date) -> Plan | None:
    """The plan in force on ``day``: the latest to have started by then."""
    started = [p for p in plans if p.start_date <= day]
    return started[-1] if started else None


def rebasing(regimen: Regimen) -> bool:
    """Whether recording a taken dose may move the plan (the engine's ``after_taken``):
    later doses counted from the one given, or a cumulative cap."""
    return regimen.rule("shift_from_taken") is not None or (
        regimen.rule("stop_at_cap") is not None and regimen.cap is not None
    )


@dataclass
class Expansion:
    """One plan's expected doses around some dates (monitoring left out)."""

    catalog: Catalog
    plan: Plan
    patient: Patient
    zone: ZoneInfo
    lo: date
    hi: date
    regimen: Regimen = field(init=False)
    items: list[Item] = field(init=False)
    ats: list[datetime] = field(init=False)
    by_date: dict[date, list[Item]] = field(init=False)
    late: timedelta = field(init=False)
    wide: bool = False

    def __post_init__(self) -> None:
        self._expand(self.lo, self.hi)

    def _expand(self, lo: date, hi: date) -> None:
        self.lo, self.hi = lo, hi
        since = max(lo, self.plan.epoch_start)
        regimen, items = expected_items(
            self.catalog, self.plan, self.patient, until=hi, since=since
        )
        self.regimen = regimen
        self.items = [i for i in items if i.kind != MONITORING]
        self.ats = [i.at for i in self.items]
        by_date: dict[date, list[Item]] = {}
        for item in self.items:
            by_date.setdefault(item.local_date, []).append(item)
        self.by_date = by_date
        self.late = late_window(regimen)

    def closes(self, item: Item) -> datetime:
        if item.latest is not None:
            return window_closes(item, self.regimen, self.zone)
        return item.at + self.late

    def nearest(self, at: datetime, day: date) -> Item | None:
        if not self.lo <= day <= self.hi:
            # Outside what was expanded: grow the range to cover it.
            self._expand(
                min(self.lo, day - timedelta(days=NEAR_DAYS)),
                max(self.hi, day + timedelta(days=NEAR_DAYS)),
            )
        same = self.by_date.get(day)
        if same:
            return same[0] if len(same) == 1 else min(same, key=lambda i: abs(i.at - at))
        k = bisect_right(self.ats, at)
        if (k == 0 or k == len(self.items)) and not self.wide:
            self.wide = True
            wide = timedelta(days=WIDE_DAYS)
            self._expand(min(self.lo, day - wide), max(self.hi, day + wide))
            return self.nearest(at, day)
        items = self.items
        before = items[k - 1] if k > 0 else None
        after = items[k] if k < len(items) else None
        if before is not None and after is not None:
            return before if at - before.at <= after.at - at else after
        one = before or after
        if one is None:
            return None
        n = k - 1 if before is not None else k
        other = items[n - 1] if before is not None and n > 0 else None
        if after is not None and n + 1 < len(items):
            other = items[n + 1]
        limit = abs(one.at - other.at) / 2 if other is not None else LONE_LIMIT
        return one if abs(at - one.at) <= limit else None


def describe_plans(plans: Iterable[Plan]) -> str:
    return ", ".join(f"plan {p.id} ({p.regimen}, from {p.start_date})" for p in plans) or "none"
