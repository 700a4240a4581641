"""`adherence simulate SCENARIO.toml`: the real engine on a virtual clock, in memory.

A scenario declares a care team, patients with their plans, the period, and how each
patient behaves. The output is a timeline of every text sent and received, every dose
status change and every rule event: what a patient will live through, before they do.
Format: docs/simulation.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.core.config import Settings, settings_from_mapping
from adherence.dosing.replies import handle_reply
from adherence.dosing.rules import DOSE_MISSED
from adherence.engine import dispatch_policy, tick
from adherence.patients.enrollment import EnrollmentError, create_patient, create_plan, create_team
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import Dose, Flag, Patient, Plan, RuleEvent
from adherence.supply.records import SupplyError, record_fill
from notifiers.sms import MemorySms
from schedules import Catalog, load_catalog
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


@dataclass
class Timeline:
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, at: datetime, zone: ZoneInfo, **fields: Any) -> None:
        self.events.append({"at": at.astimezone(zone).isoformat(), **fields})


def run_scenario(
    scenario: Scenario, *, catalog: Catalog | None = None, engine: Engine | None = None
) -> dict[str, Any]:
    """Run ``scenario``; on ``engine`` (a migrated, empty database) or in memory."""
    catalog = catalog or load_catalog()
    own = engine is None
    if engine is None:
        engine = make_engine("sqlite://")
        upgrade(engine)
    channel = MemorySms()
    eng = scenario.settings.engine
    policy = dispatch_policy(scenario.settings)
    timeline = Timeline()
    zones: dict[int, ZoneInfo] = {}
    names: dict[int, str] = {}
    by_phone: dict[str, SimPatient] = {}
    now = scenario.start.astimezone(ZoneInfo("UTC"))
    pending: list[tuple[datetime, int, str, str]] = []  # (at, patient id, text, why)
    fills: list[tuple[datetime, Plan, int, float | None, str]] = []  # pharmacy fills to come
    with Session(engine, expire_on_commit=False) as s:
        try:
            team = create_team(
                s,
                name=scenario.team["name"],
                tz=scenario.team["tz"],
                now=now,
                phone=scenario.team.get("phone", ""),
            )
            for sp in scenario.patients:
                p = sp.spec
                patient = create_patient(
                    s,
                    team=team,
                    name=p["name"],
                    phone=p["phone"],
                    tz=p["tz"],
                    now=now,
                    discreet=bool(p.get("discreet", True)),
                    quiet_hours=p.get("quiet_hours"),
                    language=p.get("language", "en"),
                    email=p.get("email", ""),
                )
                assert patient.id is not None
                sp.id = patient.id
                zones[patient.id] = ZoneInfo(patient.tz)
                names[patient.id] = patient.name
                by_phone[patient.phone] = sp
                created: list[Plan] = []
                for plan in p.get("plan", []):
                    start = plan["start"]
                    start = start if isinstance(start, date) else date.fromisoformat(str(start))
                    made = create_plan(
                        s,
                        catalog=catalog,
                        patient=patient,
                        regimen=plan["regimen"],
                        start=start,
                        now=now,
                        times=list(plan.get("times", [])),
                        options={k: str(v) for k, v in plan.get("options", {}).items()},
                    )
                    created.append(made)
                for when, number, days, quantity, source in sp.dispenses:
                    fills.append(
                        (
                            when.astimezone(ZoneInfo("UTC")),
                            created[number - 1],
                            days,
                            quantity,
                            source,
                        )
                    )
                for at, text in sp.scripted:
                    pending.append((at.astimezone(ZoneInfo("UTC")), patient.id, text, "scripted"))
        except (EnrollmentError, ValueError) as exc:
            raise ScenarioError(f"enrolment: {exc}") from None
        statuses: dict[int, str] = {}
        flag_states: dict[int, str] = {}
        fills.sort(key=lambda f: f[0])
        seen_events = 0
        seen_sent = 0
        next_materialize = now
        end = scenario.end.astimezone(ZoneInfo("UTC"))
        while now <= end:
            # Replies due now, in order.
            pending.sort()
            while pending and pending[0][0] <= now:
                at, pid, text, why = pending.pop(0)
                replier = s.get(Patient, pid)
                assert replier is not None
                timeline.add(at, zones[pid], type="reply", patient=names[pid], text=text, why=why)
                outcome = handle_reply(
                    s,
                    catalog=catalog,
                    patient=replier,
                    text=text,
                    now=at,
                    snooze_minutes=eng.snooze_minutes,
                    horizon_days=eng.horizon_days,
                )
                if outcome.answer:
                    timeline.add(
                        at,
                        zones[pid],
                        type="sms",
                        patient=names[pid],
                        purpose="answer",
                        text=outcome.answer,
                    )
            while fills and fills[0][0] <= now:
                at, plan_row, days, quantity, source = fills.pop(0)
                pid = plan_row.patient_id
                try:
                    recorded = record_fill(
                        s,
                        catalog=catalog,
                        plan=plan_row,
                        dispensed_on=at.astimezone(zones[pid]).date(),
                        days_supply=days,
                        now=at,
                        today=at.astimezone(zones[pid]).date(),
                        quantity=quantity,
                        source=source,
                        via="import",
                        by="simulation",
                    )
                except SupplyError as exc:
                    raise ScenarioError(f"patient {names[pid]!r} dispenses: {exc}") from None
                s.commit()
                timeline.add(
                    at,
                    zones[pid],
                    type="dispense",
                    patient=names[pid],
                    plan=plan_row.id,
                    fill=recorded.fill.id,
                    days_supply=days,
                    quantity=quantity,
                )
            do_mat = now >= next_materialize
            if do_mat:
                # Once a virtual day is plenty with a 35-day horizon (plan changes
                # materialise at once anyway); hourly would only slow the simulation.
                next_materialize = now + timedelta(minutes=max(eng.materialize_every_minutes, 1440))
            result = tick(
                s,
                now=now,
                catalog=catalog,
                policy=policy,
                channel=channel,
                horizon_days=eng.horizon_days,
                do_materialize=do_mat,
                supply=scenario.settings.supply,
            )
            for msg in channel.sent[seen_sent:]:
                sp = by_phone[msg.to]
                assert sp.id is not None
                pid = sp.id
                purpose = (
                    msg.key.split(":")[2] if msg.key.startswith("dose:") else msg.key.split(":")[0]
                )
                timeline.add(
                    now, zones[pid], type="sms", patient=names[pid], purpose=purpose, text=msg.body
                )
                if msg.key.startswith("dose:") and purpose in ("reminder", "nudge", "snooze"):
                    dose = s.get(Dose, int(msg.key.split(":")[1]))
                    if (
                        dose is not None
                        and dose.kind == "dose"
                        and sp.behaviour.reply
                        and (dose.local_date - scenario.start.astimezone(zones[pid]).date()).days
                        + 1
                        not in sp.behaviour.ignore_days
                        and not any(p[1] == pid and p[3] == "behaviour" for p in pending)
                    ):
                        pending.append(
                            (now + sp.behaviour.after, pid, sp.behaviour.reply, "behaviour")
                        )
            seen_sent = len(channel.sent)
            for dose in s.exec(select(Dose).order_by(col(Dose.due_at), col(Dose.id))).all():
                assert dose.id is not None
                old = statuses.get(dose.id)
                if old != dose.status:
                    quiet = dose.status == "scheduled" or (
                        old == "scheduled" and dose.status == "cancelled"
                    )
                    if not quiet:
                        timeline.add(
                            now,
                            zones[dose.patient_id],
                            type="status",
                            patient=names[dose.patient_id],
                            dose=dose.id,
                            day=dose.day,
                            due=dose.due_at.astimezone(zones[dose.patient_id]).isoformat(),
                            amount=dose.amount,
                            unit=dose.unit,
                            phase=dose.phase,
                            old=old or "scheduled",
                            new=dose.status,
                            late=dose.late,
                        )
                    statuses[dose.id] = dose.status
            # The label rules that fired (a missed dose's own event is its status line).
            events = s.exec(
                select(RuleEvent).where(RuleEvent.type != DOSE_MISSED).order_by(col(RuleEvent.id))
            ).all()
            for ev in events[seen_events:]:
                timeline.add(
                    ev.at,
                    zones[ev.patient_id],
                    type="rule",
                    patient=names[ev.patient_id],
                    rule=ev.type,
                    details=ev.details,
                )
            seen_events = len(events)
            # Care-team flags (the simulation raises those of the home supply).
            for flag in s.exec(select(Flag).order_by(col(Flag.id))).all():
                assert flag.id is not None
                if flag_states.get(flag.id) != flag.status:
                    flag_states[flag.id] = flag.status
                    changed = flag.resolved_at if flag.status == "resolved" else flag.last_at
                    timeline.add(
                        changed or now,
                        zones[flag.patient_id],
                        type="flag",
                        patient=names[flag.patient_id],
                        flag=flag.id,
                        rule=flag.rule,
                        plan=flag.plan_id,
                        status=flag.status,
                        by=flag.resolved_by,
                    )
            candidates = [t for t in (result.next_at, next_materialize) if t is not None]
            candidates += [p[0] for p in pending]
            candidates += [f[0] for f in fills]
            nxt = min(candidates) if candidates else end + timedelta(seconds=1)
            now = max(nxt, now + timedelta(seconds=1))
        plans = s.exec(select(Plan)).all()
        summary = {
            "patients": len(scenario.patients),
            "plans": len(plans),
            "texts_sent": sum(1 for e in timeline.events if e["type"] == "sms"),
            "doses": _count(s),
            "rule_events": [e["rule"] for e in timeline.events if e["type"] == "rule"],
        }
    if own:
        engine.dispose()
    return {
        "start": scenario.start.isoformat(),
        "end": scenario.end.isoformat(),
        "summary": summary,
        "events": timeline.events,
    }


def _count(s: Session) -> dict[str, int]:
    out: dict[str, int] = {}
    for dose in s.exec(select(Dose)).all():
        out[dose.status] = out.get(dose.status, 0) + 1
    return dict(sorted(out.items()))


def render_text(result: dict[str, Any]) -> str:
    lines = [f"simulation {result['start']} .. {result['end']}"]
    for e in result["events"]:
        at = e["at"][:16].replace("T", " ")
        who = e.get("patient", "")
        if e["type"] == "sms":
            lines.append(f"{at}  {who:<12} <- text ({e['purpose']}): {e['text']}")
        elif e["type"] == "reply":
            lines.append(f"{at}  {who:<12} -> reply: {e['text']}")
        elif e["type"] == "status":
            late = " (late)" if e.get("late") else ""
            lines.append(
                f"{at}  {who:<12} dose Day {e['day']} {e['amount']:g} {e['unit']} "
                f"({e['phase']}, due {e['due'][11:16]}): {e['old']} -> {e['new']}{late}"
            )
        elif e["type"] == "rule":
            lines.append(f"{at}  {who:<12} RULE {e['rule']}: {e['details']}")
        elif e["type"] == "dispense":
            lines.append(f"{at}  {who:<12} dispensed: {e['days_supply']} days (plan {e['plan']})")
        elif e["type"] == "flag":
            lines.append(f"{at}  {who:<12} FLAG {e['rule']} (plan {e['plan']}): {e['status']}")
    s = result["summary"]
    lines.append(
        f"summary: {s['texts_sent']} texts, doses {s['doses']}, rule events {s['rule_events']}"
    )
    return "\n".join(lines)
