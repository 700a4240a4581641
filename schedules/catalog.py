"""The therapy catalog: data reviewed by clinicians, validated when it is loaded.

``schedules/data/therapies.toml`` holds one ``[[therapy]]`` per therapy. A bad entry is a
``CatalogError`` that names the entry and the field, e.g.
``therapy 'ponesimod', phases[2].amount: expected a number, got 'x'``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from typing import Any

from schedules.items import KINDS, MONITORING
from schedules.localtime import parse_hhmm
from schedules.options import OptionError, OptionSpec, resolve_options, weekday_numbers
from schedules.pieces import Monitoring, Phase, Regimen, Rule, Step, Window

SOURCES = ("label", "secondary", "unconfirmed")
THERAPY_KINDS = ("oral", "injectable", "infusion", "relapse")
UNITS = ("mg", "mcg", "units", "mg/m2", "exchange")

# Rule types and the parameters each takes (name -> expected python type).
RULE_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "late_window": {"hours": (int, float)},
    "missed": {"action": str},
    "never_double": {},
    "shift_from_taken": {"keep_if_days_before_next": int},
    "restart_titration": {
        "consecutive_missed": int,
        "consecutive_missed_days": int,
        "missed_hours_over": (int, float),
        "within_days": int,
        "phases": list,
    },
    "repeat_first_dose_monitoring": {"periods": list},
    "min_spacing": {"hours": (int, float)},
    "no_consecutive_days": {},
    "premedication": {"minutes_before": int},
    "observation": {"hours": (int, float), "first": int},
    "stop_at_cap": {},
}
MISSED_ACTIONS = ("skip", "take_late", "shift", "restart_titration")


class CatalogError(ValueError):
    """A catalog entry that does not validate; the message names the entry and field."""


class UnknownTherapy(LookupError):
    """No therapy (or more than one) answers to a name; carries suggestions."""

    def __init__(self, name: str, suggestions: list[str], ambiguous: bool = False) -> None:
        self.name = name
        self.suggestions = suggestions
        self.ambiguous = ambiguous
        if ambiguous:
            msg = f"{name!r} names several therapies: " + ", ".join(suggestions)
        elif suggestions:
            msg = f"unknown therapy {name!r}; did you mean " + " or ".join(suggestions) + "?"
        else:
            msg = f"unknown therapy {name!r}; `adherence regimens` lists them all"
        super().__init__(msg)


def normalise(name: str) -> str:
    """Case-insensitive, ignoring spaces, hyphens and punctuation: 'Ocrevus-Zunovo'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


@dataclass(frozen=True)
class Therapy:
    """One catalog entry. ``regimen(options)`` applies options; the rest is for people."""

    code: str
    name: str
    brands: tuple[str, ...]
    aliases: tuple[str, ...]
    route: str
    kind: str
    unit: str
    summary: str
    sources: tuple[str, ...]
    options: Mapping[str, OptionSpec]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def display(self) -> str:
        return f"{self.name} ({', '.join(self.brands)})" if self.brands else self.name

    def unconfirmed(self) -> list[str]:
        """Which parts of this entry are marked unconfirmed, for clinician review."""
        out = []
        for i, rule in enumerate(self.raw.get("rules", [])):
            if rule.get("source") == "unconfirmed":
                out.append(f"rules[{i}] {rule['type']}: {rule.get('text', '')}")
        for i, ph in enumerate(self.raw.get("phases", [])):
            win = ph.get("window")
            if win and win.get("source") == "unconfirmed":
                out.append(f"phases[{i}] window of {ph['name']}")
        for i, mon in enumerate(self.raw.get("monitoring", [])):
            if mon.get("source") == "unconfirmed":
                out.append(f"monitoring[{i}] {mon['label']}")
        return out

    def regimen(self, options: Mapping[str, str] | None = None) -> Regimen:
        """The regimen with ``options`` applied (OptionError on a bad one)."""
        resolved = resolve_options(self.name, self.options, options or {})
        return _build_regimen(self, resolved)


