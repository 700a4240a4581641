"""The catalog's format: one schema per table, each key's check written once.

A schema maps a table's keys to their parsers; a key's default is the default of the
dataclass field it fills (``Therapy``, ``Phase``, ``Window``, ``Monitoring``, ``OptionSpec``),
so an absent key is simply not passed. A bad entry is a ``CatalogError`` that names the entry
and the field, e.g. ``therapy 'ponesimod', phases[2].amount: expected a number, got 'x'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any, TypeVar

from schedules.items import DOSE, INFUSION
from schedules.localtime import parse_hhmm
from schedules.options import OptionError, OptionSpec
from schedules.pieces import Monitoring, Phase, Rule, Step, Window
from schedules.sites import SCOPES, SIDES, SITE_RULES, Rotation, Site
from schedules.therapy import ALWAYS, Conditional, Derive, PhaseTemplate, Ref, Therapy, When

SOURCES = ("label", "secondary", "unconfirmed")
THERAPY_KINDS = ("oral", "injectable", "infusion", "relapse")
UNITS = ("mg", "mcg", "units", "mg/m2", "exchange")
OPTION_TYPES = ("choice", "number", "integer", "weekdays")
MISSED_ACTIONS = ("skip", "take_late", "shift", "restart_titration")


class CatalogError(ValueError):
    """A catalog entry that does not validate; the message names the entry and field."""


T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    """The entry being parsed: its name for errors, and what its later blocks may name."""

    code: str
    options: Mapping[str, OptionSpec] = field(default_factory=dict)
    variables: frozenset[str] = frozenset()  # options, derived values: "$name"
    phase_names: frozenset[str] = frozenset()

    def fail(self, path: str, problem: str) -> CatalogError:
        return CatalogError(f"therapy {self.code!r}, {path}: {problem}")


# A key's parser: (entry, value, path of the key) -> the parsed value, or CatalogError.
Parse = Callable[[_Entry, Any, str], Any]
Schema = Mapping[str, Parse]


def _table(
    entry: _Entry, data: Any, path: str, schema: Schema, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The keys ``data`` gives, each parsed by ``schema``. A key it leaves out is left out
    here too, so that the dataclass it fills supplies the default."""
    if not isinstance(data, dict):
        raise entry.fail(path.rstrip("."), f"expected a table, got {data!r}")
    for key in data:
        if key not in schema:
            allowed = ", ".join(sorted(schema))
            raise entry.fail(f"{path}{key}", f"unknown field (allowed: {allowed})")
    for key in required:
        if key not in data:
            raise entry.fail(f"{path}{key}", "is required")
    return {
        key: parse(entry, data[key], f"{path}{key}") for key, parse in schema.items() if key in data
    }


