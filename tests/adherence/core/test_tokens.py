"""One token helper for every bearer secret: coordinator API tokens and calendar feed
tokens are made, hashed and checked by ``adherence.core.tokens``, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import Session

from adherence.calendar.feed import patient_by_token, rotate, team_by_token
from adherence.care.coordinators import TOKEN_PREFIX, add_coordinator, authenticate
from adherence.core.tokens import hash_token, matches, new_token
from adherence.patients.enrollment import create_patient, create_team


def test_a_token_has_256_random_bits_and_its_stored_form_is_its_sha256() -> None:
    token = new_token()
    assert len(token) >= 43  # 32 bytes, URL-safe base64 without padding
    assert token.replace("-", "").replace("_", "").isalnum()
    assert new_token() != token
    assert new_token("msa_").startswith("msa_")
    # The stored form is the hex SHA-256 that existing rows already hold.
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_matches_only_the_token_the_hash_was_made_from() -> None:
    token = new_token()
    stored = hash_token(token)
    assert matches(token, stored)
    assert not matches(token + "x", stored)
    assert not matches(token[:-1], stored)
    assert not matches(token, None) and not matches(token, "")
    assert not matches(token, stored.upper())  # not a case-insensitive comparison


def test_coordinator_and_feed_tokens_are_made_and_stored_the_same_way(
    session: Session, t0: datetime
) -> None:
    team = create_team(session, name="North Clinic", tz="America/New_York", now=t0)
    coordinator, api_token = add_coordinator(
        session, team=team, name="Ana", email="ana@clinic.org", now=t0
    )
    patient = create_patient(
        session, team=team, name="Ann", phone="+12025550143", tz="America/New_York", now=t0
    )
    feed_token = rotate(session, patient, now=t0)
    team_token = rotate(session, team, now=t0)
    # Same strength (the API token only adds its recognisable prefix) ...
    assert len(api_token.removeprefix(TOKEN_PREFIX)) == len(feed_token) == len(team_token)
    # ... the same stored form, checked the same way ...
    assert matches(api_token, coordinator.token_hash)
    assert matches(feed_token, patient.calendar_token_hash)
    assert matches(team_token, team.calendar_token_hash)
    # ... and each opens only what it was issued for.
    found = authenticate(session, api_token, t0)
    assert found is not None and found.id == coordinator.id
    by_feed = patient_by_token(session, feed_token)
    assert by_feed is not None and by_feed.id == patient.id
    by_team = team_by_token(session, team_token)
    assert by_team is not None and by_team.id == team.id
    assert authenticate(session, TOKEN_PREFIX + feed_token, t0) is None
    assert patient_by_token(session, team_token) is None
    assert team_by_token(session, feed_token) is None
