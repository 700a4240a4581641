"""Plain-words descriptions of a regimen, for `adherence regimens show` and clinicians."""

from __future__ import annotations

from schedules.catalog import Therapy
from schedules.options import WEEKDAY_NAMES
from schedules.pieces import Phase, Regimen, Step


def _amount(phase: Phase, unit: str) -> str:
    if phase.amounts:
        per_day = ", ".join(f"{a:g}" for a in phase.amounts)
        return f"{per_day} {unit} on consecutive occasions"
    return f"{phase.amount:g} {unit}"


def _start(phase: Phase, first: bool) -> str:
    if phase.day is not None:
        return f"from Day {phase.day}"
    if phase.from_start is not None:
        return f"from {phase.from_start.words()} after Day 1"
    if phase.after is not None:
        return f"{phase.after.words()} after the previous occasion"
    return "from Day 1" if first else "next"


def _repeat(phase: Phase, regimen: Regimen) -> str:
    if phase.weekdays:
        days = regimen.weekdays
        which = (
            "/".join(WEEKDAY_NAMES[d].title() for d in days)
            if days
            else ("three weekdays (the start date's weekday, +2 and +4 days, unless chosen)")
        )
        return f"on {which}"
    if phase.every is None:
        return "once"
    words = phase.every.words()
    if words == "1 day":
        return "every day"
    if words.startswith("1 "):
        return "every " + words[2:]
    return "every " + words


def _length(phase: Phase) -> str:
    if phase.amounts:
        return f", {len(phase.amounts)} occasions"
    if phase.count is not None and (phase.every is not None or phase.weekdays):
        return f", {phase.count} occasion" + ("s" if phase.count != 1 else "")
    if phase.through_day is not None:
        return f", through Day {phase.through_day}"
    if phase.every is None and not phase.weekdays:
        return ""
    return ", ongoing"


def describe(therapy: Therapy, regimen: Regimen) -> list[str]:
    times = ", ".join(t.strftime("%H:%M") for t in regimen.default_times)
    per_day = {1: "once", 2: "twice"}.get(regimen.times_per_day, f"{regimen.times_per_day} times")
    lines = [
        f"{therapy.display} — {therapy.kind}, {therapy.route}",
        f"  {therapy.summary}",
        f"  code: {therapy.code}   default time(s): {times} ({per_day} on each dosing day)",
    ]
    if therapy.options:
        lines.append("  options:")
        for spec in therapy.options.values():
            chosen = regimen.options.get(spec.name)
            extra = (
                f"default {spec.default}"
                if spec.default
                else ("required" if spec.required else "optional")
            )
            lines.append(
                f"    {spec.name}: {spec.valid_words()} ({extra}"
                + (f"; using {chosen}" if chosen else "")
                + f") — {spec.help}"
            )
    lines.append("  pattern:")
    for i, phase in enumerate(regimen.phases):
        window = ""
        if phase.window is not None:
            w = phase.window
            parts = []
            if w.earliest_after_previous:
                parts.append(f"not before {w.earliest_after_previous.words()} after the previous")
            if w.latest_after_previous:
                parts.append(f"not after {w.latest_after_previous.words()} after the previous")
            if w.latest_after_target:
                parts.append(f"up to {w.latest_after_target.words()} after the target date")
            mark = " [unconfirmed]" if w.source == "unconfirmed" else ""
            window = f"; window: {', '.join(parts)}{mark}"
        label = f" ({phase.label})" if phase.label and "{" not in phase.label else ""
        lines.append(
            f"    {phase.name}: {_amount(phase, regimen.unit)}{label} {phase.kind}, "
            f"{_start(phase, i == 0)}, {_repeat(phase, regimen)}{_length(phase)}{window}"
        )
    if regimen.cap is not None:
        lines.append(
            f"    stops before the cumulative dose would pass {regimen.cap:g} {regimen.unit}"
        )
    if regimen.monitoring:
        lines.append("  monitoring:")
        for mon in regimen.monitoring:
            mark = " [unconfirmed]" if mon.source == "unconfirmed" else ""
            if mon.anchor == "start":
                when = f"from {mon.offsets[0].words()} after Day 1"
                if mon.every:
                    when += f", every {mon.every.words()}"
                if mon.count:
                    when += f", {mon.count} times"
                if mon.until_after_last_dose:
                    when += f", until {mon.until_after_last_dose.words()} after the last dose"
            elif mon.anchor == "before_start":
                when = _relative(mon.offsets[0], "Day 1") + ", never before enrolment"
            elif mon.anchor == "dose":
                scope = "the first dose" if mon.first == 1 else "each dose"
                when = " and ".join(_relative(o, scope) for o in mon.offsets)
                if any(o.days < 0 or o.months < 0 for o in mon.offsets):
                    when += " (never before Day 1)"
            else:
                each = "each of " if len(mon.phases) > 1 else ""
                scope = f"the start of {each}{', '.join(mon.phases)}"
                if all(o.days > 0 or o.months > 0 for o in mon.offsets):
                    when = f"{' and '.join(o.words() for o in mon.offsets)} after {scope}"
                else:
                    when = " and ".join(_relative(o, scope) for o in mon.offsets)
            ref = f"; {mon.source}: {mon.ref}" if mon.ref else f"; {mon.source}"
            lines.append(f"    {mon.label}: {when}{ref}{mark}")
    if regimen.rules:
        lines.append("  rules:")
        for rule in regimen.rules:
            mark = " [unconfirmed]" if rule.source == "unconfirmed" else ""
            lines.append(f"    {rule.type}: {rule.text}{mark}")
    lines.append("  sources: " + "; ".join(therapy.sources))
    return lines


def _relative(offset: Step, scope: str) -> str:
    """'at the first dose', '7 days before each dose', '2 months after the start of ...'."""
    if offset.days < 0 or offset.months < 0:
        return f"{Step(-offset.days, -offset.months).words()} before {scope}"
    if not offset.days and not offset.months:
        return f"at {scope}"
    return f"{offset.words()} after {scope}"
