"""The coordinator API over real HTTP, on SQLite and PostgreSQL.

The app built by ``create_app`` is served by uvicorn on loopback (in a thread) and called
with ``requests``: real sockets, real headers. (``fastapi.testclient`` would need httpx,
which the project does not install.)

Two care teams, each with a patient, a plan, doses and a flag, and a coordinator each. The
cross-team and authentication checks walk the OpenAPI document, so an endpoint added later
is covered without anyone remembering to add it here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from requests import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.bootstrap import App
from adherence.care.coordinators import add_coordinator, revoke
from adherence.core.config import settings_from_mapping
from adherence.patients.enrollment import create_team
from adherence.storage.models import AuditEvent, CareTeam, Dose, Flag, Patient, Plan
from adherence.web import create_app
from schedules import Catalog
from tests.adherence.engine_helpers import drive, enroll
from tests.adherence.web.server import Client, serve

API = "/api/v1"


@dataclass
class Side:
    """One care team as seen by its coordinator."""

    team: CareTeam
    patient: Patient
    plan: Plan
    flag: Flag
    token: str
    coordinator_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def ids(self) -> dict[str, int]:
        return {
            "patient_id": self.patient.id,  # type: ignore[dict-item]
            "plan_id": self.plan.id,  # type: ignore[dict-item]
            "flag_id": self.flag.id,  # type: ignore[dict-item]
        }


@dataclass
class World:
    client: Client
    engine: Engine
    now: datetime
    north: Side
    south: Side
    revoked_token: str

    def audit(self) -> list[AuditEvent]:
        with Session(self.engine) as s:
            return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def _flag(s: Session, team: CareTeam, patient: Patient, plan: Plan, now: datetime) -> Flag:
    flag = Flag(
        open_key=f"plan:{plan.id}:missed_doses",
        team_id=team.id,  # type: ignore[arg-type]
        patient_id=patient.id,  # type: ignore[arg-type]
        plan_id=plan.id,
        rule="missed_doses",
        first_at=now,
        last_at=now,
        details_json=json.dumps({"missed": 2}),
    )
    s.add(flag)
    s.commit()
    s.refresh(flag)
    return flag


@pytest.fixture
def world(engine: Engine, db_url: str, catalog: Catalog, t0: datetime) -> Iterator[World]:
    now = t0 + timedelta(days=10)
    sides = []
    with Session(engine, expire_on_commit=False) as s:
        for n, (name, ext) in enumerate([("North Clinic", "N-1"), ("South Clinic", "S-1")]):
            team = create_team(s, name=name, tz="America/New_York", now=t0)
            e = enroll(
                s,
                catalog,
                "teriflunomide",
                t0.date(),
                now=t0,
                times=["09:00"],
                team=team,
                n=n,
                external_id=ext,
            )
            c, token = add_coordinator(
                s, team=team, name=f"{name} coordinator", email=f"c{n}@clinic.org", now=t0
            )
            flag = _flag(s, team, e.patient, e.plan, now)
            sides.append(Side(team, e.patient, e.plan, flag, token, c.id))  # type: ignore[arg-type]
        # Every other North dose is taken, every South dose is: the two teams' figures differ.
        drive(
            s,
            catalog,
            start=t0,
            until=now,
            take=lambda d: d.patient_id != sides[0].patient.id or d.local_date.day % 2 == 0,
        )
        gone, revoked_token = add_coordinator(
            s, team=sides[0].team, name="Former", email="former@clinic.org", now=t0
        )
        revoke(s, gone.id, t0)  # type: ignore[arg-type]
    settings = settings_from_mapping({"database": {"url": db_url}})
    app = App(settings=settings, engine=engine, catalog=catalog)
    with serve(create_app(app, clock=lambda: now)) as client:
        yield World(client, engine, now, sides[0], sides[1], revoked_token)


# --- the OpenAPI document drives the sweeps -------------------------------------------------


def operations(client: Client) -> list[tuple[str, str, dict[str, Any]]]:
    doc = client.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        if path.startswith(API)
        for method, op in item.items()
    ]


BODIES = {
    "ack": {"note": "called the patient"},
    "resolve": {"note": "refill arranged"},
    "supply": {"dispensed": "2026-03-05", "days_supply": 30},
}
# The history import's body is a file: one taken dose of North's patient (the engine
# marked it missed), so the import applies something and leaves its audit row.
HISTORY_CSV = "patient,regimen,at,status\nN-1,teriflunomide,2026-03-05T09:30:00-05:00,taken\n"


def call(
    client: Client, method: str, path: str, ids: dict[str, int], headers: dict[str, str]
) -> Response:
    url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
    params = (
        {"format": "csv", "from": "2026-03-01", "to": "2026-03-10"} if "exports" in path else {}
    )
    if path.endswith("/history/import"):
        headers = {**headers, "Content-Type": "text/csv"}
        return client.post(url, data=HISTORY_CSV.encode(), headers=headers)
    if method == "POST":
        return client.post(url, json=BODIES[path.rsplit("/", 1)[1]], headers=headers)
    return client.get(url, params=params, headers=headers)


EXPECTED = {
    ("GET", f"{API}/patients"),
    ("GET", f"{API}/patients/{{patient_id}}"),
    ("GET", f"{API}/patients/{{patient_id}}/plans"),
    ("GET", f"{API}/plans/{{plan_id}}"),
    ("GET", f"{API}/plans/{{plan_id}}/supply"),
    ("POST", f"{API}/plans/{{plan_id}}/supply"),
    ("GET", f"{API}/patients/{{patient_id}}/doses"),
    ("GET", f"{API}/flags"),
    ("POST", f"{API}/flags/{{flag_id}}/ack"),
    ("POST", f"{API}/flags/{{flag_id}}/resolve"),
    ("GET", f"{API}/patients/{{patient_id}}/measures"),
    ("GET", f"{API}/team/measures"),
    ("GET", f"{API}/exports"),
    ("POST", f"{API}/history/import"),
}


def test_openapi_lists_every_endpoint_with_the_bearer_scheme(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    ops = operations(world.client)
    assert {(m, p) for m, p, _ in ops} == EXPECTED
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }
    for method, path, op in ops:
        assert op["security"] == [{"HTTPBearer": []}], (method, path)
        ok = op["responses"]["200"]["content"]
        if path.endswith("/exports"):
            assert set(ok) >= {"text/csv; charset=utf-8", "application/fhir+json"}
        else:
            assert "$ref" in json.dumps(ok["application/json"]["schema"]), (method, path)
    schemas = doc["components"]["schemas"]
    assert {"PatientPublic", "PlanPublic", "DosePublic", "FlagPublic", "MeasuresOut"} <= set(
        schemas
    )
    assert schemas["ResolveIn"]["required"] == ["note"]


def test_no_valid_token_answers_401_on_every_endpoint(world: World) -> None:
    bad = [
        {},
        {"Authorization": "Bearer msa_not-a-real-token"},
        {"Authorization": f"Bearer {world.revoked_token}"},
        {"Authorization": f"Basic {world.north.token}"},
        {"Authorization": world.north.token},
    ]
    for method, path, _ in operations(world.client):
        for headers in bad:
            r = call(world.client, method, path, world.north.ids, headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
    assert world.audit() == []  # nothing was read


def test_another_teams_ids_answer_404_like_missing_ones_on_every_endpoint(world: World) -> None:
    """With an id path parameter: the other team's id is a 404 indistinguishable from a
    nonexistent id. Without one: the answer holds only the caller's team."""
    missing = dict.fromkeys(world.north.ids, 2_000_000)
    unscoped = set()
    for method, path, _ in operations(world.client):
        if "{" not in path:
            unscoped.add(path)
            continue
        foreign = call(world.client, method, path, world.south.ids, world.north.auth)
        absent = call(world.client, method, path, missing, world.north.auth)
        assert foreign.status_code == absent.status_code == 404, (method, path, foreign.text)
        for r, ids in ((foreign, world.south.ids), (absent, missing)):
            detail = r.json()["detail"]
            assert re.fullmatch(r"(patient|plan|flag) \d+ not found", detail), detail
            assert str(ids[path.split("{")[1].split("}")[0]]) in detail
    # The South flag was neither acknowledged nor resolved by North's attempts.
    with Session(world.engine) as s:
        flag = s.get(Flag, world.south.flag.id)
        assert flag is not None and flag.status == "open" and flag.acknowledged_by == ""
    assert unscoped == {
        f"{API}/patients",
        f"{API}/flags",
        f"{API}/team/measures",
        f"{API}/exports",
        f"{API}/history/import",
    }
    south_markers = [world.south.patient.name, world.south.patient.external_id]

    patients = call(world.client, "GET", f"{API}/patients", {}, world.north.auth).json()
    assert [p["id"] for p in patients["items"]] == [world.north.patient.id]
    assert patients["total"] == 1

    flags = call(world.client, "GET", f"{API}/flags", {}, world.north.auth).json()
    assert [f["id"] for f in flags] == [world.north.flag.id]

    north = call(world.client, "GET", f"{API}/team/measures", {}, world.north.auth)
    south = call(world.client, "GET", f"{API}/team/measures", {}, world.south.auth)
    assert north.status_code == south.status_code == 200, north.text
    assert north.json()["scope"] == f"team:{world.north.team.id}"
    for side, r in ((world.north, north), (world.south, south)):
        month = r.json()["periods"]["30d"]
        assert (month["team_id"], month["patients"]) == (side.team.id, 1)
    # North took every other dose, South every dose: each figure is its own team's.
    assert north.json()["periods"]["30d"]["taken_rate"] < 0.75
    assert south.json()["periods"]["30d"]["taken_rate"] == 1.0
    per_patient = call(
        world.client, "GET", f"{API}/team/measures?per_patient=true", {}, world.north.auth
    ).json()
    listed = per_patient["periods"]["30d"]["patient_measures"]
    assert [p["patient_id"] for p in listed] == [world.north.patient.id]
    assert not any(str(m) in json.dumps(per_patient) for m in south_markers)

    export = call(world.client, "GET", f"{API}/exports", {}, world.north.auth)
    assert export.status_code == 200, export.text
    assert str(world.north.patient.external_id) in export.text
    assert not any(str(m) in export.text for m in south_markers)


