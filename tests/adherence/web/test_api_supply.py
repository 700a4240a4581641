"""``/plans/{plan_id}/supply`` over real HTTP (the coordinator API's own fixture, on SQLite
and PostgreSQL): the supply as the CLI shows it, fills recorded once, bad input a 422
naming the field. Scoping, authentication and audit rows are swept for every endpoint by
``test_api``."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from adherence.patients.enrollment import create_plan
from adherence.storage.models import AuditEvent, Dispense
from schedules import Catalog
from tests.adherence.web.test_api import API, World, world  # noqa: F401 (the fixture)


def test_a_fill_is_recorded_once_and_the_supply_shows_its_run_out(world: World) -> None:  # noqa: F811
    n, c = world.north, world.client
    url = f"{API}/plans/{n.plan.id}/supply"
    assert c.get(url, headers=n.auth).json()["fills"] == []

    body = {"dispensed": "2026-03-01", "days_supply": 30, "quantity": 30, "source": "pharmacy"}
    first = c.post(url, json=body, headers=n.auth)
    again = c.post(url, json=body, headers=n.auth)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["created"] is True and again.json()["created"] is False
    assert first.json()["fill"]["id"] == again.json()["fill"]["id"]
    assert first.json()["fill"]["recorded_via"] == "api"
    supply = c.get(url, headers=n.auth).json()
    assert supply["pqa_runs_out"] == "2026-03-31"
    assert supply["refill_allowed_from"] == "2026-03-25"
    assert supply["today"] == "2026-03-11"
    # North skipped no dose but missed every other one: missed doses leave tablets on hand.
    assert supply["runs_out"] > supply["pqa_runs_out"]
    assert supply["refill_remind_at"].endswith("-04:00")  # 10:00 New York summer time
    assert supply["refill_remind_at"][11:16] == "10:00"
    with Session(world.engine) as s:
        assert len(s.exec(select(Dispense)).all()) == 1
        rows = s.exec(select(AuditEvent).where(AuditEvent.action == "dispense")).all()
    assert [(r.resource, r.patient_id) for r in rows] == [
        (f"plan:{n.plan.id}/supply", n.patient.id)
    ] * 2


def test_bad_fills_answer_422_naming_the_field(world: World, catalog: Catalog) -> None:  # noqa: F811
    n, c = world.north, world.client
    url = f"{API}/plans/{n.plan.id}/supply"
    future = (world.now.date() + timedelta(days=3)).isoformat()
    cases = [
        ({"dispensed": "2026-03-01", "days_supply": 0}, "days_supply"),
        ({"dispensed": "2026-03-01", "days_supply": 400}, "days_supply"),
        ({"dispensed": "2026-03-01", "days_supply": 30, "quantity": 0}, "quantity"),
        ({"dispensed": "2026-02-30", "days_supply": 30}, "dispensed"),
        ({"dispensed": future, "days_supply": 30}, "dispensed"),
        ({"days_supply": 30}, "dispensed"),
        ({"dispensed": "2026-03-01", "days_supply": 30, "drug": "x"}, "drug"),
    ]
    for body, field in cases:
        r = c.post(url, json=body, headers=n.auth)
        assert r.status_code == 422, (body, r.text)
        assert [e["loc"][-1] for e in r.json()["detail"]] == [field], (body, r.text)
    with Session(world.engine, expire_on_commit=False) as s:
        clinic = create_plan(
            s, catalog=catalog, patient=n.patient, regimen="ocrelizumab",
            start=date(2026, 3, 1), now=world.now,
        )  # fmt: skip
    r = c.post(
        f"{API}/plans/{clinic.id}/supply",
        json={"dispensed": "2026-03-01", "days_supply": 30},
        headers=n.auth,
    )
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["path", "plan_id"] and "given in clinic" in error["msg"]
    with Session(world.engine) as s:
        assert s.exec(select(Dispense)).all() == []
