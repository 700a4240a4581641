"""`adherence appointment ...` and the patient's e-mail / invitation / caregiver flags, run as
the installed console script against a SQLite file and PostgreSQL (the ``db_url`` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.patients.enrollment import create_patient, create_plan, create_team
from adherence.storage.models import AuditEvent, OutboxMessage, Patient
from schedules import Catalog

from .test_cli_enrollment import Cli, cli, local_today  # noqa: F401  (cli is a fixture)

NY = "America/New_York"


def _seed(engine: Engine, catalog: Catalog, days: int = 10) -> tuple[int, date]:
    """A patient (MS-9) on Ocrevus whose Day 1 is ``days`` from today; the plan id."""
    now = datetime.now(UTC)
    start = local_today(NY) + timedelta(days=days)
    with Session(engine, expire_on_commit=False) as s:
        team = create_team(s, name="Lake Clinic", tz=NY, now=now)
        patient = create_patient(
            s, team=team, name="Eve Example", phone="+12025550150", tz=NY, now=now,
            external_id="MS-9",
        )  # fmt: skip
        plan = create_plan(
            s, catalog=catalog, patient=patient, regimen="ocrelizumab", start=start, now=now
        )
        assert plan.id is not None
        return plan.id, start


def test_book_move_cancel_and_list(cli: Cli, engine: Engine, catalog: Catalog) -> None:  # noqa: F811
    plan_id, start = _seed(engine, catalog)
    plan = str(plan_id)
    too_late = f"{start + timedelta(days=40)}T09:30"
    slot = f"{start + timedelta(days=2)}T09:30"  # naive: the patient's wall clock
    refusals = cli.run_all(
        ["appointment", "book", plan, "--at", too_late],
        ["appointment", "book", plan, "--at", "next tuesday"],
        ["appointment", "book", "999", "--at", slot],
        ["appointment", "list"],
    )
    errors = [r.stderr.strip() for r in refusals]
    assert all(r.returncode != 0 and r.stdout == "" for r in refusals)
    assert all(len(e.splitlines()) == 1 and e.startswith("error: ") for e in errors)
    assert "outside this infusion's allowed window" in errors[0]
    assert f"{start.isoformat()} to " in errors[0]
    assert "--at 'next tuesday' is not an ISO 8601 date-time" in errors[1]
    assert "no plan '999'" in errors[2]
    assert "give a PATIENT or --team" in errors[3]

    booked = cli.json("appointment", "book", plan, "--at", slot, "--location", "Suite 2", "--json")
    at = datetime.fromisoformat(booked["at"])
    assert at == datetime.fromisoformat(slot).replace(tzinfo=ZoneInfo(NY))
    assert at.utcoffset() == datetime.fromisoformat(slot).replace(tzinfo=ZoneInfo(NY)).utcoffset()
    assert booked["sequence"] == 0 and booked["forced_reason"] is None
    assert booked["target"] == start.isoformat()
    appt = str(booked["id"])

    again = cli.refused("appointment", "book", plan, "--at", slot)
    assert f"already booked as appointment {appt}" in again
    far = f"{start + timedelta(days=45)}T10:00-05:00"
    assert "allowed window" in cli.refused("appointment", "move", appt, "--at", far)
    moved = cli.json(
        "appointment", "move", appt, "--at", far, "--force", "infusion chair shortage", "--json"
    )
    assert moved["sequence"] == 1
    assert moved["forced_reason"].startswith("infusion chair shortage")
    assert datetime.fromisoformat(moved["at"]) == datetime.fromisoformat(far)

    listed, by_team = cli.json_all(
        ["appointment", "list", "MS-9", "--json"],
        ["appointment", "list", "--team", "Lake Clinic", "--json"],
    )
    assert [a["id"] for a in listed] == [booked["id"]] == [a["id"] for a in by_team]

    done = cli.json("appointment", "cancel", appt, "--reason", "patient asked", "--json")
    assert done["status"] == "cancelled" and done["sequence"] == 2
    assert "is cancelled" in cli.refused("appointment", "cancel", appt)
    active, everything = cli.json_all(
        ["appointment", "list", "MS-9", "--json"],
        ["appointment", "list", "MS-9", "--all", "--json"],
    )
    assert active == [] and [a["status"] for a in everything] == ["cancelled"]
    with Session(engine) as s:
        actions = s.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
        texts = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "sms")).all()
    assert actions == ["appointment.book", "appointment.move", "appointment.cancel"]
    assert texts and {t.status for t in texts} == {"cancelled"}


def test_patient_email_invitation_and_caregiver_flags(cli: Cli, engine: Engine) -> None:  # noqa: F811
    cli.ok("team", "add", "Hill Clinic", "--tz", NY)
    base = ["patient", "add", "--team", "Hill Clinic", "--name", "Fay", "--tz", NY]
    bad = cli.run_all(
        [*base, "--phone", "+12025550151", "--email", "fay at example"],
        [*base, "--phone", "+12025550151", "--caregiver-phone", "555-1234"],
        [*base, "--phone", "+12025550151", "--caregiver-email", "Fay <fay@example.org>"],
        [*base, "--phone", "+12025550151", "--invites"],
    )
    errors = [r.stderr.strip() for r in bad]
    assert all(
        r.returncode != 0 and len(e.splitlines()) == 1 for r, e in zip(bad, errors, strict=True)
    )
    assert "email 'fay at example' is not an e-mail address" in errors[0]
    assert "caregiver phone '555-1234' must be in E.164 form" in errors[1]
    assert "caregiver email 'Fay <fay@example.org>'" in errors[2]
    assert "invites: the patient has no e-mail address" in errors[3]
    with Session(engine) as s:
        assert s.exec(select(Patient)).all() == []  # nothing half-enrolled

    added = cli.json(
        *base,
        "--phone", "+12025550151",
        "--external-id", "MS-10",
        "--email", "fay@example.org",
        "--invites",
        "--caregiver-name", "Gus",
        "--caregiver-phone", "+12025550152",
        "--caregiver-email", "gus@example.org",
        "--caregiver-consent",
        "--json",
    )  # fmt: skip
    assert added["email"] == "fay@example.org" and added["invites"] is True
    care = added["caregiver"]
    assert care["name"] == "Gus" and care["phone"] == "+12025550152"
    assert care["email"] == "gus@example.org" and care["consent_at"] is not None

    refused = cli.refused("patient", "update", "MS-10", "--email", "")
    assert "invites: the patient has no e-mail address" in refused
    updated = cli.json(
        "patient", "update", "MS-10", "--no-invites", "--no-caregiver-consent", "--json"
    )
    assert updated["invites"] is False and updated["caregiver"]["consent_at"] is None
    assert updated["email"] == "fay@example.org"  # the refused update changed nothing


def test_list_shows_an_appointment_given_or_not_given_once_its_infusion_is_recorded(
    cli: Cli,  # noqa: F811
    engine: Engine,
    catalog: Catalog,
) -> None:
    from adherence.dosing.confirm import confirm
    from adherence.storage.models import Dose

    plan_id, start = _seed(engine, catalog, days=1)  # recordable from today
    booked = cli.json("appointment", "book", str(plan_id), "--at", f"{start}T09:30", "--json")
    assert booked["status"] == "booked"

    def record(status: str) -> None:
        with Session(engine, expire_on_commit=False) as s:
            dose = s.get(Dose, booked["dose_id"])
            assert dose is not None
            now = datetime.now(UTC)
            confirm(s, catalog=catalog, dose=dose, status=status, at=now, now=now, via="clinic")

    record("taken")
    (shown,) = cli.json("appointment", "list", "MS-9", "--json")
    assert shown["id"] == booked["id"] and shown["status"] == "given"
    row = next(
        line for line in cli.ok("appointment", "list", "MS-9").splitlines() if "ocrel" in line
    )
    assert row.rstrip().endswith("given") and "booked" not in row

    record("skipped")  # a clinic correction: it was not given after all
    (shown,) = cli.json("appointment", "list", "--team", "Lake Clinic", "--json")
    assert shown["status"] == "not given"
    assert "not given" in cli.ok("appointment", "list", "MS-9")