def test_each_read_and_export_writes_one_audit_row(world: World) -> None:
    n = world.north
    pid = n.patient.id
    expected = [
        ("GET", f"{API}/patients", "read", "patients", None),
        ("GET", f"{API}/patients/{pid}", "read", f"patient:{pid}", pid),
        ("GET", f"{API}/patients/{pid}/plans", "read", f"patient:{pid}/plans", pid),
        ("GET", f"{API}/plans/{n.plan.id}", "read", f"plan:{n.plan.id}", pid),
        ("GET", f"{API}/plans/{n.plan.id}/supply", "read", f"plan:{n.plan.id}/supply", pid),
        ("POST", f"{API}/plans/{n.plan.id}/supply", "dispense", f"plan:{n.plan.id}/supply", pid),
        ("GET", f"{API}/patients/{pid}/doses", "read", f"patient:{pid}/doses", pid),
        ("GET", f"{API}/flags", "read", "flags", None),
        ("GET", f"{API}/patients/{pid}/measures", "read", f"patient:{pid}/measures", pid),
        ("GET", f"{API}/team/measures", "read", f"team:{n.team.id}/measures", None),
        ("GET", f"{API}/exports", "export", "export:csv", None),
        ("POST", f"{API}/flags/{n.flag.id}/ack", "ack", f"flag:{n.flag.id}", pid),
        ("POST", f"{API}/flags/{n.flag.id}/resolve", "resolve", f"flag:{n.flag.id}", pid),
        ("POST", f"{API}/history/import", "import", "history:upload", None),
    ]
    # Every endpoint in the document is in this list.
    templated = {re.sub(r"/\d+", "/{}", url) for _, url, *_ in expected}
    documented = {re.sub(r"\{\w+\}", "{}", p) for _, p, _ in operations(world.client)}
    assert templated == documented
    for method, url, action, resource, patient_id in expected:
        before = len(world.audit())
        r = call(world.client, method, url, {}, n.auth)
        assert r.status_code == (201 if url.endswith("/supply") and method == "POST" else 200), (
            url,
            r.text,
        )
        rows = world.audit()[before:]
        assert len(rows) == 1, (url, rows)
        row = rows[0]
        assert (row.actor, row.team_id, row.action, row.resource, row.patient_id) == (
            f"coordinator:{n.coordinator_id}",
            n.team.id,
            action,
            resource,
            patient_id,
        )
        assert row.at == world.now
        assert n.token not in row.details_json
        assert "refill" not in row.details_json and "called" not in row.details_json
    # A refused read leaves no row.
    before = len(world.audit())
    call(world.client, "GET", f"{API}/patients/{{patient_id}}", world.south.ids, n.auth)
    assert len(world.audit()) == before


