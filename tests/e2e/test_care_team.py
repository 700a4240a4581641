"""The daemon as a process, with the care-team and calendar parts: a reported flare reaches the
coordinator by e-mail through a real SMTP server, the coordinator works the flag through the
API (team-scoped, audited), the patient's feed is served with 304s, and a booked infusion
arrives as a calendar invitation sent by the running daemon."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlmodel import Session, select

from adherence.storage.db import make_engine
from adherence.storage.models import AuditEvent
from tests.e2e.conftest import Daemon, World, wait_for
from tests.e2e.test_daemon import TZ, enrol_due_now
from tests.fakes.smtp_server import Inbox, smtp_server

pytestmark = pytest.mark.slow


def with_smtp(world: World, port: int) -> Daemon:
    daemon = world.daemon()
    text = daemon.config.read_text()
    daemon.config.write_text(
        text + f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from_address = "clinic@example.org"\n'
    )
    return daemon


def cli_json(world: World, daemon: Daemon, *args: str) -> Any:
    return json.loads(world.cli(*args, "--json", config=daemon.config))


def call(
    url: str, *, token: str | None = None, method: str = "GET", body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    hdrs = dict(headers)
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = Request(url, data=data, method=method, headers=hdrs)
    try:
        with urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def mails_to(inbox: Inbox, address: str) -> list[Any]:
    return [r for r in inbox.received if address in r.rcpt_tos]


def test_a_flare_reaches_the_coordinator_by_email_and_the_flag_is_worked_through_the_api(
    world: World, tmp_path: Path
) -> None:
    [phone] = enrol_due_now(world.db_url, 1)
    with smtp_server() as (server, inbox):
        daemon = with_smtp(world, server.port)
        me = cli_json(
            world,
            daemon,
            "coordinator",
            "add",
            "E2E clinic",
            "--name",
            "Dana Coord",
            "--email",
            "dana@example.org",
        )
        world.cli("team", "add", "Other clinic", "--tz", TZ, config=daemon.config)
        other = cli_json(
            world,
            daemon,
            "coordinator",
            "add",
            "Other clinic",
            "--name",
            "Olu",
            "--email",
            "olu@example.org",
        )
        daemon.start()
        wait_for(lambda: world.fake.sent_to(phone), 20, "the reminder")
        status, _ = world.post_signed(
            daemon,
            "/webhooks/twilio/sms",
            {"MessageSid": "SMflare", "From": phone, "Body": "flare"},
        )
        assert status == 200
        # Urgent: e-mailed at once (the next tick), not in tomorrow's digest.
        [mail] = wait_for(lambda: mails_to(inbox, "dana@example.org"), 30, "the urgent e-mail")
        text = mail.message.get_body(("plain",)).get_content()
        assert "flare" in text.lower()
        assert "aubagio" not in text.lower() and "teriflunomide" not in text.lower()
        assert not mails_to(inbox, "olu@example.org")  # another team is not told

        api = daemon.base + "/api/v1"
        code, _, raw = call(api + "/flags", token=me["token"])
        assert code == 200
        [flag] = [f for f in json.loads(raw) if f["rule"] == "flare_reported"]
        assert flag["severity"] == "urgent" and flag["status"] == "open"
        # The other team's coordinator cannot see or touch it, nor the patient.
        code, _, raw = call(api + "/flags", token=other["token"])
        assert code == 200 and json.loads(raw) == []
        code, _, _ = call(
            f"{api}/flags/{flag['id']}/resolve",
            token=other["token"],
            method="POST",
            body={"note": "not mine"},
        )
        assert code == 404
        code, _, _ = call(f"{api}/patients/{flag['patient_id']}", token=other["token"])
        assert code == 404
        code, headers, _ = call(api + "/flags", token="msa_not-a-real-token")
        assert code == 401 and headers.get("www-authenticate", "").lower().startswith("bearer")
        code, _, raw = call(
            f"{api}/flags/{flag['id']}/resolve",
            token=me["token"],
            method="POST",
            body={"note": "called the patient; neurologist sees her tomorrow"},
        )
        assert code == 200
        resolved = json.loads(raw)
        assert resolved["status"] == "resolved" and "Dana Coord" in resolved["resolved_by"]
        assert daemon.terminate() == 0
    engine = make_engine(world.db_url)
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
        mine = [(r.action, r.resource) for r in rows if r.actor == f"coordinator:{me['id']}"]
        assert ("resolve", f"flag:{flag['id']}") in mine
        assert any(action == "read" for action, _ in mine)
        # Refused requests leave no row; a token never lands in the trail.
        assert not [
            r
            for r in rows
            if r.actor == f"coordinator:{other['id']}" and r.resource.startswith("patient:")
        ]
        assert all(me["token"] not in r.details_json for r in rows)
    engine.dispose()
    log = daemon.log.read_text()
    assert phone not in log and "dana@example.org" not in log and me["token"] not in log


def test_the_feed_is_served_with_304s_and_a_booked_infusion_arrives_as_an_invitation(
    world: World,
) -> None:
    with smtp_server() as (server, inbox):
        daemon = with_smtp(world, server.port)
        cfg = daemon.config
        zone = ZoneInfo(TZ)
        tomorrow = (datetime.now(UTC).astimezone(zone) + timedelta(days=1)).date()
        world.cli("team", "add", "Infusion clinic", "--tz", TZ, config=cfg)
        patient = cli_json(
            world,
            daemon,
            "patient",
            "add",
            "--team",
            "Infusion clinic",
            "--name",
            "Ana Ruiz",
            "--phone",
            "+12025550199",
            "--tz",
            TZ,
            "--external-id",
            "inf-1",
            "--email",
            "ana@example.org",
            "--invites",
        )
        plan = cli_json(
            world, daemon, "plan", "add", "inf-1", "Ocrevus", "--start", tomorrow.isoformat()
        )
        assert plan["patient_id"] == patient["id"] and patient["invites"] is True
        daemon.start()
        link = cli_json(world, daemon, "calendar", "url", "inf-1")
        assert link["url"].startswith(daemon.base + "/calendar/") and link["webcal_url"].startswith(
            "webcal://"
        )
        code, headers, body = call(link["url"])
        assert code == 200 and headers["content-type"].startswith("text/calendar")
        feed = icalendar.Calendar.from_ical(body)
        titles = {str(e["SUMMARY"]) for e in feed.walk("VEVENT")}
        assert titles and not any(
            "ocrelizumab" in t.lower() or "ocrevus" in t.lower() for t in titles
        )
        code, _, again = call(link["url"], **{"If-None-Match": headers["etag"]})
        assert code == 304 and again == b""

        at = datetime.combine(tomorrow, datetime.min.time(), zone).replace(hour=10)
        appt = cli_json(
            world,
            daemon,
            "appointment",
            "book",
            str(plan["id"]),
            "--at",
            at.isoformat(),
            "--location",
            "Infusion suite 2",
        )
        # The running daemon sends the queued invitation through the SMTP server.
        [mail] = wait_for(lambda: mails_to(inbox, "ana@example.org"), 30, "the invitation")
        part = mail.part("text/calendar")
        assert part is not None and part.get_param("method") == "REQUEST"
        cal = icalendar.Calendar.from_ical(part.get_content())
        [event] = cal.walk("VEVENT")
        assert event.decoded("DTSTART") == at
        assert str(event["LOCATION"]) == "Infusion suite 2"
        # The feed changed: a new ETag, and the booked slot is in it.
        code, headers2, body2 = call(link["url"], **{"If-None-Match": headers["etag"]})
        assert code == 200 and headers2["etag"] != headers["etag"]
        starts = [e.decoded("DTSTART") for e in icalendar.Calendar.from_ical(body2).walk("VEVENT")]
        assert at in starts
        assert appt["id"]
        assert daemon.terminate() == 0
