"""A care team that no coordinator alert can reach, on SQLite and PostgreSQL, over real HTTP:
a FLARE reply tells the patient the truth (call the clinic), the urgent flag is not marked
notified until a coordinator can be told, ``/healthz`` says "degraded" naming the team, and
the daemon's start-up logs a warning."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from adherence.bootstrap import App
from adherence.care.escalation import NOT_TOLD
from adherence.care.step import care_step
from adherence.core.config import settings_from_mapping
from adherence.daemon import open_worker
from adherence.metrics import DaemonState
from adherence.storage.models import Coordinator, Flag, OutboxMessage
from adherence.web import create_app
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, at, enroll
from tests.adherence.web.server import Client, serve

TOKEN = "twilio-auth-token"
SMS = "/webhooks/twilio/sms"


@dataclass
class Clinic:
    client: Client
    engine: Engine
    e: Enrolled
    clock: list[datetime]
    app: App

    def flare(self, sid: str) -> str:
        params = {"MessageSid": sid, "From": self.e.patient.phone, "Body": "FLARE"}
        url = self.client.base + SMS
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        answer = self.client.post(SMS, data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200
        return answer.text

    def care(self) -> None:
        with Session(self.engine) as s:
            care_step(
                s, now=self.clock[0], catalog=self.app.catalog, settings=self.app.settings,
                full=False,
            )  # fmt: skip
            s.commit()

    def flag(self) -> Flag:
        with Session(self.engine) as s:
            [flag] = s.exec(select(Flag).where(Flag.rule == "flare_reported")).all()
            return flag

    def alerts(self) -> list[OutboxMessage]:
        with Session(self.engine) as s:
            rows = s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "flag"))
            return list(rows.all())

    def health(self) -> dict[str, object]:
        answer = self.client.get("/healthz")
        assert answer.status_code == 200
        body = answer.json()
        assert isinstance(body, dict)
        return body


@pytest.fixture
def clinic(engine: Engine, db_url: str, catalog: Catalog) -> Iterator[Clinic]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    now = at(2026, 3, 2, 14)
    with Session(engine, expire_on_commit=False) as s:
        e = enroll(s, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["09:00"])
        e.team.phone = "+12025550100"
        s.add(e.team)
        s.commit()
    settings = settings_from_mapping(
        {
            "database": {"url": db_url},
            "twilio": {"auth_token": TOKEN},
            "http": {"public_base_url": f"http://127.0.0.1:{port}"},
        }
    )
    app = App(settings=settings, engine=engine, catalog=catalog)
    clock = [now]
    state = DaemonState(last_tick_at=now, scheduler_running=True)
    web = create_app(app, state=state, clock=lambda: clock[0])
    with serve(web, port) as client:
        yield Clinic(client, engine, e, clock, app)


def test_a_flare_with_no_coordinator_is_told_the_truth_and_told_once_one_exists(
    clinic: Clinic,
) -> None:
    team_id = clinic.e.team.id
    # A coordinator who switched every alert off cannot be told either.
    with Session(clinic.engine) as s:
        s.add(
            Coordinator(
                team_id=team_id, name="Quiet", email="q@clinic.org", notify_email=False,
                created_at=clinic.clock[0],
            )
        )  # fmt: skip
        s.commit()

    answer = clinic.flare("SMflare1")
    clinic.care()

    assert "could not alert your care team" in answer and "+12025550100" in answer
    assert "has been told" not in answer
    flag = clinic.flag()
    assert flag.severity == "urgent" and flag.notified_at is None
    assert "no coordinator can be alerted" in flag.details[NOT_TOLD]
    assert clinic.alerts() == []
    health = clinic.health()
    assert health["status"] == "degraded" and health["teams_without_coordinator"] == [team_id]

    # A coordinator who can be told arrives: the next pass tells them, and the truth follows.
    with Session(clinic.engine) as s:
        s.add(
            Coordinator(
                team_id=team_id, name="Kim", email="kim@clinic.org", created_at=clinic.clock[0]
            )
        )
        s.commit()
    clinic.clock[0] += timedelta(minutes=1)
    clinic.care()

    flag = clinic.flag()
    assert flag.notified_at is not None and NOT_TOLD not in flag.details
    assert [(m.channel, m.to) for m in clinic.alerts()] == [("email", "kim@clinic.org")]
    health = clinic.health()
    assert health["status"] == "ok" and health["teams_without_coordinator"] == []
    again = clinic.flare("SMflare2")
    assert "your care team has been told" in again


def test_the_daemon_start_warns_of_each_team_no_alert_can_reach(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adherence.escalation"):
        worker = open_worker(clinic.app, MemorySms())
    warned = [r.getMessage() for r in caplog.records if r.name == "adherence.escalation"]
    assert len(warned) == 1
    assert f"care team id={clinic.e.team.id} " in warned[0] and "reach nobody" in warned[0]
    assert clinic.e.patient.phone not in warned[0]
    worker.stop()

    with Session(clinic.engine) as s:
        s.add(
            Coordinator(
                team_id=clinic.e.team.id, name="Kim", email="k@c.org", created_at=clinic.clock[0]
            )
        )
        s.commit()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adherence.escalation"):
        open_worker(clinic.app, MemorySms()).stop()
    assert [r for r in caplog.records if r.name == "adherence.escalation"] == []