def test_patient_plans_and_doses(world: World) -> None:
    n = world.north
    c = world.client
    p = c.get(f"{API}/patients/{n.patient.id}", headers=n.auth).json()
    assert (p["name"], p["external_id"], p["tz"]) == (n.patient.name, "N-1", "America/New_York")
    plans = c.get(f"{API}/patients/{n.patient.id}/plans", headers=n.auth).json()
    assert [x["id"] for x in plans] == [n.plan.id]
    assert plans[0]["regimen"] == "teriflunomide" and plans[0]["times"] == ["09:00"]
    assert c.get(f"{API}/plans/{n.plan.id}", headers=n.auth).json() == plans[0]

    r = c.get(
        f"{API}/patients/{n.patient.id}/doses",
        params={"from": "2026-03-02", "to": "2026-03-05"},
        headers=n.auth,
    )
    assert r.status_code == 200
    got = r.json()
    assert [d["local_date"] for d in got] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
    ]
    with Session(world.engine) as s:
        statuses = {
            d.id: d.status
            for d in s.exec(select(Dose).where(Dose.patient_id == n.patient.id)).all()
        }
    assert all(d["status"] == statuses[d["id"]] for d in got)
    assert {d["status"] for d in got} == {"taken", "missed"}
    assert all(datetime.fromisoformat(d["due_at"]).strftime("%H:%M") == "09:00" for d in got)

    # Default window: 30 days back to 14 ahead of "today" in the patient's zone.
    default = c.get(f"{API}/patients/{n.patient.id}/doses", headers=n.auth).json()
    days = [date.fromisoformat(d["local_date"]) for d in default]
    today = world.now.date()
    assert days and min(days) >= today - timedelta(days=30)
    assert max(days) <= today + timedelta(days=14)


