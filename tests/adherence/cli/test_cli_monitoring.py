"""The clinic records a label check done with ``adherence confirm --dose``, as it records a
dose given in clinic, and that clears the check's ``monitoring_overdue`` flag.

The patient was enrolled on teriflunomide a month ago, so its first ALT test is due today
at 09:00 (the command runs in a subprocess on the real clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from adherence.care.flags import evaluate
from adherence.core.config import settings_from_mapping
from adherence.dosing.materialize import materialize
from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.models import Dose, Flag
from schedules import Catalog
from schedules.localtime import add_months
from tests.adherence.cli.test_cli_enrollment import NY, Cli, cli, local_today

__all__ = ["cli"]  # the fixture, shared with the enrolment tests

SETTINGS = settings_from_mapping({"monitoring": {"overdue_days": 30}})


def _check_due_today(engine: Engine, catalog: Catalog) -> int:
    now = datetime.now(UTC)
    start = add_months(local_today(NY), -1)
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="North Clinic", tz=NY, now=now)
        patient = create_patient(
            s, team=team, name="Ann Example", phone="+12025550143", tz=NY, now=now,
            external_id="MS-7",
        )  # fmt: skip
        plan = create_plan(
            s, catalog=catalog, patient=patient, regimen="teriflunomide", start=start, now=now
        )
        plan.created_at = now - timedelta(days=40)  # enrolled before Day 1, long ago
        s.add(plan)
        s.commit()
        materialize(s, now=now, catalog=catalog, horizon_days=3, plan_ids=[plan.id or 0])
        check = s.exec(select(Dose).where(Dose.plan_id == plan.id, Dose.kind == "monitoring")).one()
        assert (check.local_date, check.label) == (local_today(NY), "ALT (liver) blood test")
        return check.id or 0


def test_confirm_records_a_check_and_clears_its_overdue_flag(
    cli: Cli, engine: Engine, catalog: Catalog
) -> None:
    check_id = _check_due_today(engine, catalog)
    later = datetime.now(UTC) + timedelta(days=32)  # past the 30-day window
    with Session(engine) as s:
        evaluate(s, now=later, catalog=catalog, settings=SETTINGS, full=True)
        s.commit()
        (flag,) = s.exec(select(Flag).where(Flag.rule == "monitoring_overdue")).all()
        assert flag.status == "open"

    listed = cli.ok("doses", "MS-7")
    assert "monitoring" in listed
    out = cli.ok("confirm", "MS-7", "--taken", "--dose", str(check_id), "--by", "nurse")
    assert out.strip() == f"dose {check_id}: scheduled -> taken"

    with Session(engine) as s:
        evaluate(s, now=later, catalog=catalog, settings=SETTINGS, full=True)
        s.commit()
        (flag,) = s.exec(select(Flag).where(Flag.rule == "monitoring_overdue")).all()
        assert (flag.status, flag.resolved_by) == ("resolved", "system: check recorded")
        assert s.get(Dose, check_id).status == "taken"  # type: ignore[union-attr]