class Catalog:
    def __init__(self, therapies: list[Therapy]) -> None:
        self.therapies = therapies
        self._by_name: dict[str, list[Therapy]] = {}
        for therapy in therapies:
            for alias in {therapy.code, therapy.name, *therapy.brands, *therapy.aliases}:
                bucket = self._by_name.setdefault(normalise(alias), [])
                if therapy not in bucket:
                    bucket.append(therapy)

    def __iter__(self) -> Iterator[Therapy]:
        return iter(self.therapies)

    def __len__(self) -> int:
        return len(self.therapies)

    def get(self, name: str) -> Therapy:
        key = normalise(name)
        found = self._by_name.get(key, [])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UnknownTherapy(name, [t.display for t in found], ambiguous=True)
        # A generic name shared by several entries, e.g. "interferon beta-1a".
        partial = [t for t in self.therapies if key and normalise(t.name).startswith(key)]
        if len(partial) > 1:
            raise UnknownTherapy(name, [t.display for t in partial], ambiguous=True)
        close = difflib.get_close_matches(key, list(self._by_name), n=3, cutoff=0.6)
        names: list[str] = []
        for c in close:
            for t in self._by_name[c]:
                if t.display not in names:
                    names.append(t.display)
        raise UnknownTherapy(name, names)


def load_catalog(text: str | None = None) -> Catalog:
    """Load and validate the packaged catalog (or ``text``, for tests and reviewers)."""
    if text is None:
        text = resources.files("schedules").joinpath("data/therapies.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog is not valid TOML: {exc}") from None
    entries = data.get("therapy")
    if not isinstance(entries, list) or not entries:
        raise CatalogError("catalog has no [[therapy]] entries")
    therapies = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        therapy = _validate_entry(i, entry)
        if therapy.code in seen:
            raise _Where(therapy.code).fail("code", "duplicate code")
        seen.add(therapy.code)
        therapies.append(therapy)
    catalog = Catalog(therapies)
    # Every entry must build with its defaults (or its required options' first value).
    for therapy in therapies:
        probe = {s.name: _probe_value(s) for s in therapy.options.values() if s.required}
        try:
            therapy.regimen(probe)
        except (OptionError, ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"therapy {therapy.code!r}: does not build: {exc}") from None
    return catalog


def _probe_value(spec: OptionSpec) -> str:
    if spec.values:
        return next(v for v in spec.values if v not in spec.refused)
    if spec.minimum is not None:
        return str(int(spec.minimum)) if spec.type == "integer" else str(spec.minimum)
    return "1"


# --- validation ---------------------------------------------------------------------------

_ENTRY_KEYS = {
    "code",
    "name",
    "brands",
    "aliases",
    "route",
    "kind",
    "unit",
    "summary",
    "sources",
    "default_times",
    "monitoring_time",
    "options",
    "derive",
    "weekdays",
    "cap",
    "phases",
    "monitoring",
    "rules",
}
_PHASE_KEYS = {
    "name",
    "kind",
    "amount",
    "amounts",
    "label",
    "day",
    "from_start",
    "after",
    "every",
    "weekdays",
    "count",
    "through_day",
    "window",
    "when",
}
_MON_KEYS = {
    "name",
    "label",
    "anchor",
    "offset",
    "offsets",
    "every",
    "count",
    "first",
    "phases",
    "until_after_last_dose",
    "at",
    "source",
    "when",
}
_OPTION_KEYS = {"type", "help", "values", "min", "max", "default", "required", "refused"}
_WINDOW_KEYS = {
    "earliest_after_previous",
    "latest_after_previous",
    "earliest_before_target",
    "latest_after_target",
    "each",
    "source",
}


class _Where:
    def __init__(self, code: str) -> None:
        self.code = code

    def fail(self, field_: str, problem: str) -> CatalogError:
        return CatalogError(f"therapy {self.code!r}, {field_}: {problem}")


def _expect(where: _Where, data: Mapping[str, Any], key: str, typ: Any, path: str) -> Any:
    if key not in data:
        raise where.fail(f"{path}{key}", "is required")
    value = data[key]
    if typ is float:
        typ = (int, float)
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        names = typ.__name__ if isinstance(typ, type) else "a number"
        raise where.fail(f"{path}{key}", f"expected {names}, got {value!r}")
    return value


