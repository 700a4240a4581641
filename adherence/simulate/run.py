"""Running a scenario: the real engine on a virtual clock, in memory (or on a given
database), and the timeline of every text sent and received, every dose status change,
every rule event, fill and flag; ``render_text`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.dosing.rules import DOSE_MISSED
from adherence.engine import dispatch_policy, tick
from adherence.patients.enrollment import EnrollmentError, create_patient, create_plan, create_team
from adherence.selfcare.router import ReplyRouter
from adherence.simulate.scenario import Scenario, ScenarioError, SimPatient
from adherence.storage.db import make_engine, upgrade
from adherence.storage.models import Dose, Flag, Patient, Plan, RuleEvent
from adherence.supply.records import SupplyError, record_fill
from notifiers.sms import MemorySms
from schedules import Catalog, load_catalog


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
    # Replies answer an open check-in or triage question first, as the webhook's do.
    replies = ReplyRouter(scenario.settings.checkins, scenario.settings.triage)
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
                outcome = replies(
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
