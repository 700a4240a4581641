"""The catalog format's building blocks: the error, the entry being parsed, and one parser
per kind of value (text, number, duration, time of day, list, ``when``...). The schemas of
``schedules.schema``, ``schedules.parse_monitoring``, ``schedules.parse_rules`` and
``schedules.parse_sites`` are made of these."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any, TypeVar

from schedules.localtime import parse_hhmm
from schedules.options import OptionError, OptionSpec
from schedules.pieces import Step
from schedules.therapy import Ref, When

SOURCES = ("label", "secondary", "unconfirmed")
THERAPY_KINDS = ("oral", "injectable", "infusion", "relapse")
UNITS = ("mg", "mcg", "units", "mg/m2", "exchange")
OPTION_TYPES = ("choice", "number", "integer", "weekdays")


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
