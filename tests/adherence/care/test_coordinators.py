"""Coordinators' tokens and the audit trail, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from adherence.care.coordinators import (
    TOKEN_PREFIX,
    CoordinatorError,
    add_coordinator,
    authenticate,
    coordinator_json,
    revoke,
    rotate_token,
    valid_email,
)
from adherence.patients.enrollment import NotFound, create_team
from adherence.storage.audit import list_audit, record
from adherence.storage.models import AuditEvent, CareTeam, Coordinator


@pytest.fixture
def team(session: Session, t0: datetime) -> CareTeam:
    return create_team(session, name="North Clinic", tz="America/New_York", now=t0)


def test_token_is_returned_once_and_only_its_hash_is_stored(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    c, token = add_coordinator(session, team=team, name="Ana", email="ana@clinic.org", now=t0)
    assert token.startswith(TOKEN_PREFIX)
    # token_urlsafe(32): 32 random bytes = 256 bits, 43 URL-safe characters.
    assert len(token) - len(TOKEN_PREFIX) >= 43
    session.expire_all()
    stored = session.get(Coordinator, c.id)
    assert stored is not None
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # The plaintext appears in no column of the row.
    assert token not in json.dumps(stored.model_dump(mode="json"))
    assert "token" not in json.dumps(coordinator_json(stored))
    assert stored.digest_time == "08:00" and stored.notify_email and not stored.notify_sms


def test_tokens_are_distinct_and_authenticate_their_own_coordinator(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    a, ta = add_coordinator(session, team=team, name="Ana", email="ana@clinic.org", now=t0)
    b, tb = add_coordinator(session, team=team, name="Ben", email="ben@clinic.org", now=t0)
    assert ta != tb
    got_a, got_b = authenticate(session, ta, t0), authenticate(session, tb, t0)
    assert got_a is not None and got_a.id == a.id
    assert got_b is not None and got_b.id == b.id
    for bad in ("", "msa_", ta[:-1], ta + "x", "Bearer " + ta, ta.removeprefix(TOKEN_PREFIX)):
        assert authenticate(session, bad, t0) is None, bad


def test_revoked_token_no_longer_authenticates(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    c, token = add_coordinator(session, team=team, name="Ana", email="ana@clinic.org", now=t0)
    later = t0 + timedelta(hours=3)
    revoke(session, c.id, later)  # type: ignore[arg-type]
    assert authenticate(session, token, later) is None
    session.expire_all()
    stored = session.get(Coordinator, c.id)
    assert stored is not None and not stored.active and stored.revoked_at == later
    with pytest.raises(CoordinatorError, match="already revoked"):
        revoke(session, c.id, later)  # type: ignore[arg-type]
    with pytest.raises(CoordinatorError, match="revoked"):
        rotate_token(session, c.id, later)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        revoke(session, 999_999, later)


def test_rotating_replaces_the_token(session: Session, team: CareTeam, t0: datetime) -> None:
    c, old = add_coordinator(session, team=team, name="Ana", email="ana@clinic.org", now=t0)
    _, new = rotate_token(session, c.id, t0)  # type: ignore[arg-type]
    assert new != old
    assert authenticate(session, old, t0) is None
    got = authenticate(session, new, t0)
    assert got is not None and got.id == c.id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "Ana <ana@clinic.org>"}, "email"),
        ({"email": "ana@localhost"}, "email"),
        ({"email": "a@b@clinic.org"}, "email"),
        ({"email": "ana @clinic.org"}, "email"),
        ({"phone": "5551234567"}, "phone"),
        ({"phone": "+1555"}, "phone"),
        ({"digest_time": "25:00"}, "digest time"),
        ({"digest_time": "8am"}, "digest time"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"name": "  "}, "name"),
        ({"notify_sms": True}, "sms"),
    ],
)
def test_bad_input_names_the_field_and_adds_nobody(
    session: Session, team: CareTeam, t0: datetime, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"name": "Ana", "email": "ana@clinic.org"} | kwargs
    with pytest.raises(CoordinatorError) as err:
        add_coordinator(session, team=team, now=t0, **args)  # type: ignore[arg-type]
    assert str(err.value).startswith(field), str(err.value)
    assert session.exec(select(Coordinator)).all() == []


def test_valid_contact_details_are_normalised(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    c, _ = add_coordinator(
        session,
        team=team,
        name=" Ana ",
        email=" ana.m+flags@clinic.example.org ",
        phone="+1 202 555 0143",
        notify_sms=True,
        digest_time="7:30",
        tz="Europe/Paris",
        now=t0,
    )
    assert (c.name, c.email, c.phone, c.digest_time, c.tz) == (
        "Ana",
        "ana.m+flags@clinic.example.org",
        "+12025550143",
        "07:30",
        "Europe/Paris",
    )
    assert valid_email("x@y.co") == "x@y.co"


def test_audit_rows_are_filtered_newest_first_and_never_hold_secrets(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    other = create_team(session, name="South Clinic", tz="America/Chicago", now=t0)
    for i in range(5):
        record(
            session,
            actor=f"coordinator:{i % 2 + 1}",
            team_id=team.id if i < 4 else other.id,
            action="read",
            resource=f"patient:{i}",
            patient_id=i,
            details={"from": "2026-01-01", "token": "msa_secret", "Body": "Took it", "n": i},
            now=t0 + timedelta(minutes=i),
        )
    session.commit()
    rows = list_audit(session, team_id=team.id)
    assert [r.resource for r in rows] == ["patient:3", "patient:2", "patient:1", "patient:0"]
    assert [r.resource for r in list_audit(session, patient_id=4)] == ["patient:4"]
    assert {r.actor for r in list_audit(session, actor="coordinator:2")} == {"coordinator:2"}
    assert len(list_audit(session, since=t0 + timedelta(minutes=3))) == 2
    assert len(list_audit(session, limit=2)) == 2
    raw = [e.details_json for e in session.exec(select(AuditEvent)).all()]
    assert all("msa_secret" not in d and "Took it" not in d for d in raw)
    assert json.loads(raw[0])["from"] == "2026-01-01"


def test_audit_row_is_lost_with_a_rolled_back_read(
    session: Session, team: CareTeam, t0: datetime
) -> None:
    record(session, actor="coordinator:1", team_id=team.id, action="read", resource="x", now=t0)
    session.rollback()
    assert list_audit(session) == []