def _unknown(where: _Where, data: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise where.fail(
                f"{path}{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )


def _duration(
    where: _Where, value: Any, path: str, *, signed: bool = False, positive: bool = False
) -> Step:
    """A duration string; negative only where ``signed``; zero refused where ``positive``
    (a repeat of "0 days" would never end)."""
    if not isinstance(value, str):
        raise where.fail(path, f"expected a duration like '14 days', got {value!r}")
    try:
        step = Step.parse(value)
    except ValueError as exc:
        raise where.fail(path, str(exc)) from None
    if not signed and (step.days < 0 or step.months < 0):
        raise where.fail(path, f"{value!r} must not be negative")
    if positive and step.days <= 0 and step.months <= 0:
        raise where.fail(path, f"{value!r} must be longer than zero")
    return step


def _number_or_ref(
    where: _Where, value: Any, path: str, variables: set[str], what: str = "a number"
) -> None:
    if isinstance(value, str) and value.startswith("$") and value[1:] in variables:
        return
    if isinstance(value, str) and value.startswith("$"):
        known = ", ".join(sorted(variables)) or "none"
        raise where.fail(path, f"{value!r} names no option or derived value (known: {known})")
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise where.fail(path, f"expected {what}, got {value!r}")


def _whole(
    where: _Where, data: Mapping[str, Any], key: str, path: str, variables: set[str]
) -> None:
    """A whole number of at least 1, or ``"$option"`` where ``variables`` allows it."""
    if key not in data:
        return
    value = data[key]
    if isinstance(value, str) and value.startswith("$") and variables:
        _number_or_ref(where, value, f"{path}{key}", variables)
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise where.fail(f"{path}{key}", f"expected a whole number of at least 1, got {value!r}")


def _when(
    where: _Where, block: Mapping[str, Any], options: Mapping[str, OptionSpec], path: str
) -> None:
    """``when`` names options of this therapy, and values that option can take."""
    when = block.get("when", {})
    if not isinstance(when, dict):
        raise where.fail(f"{path}when", f"expected a table like {{ option = value }}, got {when!r}")
    for key, wanted in when.items():
        spec = options.get(key)
        if spec is None:
            raise where.fail(f"{path}when.{key}", "names no option of this therapy")
        for value in wanted if isinstance(wanted, list) else [wanted]:
            try:
                ok = spec.check(where.code, str(value)) == str(value)
            except OptionError:
                ok = False
            if not ok:
                raise where.fail(
                    f"{path}when.{key}",
                    f"{value!r} is never a value of {key} ({spec.valid_words()})",
                )


def _validate_entry(i: int, entry: Any) -> Therapy:
    if not isinstance(entry, dict):
        raise CatalogError(f"therapy #{i + 1}: not a table")
    where = _Where(str(entry.get("code", f"#{i + 1}")))
    _unknown(where, entry, _ENTRY_KEYS, "")
    code = _expect(where, entry, "code", str, "")
    name = _expect(where, entry, "name", str, "")
    brands = tuple(entry.get("brands", []))
    aliases = tuple(entry.get("aliases", []))
    if not all(isinstance(b, str) and b for b in (*brands, *aliases)):
        raise where.fail("brands", "every brand and alias must be a non-empty string")
    kind = _expect(where, entry, "kind", str, "")
    if kind not in THERAPY_KINDS:
        raise where.fail("kind", f"{kind!r} is not one of {', '.join(THERAPY_KINDS)}")
    unit = _expect(where, entry, "unit", str, "")
    if unit not in UNITS:
        raise where.fail("unit", f"{unit!r} is not one of {', '.join(UNITS)}")
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources:
        raise where.fail("sources", "at least one source is required")
    defaults = entry.get("default_times", ["09:00"])
    if not isinstance(defaults, list) or not 1 <= len(defaults) <= 4:
        raise where.fail("default_times", "must list 1 to 4 times of day (HH:MM)")
    for t in [*defaults, entry.get("monitoring_time", "09:00")]:
        try:
            parse_hhmm(t)
        except (ValueError, AttributeError) as exc:
            raise where.fail("default_times", str(exc)) from None
    options = {}
    for oname, ospec in entry.get("options", {}).items():
        _unknown(where, ospec, _OPTION_KEYS, f"options.{oname}.")
        otype = ospec.get("type", "choice")
        if otype not in ("choice", "number", "integer", "weekdays"):
            raise where.fail(f"options.{oname}.type", f"unknown option type {otype!r}")
        options[oname] = OptionSpec(
            name=oname,
            type=otype,
            help=ospec.get("help", ""),
            values=tuple(str(v) for v in ospec.get("values", [])),
            minimum=ospec.get("min"),
            maximum=ospec.get("max"),
            default=None if ospec.get("default") is None else str(ospec["default"]),
            required=bool(ospec.get("required", False)),
            refused=dict(ospec.get("refused", {})),
        )
        if otype == "choice" and not options[oname].values:
            raise where.fail(f"options.{oname}.values", "a choice needs values")
        default = options[oname].default
        if default is not None:
            try:
                options[oname].check(code, default)
            except OptionError as exc:
                raise where.fail(f"options.{oname}.default", str(exc)) from None
    derived = [str(n) for n in entry.get("derive", {}).get("names", [])]
    variables = {*options, *derived, *(f"{n}_tablets" for n in derived)}
    phases = entry.get("phases")
    if not isinstance(phases, list) or not phases:
        raise where.fail("phases", "at least one phase is required")
    for j, ph in enumerate(phases):
        path = f"phases[{j}]."
        _unknown(where, ph, _PHASE_KEYS, path)
        _expect(where, ph, "name", str, path)
        if "label" in ph:
            _expect(where, ph, "label", str, path)
        if "amount" not in ph and "amounts" not in ph:
            raise where.fail(f"{path}amount", "is required")
        if "amount" in ph:
            _number_or_ref(where, ph["amount"], f"{path}amount", variables)
        if "amounts" in ph:
            amounts = ph["amounts"]
            if isinstance(amounts, list) and amounts:
                for n, a in enumerate(amounts):
                    _number_or_ref(where, a, f"{path}amounts[{n}]", set())
            else:
                _number_or_ref(where, amounts, f"{path}amounts", variables, "a list of numbers")
        if ph.get("kind", "dose") not in KINDS or ph.get("kind") == MONITORING:
            raise where.fail(f"{path}kind", "must be dose or infusion")
        for k in ("day", "count", "through_day"):
            _whole(where, ph, k, path, variables if k != "day" else set())
        if not isinstance(ph.get("weekdays", False), bool):
            raise where.fail(f"{path}weekdays", f"expected true or false, got {ph['weekdays']!r}")
        starts = [k for k in ("day", "from_start", "after") if k in ph]
        if len(starts) > 1:
            raise where.fail(path.rstrip("."), "give only one of day, from_start, after")
        for k in ("from_start", "after", "every"):
            if k in ph:
                _duration(where, ph[k], f"{path}{k}", positive=k == "every")
        if "window" in ph:
            win = ph["window"]
            _unknown(where, win, _WINDOW_KEYS, f"{path}window.")
            for k in win:
                if k not in ("each", "source"):
                    _duration(where, win[k], f"{path}window.{k}")
            if not isinstance(win.get("each", False), bool):
                raise where.fail(
                    f"{path}window.each", f"expected true or false, got {win['each']!r}"
                )
            if win.get("source", "label") not in SOURCES:
                raise where.fail(f"{path}window.source", f"must be one of {', '.join(SOURCES)}")
        _when(where, ph, options, path)
    phase_names = {ph["name"] for ph in phases}
    for j, mon in enumerate(entry.get("monitoring", [])):
        path = f"monitoring[{j}]."
        _unknown(where, mon, _MON_KEYS, path)
        _expect(where, mon, "name", str, path)
        _expect(where, mon, "label", str, path)
        if mon.get("anchor") not in ("start", "dose", "phase_start"):
            raise where.fail(f"{path}anchor", "must be start, dose or phase_start")
        if mon.get("source", "label") not in SOURCES:
            raise where.fail(f"{path}source", f"must be one of {', '.join(SOURCES)}")
        if "offset" in mon:
            _duration(where, mon["offset"], f"{path}offset", signed=True)
        if "offsets" in mon:
            offsets = mon["offsets"]
            if not isinstance(offsets, list) or not offsets:
                raise where.fail(f"{path}offsets", "expected a list of durations")
            for n, off in enumerate(offsets):
                _duration(where, off, f"{path}offsets[{n}]", signed=True)
        if "every" in mon:
            _duration(where, mon["every"], f"{path}every", positive=True)
        if "until_after_last_dose" in mon:
            _duration(where, mon["until_after_last_dose"], f"{path}until_after_last_dose")
        for k in ("count", "first"):
            _whole(where, mon, k, path, set())
        if "at" in mon:
            try:
                parse_hhmm(mon["at"])
            except (ValueError, AttributeError) as exc:
                raise where.fail(f"{path}at", str(exc)) from None
        for n, pname in enumerate(mon.get("phases", [])):
            if pname not in phase_names:
                raise where.fail(
                    f"{path}phases[{n}]",
                    f"{pname!r} names no phase (phases: {', '.join(sorted(phase_names))})",
                )
        _when(where, mon, options, path)
    for j, rule in enumerate(entry.get("rules", [])):
        path = f"rules[{j}]."
        rtype = _expect(where, rule, "type", str, path)
        if rtype not in RULE_PARAMS:
            raise where.fail(f"{path}type", f"unknown rule type {rtype!r}")
        _expect(where, rule, "text", str, path)
        if rule.get("source") not in SOURCES:
            raise where.fail(f"{path}source", f"must be one of {', '.join(SOURCES)}")
        allowed = set(RULE_PARAMS[rtype]) | {"type", "text", "source", "when"}
        _unknown(where, rule, allowed, path)
        for pname, ptype in RULE_PARAMS[rtype].items():
            if pname in rule and (
                not isinstance(rule[pname], ptype) or isinstance(rule[pname], bool)
            ):
                raise where.fail(f"{path}{pname}", f"has the wrong type: {rule[pname]!r}")
        if rtype == "missed" and rule.get("action") not in MISSED_ACTIONS:
            raise where.fail(f"{path}action", f"must be one of {', '.join(MISSED_ACTIONS)}")
        _when(where, rule, options, path)
    return Therapy(
        code=code,
        name=name,
        brands=brands,
        aliases=aliases,
        route=str(entry.get("route", "")),
        kind=kind,
        unit=unit,
        summary=str(entry.get("summary", "")),
        sources=tuple(sources),
        options=options,
        raw=entry,
    )


# --- building a regimen from an entry and resolved options ----------------------------------


def _applies(block: Mapping[str, Any], options: Mapping[str, str]) -> bool:
    """``when = { option = "value" }`` or ``{ option = ["a", "b"] }``."""
    for key, wanted in block.get("when", {}).items():
        allowed = [str(w) for w in wanted] if isinstance(wanted, list) else [str(wanted)]
        if options.get(key) not in allowed:
            return False
    return True


def _value(raw: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(raw, str) and raw.startswith("$"):
        return variables[raw[1:]]
    return raw


def _variables(therapy: Therapy, options: Mapping[str, str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for key, value in options.items():
        try:
            variables[key] = float(value) if "." in value else int(value)
        except ValueError:
            variables[key] = value
    derive = therapy.raw.get("derive")
    if derive:
        variables.update(_derive(therapy, derive, variables))
    return variables


def _derive(
    therapy: Therapy, spec: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """Tables the label gives by band (cladribine tablets per cycle by body weight)."""
    source = spec["from"]
    value = float(variables[source])
    chosen = None
    for band in spec["bands"]:
        low, high = band[0], band[1]
        if low <= value and (high is None or high == 0 or value < high):
            chosen = band
    if chosen is None:
        raise OptionError(f"{therapy.name}: {source}={value:g} is outside the label's bands")
    split = spec["split"]
    per_tablet = spec["mg_per_tablet"]
    out: dict[str, Any] = {}
    for name, tablets in zip(spec["names"], chosen[2:], strict=True):
        days = split[str(tablets)]
        out[name] = tuple(n * per_tablet for n in days)
        out[f"{name}_tablets"] = tablets
    return out


class _Keep(dict[str, Any]):
    """Fills ``{option}`` in labels and keeps ``{amount}`` for expansion to fill."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _step(raw: Any) -> Step | None:
    return None if raw is None else Step.parse(raw)


def _build_regimen(therapy: Therapy, options: Mapping[str, str]) -> Regimen:
    raw = therapy.raw
    variables = _variables(therapy, options)
    phases = []
    for ph in raw["phases"]:
        if not _applies(ph, options):
            continue
        win = ph.get("window")
        window = None
        if win:
            window = Window(
                earliest_after_previous=_step(win.get("earliest_after_previous")),
                latest_after_previous=_step(win.get("latest_after_previous")),
                earliest_before_target=_step(win.get("earliest_before_target")),
                latest_after_target=_step(win.get("latest_after_target")),
                each=bool(win.get("each", False)),
                source=win.get("source", "label"),
            )
        amounts = tuple(float(a) for a in _value(ph.get("amounts", ()), variables))
        count = _value(ph.get("count"), variables)
        phases.append(
            Phase(
                name=ph["name"],
                kind=ph.get("kind", "dose"),
                amount=float(_value(ph.get("amount", 0), variables)),
                amounts=amounts,
                label=str(ph.get("label", "")).format_map(_Keep(variables)),
                day=ph.get("day"),
                from_start=_step(ph.get("from_start")),
                after=_step(ph.get("after")),
                every=_step(ph.get("every")),
                weekdays=bool(ph.get("weekdays", False)),
                count=None if count is None else int(count),
                through_day=_value(ph.get("through_day"), variables),
                window=window,
            )
        )
    if not phases:
        raise OptionError(f"{therapy.name}: no phase applies to options {dict(options)}")
    monitoring = []
    for mon in raw.get("monitoring", []):
        if not _applies(mon, options):
            continue
        offsets = mon.get("offsets") or [mon.get("offset", "0 days")]
        monitoring.append(
            Monitoring(
                name=mon["name"],
                label=mon["label"],
                anchor=mon["anchor"],
                offsets=tuple(Step.parse(o) for o in offsets),
                every=_step(mon.get("every")),
                count=mon.get("count"),
                first=mon.get("first"),
                phases=tuple(mon.get("phases", ())),
                until_after_last_dose=_step(mon.get("until_after_last_dose")),
                at=parse_hhmm(mon["at"]) if "at" in mon else None,
                source=mon.get("source", "label"),
            )
        )
    rules = []
    for rule in raw.get("rules", []):
        if not _applies(rule, options):
            continue
        params = {k: v for k, v in rule.items() if k not in ("type", "text", "source", "when")}
        rules.append(Rule(rule["type"], params, rule["text"], rule["source"]))
    weekdays: tuple[int, ...] = ()
    if "weekdays" in options:
        weekdays = weekday_numbers(options["weekdays"])
    cap = raw.get("cap")
    times: list[time] = [parse_hhmm(t) for t in raw.get("default_times", ["09:00"])]
    return Regimen(
        code=therapy.code,
        name=therapy.name,
        kind=therapy.kind,
        unit=therapy.unit,
        times_per_day=len(times),
        default_times=tuple(times),
        monitoring_time=parse_hhmm(raw.get("monitoring_time", "09:00")),
        phases=tuple(phases),
        monitoring=tuple(monitoring),
        rules=tuple(rules),
        weekdays=weekdays,
        min_gap_days=int(raw.get("weekdays", {}).get("min_gap_days", 2)),
        cap=None if cap is None else float(cap["total"]),
        options=dict(options),
    )
