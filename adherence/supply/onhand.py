"""What a plan's home supply holds now, when it runs out, and when a refill is due.

Two counts, side by side, because they answer different questions:

* PQA's, from the fills alone: each fill starts when the earlier supply runs out (an early
  refill carries forward), so ``pqa_runs_out`` is the first day no fill covers. Same-day
  fills are one fill, the one with the longest days supply (PQA's rule). This is the date a
  pharmacy or an insurer computes.
* The draw-down, in doses: a fill supplies ``quantity`` doses when given (tablets,
  capsules, syringes, pens: one per reminder), else the plan's expected doses in the days it
  covers. Each expected dose due since the fill uses one, unless it was recorded skipped or
  missed; a dose nobody recorded (before enrolment, say) is assumed taken. The supply
  ``runs_out`` on the day of the first expected dose it can no longer cover, so skipped doses
  push it later and a patient who ran out stays run out (the date does not slide daily).

A gap in PQA's cover (the supply ran out, by PQA's count, before the next fill) starts the
draw-down afresh: doses left from before a gap are not carried, which keeps the count
bounded and errs on the side of an earlier reminder. The count uses the plan's current
schedule (its current titration epoch); a fill from before a restart at Day 1 is counted on
the restarted schedule, and a fill dispensed before the plan's Day 1 is drawn down from Day 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.core.config import SupplySettings
from adherence.dosing.plans import expected_items
from adherence.dosing.replies import REFILL_ORDERED
from adherence.storage.models import Dispense, Dose, DoseStatus, Patient, Plan, RuleEvent
from adherence.supply.coverage import chain_end
from adherence.supply.records import fills_of
from schedules import Catalog, Item

_NOT_USED = (DoseStatus.SKIPPED, DoseStatus.MISSED)
_LOOK_AHEAD = timedelta(days=45)  # items expanded past the PQA date before looking further
_MAX_AHEAD = timedelta(days=800)


@dataclass(frozen=True)
class Supply:
    """A plan's home supply as of ``today`` (the patient's local date)."""

    fills: tuple[Dispense, ...]
    on_hand_doses: float
    on_hand_days: int
    runs_out: date | None  # the day of the first expected dose not covered
    pqa_runs_out: date | None  # the first day PQA's carried-forward cover misses
    refill_allowed_from: date | None
    remind_on: date | None
    overdue_on: date | None
    refill_ordered_at: datetime | None  # a patient's "ordered" reply after the last fill
    today: date

    @property
    def last_fill(self) -> Dispense | None:
        return self.fills[-1] if self.fills else None


def pqa_fills(fills: list[Dispense]) -> list[Dispense]:
    """The fills PQA counts, by date: of same-day fills the one with the longest supply."""
    kept: dict[date, Dispense] = {}
    for fill in fills:
        other = kept.get(fill.dispensed_on)
        if other is None or fill.days_supply > other.days_supply:
            kept[fill.dispensed_on] = fill
    return [kept[day] for day in sorted(kept)]


def carried(fills: list[Dispense], floor: date | None = None) -> list[tuple[Dispense, int, int]]:
    """Each PQA fill with the ordinal days [begin, end) it covers once carried forward;
    none begins before ``floor`` (a fill shipped before Day 1 starts on Day 1)."""
    out = []
    cursor = -math.inf if floor is None else floor.toordinal()
    for fill in fills:
        day = fill.dispensed_on.toordinal()
        begin = int(max(day, cursor))
        cursor = begin + fill.days_supply
        out.append((fill, begin, int(cursor)))
    return out


def _current_run(cover: list[tuple[Dispense, int, int]]) -> list[tuple[Dispense, int, int]]:
    """The fills since the last gap in cover (the draw-down starts at the first of them)."""
    start = 0
    for n in range(1, len(cover)):
        if cover[n][1] > cover[n - 1][2]:
            start = n
    return cover[start:]


def _not_used(session: Session, plan: Plan, since: date, now: datetime) -> set[str]:
    """Keys of the current epoch's doses recorded skipped or missed since ``since``."""
    return set(
        session.exec(
            select(Dose.key).where(
                Dose.plan_id == plan.id,
                Dose.epoch == plan.epoch,
                Dose.kind == "dose",
                col(Dose.status).in_(_NOT_USED),
                Dose.local_date >= since,
                Dose.due_at <= now,
            )
        ).all()
    )


