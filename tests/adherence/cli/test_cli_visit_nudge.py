"""`adherence visit ...` and `adherence nudge ...`, run as the installed console script
against a SQLite file and PostgreSQL (the ``db_url`` fixture), on the real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.patients.enrollment import create_patient, create_team
from adherence.storage.models import AuditEvent, OutboxMessage

from .test_cli_enrollment import Cli, cli, local_today  # noqa: F401  (cli is a fixture)

NY = "America/New_York"


def _seed(engine: Engine, enrolled_days_ago: int = 230) -> int:
    now = datetime.now(UTC) - timedelta(days=enrolled_days_ago)
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Lake Clinic", tz=NY, now=now)
        p = create_patient(
            s, team=team, name="Eve Example", phone="+12025550150", tz=NY, now=now,
            external_id="MS-9",
        )  # fmt: skip
        assert p.id is not None
        return p.id


def test_visit_due_book_move_cancel_done_and_list(cli: Cli, engine: Engine) -> None:  # noqa: F811
    _seed(engine)  # enrolled 230 days ago: the 6-month neurology visit is overdue
    (due,) = cli.json("visit", "due", "--json")
    assert due["type"] == "neurology" and due["state"] == "overdue"
    assert len(cli.json("visit", "due", "--all", "--json")) == 2  # and the MRI, not due yet

    errors = [
        r.stderr.strip()
        for r in cli.run_all(
            ["visit", "book", "MS-9", "dentist", "--at", "2099-01-01T09:00"],
            ["visit", "book", "MS-9", "mri", "--at", "soon"],
            ["visit", "book", "MS-9", "mri", "--at", "2001-01-01T09:00"],
            ["visit", "move", "999", "--at", "2099-01-01T09:00"],
        )
    ]
    assert "visit type 'dentist' is not in [visits] cadences (neurology, mri)" in errors[0]
    assert "--at 'soon' is not an ISO 8601 date-time" in errors[1]
    assert "--at: 2001-01-01" in errors[2] and "in the past" in errors[2]
    assert "no visit '999'" in errors[3]

    day = local_today(NY) + timedelta(days=20)
    booked = cli.json(
        "visit", "book", "MS-9", "neurology", "--at", f"{day}T09:30", "--location", "B2", "--json"
    )
    assert booked["status"] == "booked" and booked["at"].startswith(f"{day}T09:30")
    vid = str(booked["id"])
    assert "already has a neurology visit booked" in cli.refused(
        "visit", "book", "MS-9", "neurology", "--at", f"{day}T10:00"
    )
    assert cli.json("visit", "due", "--json")[0]["state"] == "booked"
    moved = cli.json("visit", "move", vid, "--at", f"{day + timedelta(days=1)}T14:00", "--json")
    assert moved["sequence"] == 1
    with Session(engine) as s:
        pending = s.exec(
            select(OutboxMessage.body).where(
                OutboxMessage.purpose == "visit", OutboxMessage.status == "pending"
            )
        ).all()
    assert len(pending) == 2 and all("a clinic visit" in b and "14:00" in b for b in pending)

    assert "has not happened yet" in cli.refused("visit", "done", vid)
    cancelled = cli.json("visit", "cancel", vid, "--reason", "sick", "--json")
    assert cancelled["status"] == "cancelled"
    past = f"{local_today(NY) - timedelta(days=3)}T11:00"
    out = cli.ok("visit", "done", "MS-9", "--type", "neurology", "--at", past)
    assert "recorded as attended" in out
    assert cli.json("visit", "due", "--json") == []
    listed = cli.json("visit", "list", "MS-9", "--all", "--json")
    assert [v["status"] for v in listed] == ["done", "cancelled"]
    with Session(engine) as s:
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
    assert [a for a in actions if a.startswith("visit.")] == [
        "visit.book",
        "visit.move",
        "visit.cancel",
        "visit.done",
    ]


def test_nudge_add_list_and_stop(cli: Cli, engine: Engine) -> None:  # noqa: F811
    _seed(engine, 1)
    errors = [
        r.stderr.strip()
        for r in cli.run_all(
            ["nudge", "add", "MS-9", "yoga"],
            ["nudge", "add", "MS-9", "stress", "--every", "0"],
            ["nudge", "add", "MS-9", "stress", "--at", "noon"],
            ["nudge", "stop", "MS-7"],
        )
    ]
    assert "topic: 'yoga' is not one of exercise, hydration, stress, smoking" in errors[0]
    assert "--every: 0 is not 1 to 90 days" in errors[1]
    assert "--at: 'noon' is not a time of day" in errors[2]
    assert "no patient 'MS-7'" in errors[3]

    added = cli.json("nudge", "add", "MS-9", "stress", "--every", "3", "--at", "18:15", "--json")
    assert added["every_days"] == 3 and added["next"].endswith("18:15 " + added["next"][-3:])
    cli.ok("nudge", "add", "MS-9", "exercise")
    assert cli.ok("nudge", "stop", "MS-9", "stress").strip() == "stopped 1 nudge"
    listed = cli.json("nudge", "list", "MS-9", "--json")
    assert [(n["topic"], n["active"], n["at"]) for n in listed] == [
        ("exercise", True, "10:00"),
        ("stress", False, "18:15"),
    ]
    assert cli.ok("nudge", "stop", "MS-9").strip() == "stopped 1 nudge"