def test_pagination(world: World, catalog: Catalog, t0: datetime) -> None:
    with Session(world.engine, expire_on_commit=False) as s:
        team = s.get(CareTeam, world.north.team.id)
        for n in range(2, 7):
            enroll(s, catalog, "teriflunomide", t0.date(), now=t0, team=team, n=n)
    c, auth = world.client, world.north.auth
    first = c.get(f"{API}/patients", params={"limit": 4}, headers=auth).json()
    second = c.get(f"{API}/patients", params={"limit": 4, "offset": 4}, headers=auth).json()
    assert first["total"] == second["total"] == 6
    ids = [p["id"] for p in first["items"] + second["items"]]
    assert len(first["items"]) == 4 and len(ids) == 6 and ids == sorted(set(ids))


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/patients", {"limit": 0}, "limit"),
        ("/patients", {"limit": "many"}, "limit"),
        ("/patients", {"offset": -1}, "offset"),
        ("/patients/{p}/doses", {"from": "2026-13-01"}, "from"),
        ("/patients/{p}/doses", {"from": "2026-03-05", "to": "2026-03-01"}, "to"),
        ("/patients/{p}/doses", {"from": "2020-01-01", "to": "2026-03-01"}, "to"),
        ("/flags", {"status": "closed"}, "status"),
        ("/patients/{p}/measures", {"from": "2026-03-01"}, "to"),
        ("/team/measures", {"from": "2026-03-05", "to": "2026-03-01"}, "to"),
        ("/exports", {"format": "xml", "from": "2026-03-01", "to": "2026-03-02"}, "format"),
        ("/exports", {"format": "csv", "to": "2026-03-02"}, "from"),
        ("/exports", {"format": "csv", "from": "yesterday", "to": "2026-03-02"}, "from"),
    ],
)
def test_bad_query_values_answer_422_naming_the_field(
    world: World, url: str, params: dict[str, Any], field: str
) -> None:
    full = API + url.replace("{p}", str(world.north.patient.id))
    r = world.client.get(full, params=params, headers=world.north.auth)
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == field for e in r.json()["detail"]), r.json()
    assert world.audit() == []