def _ordered_at(session: Session, plan: Plan, after: datetime) -> datetime | None:
    event = session.exec(
        select(RuleEvent)
        .where(RuleEvent.plan_id == plan.id, RuleEvent.type == REFILL_ORDERED, RuleEvent.at > after)
        .order_by(col(RuleEvent.at).desc())
        .limit(1)
    ).first()
    return event.at if event is not None else None


def supply_of(
    session: Session,
    *,
    catalog: Catalog,
    plan: Plan,
    patient: Patient,
    now: datetime,
    settings: SupplySettings,
) -> Supply:
    """The plan's supply from its fills (``records.fills_of``) as of ``now``. Reads only:
    the engine keeps the refill instants (``schedule.refresh``)."""
    assert plan.id is not None
    fills = fills_of(session, plan.id)
    zone = ZoneInfo(patient.tz)
    today = now.astimezone(zone).date()
    if not fills:
        return Supply((), 0.0, 0, None, None, None, None, None, None, today)
    kept = pqa_fills(fills)
    cover = carried(kept, floor=plan.epoch_start)
    pqa_end = date.fromordinal(
        int(chain_end((f.dispensed_on.toordinal(), f.days_supply) for f in kept))
    )
    run = _current_run(cover)
    first = date.fromordinal(run[0][1])
    skipped = _not_used(session, plan, first, now)
    until = max(today, pqa_end) + _LOOK_AHEAD
    items = _doses(catalog, plan, patient, first, until)
    supplied = 0.0
    for fill, begin, end in run:
        if fill.quantity is not None:
            supplied += fill.quantity
        else:
            supplied += sum(1 for i in items if begin <= i.local_date.toordinal() < end)
    used = sum(1 for i in items if i.at <= now and i.key not in skipped)
    runs_out = _first_uncovered(items, supplied, now, skipped)
    if runs_out is None and items and until < first + _MAX_AHEAD:
        # More on hand than the look-ahead holds (a large quantity): look further once.
        items = _doses(catalog, plan, patient, first, first + _MAX_AHEAD)
        runs_out = _first_uncovered(items, supplied, now, skipped)
    if runs_out is None:
        runs_out = pqa_end  # no expected dose left to count (a course that ends)
    last = fills[-1]
    allowed = last.dispensed_on + timedelta(
        days=math.ceil(last.days_supply * settings.refill_allowed_fraction - 1e-9)
    )
    return Supply(
        fills=tuple(fills),
        on_hand_doses=round(max(supplied - used, 0.0), 3),
        on_hand_days=max((runs_out - today).days, 0),
        runs_out=runs_out,
        pqa_runs_out=pqa_end,
        refill_allowed_from=allowed,
        remind_on=runs_out - timedelta(days=settings.remind_days_before),
        overdue_on=runs_out + timedelta(days=settings.overdue_days),
        refill_ordered_at=_ordered_at(session, plan, last.created_at),
        today=today,
    )


def _doses(catalog: Catalog, plan: Plan, patient: Patient, since: date, until: date) -> list[Item]:
    _, items = expected_items(catalog, plan, patient, until=until, since=since)
    return sorted((i for i in items if i.kind == "dose"), key=lambda i: i.at)


def _first_uncovered(
    items: list[Item], supplied: float, now: datetime, skipped: set[str]
) -> date | None:
    """The local date of the first expected dose the supply cannot cover (a dose due by
    ``now`` and recorded skipped or missed used nothing)."""
    left = supplied
    for item in items:
        if item.at <= now and item.key in skipped:
            continue
        if left < 1 - 1e-9:
            return item.local_date
        left -= 1
    return None
