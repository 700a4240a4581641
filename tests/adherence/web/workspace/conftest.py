"""The workspace served for real: uvicorn on loopback, two care teams seeded, and Debian's
headless Chromium driven by Playwright (no browser download: ``/usr/bin/chromium``).

- ``site``: the app over the test database (SQLite and PostgreSQL), a fixed clock, two
  teams (North, with several patients and flags; South, with one patient), a coordinator
  token for each, and ``requests`` clients for HTTP-level checks.
- ``browser`` / ``page``: a Chromium page; each test's last screen is saved as a PNG under
  ``test-output/screenshots/`` (``ADHERENCE_TEST_OUTPUT`` moves it), pass or fail.
- Without Chromium a browser test is skipped on a developer's machine, and fails under CI
  (``.ci/run`` installs Debian's ``chromium``): it never silently skips there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.bootstrap import App
from adherence.care.coordinators import add_coordinator
from adherence.core.config import settings_from_mapping
from adherence.patients.enrollment import create_team
from adherence.storage.models import AuditEvent, CareTeam, Flag
from adherence.web import create_app
from schedules import Catalog
from tests.adherence.engine_helpers import Enrolled, drive, enroll
from tests.adherence.web.server import Client, serve

ROOT = Path(__file__).resolve().parents[4]
OUTPUT = Path(os.environ.get("ADHERENCE_TEST_OUTPUT", ROOT / "test-output"))
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no form with a CSRF token on this page"
    return found.group(1)


@dataclass
class Team:
    team: CareTeam
    token: str
    coordinator_id: int
    patients: list[Enrolled] = field(default_factory=list)


@dataclass
class Site:
    base: str
    engine: Engine
    now: datetime
    north: Team
    south: Team
    clock: dict[str, datetime] = field(default_factory=dict)

    def set_now(self, when: datetime) -> None:
        """Move the served app's clock (the seeded data stays where it was)."""
        self.clock["now"] = when

    def client(self) -> Client:
        return Client(self.base)

    def signed_in(self, team: Team) -> Client:
        """A ``requests`` client signed in as ``team``'s coordinator."""
        c = self.client()
        form = c.get("/workspace/signin")
        r = c.post(
            "/workspace/signin",
            data={"token": team.token, "csrf": csrf_of(form.text)},
            allow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c

    def audit(self) -> list[AuditEvent]:
        with Session(self.engine) as s:
            return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def add_flag(
    s: Session,
    e: Enrolled,
    rule: str,
    now: datetime,
    *,
    severity: str = "normal",
    **details: Any,
) -> Flag:
    flag = Flag(
        open_key=f"plan:{e.plan.id}:{rule}",
        team_id=e.team.id,  # type: ignore[arg-type]
        patient_id=e.patient.id,  # type: ignore[arg-type]
        plan_id=e.plan.id,
        rule=rule,
        severity=severity,
        first_at=now,
        last_at=now,
        details_json=json.dumps(details),
    )
    s.add(flag)
    s.commit()
    s.refresh(flag)
    return flag


def seed(s: Session, catalog: Catalog, t0: datetime, now: datetime) -> tuple[Team, Team]:
    """North: a daily pill taken, a daily pill missed with a flag, a flare, an infusion
    patient; South: one patient with a flag. Doses driven from t0 to now."""
    teams = []
    for name in ("North Clinic", "South Clinic"):
        team = create_team(s, name=name, tz="America/New_York", now=t0)
        c, token = add_coordinator(
            s, team=team, name=f"{name.split()[0]} coordinator", email="c@clinic.org", now=t0
        )
        teams.append(Team(team, token, c.id))  # type: ignore[arg-type]
    north, south = teams
    specs = [
        (north, "teriflunomide", "N-1"),  # takes every dose
        (north, "teriflunomide", "N-2"),  # misses the last days
        (north, "fingolimod", "N-3"),  # reported a flare
        (north, "ocrelizumab", "N-4"),  # infusions
        (south, "teriflunomide", "S-1"),
    ]
    for n, (side, regimen, ext) in enumerate(specs):
        side.patients.append(
            enroll(
                s,
                catalog,
                regimen,
                t0.date(),
                now=t0,
                times=["09:00"],
                team=side.team,
                n=n,
                external_id=ext,
            )
        )
    missing = north.patients[1].patient.id
    drive(
        s,
        catalog,
        start=t0,
        until=now,
        take=lambda d: d.patient_id != missing or d.due_at < now - timedelta(days=4),
    )
    add_flag(s, north.patients[1], "missed_doses", now, missed=3)
    add_flag(s, north.patients[2], "flare_reported", now, severity="urgent")
    add_flag(s, south.patients[0], "missed_doses", now, missed=2)
    return north, south


@pytest.fixture
def make_site(
    engine: Engine, db_url: str, catalog: Catalog, t0: datetime
) -> Iterator[Callable[..., Site]]:
    """Build and serve a site; ``settings`` overrides config sections (e.g. workspace)."""
    servers: list[Any] = []

    def build(
        settings: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
        seeder: Callable[[Session, Catalog, datetime, datetime], tuple[Team, Team]] = seed,
    ) -> Site:
        at = now or t0 + timedelta(days=20)
        with Session(engine, expire_on_commit=False) as s:
            north, south = seeder(s, catalog, t0, at)
        app = App(
            settings=settings_from_mapping({"database": {"url": db_url}, **(settings or {})}),
            engine=engine,
            catalog=catalog,
        )
        clock = {"now": at}
        server = serve(create_app(app, clock=lambda: clock["now"]))
        client = server.__enter__()
        servers.append(server)
        return Site(client.base, engine, at, north, south, clock)

    yield build
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


# --- the browser -----------------------------------------------------------------------------


def chromium() -> str:
    path = os.environ.get("ADHERENCE_CHROMIUM") or shutil.which("chromium") or ""
    if not path:
        if os.environ.get("CI"):
            pytest.fail("CI run without Chromium: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop width; the last screen is saved."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    try:
        screenshot(pg, request)
    finally:
        context.close()


def screenshot(pg: Any, request: pytest.FixtureRequest, suffix: str = "") -> Path:
    """Save ``pg``'s whole page under the test output folder, named after the test."""
    shots = OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1] + suffix)
    path = shots / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, site: Site, team: Team) -> None:
    """Sign in through the form, as a coordinator would."""
    page.goto(site.base + "/workspace/")
    page.get_by_label("Coordinator token").fill(team.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.base + "/workspace/")
