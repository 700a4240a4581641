"""The patient-reported part of the visit summary: flares (``flare_reported`` flags, with the
triage answers that followed them) and check-in trends from the observation table (per
item: the values by month, or by week for a period of eight weeks or less, and min, max,
last). Reads ``adherence.storage.selfcare`` only, never ``adherence.selfcare`` (a layer up).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from adherence.storage.models import Flag, Patient
from adherence.storage.selfcare import Observation

TRIAGE_PREFIX = "triage_"
# What a triage question asked, for the clinician (items from adherence.storage.selfcare).
TRIAGE_QUESTIONS = {
    "triage_new": "New or worse symptoms",
    "triage_24h": "Lasting more than 24 hours",
}
# Triage answers arrive within a day or two of the flare they follow.
TRIAGE_AFTER = timedelta(days=2)
WEEKLY_UP_TO_DAYS = 56


@dataclass
class Flare:
    reported: datetime  # in the patient's zone
    severity: str
    status: str
    occurrences: int
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question, yes | no)


@dataclass
class Trend:
    item: str
    label: str
    value_type: str  # score | yes_no
    columns: list[str]  # the period's months (or weeks), as the header shows them
    cells: list[str]  # one per column: the mean score, or "1 of 4 yes"; "—" when none
    count: int
    low: float
    high: float
    last: float
    last_on: date

    def shown(self, value: float) -> str:
        if self.value_type == "yes_no":
            return "yes" if value >= 0.5 else "no"
        return f"{value:g}"


def _local_day(value: datetime, zone: ZoneInfo) -> date:
    return value.astimezone(zone).date()


def _day_bounds(since: date, until: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(since.year, since.month, since.day, tzinfo=zone)
    end = datetime(until.year, until.month, until.day, tzinfo=zone) + timedelta(days=1)
    return start, end


def flares(session: Session, patient: Patient, *, since: date, until: date) -> list[Flare]:
    zone = ZoneInfo(patient.tz)
    start, end = _day_bounds(since, until, zone)
    flags = list(
        session.exec(
            select(Flag)
            .where(
                Flag.patient_id == patient.id,
                Flag.rule == "flare_reported",
                col(Flag.first_at) >= start,
                col(Flag.first_at) < end,
            )
            .order_by(col(Flag.first_at), col(Flag.id))
        )
    )
    if not flags:
        return []
    answers = list(
        session.exec(
            select(Observation)
            .where(
                Observation.patient_id == patient.id,
                col(Observation.item).startswith(TRIAGE_PREFIX),
                col(Observation.observed_at) >= start,
                col(Observation.observed_at) < end + TRIAGE_AFTER,
            )
            .order_by(col(Observation.observed_at), col(Observation.id))
        )
    )
    out = []
    for i, flag in enumerate(flags):
        upto = flag.first_at + TRIAGE_AFTER
        if i + 1 < len(flags):
            upto = min(upto, flags[i + 1].first_at)
        seen: dict[str, str] = {}
        for o in answers:
            if flag.first_at <= o.observed_at < upto and o.item not in seen:
                seen[o.item] = "yes" if o.value >= 0.5 else "no"
        out.append(
            Flare(
                reported=flag.first_at.astimezone(zone),
                severity=flag.severity,
                status=flag.status,
                occurrences=flag.occurrences,
                answers=[(TRIAGE_QUESTIONS.get(k, k), v) for k, v in seen.items()],
            )
        )
    return out


def _buckets(since: date, until: date) -> list[tuple[str, date, date]]:
    out = []
    if (until - since).days + 1 <= WEEKLY_UP_TO_DAYS:
        first = since
        while first <= until:
            last = min(first + timedelta(days=6), until)
            out.append((f"wk {first.strftime('%d %b')}", first, last))
            first = last + timedelta(days=1)
        return out
    first = since
    while first <= until:
        last = min(date(first.year, first.month, calendar.monthrange(*first.timetuple()[:2])[1]),
                   until)  # fmt: skip
        out.append((first.strftime("%b"), first, last))
        first = last + timedelta(days=1)
    return out


def _label(item: str, value_type: str) -> str:
    name = item.replace("_", " ").capitalize()
    return f"{name} (0-10)" if value_type == "score" else f"{name} (yes/no)"


def trends(session: Session, patient: Patient, *, since: date, until: date) -> list[Trend]:
    zone = ZoneInfo(patient.tz)
    start, end = _day_bounds(since, until, zone)
    rows = list(
        session.exec(
            select(Observation)
            .where(
                Observation.patient_id == patient.id,
                col(Observation.observed_at) >= start,
                col(Observation.observed_at) < end,
            )
            .order_by(col(Observation.item), col(Observation.observed_at), col(Observation.id))
        )
    )
    by_item: dict[str, list[Observation]] = {}
    for o in rows:
        if not o.item.startswith(TRIAGE_PREFIX):
            by_item.setdefault(o.item, []).append(o)
    buckets = _buckets(since, until)
    out = []
    for item, obs in by_item.items():
        value_type = obs[-1].value_type
        cells = []
        for _, first, last in buckets:
            values = [o.value for o in obs if first <= _local_day(o.observed_at, zone) <= last]
            if not values:
                cells.append("—")
            elif value_type == "yes_no":
                cells.append(f"{sum(1 for v in values if v >= 0.5)} of {len(values)} yes")
            else:
                cells.append(f"{sum(values) / len(values):.1f}")
        values = [o.value for o in obs]
        out.append(
            Trend(
                item=item,
                label=_label(item, value_type),
                value_type=value_type,
                columns=[b[0] for b in buckets],
                cells=cells,
                count=len(obs),
                low=min(values),
                high=max(values),
                last=obs[-1].value,
                last_on=_local_day(obs[-1].observed_at, zone),
            )
        )
    return out
