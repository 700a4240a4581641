"""``[[therapy.rules]]``: a label rule kept as data for the engine; its type says which
parameters it takes."""

from __future__ import annotations

from typing import Any

from schedules.fields import (
    Schema,
    _Entry,
    _one_of,
    _param,
    _phase_name,
    _source,
    _table,
    _text,
    _when,
)
from schedules.pieces import Rule
from schedules.therapy import ALWAYS, Conditional

MISSED_ACTIONS = ("skip", "take_late", "shift", "restart_titration")

_RULE: Schema = {"type": _text, "text": _text, "source": _source, "when": _when}
# Rule types and the parameters each takes.
RULE_PARAMS: dict[str, Schema] = {
    "late_window": {"hours": _param(int, float)},
    "missed": {"action": _one_of(MISSED_ACTIONS, f"must be one of {', '.join(MISSED_ACTIONS)}")},
    "never_double": {},
    "shift_from_taken": {"keep_if_days_before_next": _param(int)},
    "restart_titration": {
        "consecutive_missed": _param(int),
        "consecutive_missed_days": _param(int),
        "missed_hours_over": _param(int, float),
        "within_days": _param(int),
        "phases": _param(list),
    },
    "repeat_first_dose_monitoring": {"periods": _param(list)},
    # split_phases: phases whose occasions together are one dose (a split first dose given
    # as two infusions): not spaced from each other, only from the doses around them
    "min_spacing": {"hours": _param(int, float), "split_phases": _param(list)},
    "no_consecutive_days": {},
    # first_in_phase = N: only the first N occasions of each phase (a course's first days)
    "premedication": {"minutes_before": _param(int), "first_in_phase": _param(int)},
    "observation": {"hours": _param(int, float), "first": _param(int)},
    "stop_at_cap": {},
}
_RULE_REQUIRED = {"missed": ("action",)}


def parse_rule(entry: _Entry, data: Any, path: str) -> Conditional[Rule]:
    # The type says which parameters the rule takes: read it first.
    if not isinstance(data, dict):
        raise entry.fail(path.rstrip("."), f"expected a table, got {data!r}")
    if "type" not in data:
        raise entry.fail(f"{path}type", "is required")
    kind = _text(entry, data["type"], f"{path}type")
    if kind not in RULE_PARAMS:
        raise entry.fail(f"{path}type", f"unknown rule type {kind!r}")
    required = ("type", "text", "source", *_RULE_REQUIRED.get(kind, ()))
    values = _table(entry, data, path, {**_RULE, **RULE_PARAMS[kind]}, required)
    for n, phase in enumerate(values.get("split_phases", ())):
        _phase_name(entry, phase, f"{path}split_phases[{n}]")
    when = values.pop("when", ALWAYS)
    params = {key: values[key] for key in data if key in RULE_PARAMS[kind]}  # as written
    return Conditional(Rule(kind, params, values["text"], values["source"]), when)