def test_flag_ack_and_resolve_keep_who_and_note(world: World) -> None:
    n, c = world.north, world.client
    url = f"{API}/flags/{n.flag.id}"
    missing_note = c.post(f"{url}/resolve", json={}, headers=n.auth)
    assert missing_note.status_code == 422
    assert missing_note.json()["detail"][0]["loc"] == ["body", "note"]
    assert c.post(f"{url}/resolve", json={"note": "  "}, headers=n.auth).status_code == 422

    acked = c.post(f"{url}/ack", headers=n.auth)  # no body: the note is optional
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert f"coordinator:{n.coordinator_id}" in acked.json()["acknowledged_by"]
    listed = c.get(f"{API}/flags", params={"status": "acknowledged"}, headers=n.auth).json()
    assert [f["id"] for f in listed] == [n.flag.id]

    done = c.post(f"{url}/resolve", json={"note": "refill arranged"}, headers=n.auth)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "resolved" and "refill arranged" in body["note"]
    assert datetime.fromisoformat(body["resolved_at"]) == world.now
    assert c.get(f"{API}/flags", params={"status": "open"}, headers=n.auth).json() == []


def test_measures_default_to_30_90_365_days(world: World) -> None:
    n = world.north
    r = world.client.get(f"{API}/patients/{n.patient.id}/measures", headers=n.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == f"patient:{n.patient.id}"
    today = world.now.astimezone(ZoneInfo(n.patient.tz)).date()
    assert body["today"] == today.isoformat()
    spans = {
        name: (date.fromisoformat(m["period"]["start"]), date.fromisoformat(m["period"]["end"]))
        for name, m in body["periods"].items()
    }
    assert spans == {f"{k}d": (today - timedelta(days=k - 1), today) for k in (30, 90, 365)}
    custom = world.client.get(
        f"{API}/patients/{n.patient.id}/measures",
        params={"from": "2026-03-01", "to": "2026-03-10"},
        headers=n.auth,
    ).json()
    assert list(custom["periods"]) == ["custom"]
    period = custom["periods"]["custom"]
    assert period["period"] == {"start": "2026-03-01", "end": "2026-03-10"}
    # North took the doses of even days only: 5 of 10.
    assert (period["doses_scheduled"], period["doses_taken"]) == (10, 5)


@pytest.mark.parametrize(
    ("fmt", "media", "ext"),
    [
        ("csv", "text/csv", "csv"),
        ("json", "application/json", "json"),
        ("fhir", "application/fhir+json", "fhir.json"),
    ],
)
def test_exports_stream_with_media_type_and_filename(
    world: World, fmt: str, media: str, ext: str
) -> None:
    n = world.north
    r = world.client.get(
        f"{API}/exports",
        params={"format": fmt, "from": "2026-03-01", "to": "2026-03-10"},
        headers=n.auth,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == media
    assert r.headers["content-disposition"] == (
        f'attachment; filename="adherence-team{n.team.id}-2026-03-01-2026-03-10.{ext}"'
    )
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) > 10  # a row per dose at least
    else:
        doc = json.loads(r.text)
        if fmt == "fhir":
            assert doc["resourceType"] == "Bundle"
    assert "S-1" not in r.text
