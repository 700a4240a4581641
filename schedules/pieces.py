"""The composable pieces a regimen is built from, after options are applied.

A regimen is a list of phases of dosing occasions plus monitoring streams and rules:

* a phase starts on Day N, at a fixed distance from Day 1, or a distance after the
  previous phase's last occasion (so a late dose can move everything after it);
* it repeats daily (``times_per_day`` items per occasion), on the plan's weekdays with a
  minimum gap, or every N days / weeks / calendar months, for a count, through a Day, or
  for good;
* an occasion may carry an allowed window (earliest / latest) for clinic appointments;
* a cumulative cap ends the regimen before a dose would pass it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from schedules.localtime import add_months

_DURATION = re.compile(r"^\s*(-?\d+)\s*(day|days|week|weeks|month|months)\s*$")


@dataclass(frozen=True, slots=True)
class Step:
    """A calendar distance: days and weeks are exact days, months are calendar months."""

    days: int = 0
    months: int = 0

    @classmethod
    def parse(cls, text: str) -> Step:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a duration like '14 days', '24 weeks', '6 months'")
        n, unit = int(match.group(1)), match.group(2)
        if unit.startswith("day"):
            return cls(days=n)
        if unit.startswith("week"):
            return cls(days=7 * n)
        return cls(months=n)

    def times(self, anchor: date, n: int) -> date:
        """``anchor`` plus n steps, computed from the anchor (no month-end drift)."""
        if self.months:
            anchor = add_months(anchor, self.months * n)
        return anchor + timedelta(days=self.days * n)

    def approx_days(self) -> float:
        return self.days + self.months * 30.44

    def words(self) -> str:
        if self.months:
            return f"{self.months} month" + ("s" if self.months != 1 else "")
        if self.days and self.days % 7 == 0 and self.days >= 14:
            return f"{self.days // 7} weeks"
        return f"{self.days} day" + ("s" if self.days != 1 else "")


@dataclass(frozen=True, slots=True)
class Window:
    """Allowed range for an occasion, relative to the previous occasion or the target."""

    earliest_after_previous: Step | None = None
    latest_after_previous: Step | None = None
    earliest_before_target: Step | None = None
    latest_after_target: Step | None = None
    each: bool = False  # every occasion of the phase, not only the first
    source: str = "label"


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    kind: str = "dose"  # or "infusion" (given in clinic)
    amount: float = 0.0  # per occasion, unless ``amounts`` gives one per occasion
    amounts: tuple[float, ...] = ()  # per occasion (cladribine tablets per day)
    label: str = ""
    # where it starts (exactly one)
    day: int | None = None  # Day N
    from_start: Step | None = None  # Day 1 + distance
    after: Step | None = None  # previous phase's last occasion + distance
    # how it repeats
    every: Step | None = None  # None: a single occasion
    weekdays: bool = False  # on the plan's weekdays
    count: int | None = None
    through_day: int | None = None
    window: Window | None = None

    def amount_at(self, n: int) -> float:
        if self.amounts:
            return self.amounts[n]
        return self.amount

    @property
    def finite(self) -> bool:
        return (
            self.count is not None
            or self.through_day is not None
            or bool(self.amounts)
            or (self.every is None and not self.weekdays)
        )


BEFORE_START = "before_start"


@dataclass(frozen=True, slots=True)
class Monitoring:
    """Monitoring the label requires, expanded as items of kind ``monitoring``.

    ``anchor`` is ``start`` (Day 1 + offset, then ``every``), ``dose`` (each occasion,
    or the first ``first`` of them, in ``phases``), ``phase_start`` (the first
    occasion of each phase in ``phases``), or ``before_start`` (once, its negative
    offset before Day 1, never before the plan's enrolment: a baseline check);
    ``offsets`` are added to the anchor.
    """

    name: str
    label: str
    anchor: str
    offsets: tuple[Step, ...] = (Step(),)
    every: Step | None = None
    count: int | None = None
    first: int | None = None
    phases: tuple[str, ...] = ()
    until_after_last_dose: Step | None = None
    at: time | None = None  # None: the regimen's monitoring time
    source: str = "label"
    ref: str = ""  # the document and section, e.g. "Gilenya US PI 5.3"


@dataclass(frozen=True, slots=True)
class Rule:
    """A label rule, kept as data for the engine (issue: engine) to act on."""

    type: str
    params: dict[str, object]
    text: str
    source: str  # "label", "secondary" or "unconfirmed"

    def number(self, key: str, default: float | None = None) -> float:
        """A numeric parameter (the catalog's schema checks they are numbers)."""
        value = self.params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"label rule {self.type}: {key} is not a number ({value!r})")
        return value

    def listed(self, key: str) -> list[Any]:
        """A list parameter; an absent one is empty."""
        value = self.params.get(key, [])
        if not isinstance(value, list):
            raise TypeError(f"label rule {self.type}: {key} is not a list ({value!r})")
        return value


@dataclass(frozen=True, slots=True)
class Regimen:
    """A therapy with its options applied: everything expansion needs."""

    code: str
    name: str
    kind: str  # therapy kind: oral, injectable, infusion, relapse
    unit: str
    times_per_day: int
    default_times: tuple[time, ...]
    monitoring_time: time
    phases: tuple[Phase, ...]
    monitoring: tuple[Monitoring, ...] = ()
    rules: tuple[Rule, ...] = ()
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty when no phase uses weekdays
    min_gap_days: int = 0  # between weekday doses (48 h at the same time = 2 days)
    cap: float | None = None
    options: dict[str, str] = field(default_factory=dict)

    def rule(self, type_: str) -> Rule | None:
        for rule in self.rules:
            if rule.type == type_:
                return rule
        return None

    @property
    def finite(self) -> bool:
        return self.cap is not None or all(p.finite for p in self.phases)
