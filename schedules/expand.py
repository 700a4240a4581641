"""Expansion of a regimen to dated items in the patient's own zone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schedules.items import DOSE, MONITORING, Item
from schedules.localtime import local_instant, steady_day
from schedules.pieces import Monitoring, Phase, Regimen, Step

_KIND_ORDER = {MONITORING: 0, "infusion": 1, DOSE: 2}


@dataclass(slots=True)
class Occasion:
    index: int  # across the whole regimen, from 0
    phase: Phase
    n: int  # within its phase
    day: date
    earliest: date | None
    latest: date | None


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
    rebases = rebases or {}
    days = tuple(weekdays) or regimen.weekdays or default_weekdays(start, regimen.min_gap_days)
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
        anchor, lead, n0, n = first, Step(), 0, 0
        if phase.from_start is not None:
            anchor, lead = start, phase.from_start
        cursor = first
        every = phase.every
        if (
            skip_before is not None
            and every is not None
            and every.months == 0
            and every.days > 0
            and lead.months == 0
            and not phase.weekdays
            and not phase.amounts
            and regimen.cap is None
            and not any(i >= index for i in rebases)
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
        if (
            every is not None
            and every.months == 0
            and every.days > 0
            and lead.months == 0
            and not phase.weekdays
            and not phase.amounts
            and phase.window is None
            and regimen.cap is None
            and not any(i >= index for i in rebases)
        ):
            # The hot case (daily pills, every-N-days injections): plain date steps.
            step = timedelta(days=every.days)
            when = anchor + timedelta(days=lead.days + every.days * (n - n0))
            stop = until if last_day is None else min(until, last_day)
            while (limit is None or n < limit) and when <= stop:
                yield Occasion(index, phase, n, when, None, None)
                previous = when
                index += 1
                n += 1
                when += step
        else:
            while limit is None or n < limit:
                if phase.weekdays:
                    while cursor.weekday() not in days:
                        cursor += timedelta(days=1)
                    when = cursor
                    cursor = cursor + timedelta(days=1)
                elif every is not None and every.months == 0 and lead.months == 0:
                    # Days and weeks: plain date arithmetic (the common, hot case).
                    when = anchor + timedelta(days=lead.days + every.days * (n - n0))
                else:
                    when = _nth(anchor, lead, every or Step(), n - n0)
                if index in rebases:
                    when = rebases[index]
                    anchor, lead, n0 = when, Step(), n
                    cursor = when + timedelta(days=1)
                if (last_day is not None and when > last_day) or when > until:
                    break
                amount = phase.amount_at(n)
                if regimen.cap is not None and total + amount > regimen.cap + 1e-9:
                    return
                total += amount
                earliest, latest = _window(phase, n, when, previous)
                yield Occasion(index, phase, n, when, earliest, latest)
                previous = when
                index += 1
                n += 1
        if limit is None and last_day is None:
            return  # an open-ended phase runs to the horizon: nothing follows it
        if n == 0:
            return  # this phase starts beyond the horizon, and so does every later one


def _nth(anchor: date, lead: Step, every: Step, k: int) -> date:
    """``anchor + lead + k * every`` as one calendar distance: Mar 31 + 6 months is Sep 30,
    and + 12 months is Mar 31 again (stepping from Sep 30 would give Mar 30)."""
    total = Step(days=lead.days + every.days * k, months=lead.months + every.months * k)
    return total.times(anchor, 1)


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
        back = win.earliest_before_target
        earliest = Step(days=-back.days, months=-back.months).times(when, 1)
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
) -> list[Item]:
    """Every dose, infusion and monitoring item from ``since`` (default: Day 1) to
    ``until`` inclusive, in time order, at local wall-clock times in ``zone``."""
    slots = tuple(sorted(times)) if times else regimen.default_times
    if len(slots) != regimen.times_per_day:
        raise ValueError(
            f"{regimen.name} is given {regimen.times_per_day} time(s) a day; "
            f"got {len(slots)} time(s)"
        )
    lookahead = _monitoring_lookahead(regimen.monitoring)
    horizon = until + timedelta(days=lookahead)
    lower = since or start
    items: list[Item] = []
    occ_list = list(
        occasions(
            regimen,
            start=start,
            until=horizon,
            weekdays=weekdays,
            rebases=rebases,
            skip_before=since if since is not None and not _needs_history(regimen) else None,
        )
    )
    per = len(slots)
    unit = regimen.unit
    day1 = start.toordinal() - 1
    append = items.append
    combine = datetime.combine
    plain = [not (t.microsecond or t.fold) for t in slots]  # steady_day's condition
    last_phase: Phase | None = None
    unsteady = False
    amount, label, kind, name = 0.0, "", "", ""
    for occ in occ_list:
        d = occ.day
        if d > until or d < lower:
            continue
        phase = occ.phase
        if phase is not last_phase or phase.amounts:
            last_phase = phase
            amount = phase.amount_at(occ.n)
            label = phase.label
            if "{amount}" in label:
                label = label.replace("{amount}", f"{amount:g}")
            kind, name = phase.kind, phase.name
        earliest, latest = occ.earliest, occ.latest
        index, day = occ.index, d.toordinal() - day1
        steady = steady_day(d, zone)
        for slot, t in enumerate(slots):
            seq = index * per + slot
            # Positional on purpose: keyword construction costs several times more, and
            # this loop builds every dose (Item's field order: stream, seq, occasion, at,
            # local_date, local_time, day, amount, unit, kind, phase, label, earliest,
            # latest).
            append(
                Item(
                    "dose",
                    seq,
                    index,
                    combine(d, t, zone) if steady and plain[slot] else local_instant(d, t, zone),
                    d,
                    t,
                    day,
                    amount,
                    unit,
                    kind,
                    name,
                    label,
                    earliest,
                    latest,
                )
            )
        if not steady:
            # A DST gap can push a slot past a later one (02:30 -> 03:30 > 03:15), even past
            # midnight (Nuuk: 23:30 -> 00:30): sort once at the end. Keys stay with slots.
            unsteady = True
    finished = regimen.finite and (not occ_list or occ_list[-1].day <= horizon)
    for spec in regimen.monitoring:
        for n, raw_when in enumerate(_monitoring_dates(spec, start, until, occ_list, finished)):
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
            items.append(
                Item(
                    stream=f"monitoring:{spec.name}",
                    seq=n,
                    occasion=n,
                    at=local_instant(when, t, zone),
                    local_date=when,
                    local_time=t,
                    day=when.toordinal() - day1,
                    amount=1,
                    unit="test" if spec.anchor != "dose" or spec.first != 1 else "visit",
                    kind=MONITORING,
                    phase="monitoring",
                    label=spec.label,
                )
            )
    if regimen.monitoring or unsteady:
        items.sort(key=lambda i: (i.at, _KIND_ORDER.get(i.kind, 3), i.stream, i.seq))
    return items


def _needs_history(regimen: Regimen) -> bool:
    """Monitoring counted from doses needs every occasion, not only recent ones."""
    return any(m.anchor != "start" for m in regimen.monitoring)


def _monitoring_lookahead(specs: Sequence[Monitoring]) -> int:
    back = 0
    for spec in specs:
        for off in spec.offsets:
            if off.days < 0 or off.months < 0:
                back = max(back, -off.days + 31 * max(0, -off.months))
    return back


def _monitoring_dates(
    spec: Monitoring, start: date, until: date, occ: list[Occasion], finished: bool
) -> Iterator[date]:
    if spec.anchor == "start":
        end: date | None = None
        if spec.until_after_last_dose is not None:
            if not finished or not occ:
                end = None  # the last dose is beyond the horizon: run to the horizon
            else:
                end = spec.until_after_last_dose.times(occ[-1].day, 1)
        n = 0
        while spec.count is None or n < spec.count:
            when = _nth(start, spec.offsets[0], spec.every or Step(), n)
            if when > until or (end is not None and when > end):
                return
            yield when
            if spec.every is None:
                return
            n += 1
        return
    chosen: list[date] = []
    if spec.anchor == "dose":
        matching = [o for o in occ if not spec.phases or o.phase.name in spec.phases]
        if spec.first is not None:
            matching = matching[: spec.first]
        chosen = [o.day for o in matching]
    elif spec.anchor == "phase_start":
        chosen = [o.day for o in occ if o.n == 0 and o.phase.name in spec.phases]
    for day in chosen:
        for off in spec.offsets:
            yield off.times(day, 1)
