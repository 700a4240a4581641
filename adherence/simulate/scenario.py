"""Reading a scenario (TOML): the period, the care team, patients with their plans, their
behaviour, scripted replies and pharmacy fills. Every problem is a ``ScenarioError`` naming
the key. Format: docs/simulation.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adherence.core.config import Settings, settings_from_mapping
from schedules.localtime import load_zone


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the key (and patient)."""


@dataclass
class Behaviour:
    reply: str | None = "T"  # None: ignores every text
    after: timedelta = timedelta(minutes=10)
    ignore_days: set[int] = field(default_factory=set)  # simulation days (Day 1 = start) unanswered


@dataclass
class SimPatient:
    name: str
    spec: dict[str, Any]
    behaviour: Behaviour
    scripted: list[tuple[datetime, str]]
    id: int | None = None
    # Pharmacy fills: (when, the patient's plan number from 1, days supply, quantity, source).
    dispenses: list[tuple[datetime, int, int, float | None, str]] = field(default_factory=list)


@dataclass
class Scenario:
    start: datetime
    end: datetime
    team: dict[str, Any]
    patients: list[SimPatient]
    settings: Settings


_DAYS = re.compile(r"^\s*(\d+)\s*(?:-|–|to)\s*(\d+)\s*$")


def _days(value: Any, where: str) -> set[int]:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return set(value)
    if isinstance(value, str):
        out: set[int] = set()
        for part in value.split(","):
            m = _DAYS.match(part)
            if m:
                out.update(range(int(m.group(1)), int(m.group(2)) + 1))
            elif part.strip().isdigit():
                out.add(int(part))
            else:
                raise ScenarioError(
                    f"{where}: {value!r} is not a list of days like '3-7' or [3, 4]"
                )
        return out
    raise ScenarioError(f"{where}: expected a list of Day numbers or a range like '3-7'")


