"""A patient's adherence calendar: each local day's status from that day's doses, and the
month grid the patient page draws.

Pure functions of plain values (no session), so each rule is a unit test:

- A day's doses are those whose ``local_date`` (the patient's zone) is that day; monitoring
  items (labs) and doses that left the schedule (cancelled, not sent) do not count.
- One dose is *taken* (on time), *late* (taken, late), *skipped*, *missed*, *not recorded*
  (its time has passed and nobody answered yet, or its status is one we do not know) or
  *upcoming* (still ahead).
- A day with several doses shows the worst: missed > skipped > not recorded > late >
  taken > upcoming. A day with one dose missed and one taken is a missed day: the
  calendar is read to find the days to ask about.
- A day with no dose is *nothing due*, except the days from the plan's Day 1 to the day
  before it was enrolled: the patient was on therapy and nobody recorded what they did
  (``measures.pdc.not_recorded`` leaves the same days out of PDC). Those days are *not
  recorded*, never missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from adherence.storage.models import DOSE_OPEN, DoseStatus


class DayStatus(StrEnum):
    MISSED = "missed"
    SKIPPED = "skipped"
    NOT_RECORDED = "not_recorded"
    LATE = "late"
    TAKEN = "taken"
    UPCOMING = "upcoming"
    NOTHING_DUE = "nothing_due"


# Worst first: a day shows the first of these that any of its doses has.
PRECEDENCE = (
    DayStatus.MISSED,
    DayStatus.SKIPPED,
    DayStatus.NOT_RECORDED,
    DayStatus.LATE,
    DayStatus.TAKEN,
    DayStatus.UPCOMING,
)
_RANK = {s: i for i, s in enumerate(PRECEDENCE)}

# What each status looks like: a symbol and a short word, so no meaning is colour alone.
LEGEND: dict[DayStatus, tuple[str, str, str]] = {
    DayStatus.TAKEN: ("✓", "taken", "taken on time"),
    DayStatus.LATE: ("◔", "late", "taken late"),
    DayStatus.SKIPPED: ("–", "skip", "skipped"),
    DayStatus.MISSED: ("✗", "miss", "missed"),
    DayStatus.NOT_RECORDED: ("?", "n/r", "not recorded"),
    DayStatus.UPCOMING: ("○", "due", "due, still ahead"),
    DayStatus.NOTHING_DUE: ("", "", "nothing due"),
}

IGNORED_KINDS = ("monitoring",)
NOT_SCHEDULED = (DoseStatus.CANCELLED, "not_sent")


@dataclass(frozen=True)
class DoseDay:
    """What the calendar needs of one dose."""

    local_date: date
    due_at: datetime
    status: str
    late: bool = False
    kind: str = "dose"


@dataclass(frozen=True)
class PlanSpan:
    """A plan's Day 1 and the patient's local day it was enrolled (its ``created_at``)."""

    start: date
    enrolled: date


@dataclass(frozen=True)
class CalendarDay:
    day: date
    status: DayStatus
    doses: int  # doses counted that day

    @property
    def symbol(self) -> str:
        return LEGEND[self.status][0]

    @property
    def short(self) -> str:
        return LEGEND[self.status][1]

    @property
    def words(self) -> str:
        return LEGEND[self.status][2]


@dataclass(frozen=True)
class Month:
    first: date  # the 1st of the month
    weeks: list[list[CalendarDay | None]]  # Monday first; None outside the month

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)

    def counts(self) -> dict[DayStatus, int]:
        out = {s: 0 for s in LEGEND}
        for week in self.weeks:
            for cell in week:
                if cell is not None:
                    out[cell.status] += 1
        return out


def dose_status(dose: DoseDay, now: datetime) -> DayStatus | None:
    """One dose's part in its day; None when it does not count (off the schedule, a lab)."""
    if dose.kind in IGNORED_KINDS or dose.status in NOT_SCHEDULED:
        return None
    if dose.status == DoseStatus.TAKEN:
        return DayStatus.LATE if dose.late else DayStatus.TAKEN
    if dose.status == DoseStatus.SKIPPED:
        return DayStatus.SKIPPED
    if dose.status == DoseStatus.MISSED:
        return DayStatus.MISSED
    if dose.status in DOSE_OPEN and dose.due_at > now:
        return DayStatus.UPCOMING
    return DayStatus.NOT_RECORDED  # due and still open, or a status we do not know


def worst(statuses: Iterable[DayStatus]) -> DayStatus:
    """The day's status from its doses' (nothing due when there are none)."""
    ranked = sorted(statuses, key=_RANK.__getitem__)
    return ranked[0] if ranked else DayStatus.NOTHING_DUE


def unrecorded(day: date, spans: Iterable[PlanSpan]) -> bool:
    """On therapy before enrolment: from a plan's Day 1 to the day before it was enrolled."""
    return any(s.start <= day < s.enrolled for s in spans)


def classify(
    doses: Iterable[DoseDay],
    *,
    now: datetime,
    first: date,
    last: date,
    spans: Iterable[PlanSpan] = (),
) -> dict[date, CalendarDay]:
    """Each day from ``first`` to ``last`` (inclusive) with its status."""
    by_day: dict[date, list[DayStatus]] = {}
    for d in doses:
        if not first <= d.local_date <= last:
            continue
        status = dose_status(d, now)
        if status is not None:
            by_day.setdefault(d.local_date, []).append(status)
    spans = list(spans)
    out: dict[date, CalendarDay] = {}
    day = first
    while day <= last:
        found = by_day.get(day, [])
        if found:
            status = worst(found)
        elif unrecorded(day, spans):
            status = DayStatus.NOT_RECORDED
        else:
            status = DayStatus.NOTHING_DUE
        out[day] = CalendarDay(day, status, len(found))
        day += timedelta(days=1)
    return out


def month_bounds(first: date) -> tuple[date, date]:
    """The first and last day of ``first``'s month."""
    start = first.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt - timedelta(days=1)


def month_grid(
    doses: Iterable[DoseDay],
    *,
    month: date,
    now: datetime,
    spans: Iterable[PlanSpan] = (),
) -> Month:
    """The month as weeks (Monday to Sunday); days of the neighbouring months are None."""
    start, end = month_bounds(month)
    days = classify(doses, now=now, first=start, last=end, spans=spans)
    weeks: list[list[CalendarDay | None]] = []
    cursor = start - timedelta(days=start.weekday())
    while cursor <= end:
        weeks.append([days.get(cursor + timedelta(days=i)) for i in range(7)])
        cursor += timedelta(days=7)
    return Month(start, weeks)


def parse_month(raw: str | None, default: date) -> date | None:
    """``YYYY-MM`` as the month's 1st; ``default``'s month when absent; None when malformed."""
    if not raw:
        return default.replace(day=1)
    parts = raw.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        return None
    year, mon = int(parts[0]), int(parts[1])
    if not 1 <= mon <= 12 or not 1900 <= year <= 2200:
        return None
    return date(year, mon, 1)
