"""The catalog's format: one schema per table, each key's check written once.

A schema maps a table's keys to their parsers; a key's default is the default of the
dataclass field it fills (``Therapy``, ``Phase``, ``Window``, ``Monitoring``, ``OptionSpec``),
so an absent key is simply not passed. A bad entry is a ``CatalogError`` that names the entry
and the field, e.g. ``therapy 'ponesimod', phases[2].amount: expected a number, got 'x'``.

This module parses a therapy entry, its options, derived values and phases; monitoring,
rules and injection sites have their own modules (``parse_monitoring``, ``parse_rules``,
``parse_sites``), the value parsers they share are in ``schedules.fields``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from schedules.fields import (
    OPTION_TYPES,
    SOURCES,
    THERAPY_KINDS,
    UNITS,
    CatalogError,
    Schema,
    _amount,
    _amounts,
    _any,
    _as_text,
    _cap,
    _default_times,
    _duration,
    _Entry,
    _flag,
    _list_of,
    _names,
    _number,
    _one_of,
    _refused,
    _source,
    _sources,
    _split,
    _table,
    _text,
    _time_of_day,
    _weekdays,
    _when,
    _whole,
)
from schedules.items import DOSE, INFUSION
from schedules.options import OptionError, OptionSpec
from schedules.parse_monitoring import parse_monitoring
from schedules.parse_rules import MISSED_ACTIONS, RULE_PARAMS, parse_rule
from schedules.parse_sites import parse_rotation
from schedules.pieces import Phase, Window
from schedules.therapy import ALWAYS, Conditional, Derive, PhaseTemplate, Ref, Therapy

__all__ = [
    "MISSED_ACTIONS",
    "OPTION_TYPES",
    "RULE_PARAMS",
    "SOURCES",
    "THERAPY_KINDS",
    "UNITS",
    "CatalogError",
    "parse_entry",
]

T = TypeVar("T")


def _window(entry: _Entry, value: Any, path: str) -> Window:
    return Window(**_table(entry, value, f"{path}.", _WINDOW))


_ENTRY: Schema = {
    "code": _text,
    "name": _text,
    "brands": _names,
    "aliases": _names,
    "route": _text,
    "kind": _one_of(THERAPY_KINDS, "{value!r} is not one of " + ", ".join(THERAPY_KINDS)),
    "unit": _one_of(UNITS, "{value!r} is not one of " + ", ".join(UNITS)),
    "summary": _text,
    "sources": _sources,
    "default_times": _default_times,
    "monitoring_time": _time_of_day,
    "weekdays": _weekdays,
    "cap": _cap,
    # Blocks that name each other, parsed by parse_entry in this order.
    "options": _any,
    "derive": _any,
    "phases": _any,
    "monitoring": _any,
    "rules": _any,
    "sites": _any,
}
_OPTION: Schema = {
    "type": _one_of(OPTION_TYPES, "unknown option type {value!r}"),
    "help": _text,
    "values": _list_of(_as_text, "expected a list of values"),
    "min": _number,
    "max": _number,
    "default": _as_text,
    "required": _flag,
    "refused": _refused,
}
_DERIVE: Schema = {
    "from": _text,
    "names": _list_of(_text, "expected a list of names", empty=False),
    "mg_per_tablet": _number,
    "bands": _list_of(_list_of(_number, "expected a list of numbers"), "expected a list"),
    "split": _split,
}
_PHASE: Schema = {
    "name": _text,
    "kind": _one_of((DOSE, INFUSION), "must be dose or infusion"),
    "amount": _amount,
    "amounts": _amounts,
    "label": _text,
    "day": _whole(refs=False),
    "from_start": _duration(),
    "after": _duration(),
    "every": _duration(positive=True),
    "weekdays": _flag,
    "count": _whole(refs=True),
    "through_day": _whole(refs=True),
    "window": _window,
    "when": _when,
}
_WINDOW: Schema = {
    "earliest_after_previous": _duration(),
    "latest_after_previous": _duration(),
    "earliest_before_target": _duration(),
    "latest_after_target": _duration(),
    "each": _flag,
    "source": _source,
}


def parse_entry(i: int, data: Any) -> Therapy:
    if not isinstance(data, dict):
        raise CatalogError(f"therapy #{i + 1}: not a table")
    entry = _Entry(str(data.get("code", f"#{i + 1}")))
    values = _table(entry, data, "", _ENTRY, required=("code", "name", "kind", "unit"))
    if "sources" not in values:
        raise entry.fail("sources", "at least one source is required")
    values.update(values.pop("weekdays", {}))  # min_gap_days
    options = _options(entry, values.pop("options", {}))
    entry = replace(entry, options=options)
    derive = _derive(entry, values.pop("derive")) if "derive" in values else None
    derived = derive.names if derive else ()
    variables = {*options, *derived, *(f"{n}_tablets" for n in derived)}
    entry = replace(entry, variables=frozenset(variables))
    phases = values.pop("phases", None)
    if not isinstance(phases, list) or not phases:
        raise entry.fail("phases", "at least one phase is required")
    parsed = tuple(_phase(entry, ph, f"phases[{j}].") for j, ph in enumerate(phases))
    entry = replace(entry, phase_names=frozenset(p.item.phase.name for p in parsed))
    monitoring = _blocks(entry, values.pop("monitoring", []), "monitoring", parse_monitoring)
    rules = _blocks(entry, values.pop("rules", []), "rules", parse_rule)
    sites = parse_rotation(entry, values.pop("sites")) if "sites" in values else None
    return Therapy(
        **values,
        options=options,
        derive=derive,
        phases=parsed,
        monitoring=monitoring,
        rules=rules,
        sites=sites,
        raw=data,
    )


def _blocks(
    entry: _Entry, value: Any, key: str, parse: Callable[[_Entry, Any, str], T]
) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise entry.fail(key, f"expected a list of tables, got {value!r}")
    return tuple(parse(entry, block, f"{key}[{j}].") for j, block in enumerate(value))


def _options(entry: _Entry, value: Any) -> dict[str, OptionSpec]:
    if not isinstance(value, dict):
        raise entry.fail("options", f"expected a table of options, got {value!r}")
    options = {}
    for name, table in value.items():
        path = f"options.{name}."
        fields = _table(entry, table, path, _OPTION)
        for key, attr in (("min", "minimum"), ("max", "maximum")):
            if key in fields:
                fields[attr] = fields.pop(key)
        spec = OptionSpec(name=name, **fields)
        if spec.type == "choice" and not spec.values:
            raise entry.fail(f"{path}values", "a choice needs values")
        if spec.default is not None:
            try:
                spec.check(entry.code, spec.default)
            except OptionError as exc:
                raise entry.fail(f"{path}default", str(exc)) from None
        options[name] = spec
    return options


def _derive(entry: _Entry, value: Any) -> Derive:
    table = _table(entry, value, "derive.", _DERIVE, required=tuple(_DERIVE))
    if table["from"] not in entry.options:
        raise entry.fail("derive.from", f"{table['from']!r} names no option of this therapy")
    for n, band in enumerate(table["bands"]):
        path = f"derive.bands[{n}]"
        if len(band) != 2 + len(table["names"]):
            wanted = ", ".join(("from", "below", *table["names"]))
            raise entry.fail(path, f"expected [{wanted}], got {list(band)!r}")
        for tablets in band[2:]:
            if str(tablets) not in table["split"]:
                raise entry.fail(path, f"derive.split gives no days for {tablets} tablets")
    return Derive(
        source=table["from"],
        names=table["names"],
        mg_per_tablet=table["mg_per_tablet"],
        bands=table["bands"],
        split=table["split"],
    )


def _phase(entry: _Entry, data: Any, path: str) -> Conditional[PhaseTemplate]:
    values = _table(entry, data, path, _PHASE, required=("name",))
    if "amount" not in values and "amounts" not in values:
        raise entry.fail(f"{path}amount", "is required")
    if sum(key in values for key in ("day", "from_start", "after")) > 1:
        raise entry.fail(path.rstrip("."), "give only one of day, from_start, after")
    when = values.pop("when", ALWAYS)
    refs = tuple((key, v.name) for key, v in values.items() if isinstance(v, Ref))
    phase = Phase(**{key: v for key, v in values.items() if not isinstance(v, Ref)})
    fill_label = "{" in phase.label or "}" in phase.label
    return Conditional(PhaseTemplate(phase, refs, fill_label), when)