def _instant(value: Any, where: str, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ScenarioError(f"{where}: {value!r} is not an ISO date or date-time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    raise ScenarioError(f"{where}: expected a date or date-time")


_TOP = {"simulation", "team", "patient", "engine", "supply"}
_SIMULATION = {"start", "end", "days"}
_TEAM = {"name", "tz", "phone"}
_PATIENT = {
    "name",
    "phone",
    "tz",
    "discreet",
    "quiet_hours",
    "language",
    "behaviour",
    "reply",
    "reply_after_minutes",
    "ignore_days",
    "plan",
    "replies",
    "email",
    "dispenses",
}
_DISPENSE = {"at", "plan", "days_supply", "quantity", "source"}
_PLAN = {"regimen", "start", "times", "options"}


def load_scenario(text: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario is not valid TOML: {exc}") from None
    for key in data:
        if key not in _TOP:
            raise ScenarioError(f"unknown section [{key}] (known: {', '.join(sorted(_TOP))})")
    sim = data.get("simulation", {})
    team = data.get("team", {"name": "Simulated MS clinic", "tz": "UTC"})
    # A misspelt key would otherwise be dropped silently (a team left in UTC).
    for section, table, known in (("simulation", sim, _SIMULATION), ("team", team, _TEAM)):
        if not isinstance(table, dict):
            raise ScenarioError(f"[{section}] must be a table")
        for key in table:
            if key not in known:
                raise ScenarioError(
                    f"[{section}] {key}: unknown key (known: {', '.join(sorted(known))})"
                )
    team.setdefault("name", "Simulated MS clinic")
    team.setdefault("tz", "UTC")
    try:
        zone = load_zone(team["tz"])
    except ValueError as exc:
        raise ScenarioError(f"[team] tz: {exc}") from None
    if "start" not in sim:
        raise ScenarioError("[simulation] start: required (a date or ISO date-time)")
    start = _instant(sim["start"], "[simulation] start", zone)
    if "end" in sim:
        end = _instant(sim["end"], "[simulation] end", zone)
    elif "days" in sim:
        if not isinstance(sim["days"], int) or not 1 <= sim["days"] <= 3660:
            raise ScenarioError("[simulation] days: a whole number from 1 to 3660")
        end = start + timedelta(days=sim["days"])
    else:
        raise ScenarioError("[simulation] needs end or days")
    if end <= start:
        raise ScenarioError("[simulation] end is not after start")
    try:
        settings = settings_from_mapping(
            {"engine": data.get("engine", {}), "supply": data.get("supply", {})}, label="scenario"
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    patients = []
    raw_patients = data.get("patient", [])
    if not raw_patients:
        raise ScenarioError("no [[patient]] in the scenario")
    for n, p in enumerate(raw_patients, 1):
        where = f"[[patient]] #{n}"
        for key in p:
            if key not in _PATIENT:
                raise ScenarioError(
                    f"{where} {key}: unknown key (known: {', '.join(sorted(_PATIENT))})"
                )
        for key in ("name", "phone", "tz"):
            if key not in p:
                raise ScenarioError(f"{where} {key}: required")
        where = f"patient {p['name']!r}"
        behaviour = Behaviour()
        mode = p.get("behaviour", "answers")
        if mode not in ("answers", "ignores"):
            raise ScenarioError(f"{where} behaviour: {mode!r} is not 'answers' or 'ignores'")
        if mode == "ignores":
            behaviour.reply = None
        else:
            behaviour.reply = str(p.get("reply", "T"))
        mins = p.get("reply_after_minutes", 10)
        if not isinstance(mins, int) or mins < 0:
            raise ScenarioError(f"{where} reply_after_minutes: a whole number of minutes")
        behaviour.after = timedelta(minutes=mins)
        if "ignore_days" in p:
            behaviour.ignore_days = _days(p["ignore_days"], f"{where} ignore_days")
        try:
            pz = load_zone(p["tz"])
        except ValueError:
            pz = zone  # enrolment reports the patient's bad zone, naming the field
        scripted = []
        for r, reply in enumerate(p.get("replies", []), 1):
            if "at" not in reply or "text" not in reply:
                raise ScenarioError(f"{where} replies[{r}]: needs at and text")
            scripted.append(
                (_instant(reply["at"], f"{where} replies[{r}] at", pz), str(reply["text"]))
            )
        dispenses = [
            _dispense(d, f"{where} dispenses[{r}]", pz, len(p.get("plan", [])))
            for r, d in enumerate(p.get("dispenses", []), 1)
        ]
        for m, plan in enumerate(p.get("plan", []), 1):
            for key in plan:
                if key not in _PLAN:
                    raise ScenarioError(
                        f"{where} plan #{m} {key}: unknown key (known: {', '.join(sorted(_PLAN))})"
                    )
            if "regimen" not in plan or "start" not in plan:
                raise ScenarioError(f"{where} plan #{m}: needs regimen and start")
        patients.append(
            SimPatient(
                name=p["name"],
                spec=p,
                behaviour=behaviour,
                scripted=sorted(scripted),
                dispenses=sorted(dispenses, key=lambda d: d[0]),
            )
        )
    return Scenario(start=start, end=end, team=team, patients=patients, settings=settings)


def _dispense(
    d: Any, where: str, zone: ZoneInfo, plans: int
) -> tuple[datetime, int, int, float | None, str]:
    """A pharmacy fill in a scenario: ``{ at = ..., days_supply = 30 }`` (``plan``: the
    patient's plan number, from 1; ``quantity``: doses supplied; ``source``)."""
    if not isinstance(d, dict):
        raise ScenarioError(f"{where}: expected a table like {{ at = ..., days_supply = 30 }}")
    for key in d:
        if key not in _DISPENSE:
            raise ScenarioError(
                f"{where} {key}: unknown key (known: {', '.join(sorted(_DISPENSE))})"
            )
    if "at" not in d or "days_supply" not in d:
        raise ScenarioError(f"{where}: needs at and days_supply")
    days, plan, quantity = d["days_supply"], d.get("plan", 1), d.get("quantity")
    if not isinstance(days, int) or isinstance(days, bool):
        raise ScenarioError(f"{where} days_supply: a whole number of days")
    if not isinstance(plan, int) or not 1 <= plan <= max(plans, 1):
        raise ScenarioError(f"{where} plan: the patient's plan number, 1 to {max(plans, 1)}")
    if quantity is not None and not isinstance(quantity, int | float):
        raise ScenarioError(f"{where} quantity: a number of doses")
    at = _instant(d["at"], f"{where} at", zone)
    return at, plan, days, quantity, str(d.get("source", "simulation"))
