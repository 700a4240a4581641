"""POST /api/v1/history/import over real HTTP: team-scoped, audited, CSV and FHIR alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.bootstrap import App
from adherence.care.coordinators import add_coordinator
from adherence.core.config import settings_from_mapping
from adherence.storage.models import AuditEvent
from adherence.web import create_app
from schedules import Catalog
from tests.adherence.history.helpers import NOW, Clinic, clinic, imported, to_bundle, to_csv
from tests.adherence.web.test_api import Client, serve

URL = "/api/v1/history/import"
ROWS = [
    ("MS-1", "teriflunomide", "2026-03-02T09:00:00-05:00", "taken", None, ""),
    ("MS-2", "Tecfidera", "2026-03-02T20:00:00-05:00", "skipped", None, "upset stomach"),
    ("MS-11", "teriflunomide", "2026-03-02T09:00:00-05:00", "taken", None, ""),  # South's
]


@dataclass
class World:
    client: Client
    engine: Engine
    north: Clinic
    south: Clinic
    token: str
    coordinator_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def audit(self) -> list[AuditEvent]:
        with Session(self.engine) as s:
            return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


@pytest.fixture
def world(engine: Engine, db_url: str, catalog: Catalog) -> Iterator[World]:
    with Session(engine, expire_on_commit=False) as s:
        north = clinic(s, catalog, name="North Clinic")
        south = clinic(s, catalog, name="South Clinic", n0=10)
        c, token = add_coordinator(s, team=north.team, name="North", email="n@clinic.org", now=NOW)
    app = App(
        settings=settings_from_mapping({"database": {"url": db_url}}),
        engine=engine,
        catalog=catalog,
    )
    with serve(create_app(app, clock=lambda: NOW)) as client:
        yield World(client, engine, north, south, token, c.id or 0)


def test_import_sees_only_the_coordinators_team_and_is_audited(world: World) -> None:
    csv = {**world.auth, "Content-Type": "text/csv"}
    r = world.client.post(
        URL, params={"name": "north.csv"}, data=to_csv(ROWS).encode(), headers=csv
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["imported"], out["refused"]) == (2, 1)
    assert out["errors"] == [
        {"origin": "line 4", "line": 4, "field": "patient", "message": "no patient 'MS-11'"}
    ]
    with Session(world.engine) as s:
        doses = imported(s)
    assert len(doses) == 2 and all(d[0] != world.south.pills_plan.id for d in doses)
    (audit,) = world.audit()
    assert (audit.actor, audit.team_id, audit.action, audit.resource) == (
        f"coordinator:{world.coordinator_id}",
        world.north.team.id,
        "import",
        "history:north.csv",
    )
    details = json.loads(audit.details_json)
    assert details["imported"] == 2 and details["refused"] == 1 and len(details["sha256"]) == 64

    # The same history as a FHIR Bundle: the same doses, unchanged; nothing new audited.
    fhir = {**world.auth, "Content-Type": "application/fhir+json"}
    r = world.client.post(URL, data=json.dumps(to_bundle(ROWS)).encode(), headers=fhir)
    assert r.status_code == 200, r.text
    assert (r.json()["imported"], r.json()["unchanged"], r.json()["refused"]) == (0, 2, 1)
    assert r.json()["errors"][0]["field"] == "subject"
    with Session(world.engine) as s:
        assert imported(s) == doses
    assert len(world.audit()) == 1


def test_dry_run_and_strict_write_nothing(world: World) -> None:
    csv = {**world.auth, "Content-Type": "text/csv"}
    for params in ({"dry_run": "true"}, {"strict": "true"}):
        r = world.client.post(URL, params=params, data=to_csv(ROWS).encode(), headers=csv)
        assert r.status_code == 200, r.text
        assert r.json()["refused"] == 1
    with Session(world.engine) as s:
        assert imported(s) == []
    assert world.audit() == []


def test_an_unreadable_body_is_422_and_no_token_is_401(world: World) -> None:
    r = world.client.post(
        URL, data=b"{ not json", headers={**world.auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "body"]
    assert "not JSON" in r.json()["detail"][0]["msg"]
    r = world.client.post(
        URL, data=b"name,phone\n", headers={**world.auth, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    r = world.client.post(URL, data=to_csv(ROWS).encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 401
    assert world.audit() == []
