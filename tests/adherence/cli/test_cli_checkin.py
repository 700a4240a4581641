"""`adherence checkin set|stop|show`, run as the installed console script against a SQLite
file and PostgreSQL: the cadence, its errors naming the option, and audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.storage.models import AuditEvent
from schedules import Catalog
from tests.adherence.cli.test_cli_enrollment import Cli, write_config
from tests.adherence.engine_helpers import enroll


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url), db_url=db_url)


def test_set_show_and_stop_a_checkin_cadence(cli: Cli, engine: Engine, catalog: Catalog) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    with Session(engine, expire_on_commit=False) as s:
        e = enroll(s, catalog, "teriflunomide", now.date(), now=now)
    pid = str(e.patient.id)

    out = cli.json("checkin", "set", pid, "--every", "7", "--at", "18:30",
                   "--items", "fatigue,new_symptoms", "--json")  # fmt: skip
    assert out["active"] is True and out["every_days"] == 7 and out["at"] == "18:30"
    assert out["items"] == ["fatigue", "new_symptoms"]
    assert "T18:30:00" in out["next_at"]

    shown = cli.ok("checkin", "show", pid)
    assert shown.startswith(f"patient {pid}: every 7 days at 18:30 (fatigue, new_symptoms)")

    bad = cli.run("checkin", "set", pid, "--every", "7", "--at", "6pm")
    assert bad.returncode == 2 and "--at '6pm' is not a time of day HH:MM" in bad.stderr
    unknown = cli.run("checkin", "set", pid, "--every", "7", "--at", "18:00", "--items", "x")
    assert unknown.returncode == 2 and "--items unknown check-in item x" in unknown.stderr

    assert cli.ok("checkin", "stop", pid).strip() == f"patient {pid}: check-ins stopped"
    assert cli.ok("checkin", "show", pid).strip() == f"patient {pid}: no check-ins"
    assert cli.ok("checkin", "stop", pid).strip() == f"patient {pid}: no check-ins"

    with Session(engine) as s:
        actions = s.exec(
            select(AuditEvent.action)
            .where(AuditEvent.resource == f"patient:{pid}/checkins")
            .order_by(col(AuditEvent.id))
        ).all()
    assert list(actions) == ["checkin_set", "read", "checkin_stop", "read", "checkin_stop"]
