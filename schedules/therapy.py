"""A therapy as the catalog gives it, parsed, and how options turn it into a ``Regimen``.

``schedules.schema`` fills these from the catalog's tables once; building a regimen only
fills in option values (``"$strength"``) and keeps the blocks whose ``when`` matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any, Generic, TypeVar

from schedules.options import OptionError, OptionSpec, resolve_options, weekday_numbers
from schedules.pieces import Monitoring, Phase, Regimen, Rule
from schedules.sites import Rotation

T = TypeVar("T")

# ((option, accepted values), ...): a block applies when every option has one of its values.
When = tuple[tuple[str, tuple[str, ...]], ...]
ALWAYS: When = ()


@dataclass(frozen=True, slots=True)
class Ref:
    """``"$name"``: an option or a derived value, known once the options are."""

    name: str


@dataclass(frozen=True, slots=True)
class Conditional(Generic[T]):
    """A phase, monitoring stream or rule, and the option values it applies to."""

    item: T
    when: When

    def applies(self, options: Mapping[str, str]) -> bool:
        return all(options.get(key) in wanted for key, wanted in self.when)


# How a "$name" becomes the value of a Phase field.
_FILL: dict[str, Callable[[Any], Any]] = {
    "amount": float,
    "amounts": lambda value: tuple(float(a) for a in value),
    "count": int,
    "through_day": lambda value: value,
}


@dataclass(frozen=True, slots=True)
class PhaseTemplate:
    """A phase as written: ``phase`` holds its literal values, ``refs`` the fields given as
    ``"$name"`` (filled per regimen), ``fill_label`` whether the label names options."""

    phase: Phase
    refs: tuple[tuple[str, str], ...]
    fill_label: bool

    def build(self, variables: Mapping[str, Any]) -> Phase:
        if not self.refs and not self.fill_label:
            return self.phase  # frozen: one Phase serves every regimen
        changes = {name: _FILL[name](variables[ref]) for name, ref in self.refs}
        if self.fill_label:
            changes["label"] = self.phase.label.format_map(_Keep(variables))
        return replace(self.phase, **changes)


class _Keep(dict[str, Any]):
    """Fills ``{option}`` in labels and keeps ``{amount}`` for expansion to fill."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class Derive:
    """Tables the label gives by band (cladribine tablets per cycle by body weight)."""

    source: str  # the option read ("from" in the catalog)
    names: tuple[str, ...]
    mg_per_tablet: float
    bands: tuple[tuple[float, ...], ...]  # (from, below or 0 for no bound, tablets per name...)
    split: Mapping[str, tuple[float, ...]]  # tablets -> tablets on each day of a cycle

    def values(self, therapy: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        value = float(variables[self.source])
        chosen = None
        for band in self.bands:
            low, high = band[0], band[1]
            if low <= value and (high == 0 or value < high):
                chosen = band
        if chosen is None:
            raise OptionError(f"{therapy}: {self.source}={value:g} is outside the label's bands")
        out: dict[str, Any] = {}
        for name, tablets in zip(self.names, chosen[2:], strict=True):
            out[name] = tuple(n * self.mg_per_tablet for n in self.split[str(tablets)])
            out[f"{name}_tablets"] = tablets
        return out


@dataclass(frozen=True, kw_only=True)
class Therapy:
    """One catalog entry, parsed. ``regimen(options)`` applies options; the rest is for people."""

    code: str
    name: str
    brands: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    route: str = ""
    kind: str
    unit: str
    summary: str = ""
    sources: tuple[str, ...]
    options: Mapping[str, OptionSpec]
    default_times: tuple[time, ...] = (time(9, 0),)
    monitoring_time: time = time(9, 0)
    min_gap_days: int = 2  # [therapy.weekdays]: days between weekday doses (48 h)
    cap: float | None = None  # [therapy.cap] total: cumulative dose that ends the regimen
    derive: Derive | None
    phases: tuple[Conditional[PhaseTemplate], ...]
    monitoring: tuple[Conditional[Monitoring], ...]
    rules: tuple[Conditional[Rule], ...]
    sites: Rotation | None = None  # [therapy.sites]: self-injectables' sites and rotation rule
    raw: Mapping[str, Any] = field(repr=False)  # the table as written, for people to read

    @property
    def display(self) -> str:
        return f"{self.name} ({', '.join(self.brands)})" if self.brands else self.name

    def unconfirmed(self) -> list[str]:
        """Which parts of this entry are marked unconfirmed, for clinician review."""
        out = []
        for i, rule in enumerate(r.item for r in self.rules):
            if rule.source == "unconfirmed":
                out.append(f"rules[{i}] {rule.type}: {rule.text}")
        for i, phase in enumerate(p.item.phase for p in self.phases):
            if phase.window and phase.window.source == "unconfirmed":
                out.append(f"phases[{i}] window of {phase.name}")
        for i, mon in enumerate(m.item for m in self.monitoring):
            if mon.source == "unconfirmed":
                out.append(f"monitoring[{i}] {mon.label}")
        if self.sites is not None and self.sites.source == "unconfirmed":
            out.append(f"sites {self.sites.rule}: {self.sites.text}")
        return out

    def regimen(self, options: Mapping[str, str] | None = None) -> Regimen:
        """The regimen with ``options`` applied (OptionError on a bad one)."""
        resolved = resolve_options(self.name, self.options, options or {})
        variables = _variables(self, resolved)
        phases = tuple(p.item.build(variables) for p in self.phases if p.applies(resolved))
        if not phases:
            raise OptionError(f"{self.name}: no phase applies to options {dict(resolved)}")
        return Regimen(
            code=self.code,
            name=self.name,
            kind=self.kind,
            unit=self.unit,
            times_per_day=len(self.default_times),
            default_times=self.default_times,
            monitoring_time=self.monitoring_time,
            phases=phases,
            monitoring=tuple(m.item for m in self.monitoring if m.applies(resolved)),
            # Rule.params is shared by every regimen of this therapy: read it, never change it.
            rules=tuple(r.item for r in self.rules if r.applies(resolved)),
            weekdays=weekday_numbers(resolved["weekdays"]) if "weekdays" in resolved else (),
            min_gap_days=self.min_gap_days,
            cap=self.cap,
            options=dict(resolved),
        )


def _variables(therapy: Therapy, options: Mapping[str, str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for key, value in options.items():
        try:
            variables[key] = float(value) if "." in value else int(value)
        except ValueError:
            variables[key] = value
    if therapy.derive is not None:
        variables.update(therapy.derive.values(therapy.name, variables))
    return variables
