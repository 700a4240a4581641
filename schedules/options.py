"""Per-therapy options (strength, target dose, genotype, weight, course length, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OptionError(ValueError):
    """An unknown option, a bad value or a missing required option; says what is valid."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    type: str = "choice"  # choice | number | integer | weekdays
    help: str = ""
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    default: str | None = None
    required: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)  # value -> why not

    def valid_words(self) -> str:
        if self.type == "choice":
            return "|".join(self.values)
        if self.type == "weekdays":
            return "three weekdays such as mon,wed,fri"
        lo = "" if self.minimum is None else _num(self.minimum)
        hi = "" if self.maximum is None else _num(self.maximum)
        kind = "a whole number" if self.type == "integer" else "a number"
        if lo and hi:
            return f"{kind} from {lo} to {hi}"
        if lo:
            return f"{kind} of at least {lo}"
        return kind

    def check(self, therapy: str, raw: str) -> str:
        value = raw.strip()
        if value in self.refused:
            raise OptionError(f"{therapy}: {self.name}={value} is refused: {self.refused[value]}")
        if self.type == "choice":
            folded = {v.lower(): v for v in self.values}
            if value.lower() not in folded:
                raise OptionError(
                    f"{therapy}: {self.name}={value!r} is not valid; valid values: "
                    + ", ".join(self.values)
                )
            return folded[value.lower()]
        if self.type == "weekdays":
            return _check_weekdays(therapy, self.name, value)
        try:
            number = float(value)
        except ValueError:
            raise OptionError(
                f"{therapy}: {self.name}={value!r} is not {self.valid_words()}"
            ) from None
        if self.type == "integer" and number != int(number):
            raise OptionError(f"{therapy}: {self.name}={value!r} is not {self.valid_words()}")
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise OptionError(f"{therapy}: {self.name}={value} is outside {self.valid_words()}")
        return _num(number)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _check_weekdays(therapy: str, name: str, value: str) -> str:
    parts = [p.strip().lower()[:3] for p in value.replace("/", ",").split(",") if p.strip()]
    if len(parts) != 3 or any(p not in WEEKDAY_NAMES for p in parts) or len(set(parts)) != 3:
        raise OptionError(
            f"{therapy}: {name}={value!r} must name three different weekdays, e.g. mon,wed,fri"
        )
    days = sorted(WEEKDAY_NAMES.index(p) for p in parts)
    gaps = [(days[(i + 1) % 3] - days[i]) % 7 for i in range(3)]
    if min(gaps) < 2:
        raise OptionError(
            f"{therapy}: {name}={value!r} puts doses on consecutive days; "
            "keep at least 48 hours between doses (e.g. mon,wed,fri)"
        )
    return ",".join(WEEKDAY_NAMES[d] for d in days)


def resolve_options(
    therapy: str, specs: Mapping[str, OptionSpec], given: Mapping[str, str]
) -> dict[str, str]:
    """Validate ``given`` against ``specs`` and fill defaults; OptionError otherwise."""
    out: dict[str, str] = {}
    for key, raw in given.items():
        spec = specs.get(key)
        if spec is None:
            valid = ", ".join(f"{s.name} ({s.valid_words()})" for s in specs.values())
            raise OptionError(
                f"{therapy} has no option {key!r}; "
                + (f"valid options: {valid}" if valid else "it takes no options")
            )
        out[key] = spec.check(therapy, str(raw))
    for spec in specs.values():
        if spec.name in out:
            continue
        if spec.default is not None:
            out[spec.name] = spec.default
        elif spec.required:
            raise OptionError(
                f"{therapy} needs --option {spec.name}=VALUE ({spec.valid_words()})"
                + (f": {spec.help}" if spec.help else "")
            )
    return out


def weekday_numbers(value: str) -> tuple[int, ...]:
    return tuple(sorted(WEEKDAY_NAMES.index(p) for p in value.split(",")))
