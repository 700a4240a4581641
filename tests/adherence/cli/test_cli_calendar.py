"""`adherence calendar ...` run as the installed console script, and the URLs it prints
fetched over real HTTP from the app serving the same database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from adherence.storage.models import CareTeam, Patient
from schedules import Catalog
from tests.adherence.calendar_helpers import Clock, app_for, serve, three_ways
from tests.adherence.cli.test_cli_enrollment import Cli, one_error_line, seed, write_config

BASE = "https://care.example.org"


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    extra = f'[http]\npublic_base_url = "{BASE}"\n'
    config = write_config(tmp_path / "cli.toml", db_url, extra)
    return Cli(cwd=cwd, config=config, db_url=db_url)


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_patient_url_is_issued_once_and_rotation_retires_it(
    cli: Cli, engine: Engine, catalog: Catalog
) -> None:
    s = seed(engine, catalog)
    first = cli.json("calendar", "url", "MS-7", "--json")
    assert first["id"] == s.patient.id
    assert first["url"].startswith(f"{BASE}/calendar/") and first["url"].endswith(".ics")
    assert first["webcal_url"] == "webcal://" + first["url"].removeprefix("https://")
    assert first["google_url"] == (
        "https://calendar.google.com/calendar/r?cid=" + quote(first["webcal_url"], safe="")
    )
    token = path_of(first["url"]).removeprefix("/calendar/").removesuffix(".ics")
    assert len(token) >= 43

    again, missing, text = cli.run_all(
        ("calendar", "url", "MS-7"),
        ("calendar", "url", "NOPE-1", "--json"),
        ("calendar", "rotate", "MS-7"),
    )
    assert "rotate" in one_error_line(again) and "cannot be shown again" in again.stderr
    assert "NOPE-1" in one_error_line(missing)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"https:  {BASE}/calendar/")
    assert lines[1].startswith("webcal: webcal://") and lines[2].startswith("Google: https://")
    assert token not in text.stdout  # rotating printed a new link, not the old one
    rotated = cli.json("calendar", "rotate", str(s.patient.id), "--json")

    with Session(engine) as session:
        stored = session.get(Patient, s.patient.id)
        assert stored is not None and stored.calendar_token_at is not None
    now = datetime.now(UTC)
    with serve(app_for(engine, catalog), Clock(now)) as client:
        old = client.get(path_of(first["url"]))
        printed = client.get(lines[0].split()[1].removeprefix(BASE))
        new = client.get(path_of(rotated["url"]))
        assert old.status_code == printed.status_code == 404
        assert new.status_code == 200 and three_ways(new.content)


def test_team_url_and_rotation(cli: Cli, engine: Engine, catalog: Catalog) -> None:
    s = seed(engine, catalog)
    first = cli.json("calendar", "team-url", "North Clinic", "--json")
    assert first["id"] == s.team.id and "/calendar/team/" in first["url"]
    again, unknown = cli.run_all(
        ("calendar", "team-url", str(s.team.id)), ("calendar", "team-rotate", "Nowhere")
    )
    assert "team-rotate" in one_error_line(again)
    assert "Nowhere" in one_error_line(unknown)
    rotated = cli.json("calendar", "team-rotate", "North Clinic", "--json")
    with Session(engine) as session:
        team = session.get(CareTeam, s.team.id)
        assert team is not None and team.calendar_token_hash
        assert team.calendar_token_hash not in rotated["url"]
    with serve(app_for(engine, catalog), Clock(datetime.now(UTC))) as client:
        assert client.get(path_of(first["url"])).status_code == 404
        fresh = client.get(path_of(rotated["url"]))
        assert fresh.status_code == 200 and b"BEGIN:VCALENDAR" in fresh.content
        # The team URL is not a patient URL.
        as_patient = path_of(rotated["url"]).replace("/team/", "/")
        assert client.get(as_patient).status_code == 404