def _text(entry: _Entry, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise entry.fail(path, f"expected str, got {value!r}")
    return value


def _flag(entry: _Entry, value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise entry.fail(path, f"expected true or false, got {value!r}")
    return value


def _number(entry: _Entry, value: Any, path: str) -> float:
    """A number of at least 0, kept as written (40 stays 40 in ``regimens --json``)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise entry.fail(path, f"expected a number, got {value!r}")
    return value


def _any(entry: _Entry, value: Any, path: str) -> Any:
    return value  # a block parsed by parse_entry itself, once what it names is known


def _as_text(entry: _Entry, value: Any, path: str) -> str:
    return str(value)


def _one_of(choices: tuple[str, ...], problem: str) -> Parse:
    """One of ``choices``; ``problem`` may show the value as ``{value!r}``."""

    def parse(entry: _Entry, value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise entry.fail(path, problem.format(value=value))
        return value

    return parse


_source = _one_of(SOURCES, f"must be one of {', '.join(SOURCES)}")


def _list_of(item: Parse, problem: str, *, empty: bool = True) -> Parse:
    """A list, each item parsed at ``path[n]``; ``problem`` when it is not a list."""

    def parse(entry: _Entry, value: Any, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list) or (not value and not empty):
            raise entry.fail(path, f"{problem}, got {value!r}")
        return tuple(item(entry, v, f"{path}[{n}]") for n, v in enumerate(value))

    return parse


def _ref(entry: _Entry, value: str, path: str) -> Ref:
    if value[1:] not in entry.variables:
        known = ", ".join(sorted(entry.variables)) or "none"
        raise entry.fail(path, f"{value!r} names no option or derived value (known: {known})")
    return Ref(value[1:])


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def _amount(entry: _Entry, value: Any, path: str) -> float | Ref:
    return _ref(entry, value, path) if _is_ref(value) else float(_number(entry, value, path))


def _amounts(entry: _Entry, value: Any, path: str) -> tuple[float, ...] | Ref:
    if isinstance(value, list) and value:
        return tuple(float(_number(entry, a, f"{path}[{n}]")) for n, a in enumerate(value))
    if _is_ref(value):
        return _ref(entry, value, path)
    raise entry.fail(path, f"expected a list of numbers, got {value!r}")


def _whole(*, refs: bool) -> Parse:
    """A whole number of at least 1 (or ``"$option"`` where ``refs``)."""

    def parse(entry: _Entry, value: Any, path: str) -> int | Ref:
        if refs and _is_ref(value) and entry.variables:
            return _ref(entry, value, path)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise entry.fail(path, f"expected a whole number of at least 1, got {value!r}")
        return value

    return parse


def _duration(*, signed: bool = False, positive: bool = False) -> Parse:
    """A duration string; negative only where ``signed``; zero refused where ``positive``
    (a repeat of "0 days" would never end)."""

    def parse(entry: _Entry, value: Any, path: str) -> Step:
        if not isinstance(value, str):
            raise entry.fail(path, f"expected a duration like '14 days', got {value!r}")
        try:
            step = Step.parse(value)
        except ValueError as exc:
            raise entry.fail(path, str(exc)) from None
        if not signed and (step.days < 0 or step.months < 0):
            raise entry.fail(path, f"{value!r} must not be negative")
        if positive and step.days <= 0 and step.months <= 0:
            raise entry.fail(path, f"{value!r} must be longer than zero")
        return step

    return parse


def _time_of_day(entry: _Entry, value: Any, path: str) -> time:
    if not isinstance(value, str):
        raise entry.fail(path, f"expected a time of day HH:MM, got {value!r}")
    try:
        return parse_hhmm(value)
    except ValueError as exc:
        raise entry.fail(path, str(exc)) from None


def _default_times(entry: _Entry, value: Any, path: str) -> tuple[time, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise entry.fail(path, "must list 1 to 4 times of day (HH:MM)")
    return tuple(_time_of_day(entry, t, path) for t in value)


def _names(entry: _Entry, value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(b, str) and b for b in value):
        raise entry.fail(path, "every brand and alias must be a non-empty string")
    return tuple(value)


def _sources(entry: _Entry, value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise entry.fail(path, "at least one source is required")
    return tuple(_text(entry, s, f"{path}[{n}]") for n, s in enumerate(value))


def _when(entry: _Entry, value: Any, path: str) -> When:
    """``when`` names options of this therapy, and values that option can take."""
    if not isinstance(value, dict):
        raise entry.fail(path, f"expected a table like {{ option = value }}, got {value!r}")
    out = []
    for key, wanted in value.items():
        spec = entry.options.get(key)
        if spec is None:
            raise entry.fail(f"{path}.{key}", "names no option of this therapy")
        values = tuple(str(v) for v in (wanted if isinstance(wanted, list) else [wanted]))
        for v in values:
            try:
                ok = spec.check(entry.code, v) == v
            except OptionError:
                ok = False
            if not ok:
                raise entry.fail(
                    f"{path}.{key}", f"{v!r} is never a value of {key} ({spec.valid_words()})"
                )
        out.append((key, values))
    return tuple(out)


def _phase_name(entry: _Entry, value: Any, path: str) -> str:
    if value not in entry.phase_names:
        known = ", ".join(sorted(entry.phase_names))
        raise entry.fail(path, f"{value!r} names no phase (phases: {known})")
    return str(value)


def _cap(entry: _Entry, value: Any, path: str) -> float:
    table = _table(entry, value, f"{path}.", {"total": _number}, required=("total",))
    return float(table["total"])


def _weekdays(entry: _Entry, value: Any, path: str) -> dict[str, int]:
    return _table(entry, value, f"{path}.", {"min_gap_days": _whole(refs=False)})


def _window(entry: _Entry, value: Any, path: str) -> Window:
    return Window(**_table(entry, value, f"{path}.", _WINDOW))


def _refused(entry: _Entry, value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise entry.fail(path, f'expected a table like {{ value = "why" }}, got {value!r}')
    return {str(k): _text(entry, why, f"{path}.{k}") for k, why in value.items()}


def _split(entry: _Entry, value: Any, path: str) -> dict[str, tuple[float, ...]]:
    if not isinstance(value, dict):
        raise entry.fail(path, f"expected a table like {{ 4 = [1, 1, 1, 1] }}, got {value!r}")
    days = _list_of(_number, "expected a list of tablets per day", empty=False)
    return {str(k): days(entry, v, f"{path}.{k}") for k, v in value.items()}


def _param(*types: type) -> Parse:
    """A rule parameter, kept as written for the engine."""

    def parse(entry: _Entry, value: Any, path: str) -> Any:
        if not isinstance(value, types) or isinstance(value, bool):
            raise entry.fail(path, f"has the wrong type: {value!r}")
        return value

    return parse


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
_MONITORING: Schema = {
    "name": _text,
    "label": _text,
    "anchor": _one_of(("start", "dose", "phase_start"), "must be start, dose or phase_start"),
    "offset": _duration(signed=True),
    "offsets": _list_of(_duration(signed=True), "expected a list of durations", empty=False),
    "every": _duration(positive=True),
    "count": _whole(refs=False),
    "first": _whole(refs=False),
    "phases": _list_of(_phase_name, "expected a list of phase names"),
    "until_after_last_dose": _duration(),
    "at": _time_of_day,
    "source": _source,
    "when": _when,
}
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
    "min_spacing": {"hours": _param(int, float)},
    "no_consecutive_days": {},
    "premedication": {"minutes_before": _param(int)},
    "observation": {"hours": _param(int, float), "first": _param(int)},
    "stop_at_cap": {},
}
_RULE_REQUIRED = {"missed": ("action",)}


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
    monitoring = _blocks(entry, values.pop("monitoring", []), "monitoring", _monitoring)
    rules = _blocks(entry, values.pop("rules", []), "rules", _rule)
    sites = _rotation(entry, values.pop("sites")) if "sites" in values else None
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


def _monitoring(entry: _Entry, data: Any, path: str) -> Conditional[Monitoring]:
    values = _table(entry, data, path, _MONITORING, required=("name", "label", "anchor"))
    when = values.pop("when", ALWAYS)
    offset = values.pop("offset", None)
    if offset is not None and "offsets" not in values:
        values["offsets"] = (offset,)
    return Conditional(Monitoring(**values), when)


def _rule(entry: _Entry, data: Any, path: str) -> Conditional[Rule]:
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
    when = values.pop("when", ALWAYS)
    params = {key: values[key] for key in data if key in RULE_PARAMS[kind]}  # as written
    return Conditional(Rule(kind, params, values["text"], values["source"]), when)


_SITE: Schema = {
    "code": _text,
    "code_es": _text,
    "en": _text,
    "es": _text,
    "area": _text,
    "side": _one_of(SIDES, f"must be one of {', '.join(SIDES)}"),
    "caregiver": _flag,
}
_ROTATION: Schema = {
    "rule": _one_of(SITE_RULES, "{value!r} is not one of " + ", ".join(SITE_RULES)),
    "text": _text,
    "source": _source,
    "reference": _text,
    "days": _whole(refs=False),
    "scope": _one_of(SCOPES, f"must be one of {', '.join(SCOPES)}"),
    "intramuscular": _list_of(_text, "expected a list of site codes"),
    "site": _any,
}


def _rotation(entry: _Entry, value: Any) -> Rotation:
    """``[therapy.sites]`` and its ``[[therapy.sites.site]]`` list. Every code (English and
    Spanish) is one word of letters, unique in the therapy; the rule names only listed codes."""
    table = _table(entry, value, "sites.", _ROTATION, required=("rule", "text", "source", "site"))
    raw = table.pop("site")
    if not isinstance(raw, list) or not raw:
        raise entry.fail("sites.site", "at least one site is required")
    sites = tuple(
        Site(**_table(entry, s, f"sites.site[{n}].", _SITE, required=tuple(_SITE)[:6]))
        for n, s in enumerate(raw)
    )
    seen: set[str] = set()
    for n, site in enumerate(sites):
        for key in ("code", "code_es"):
            code = getattr(site, key)
            if not code.isalpha() or not code.isupper() or len(code) > 4:
                raise entry.fail(f"sites.site[{n}].{key}", f"{code!r} must be 1-4 capital letters")
            if code in seen:
                raise entry.fail(f"sites.site[{n}].{key}", f"{code!r} is listed twice")
            seen.add(code)
    codes = [s.code for s in sites]
    for n, code in enumerate(table.get("intramuscular", ())):
        if code not in codes:
            raise entry.fail(
                f"sites.intramuscular[{n}]",
                f"{code!r} names no site of this therapy (sites: {', '.join(codes)})",
            )
    if table["rule"] == "min_days" and "days" not in table:
        raise entry.fail("sites.days", "is required for rule min_days")
    if table["rule"] != "min_days" and "days" in table:
        raise entry.fail("sites.days", "is only for rule min_days")
    return Rotation(sites=sites, **table)
