"""Demo data for a newcomer: a care team and a few patients whose doses fall in the next
minutes, so `adherence run --demo` shows reminders, nudges and missed doses at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.models import CareTeam
from schedules import Catalog

DEMO_TEAM = "Demo MS Clinic"
DEMO_TZ = "America/New_York"
# (name, phone, regimen, options, minutes from now, discreet)
DEMO_PATIENTS = [
    ("Demo Patient Ana", "+12025550143", "Tecfidera", {}, 1, True),
    ("Demo Patient Ben", "+12025550144", "Copaxone", {"strength": "20"}, 2, True),
    ("Demo Patient Cleo", "+12025550145", "Aubagio", {"strength": "14"}, 3, False),
]


def seed_demo(session: Session, *, catalog: Catalog, now: datetime, horizon_days: int = 35) -> bool:
    """Seed once; returns False when the demo team already exists (nothing changed)."""
    if session.exec(select(CareTeam).where(CareTeam.name == DEMO_TEAM)).first() is not None:
        return False
    zone = ZoneInfo(DEMO_TZ)
    team = create_team(session, name=DEMO_TEAM, tz=DEMO_TZ, phone="+12025550100", now=now)
    plan_ids = []
    for name, phone, regimen, options, minutes, discreet in DEMO_PATIENTS:
        patient = create_patient(
            session,
            team=team,
            name=name,
            phone=phone,
            tz=DEMO_TZ,
            now=now,
            discreet=discreet,
            external_id=f"demo-{phone[-4:]}",
        )
        first = (now + timedelta(minutes=minutes)).astimezone(zone)
        therapy = catalog.get(regimen).regimen(options)
        times = [first.strftime("%H:%M")]
        if therapy.times_per_day == 2:
            times.append((first + timedelta(hours=12)).strftime("%H:%M"))
        plan = create_plan(
            session,
            catalog=catalog,
            patient=patient,
            regimen=regimen,
            start=first.date(),
            now=now - timedelta(minutes=1),
            times=times,
            options=options,
        )
        assert plan.id is not None
        plan_ids.append(plan.id)
    materialize(session, now=now, catalog=catalog, horizon_days=horizon_days, plan_ids=plan_ids)
    return True
