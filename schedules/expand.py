"""Expansion of a regimen to dated items in the patient's own zone.

Why one file past 500 lines: this is the hot path of materialising (bench/expand.py) and its
parts are one job seen at two speeds: the steady stretches built straight from runs of date
ordinals, and the exact rule for the days a DST change touches, which must agree item for
item. Keeping them side by side is what lets a reviewer check that they do.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from itertools import accumulate, islice, repeat
from operator import add, attrgetter
from typing import cast
from zoneinfo import ZoneInfo

from schedules.items import DOSE, MONITORING, Item
from schedules.localtime import add_months, irregular_ordinals, local_instant
from schedules.pieces import BEFORE_START, Monitoring, Phase, Regimen, Step

_KIND_ORDER = {MONITORING: 0, "infusion": 1, DOSE: 2}
_NO_STEP = Step()  # made once: a frozen dataclass costs a few microseconds to build

_FEW = 8  # up to this many occasions, a stretch's items are built one by one
_instant = attrgetter("at")  # a key for bisecting items by instant
# ``datetime.combine`` on a steady date, ``local_instant`` on any other.
Resolve = Callable[[date, time, ZoneInfo], datetime]


@dataclass(slots=True)
class Occasion:
    index: int  # across the whole regimen, from 0
    phase: Phase
    n: int  # within its phase
    day: date
    earliest: date | None
    latest: date | None


@dataclass(slots=True)
class Stretch:
    """Consecutive occasions of one phase: occasion ``index + k`` (``n + k`` within the
    phase) falls on the date whose ordinal is ``days[k]``.

    Steady patterns (every N days, the plan's weekdays) come as one stretch per phase, so
    that expansion builds items straight from the dates, without an object per occasion.
    An occasion with its own window or amount, or one a rebase or the cap acts on, comes
    as a stretch of one."""

    index: int
    phase: Phase
    n: int
    days: Sequence[int]  # ascending date ordinals: a range (every N days) or a list
    earliest: date | None = None
    latest: date | None = None

    @property
    def last(self) -> date:
        return date.fromordinal(self.days[-1])


def default_weekdays(start: date, min_gap_days: int) -> tuple[int, ...]:
    """Three weekdays starting on the start date's weekday, ``min_gap_days`` apart
    (Mon/Wed/Fri for a Monday start), so Day 1 is always a dosing day."""
    gap = max(min_gap_days, 2)
    first = start.weekday()
    return tuple(sorted({(first + i * gap) % 7 for i in range(3)}))


def occasions(
    regimen: Regimen,
    *,
    start: date,
    until: date,
    weekdays: Sequence[int] = (),
    rebases: Mapping[int, date] | None = None,
    skip_before: date | None = None,
) -> Iterator[Occasion]:
    """Dosing occasions from Day 1 up to ``until`` (inclusive), in order.

    ``rebases`` maps an occasion index to the date it was actually given: that occasion
    moves there and every occasion after it that is counted from it follows (the label's
    "next dose N days after the one actually taken").

    ``skip_before`` is a hint: occasions before that date may be left out (a plan that
    started a year ago need not walk its first year to find next week's doses). Indexes
    of the occasions that are yielded are unaffected.
    """
    for run in stretches(
        regimen,
        start=start,
        until=until,
        weekdays=weekdays,
        rebases=rebases,
        skip_before=skip_before,
    ):
        for k, ordinal in enumerate(run.days):
            yield Occasion(
                run.index + k,
                run.phase,
                run.n + k,
                date.fromordinal(ordinal),
                run.earliest,
                run.latest,
            )


def stretches(
    regimen: Regimen,
    *,
    start: date,
    until: date,
    weekdays: Sequence[int] = (),
    rebases: Mapping[int, date] | None = None,
    skip_before: date | None = None,
) -> Iterator[Stretch]:
    """The occasions of ``occasions`` (same arguments), grouped into stretches."""
    rebases = rebases or {}
    days: Sequence[int] = ()  # the plan's weekdays, worked out for the first phase on them
    index = 0
    previous: date | None = None
    total = 0.0
    for phase in regimen.phases:
        first = _first_date(phase, start, previous)
        last_day = start + timedelta(days=phase.through_day - 1) if phase.through_day else None
        limit = (
            phase.count
            if phase.count is not None
            else (len(phase.amounts) if phase.amounts else None)
        )
        if phase.every is None and not phase.weekdays:
            limit = 1
        # Occasion k of the phase is ``anchor + lead + k * every``, computed in one step from
        # Day 1 (for ``from_start``) so that a month-end date never drifts.
        anchor, lead, n0, n = first, _NO_STEP, 0, 0
        if phase.from_start is not None:
            anchor, lead = start, phase.from_start
        cursor = first
        every = phase.every
        if phase.weekdays and not days:
            days = (
                tuple(weekdays) or regimen.weekdays or default_weekdays(start, regimen.min_gap_days)
            )
        rebased = bool(rebases) and any(i >= index for i in rebases)
        # Every occasion of the phase follows from its first one: nothing per occasion
        # (amount, cap, window, a rebase from here on) can move or end it.
        uniform = not phase.amounts and phase.window is None and regimen.cap is None and not rebased
        stop = until if last_day is None else min(until, last_day)
        if (
            skip_before is not None
            and every is not None
            and every.months == 0
            and every.days > 0
            and lead.months == 0
            and not phase.weekdays
            and not phase.amounts
            and regimen.cap is None
            and not rebased
        ):
            base = anchor + timedelta(days=lead.days)
            k = (skip_before - base).days // every.days - 1  # keep one for ``previous``
            if limit is not None:
                k = min(k, limit - 1)
            if last_day is not None:
                k = min(k, (last_day - base).days // every.days)
            if k > 0:
                n = k
                index += k
                previous = base + timedelta(days=every.days * (k - 1))
        run: Sequence[int] | None = None
        if (
            uniform
            and every is not None
            and every.months == 0
            and every.days > 0
            and lead.months == 0
            and not phase.weekdays
        ):
            # The hot case (daily pills, every-N-days injections): a range of ordinals.
            step = every.days
            when = anchor.toordinal() + lead.days + step * (n - n0)
            end = stop.toordinal() + 1
            if limit is not None:
                end = min(end, when + step * (limit - n))
            run = range(when, end, step)
        elif uniform and phase.weekdays:
            count = None if limit is None else limit - n
            run = _weekday_ordinals(cursor.toordinal(), stop.toordinal(), days, count)
        if run is not None:
            if run:
                yield Stretch(index, phase, n, run)
                previous = date.fromordinal(run[-1])
                index += len(run)
                n += len(run)
        else:
            repeat_by = every or _NO_STEP
            while limit is None or n < limit:
                if phase.weekdays:
                    while cursor.weekday() not in days:
                        cursor += timedelta(days=1)
                    when_day = cursor
                    cursor = cursor + timedelta(days=1)
                elif repeat_by.months == 0 and lead.months == 0:
                    when_day = anchor + timedelta(days=lead.days + repeat_by.days * (n - n0))
                else:
                    when_day = _nth(anchor, lead, repeat_by, n - n0)
                if index in rebases:
                    when_day = rebases[index]
                    anchor, lead, n0 = when_day, _NO_STEP, n
                    cursor = when_day + timedelta(days=1)
                if (last_day is not None and when_day > last_day) or when_day > until:
                    break
                amount = phase.amount_at(n)
                if regimen.cap is not None and total + amount > regimen.cap + 1e-9:
                    return
                total += amount
                earliest, latest = _window(phase, n, when_day, previous)
                yield Stretch(index, phase, n, (when_day.toordinal(),), earliest, latest)
                previous = when_day
                index += 1
                n += 1
        if limit is None and last_day is None:
            return  # an open-ended phase runs to the horizon: nothing follows it
        if n == 0:
            return  # this phase starts beyond the horizon, and so does every later one


def _weekday_ordinals(
    first: int, last: int, weekdays: Sequence[int], count: int | None
) -> list[int]:
    """Ordinals from ``first`` to ``last`` that fall on ``weekdays`` (0 = Monday), at most
    ``count`` of them; walked a week at a time rather than a day at a time."""
    wanted = sorted(set(weekdays))
    out: list[int] = []
    # Ordinal 1 (0001-01-01) was a Monday, so ``(o - 1) % 7`` is ``o``'s weekday.
    monday = first - (first - 1) % 7
    while monday <= last:
        for weekday in wanted:
            ordinal = monday + weekday
            if ordinal < first:
                continue
            if ordinal > last or (count is not None and len(out) >= count):
                return out
            out.append(ordinal)
        monday += 7
    return out


def _nth(anchor: date, lead: Step, every: Step, k: int) -> date:
    """``anchor + lead + k * every`` as one calendar distance: Mar 31 + 6 months is Sep 30,
    and + 12 months is Mar 31 again (stepping from Sep 30 would give Mar 30)."""
    # What ``Step(days, months).times(anchor, 1)`` gives, without building the Step (a
    # frozen dataclass costs more than the arithmetic).
    months = lead.months + every.months * k
    if months:
        anchor = add_months(anchor, months)
    return anchor + timedelta(days=lead.days + every.days * k)


def _first_date(phase: Phase, start: date, previous: date | None) -> date:
    if phase.day is not None:
        return start + timedelta(days=phase.day - 1)
    if phase.from_start is not None:
        return phase.from_start.times(start, 1)
    if phase.after is not None:
        return phase.after.times(previous or start, 1)
    return start


def _window(
    phase: Phase, n: int, when: date, previous: date | None
) -> tuple[date | None, date | None]:
    win = phase.window
    if win is None or (n > 0 and not win.each):
        return None, None
    earliest = latest = None
    if win.earliest_after_previous is not None and previous is not None:
        earliest = win.earliest_after_previous.times(previous, 1)
    if win.earliest_before_target is not None:
        earliest = win.earliest_before_target.times(when, -1)  # that distance before
    if win.latest_after_previous is not None and previous is not None:
        latest = win.latest_after_previous.times(previous, 1)
    if win.latest_after_target is not None:
        latest = win.latest_after_target.times(when, 1)
    if earliest is None:
        earliest = when
    return earliest, latest


def expand(
    regimen: Regimen,
    *,
    start: date,
    zone: ZoneInfo,
    until: date,
    times: Sequence[time] | None = None,
    weekdays: Sequence[int] = (),
    rebases: Mapping[int, date] | None = None,
    since: date | None = None,
    enrolled: date | None = None,
) -> list[Item]:
    """Every dose, infusion and monitoring item from ``since`` (default: Day 1) to
    ``until`` inclusive, in time order, at local wall-clock times in ``zone``.

    A ``before_start`` check (a baseline lab before the first dose) is due its offset
    before Day 1, whatever ``since`` says, but only for a plan ``enrolled`` before Day 1
    and no earlier than the day after enrolment (so never before it), while that is still
    before Day 1. Without ``enrolled``, or enrolled on or after Day 1, there is none: the
    baseline came before the plan did, and every item is then on or after Day 1."""
    slots = tuple(sorted(times)) if times else regimen.default_times
    if len(slots) != regimen.times_per_day:
        raise ValueError(
            f"{regimen.name} is given {regimen.times_per_day} time(s) a day; "
            f"got {len(slots)} time(s)"
        )
    lookahead = _monitoring_lookahead(regimen.monitoring)
    horizon = until + timedelta(days=lookahead)
    lower = since or start
    runs = list(
        stretches(
            regimen,
            start=start,
            until=horizon,
            weekdays=weekdays,
            rebases=rebases,
            skip_before=since if since is not None and not _needs_history(regimen) else None,
        )
    )
    items, ordered = _dose_items(regimen, runs, slots, start, lower, until, zone)
    if not regimen.monitoring:
        if not ordered:
            items.sort(key=_order)
        return items
    finished = regimen.finite and (not runs or runs[-1].last <= horizon)
    day1 = start.toordinal() - 1
    checks: list[Item] = []
    for spec in regimen.monitoring:
        stream = f"monitoring:{spec.name}"
        if spec.anchor == BEFORE_START:
            checks += _before_start(spec, regimen, start, until, enrolled, zone)
            continue
        at_dose = (
            spec.anchor == "dose"
            and spec.first == 1
            and all(not o.days and not o.months for o in spec.offsets)
        )
        unit = "visit" if at_dose else "test"
        for n, raw_when in enumerate(_monitoring_dates(spec, start, until, runs, finished)):
            # A check due before Day 1 (LVEF a week before the first infusion) is done on
            # Day 1, before that day's dose: the plan starts on Day 1 and never earlier.
            when = max(raw_when, start)
            if when < lower or when > until:
                continue
            t = spec.at or (
                slots[0] if spec.anchor == "dose" and spec.first == 1 else regimen.monitoring_time
            )
            if raw_when < start:
                t = min(t, slots[0])
            # Positional, in Item's field order (see ``_items``): keywords cost more.
            checks.append(
                Item(
                    stream,
                    n,
                    n,
                    local_instant(when, t, zone),
                    when,
                    t,
                    when.toordinal() - day1,
                    1,
                    unit,
                    MONITORING,
                    "monitoring",
                    spec.label,
                )
            )
    if ordered:
        # A few checks into a long run of doses already in order: each goes where a stable
        # sort of the whole list would put it (after any item with an equal key). Found
        # by instant first, then back past any item at that instant with a later key.
        for check in checks:
            pos = bisect_right(items, check.at, key=_instant)
            while pos and items[pos - 1].at == check.at and _order(check) < _order(items[pos - 1]):
                pos -= 1
            items.insert(pos, check)
    else:
        items += checks
        items.sort(key=_order)
    return items


def _order(item: Item) -> tuple[datetime, int, str, int]:
    """Time order; at one instant monitoring first, then infusions, then doses."""
    return item.at, _KIND_ORDER.get(item.kind, 3), item.stream, item.seq


def _dose_items(
    regimen: Regimen,
    runs: Sequence[Stretch],
    slots: Sequence[time],
    start: date,
    lower: date,
    until: date,
    zone: ZoneInfo,
) -> tuple[list[Item], bool]:
    """The dose stream's items dated ``lower`` to ``until``, built in occasion and slot
    order, and whether that order is already time order (see ``_order``).

    This builds every dose, so it works a stretch at a time, every date of it with
    ``datetime.combine``: on a steady date (no DST gap or fold, almost every date) that is
    the instant ``local_instant`` gives. The few items on other dates are then given
    ``local_instant``'s instant in place (before anyone sees them), which costs less than
    cutting the stretch around those dates.
    """
    items: list[Item] = []
    first, last = lower.toordinal(), until.toordinal()
    if first > last:
        return items, True
    # ``steady_day``'s condition for ``combine``: no microseconds or fold in the times
    # asked for, and years that could be scanned. Otherwise no date counts as steady.
    irregular: Sequence[int] | None = None
    if not any(t.microsecond or t.fold for t in slots):
        irregular = irregular_ordinals(lower, until, zone)
    resolve: Resolve = datetime.combine if irregular is not None else local_instant
    # Where an item might come before the one built just before it: the first item of
    # each stretch (a rebase can move an occasion back, two phases can share a date),
    # each item of an irregular date (a gap can push a slot past a later one) and the
    # first item after it (even past midnight: Nuuk's 23:30 becomes 00:30). Anywhere
    # else the order holds by construction: dates ascend within a stretch, slots are
    # sorted, and between two steady dates any clock change lies wholly on the irregular
    # dates between them. Only these seams are compared at the end.
    seams: list[int] = []
    per = len(slots)
    numbered = tuple(enumerate(slots))
    day1 = start.toordinal() - 1
    last_phase: Phase | None = None
    amount, label = 0.0, ""
    for run in runs:
        days = run.days
        lo, hi = bisect_left(days, first), bisect_right(days, last)
        if lo >= hi:
            continue
        phase = run.phase
        if phase is not last_phase or phase.amounts:
            last_phase = phase
            amount = phase.amount_at(run.n + lo)  # per-occasion amounts: stretches of one
            label = phase.label
            if "{amount}" in label:
                label = label.replace("{amount}", f"{amount:g}")
        shared = (amount, regimen.unit, phase.kind, phase.name, label, run.earliest, run.latest)
        base = len(items)
        seams.append(base)
        days = days[lo:hi]
        items += _stretch_items(run.index + lo, days, numbered, day1, zone, resolve, shared)
        if irregular is None:
            seams.extend(range(base + 1, len(items) + 1))
            continue
        for k in _positions(days, irregular):
            at = base + k * per
            seams.extend(range(at, at + per + 1))
            for i in range(at, at + per):
                item = items[i]
                items[i] = item._replace(at=local_instant(item.local_date, item.local_time, zone))
    return items, _in_order_at(items, seams)


# The fields every item of a stretch shares: amount, unit, kind, phase, label, earliest,
# latest.
_Shared = tuple[float, str, str, str, str, date | None, date | None]


def _stretch_items(
    index: int,
    days: Sequence[int],
    slots: Sequence[tuple[int, time]],
    day1: int,
    zone: ZoneInfo,
    resolve: Resolve,
    shared: _Shared,
) -> list[Item]:
    """Items for occasions ``index``, ``index + 1``, ... on the dates ``days`` (ordinals),
    one per numbered slot, in occasion and slot order, at ``resolve(date, time, zone)``."""
    per = len(slots)
    count = len(days)
    if count <= _FEW:
        # A few occasions (an infusion, titration steps): setting up the columns below
        # would cost more than it saves. Positional, in Item's field order (see ``_items``).
        return [
            Item(DOSE, i * per + slot, i, resolve(d, t, zone), d, t, o - day1, *shared)
            for i, o in zip(range(index, index + count), days, strict=True)
            for d in (date.fromordinal(o),)
            for slot, t in slots
        ]
    dates: list[date]
    numbers: Sequence[int]
    if isinstance(days, range):
        # Every N days: each date is the one before plus the step, added in C (cheaper
        # than one ``fromordinal`` per date).
        step = timedelta(days=days.step)
        dates = list(accumulate(repeat(step, count - 1), add, initial=date.fromordinal(days[0])))
        numbers = range(days.start - day1, days.stop - day1, days.step)
    else:
        dates = list(map(date.fromordinal, days))
        numbers = [ordinal - day1 for ordinal in days]
    occasions = range(index, index + count)
    if per == 1:
        t = slots[0][1]
        ats = map(resolve, dates, repeat(t), repeat(zone))
        return _items(occasions, occasions, ats, dates, t, numbers, shared)
    # Several a day: one pass per slot, interleaved into place by slice assignment
    # (cheaper than a nested loop over the slots of each date).
    block: list[Item | None] = [None] * (count * per)
    for slot, t in slots:
        seqs = range(index * per + slot, (index + count) * per, per)
        ats = map(resolve, dates, repeat(t), repeat(zone))
        block[slot::per] = _items(seqs, occasions, ats, dates, t, numbers, shared)
    return cast(list[Item], block)  # every place is filled above


def _items(
    seqs: Iterable[int],
    occasions: Iterable[int],
    ats: Iterable[datetime],
    dates: Iterable[date],
    t: time,
    numbers: Iterable[int],
    shared: _Shared,
) -> list[Item]:
    """Dose items from parallel columns (one value per item) and the fields they share.

    ``zip`` over the columns, with ``repeat`` for the shared fields, and ``tuple.__new__``
    (Item is a named tuple) build every item in C, with no Python frame per item: several
    times cheaper than calling ``Item``, which matters here (this builds every dose).
    The columns are in Item's field order: stream, seq,
    occasion, at, local_date, local_time, day, amount, unit, kind, phase, label,
    earliest, latest."""
    amount, unit, kind, name, label, earliest, latest = shared
    return list(
        map(
            _new_item,
            zip(
                repeat(DOSE),
                seqs,
                occasions,
                ats,
                dates,
                repeat(t),
                numbers,
                repeat(amount),
                repeat(unit),
                repeat(kind),
                repeat(name),
                repeat(label),
                repeat(earliest),
                repeat(latest),
            ),
        )
    )


_new_item = partial(tuple.__new__, Item)


def _in_order_at(items: list[Item], seams: Iterable[int]) -> bool:
    """Whether ``_order(items[i - 1]) < _order(items[i])`` at every seam ``i``, deciding
    on the instants alone when they differ (almost always)."""
    end = len(items)
    for i in seams:
        if 0 < i < end:
            a, b = items[i - 1], items[i]
            if not (a.at < b.at or (a.at == b.at and _order(a) < _order(b))):
                return False
    return True


def _positions(days: Sequence[int], irregular: Sequence[int]) -> list[int]:
    """Positions in ``days`` (ascending ordinals) of the ordinals in ``irregular`` (sorted,
    a handful a year)."""
    found = []
    for ordinal in irregular[bisect_left(irregular, days[0]) :]:
        if ordinal > days[-1]:
            break
        k = bisect_left(days, ordinal)
        if days[k] == ordinal:
            found.append(k)
    return found


def _needs_history(regimen: Regimen) -> bool:
    """Monitoring counted from doses needs every occasion, not only recent ones."""
    return any(m.anchor not in ("start", BEFORE_START) for m in regimen.monitoring)


def _before_start(
    spec: Monitoring,
    regimen: Regimen,
    start: date,
    until: date,
    enrolled: date | None,
    zone: ZoneInfo,
) -> list[Item]:
    """The one item of a ``before_start`` check, or none (see ``expand``)."""
    if enrolled is None or enrolled >= start:
        return []
    due = max(spec.offsets[0].times(start, 1), enrolled + timedelta(days=1))
    if due >= start or due > until:
        return []
    t = spec.at or regimen.monitoring_time
    day = due.toordinal() - start.toordinal() + 1  # 0 or less: before Day 1
    return [
        Item(
            f"monitoring:{spec.name}",
            0,
            0,
            local_instant(due, t, zone),
            due,
            t,
            day,
            1,
            "test",
            MONITORING,
            "monitoring",
            spec.label,
        )
    ]


def _monitoring_lookahead(specs: Sequence[Monitoring]) -> int:
    back = 0
    for spec in specs:
        if spec.anchor == BEFORE_START:
            continue  # counted from Day 1, not from doses
        for off in spec.offsets:
            if off.days < 0 or off.months < 0:
                back = max(back, -off.days + 31 * max(0, -off.months))
    return back


def _monitoring_dates(
    spec: Monitoring, start: date, until: date, runs: list[Stretch], finished: bool
) -> Iterator[date]:
    if spec.anchor == "start":
        end: date | None = None
        if spec.until_after_last_dose is not None:
            if not finished or not runs:
                end = None  # the last dose is beyond the horizon: run to the horizon
            else:
                end = spec.until_after_last_dose.times(runs[-1].last, 1)
        n = 0
        while spec.count is None or n < spec.count:
            when = _nth(start, spec.offsets[0], spec.every or _NO_STEP, n)
            if when > until or (end is not None and when > end):
                return
            yield when
            if spec.every is None:
                return
            n += 1
        return
    chosen: list[date] = []
    if spec.anchor == "dose":
        matching = (
            ordinal
            for run in runs
            if not spec.phases or run.phase.name in spec.phases
            for ordinal in run.days
        )
        chosen = [date.fromordinal(o) for o in islice(matching, spec.first)]
    elif spec.anchor == "phase_start":
        # Occasion 0 of a phase can only open a stretch.
        chosen = [
            date.fromordinal(run.days[0])
            for run in runs
            if run.n == 0 and run.phase.name in spec.phases
        ]
    for day in chosen:
        for off in spec.offsets:
            yield off.times(day, 1)
