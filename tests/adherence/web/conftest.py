"""Fixtures of the web tests: ``served``, the app on loopback with one team, one patient
on a daily pill and a coordinator's bearer token, and Twilio requests signed for it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from adherence.bootstrap import App
from adherence.care.coordinators import add_coordinator
from adherence.core.config import settings_from_mapping
from adherence.metrics import DaemonState
from adherence.storage.models import InboundMessage
from adherence.web import create_app
from schedules import Catalog
from tests.adherence.engine_helpers import enroll
from tests.adherence.web.server import Client, serve

TOKEN = "twilio-auth-token"


@dataclass
class Served:
    client: Client
    engine: Engine
    auth: dict[str, str]
    patient_id: int

    def signed(self, path: str, params: dict[str, str]) -> dict[str, str]:
        url = self.client.base + path
        return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)}

    def inbound(self) -> list[InboundMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(InboundMessage)).all())


@pytest.fixture
def served(engine: Engine, db_url: str, catalog: Catalog, t0: datetime) -> Iterator[Served]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Session(engine, expire_on_commit=False) as s:
        e = enroll(s, catalog, "teriflunomide", t0.date(), now=t0, times=["09:00"])
        _, token = add_coordinator(s, team=e.team, name="C", email="c@clinic.org", now=t0)
        patient_id = e.patient.id
    settings = settings_from_mapping(
        {
            "database": {"url": db_url},
            "twilio": {"auth_token": TOKEN},
            "http": {"public_base_url": f"http://127.0.0.1:{port}"},
        }
    )
    app = App(settings=settings, engine=engine, catalog=catalog)
    now = t0 + timedelta(days=3)
    state = DaemonState(last_tick_at=now, scheduler_running=True)  # /healthz: a live daemon
    with serve(create_app(app, state=state, clock=lambda: now), port) as client:
        assert patient_id is not None
        yield Served(client, engine, {"Authorization": f"Bearer {token}"}, patient_id)
