"""From a stored plan to its expected items: the one place that calls the dosing engine."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from adherence.storage.models import Patient, Plan
from schedules import Catalog, Item, Regimen, expand
from schedules.localtime import local_instant, parse_hhmm

DEFAULT_LATE_WINDOW_HOURS = 12.0


def regimen_for(catalog: Catalog, plan: Plan) -> Regimen:
    return _regimen(catalog, plan.regimen, plan.options_json)


@lru_cache(maxsize=1024)
def _regimen(catalog: Catalog, code: str, options_json: str) -> Regimen:
    # Regimens are immutable; a clinic has a few hundred distinct (therapy, options).
    return catalog.get(code).regimen(json.loads(options_json))


def plan_times(plan: Plan) -> list[time] | None:
    times = plan.times
    return sorted(parse_hhmm(t) for t in times) if times else None


def late_window(regimen: Regimen) -> timedelta:
    rule = regimen.rule("late_window")
    hours = float(rule.params["hours"]) if rule else DEFAULT_LATE_WINDOW_HOURS  # type: ignore[arg-type]
    return timedelta(hours=hours)


def window_closes(item: Item, regimen: Regimen, zone: ZoneInfo) -> datetime:
    """When a dose stops counting (then it is missed): the label's late window, or the end
    of an appointment's allowed range."""
    closes = item.at + late_window(regimen)
    if item.kind == "monitoring":
        closes = item.at + timedelta(days=1)
    if item.latest is not None:
        end = local_instant(item.latest + timedelta(days=1), time(0, 0), zone)
        closes = max(closes, end)
    return closes


def expected_items(
    catalog: Catalog, plan: Plan, patient: Patient, *, until: date, since: date | None = None
) -> tuple[Regimen, list[Item]]:
    regimen = regimen_for(catalog, plan)
    zone = ZoneInfo(patient.tz)
    items = expand(
        regimen,
        start=plan.epoch_start,
        zone=zone,
        until=until,
        times=plan_times(plan),
        rebases=plan.rebases,
        since=since,
        # A baseline check is never due before enrolment; a restarted plan has none.
        enrolled=plan.created_at.astimezone(zone).date() if plan.epoch == 0 else plan.epoch_start,
    )
    return regimen, items
