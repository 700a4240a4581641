"""[calendar] text_link_at_enrollment through the real CLI (`plan add`, `import`), and the
feed token blanked out of the stored text once the SMS is final."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adherence.calendar.feed import offer_feed_link, token_hash
from adherence.core.config import settings_from_mapping
from adherence.messaging.outbox import deliver
from adherence.storage.models import OutboxMessage, Patient
from notifiers.sms import MemorySms, SendResult, SmsMessage, TransportError
from schedules import Catalog
from tests.adherence.cli.test_cli_enrollment import (
    EXAMPLE_ROSTER,
    NY,
    Cli,
    local_today,
    write_config,
)
from tests.adherence.engine_helpers import enroll

BASE = "https://care.example.org"
FEED_URL = re.compile(re.escape(BASE) + r"/calendar/([A-Za-z0-9_-]+)\.ics")
ON = f'[http]\npublic_base_url = "{BASE}"\n[calendar]\ntext_link_at_enrollment = true\n'


def make_cli(tmp_path: Path, db_url: str, extra: str) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return Cli(cwd=cwd, config=write_config(tmp_path / "cli.toml", db_url, extra), db_url=db_url)


def links(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.purpose == "calendar_link")
                .order_by(col(OutboxMessage.id))
            ).all()
        )


def add_patient(cli: Cli, external_id: str, phone: str) -> int:
    return int(
        cli.ok(
            "patient", "add", "--team", "North Clinic", "--name", "Ann Example",
            "--phone", phone, "--tz", NY, "--external-id", external_id,
        ).strip()
    )  # fmt: skip


def test_plan_add_texts_the_feed_link_once(tmp_path: Path, db_url: str, engine: Engine) -> None:
    cli = make_cli(tmp_path, db_url, ON)
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    patient_id = add_patient(cli, "MS-1", "+12025550143")
    assert links(engine) == []  # a patient without a plan is not texted yet

    start = (local_today(NY) + timedelta(days=1)).isoformat()
    plan = cli.json("plan", "add", "MS-1", "Tecfidera", "--start", start, "--json")
    assert plan["patient_id"] == patient_id  # the output is unchanged by the text
    (row,) = links(engine)
    found = FEED_URL.search(row.body)
    assert found is not None, row.body
    with Session(engine) as s:
        patient = s.get(Patient, patient_id)
        assert patient is not None
        # The texted URL is the patient's live feed: its token is the one whose hash is kept.
        assert patient.calendar_token_hash == token_hash(found.group(1))
        first_hash = patient.calendar_token_hash
    assert (row.to, row.patient_id, row.status) == ("+12025550143", patient_id, "pending")
    assert row.body.startswith("North Clinic: ")  # names the team ...
    assert "Tecfidera" not in row.body and "fumarate" not in row.body  # ... never the therapy

    # A second plan for the same patient: no second text, and the first link still works.
    cli.ok("plan", "add", "MS-1", "Copaxone", "--start", start, "--option", "strength=40")
    assert [r.id for r in links(engine)] == [row.id]
    with Session(engine) as s:
        again = s.get(Patient, patient_id)
        assert again is not None and again.calendar_token_hash == first_hash


def test_nothing_is_texted_when_the_setting_is_off(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    cli = make_cli(tmp_path, db_url, f'[http]\npublic_base_url = "{BASE}"\n')
    cli.ok("team", "add", "North Clinic", "--tz", NY)
    patient_id = add_patient(cli, "MS-2", "+13125550178")
    start = (local_today(NY) + timedelta(days=1)).isoformat()
    cli.ok("plan", "add", "MS-2", "Tecfidera", "--start", start)
    assert links(engine) == []
    with Session(engine) as s:
        patient = s.get(Patient, patient_id)
        assert patient is not None and patient.calendar_token_hash is None  # no token issued
        assert s.exec(select(OutboxMessage)).all() == []


def test_roster_import_texts_each_new_patient_once(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    cli = make_cli(tmp_path, db_url, ON)
    cli.ok("team", "add", "Demo MS Clinic", "--tz", NY)
    done = cli.run("import", str(EXAMPLE_ROSTER))
    assert done.returncode == 0, done.stderr
    ids = {line.split(",", 1)[0] for line in EXAMPLE_ROSTER.read_text("utf-8").splitlines()[1:]}
    rows = links(engine)
    with Session(engine) as s:
        patients = s.exec(select(Patient)).all()
        assert {p.external_id for p in patients} == ids
        by_id = {p.id: p for p in patients}
    assert sorted(r.patient_id or 0 for r in rows) == sorted(p.id or 0 for p in patients)
    for r in rows:
        found = FEED_URL.search(r.body)
        assert found is not None and by_id[r.patient_id].calendar_token_hash == token_hash(
            found.group(1)
        )
        assert r.to == by_id[r.patient_id].phone
    # The Spanish-speaking patient in the example roster gets the Spanish text.
    spanish = [r for r in rows if by_id[r.patient_id].language == "es"]
    assert spanish and all("calendario" in r.body for r in spanish)
    # Re-running the import changes nothing and texts nobody again.
    assert cli.run("import", str(EXAMPLE_ROSTER)).returncode == 0
    assert [r.id for r in links(engine)] == [r.id for r in rows]


# --- the token does not linger in the outbox ---------------------------------------------


@dataclass
class Refusing:
    """An SMS channel whose carrier refuses the number for good."""

    name: str = "refusing"
    sent: list[SmsMessage] = field(default_factory=list)

    def send(self, message: SmsMessage) -> SendResult:
        self.sent.append(message)
        raise TransportError("unreachable destination", permanent=True, code=21211)


def _queued(session: Session, catalog: Catalog, now: datetime) -> tuple[OutboxMessage, str]:
    e = enroll(session, catalog, "teriflunomide", date(2026, 5, 1), now=now)
    settings = settings_from_mapping(
        {"calendar": {"text_link_at_enrollment": True}, "http": {"public_base_url": BASE}}
    )
    url = offer_feed_link(session, e.patient, now, settings)
    assert url is not None
    row = session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "calendar_link")).one()
    assert url in row.body
    return row, url


def _assert_redacted(
    session: Session, row_id: int | None, full: str, url: str, status: str
) -> None:
    session.expire_all()
    stored = session.get(OutboxMessage, row_id)
    assert stored is not None and stored.status == status
    found = FEED_URL.search(url)
    assert found is not None
    token = found.group(1)
    assert token not in stored.body
    assert f"{BASE}/calendar/….ics" in stored.body  # what was sent is still recognisable
    assert stored.body == full.replace(token, "…")


def test_a_sent_link_is_redacted_in_the_outbox(session: Session, catalog: Catalog) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    row, url = _queued(session, catalog, now)
    full = row.body
    phone = MemorySms()
    assert deliver(session, now=now, channel=phone) == 1
    (sms,) = [m for m in phone.sent if m.key == row.key]
    assert sms.body == full and url in sms.body  # the patient got the whole link
    _assert_redacted(session, row.id, full, url, "sent")


@pytest.mark.parametrize("how", ["refused", "expired"])
def test_a_link_never_sent_is_redacted_once_final(
    session: Session, catalog: Catalog, how: str
) -> None:
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    row, url = _queued(session, catalog, now)
    full = row.body
    if how == "refused":
        channel = Refusing()
        assert deliver(session, now=now, channel=channel) == 0
        assert [m.body for m in channel.sent if m.key == row.key] == [full]
        _assert_redacted(session, row.id, full, url, "failed")
    else:
        unused = MemorySms()
        assert deliver(session, now=now + timedelta(days=2), channel=unused) == 0
        assert unused.sent == []
        _assert_redacted(session, row.id, full, url, "expired")


def test_a_link_waiting_for_a_retry_keeps_its_text(session: Session, catalog: Catalog) -> None:
    # Until the row is final the text is needed (a retry resends it; Twilio's reconciliation
    # matches on it), so a temporary failure leaves it whole.
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    row, url = _queued(session, catalog, now)

    @dataclass
    class Busy:
        name: str = "busy"

        def send(self, message: SmsMessage) -> SendResult:
            raise TransportError("try later", permanent=False, code=20429)

    assert deliver(session, now=now, channel=Busy()) == 0
    session.expire_all()
    stored = session.get(OutboxMessage, row.id)
    assert stored is not None and stored.status == "pending" and url in stored.body
