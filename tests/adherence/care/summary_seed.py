"""A patient for the visit summary tests: six months on glatiramer, then teriflunomide, with
missed and late doses, a supply gap, a flare and its triage answers, weekly check-ins, label
monitoring done and overdue, and injection sites with one repeat against the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, col, select

from adherence.patients.enrollment import create_plan, stop_plan
from adherence.storage.models import Dispense, Dose, Flag, Patient, Plan
from adherence.storage.selfcare import Observation
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, drive, enroll

VISIT = at(2026, 6, 2, 10)  # the visit: the summary is printed that morning
SINCE, UNTIL = date(2025, 12, 3), date(2026, 6, 2)
SWITCH = date(2026, 3, 2)
SITES = ["LT", "RT", "LA", "RA"]  # glatiramer's thigh and abdomen codes


@dataclass
class Seeded:
    enrolled: Enrolled
    oral: Plan
    patient: Patient


def _missed_day(d: Dose) -> bool:
    return d.local_date.day in (7, 21) and d.local_date.month in (1, 4, 5)


def seed_patient(s: Session, catalog: Catalog, *, n: int = 0, **team: object) -> Seeded:
    t0 = at(2025, 12, 1, 8)
    e = enroll(s, catalog, "glatiramer", t0.date(), now=t0, times=["20:00"], n=n,
               external_id=f"MRN-{4711 + n}", **team)  # type: ignore[arg-type]  # fmt: skip
    drive(s, catalog, start=t0, until=at(2026, 3, 1, 9), take=lambda d: not _missed_day(d))
    stop_plan(s, plan=e.plan, now=at(2026, 3, 1, 9), reason="switched to an oral therapy")
    oral = create_plan(s, catalog=catalog, patient=e.patient, regimen="teriflunomide",
                       start=SWITCH, now=at(2026, 3, 1, 9), times=["09:00"])  # fmt: skip
    drive(s, catalog, start=at(2026, 3, 1, 9), until=VISIT - timedelta(hours=2),
          take=lambda d: not _missed_day(d))  # fmt: skip
    pid = e.patient.id
    injections = list(s.exec(select(Dose).where(Dose.plan_id == e.plan.id,
                                                Dose.status == "taken").order_by(col(Dose.due_at))))  # fmt: skip
    for i, d in enumerate(injections):
        d.site = SITES[i % 4]
    # The same thigh twice running: glatiramer's rule is once a week per site.
    injections[20].site = injections[19].site
    injections[20].site_note = "same site within 7 days"
    taken = list(s.exec(select(Dose).where(Dose.plan_id == oral.id, Dose.status == "taken",
                                           Dose.kind == "dose").order_by(col(Dose.due_at))))  # fmt: skip
    for d in taken[10:13]:  # taken late, inside the window
        d.late = True
        d.taken_at = d.due_at + timedelta(hours=7)
    checks = list(s.exec(select(Dose).where(Dose.plan_id == oral.id, Dose.kind == "monitoring")
                         .order_by(col(Dose.due_at))))  # fmt: skip
    assert len(checks) >= 2, [c.local_date for c in checks]
    checks[0].status, checks[0].taken_at = "taken", checks[0].due_at + timedelta(days=1)
    for d in checks[1:]:
        if d.status == "taken":
            d.status, d.taken_at = "missed", None
    # Fills: a 30-day supply on the switch, the next 9 days late (a supply gap), then on time.
    for day in (SWITCH, date(2026, 4, 10), date(2026, 5, 9)):
        s.add(Dispense(plan_id=oral.id, patient_id=pid, dispensed_on=day, days_supply=30,  # type: ignore[arg-type]
                       source="specialty pharmacy", created_at=VISIT))  # fmt: skip
    flare_at = at(2026, 4, 20, 18).astimezone(UTC)
    s.add(Flag(team_id=e.team.id, patient_id=pid, rule="flare_reported", severity="urgent",  # type: ignore[arg-type]
               status="resolved", first_at=flare_at, last_at=flare_at))  # fmt: skip
    for item, minutes in (("triage_new", 5), ("triage_24h", 9)):
        s.add(Observation(patient_id=pid, item=item, value_type="yes_no", value=1.0,  # type: ignore[arg-type]
                          observed_at=flare_at + timedelta(minutes=minutes)))  # fmt: skip
    week = 0
    day = datetime(2025, 12, 6, 15, tzinfo=UTC)
    while day.date() < UNTIL:
        fatigue = 3.0 + (2 if date(2026, 4, 14) <= day.date() <= date(2026, 5, 5) else 0)
        for item, value_type, value in (
            ("fatigue", "score", fatigue + week % 2),
            ("walking", "score", 2.0),
            ("new_symptoms", "yes_no", 1.0 if day.date().month == 4 else 0.0),
        ):
            s.add(Observation(patient_id=pid, item=item, value_type=value_type, value=value,  # type: ignore[arg-type]
                              observed_at=day))  # fmt: skip
        day += timedelta(days=7)
        week += 1
    s.commit()
    s.refresh(e.patient)
    return Seeded(e, oral, e.patient)
