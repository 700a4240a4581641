"""The SMTP channel against a real SMTP server on loopback."""

from __future__ import annotations

import io

import pytest

from notifiers.email import ConsoleEmail, Email, SmtpEmail, mask_email
from notifiers.sms import TransportError
from tests.fakes.smtp_server import smtp_server

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:a@b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T090000Z\r\n"
    "SEQUENCE:0\r\nSUMMARY:Clinic appointment\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_plain_email_arrives_with_subject_body_and_a_message_id_from_the_key() -> None:
    with smtp_server() as (server, inbox):
        channel = SmtpEmail(
            host="127.0.0.1", port=server.port, security="none", from_address="clinic@example.org"
        )
        result = channel.send(
            Email(key="flag:7", to="coord@example.org", subject="Flags", text="Two flags")
        )
        (got,) = inbox.wait_for(1)
    assert got.rcpt_tos == ["coord@example.org"]
    assert got.message["Subject"] == "Flags"
    assert got.message["From"] == "clinic@example.org"
    assert got.message.get_body(("plain",)).get_content().strip() == "Two flags"  # type: ignore[union-attr]
    assert "flag.7" in got.message["Message-ID"]
    assert result.provider_id == got.message["Message-ID"]


def test_an_invitation_carries_a_text_calendar_part_with_its_method_and_an_attachment() -> None:
    with smtp_server() as (server, inbox):
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        channel.send(
            Email(
                key="appt:1:0",
                to="p@example.org",
                subject="Appointment",
                text="See invite",
                calendar=ICS,
                method="CANCEL",
            )
        )
        (got,) = inbox.wait_for(1)
    part = got.part("text/calendar")
    assert part is not None
    assert part.get_param("method") == "CANCEL"
    assert part.get_content().replace("\r\n", "\n") == ICS.replace("\r\n", "\n")
    attachment = got.part("application/ics")
    assert attachment is not None and attachment.get_filename() == "invite.ics"


def test_a_refused_recipient_is_a_permanent_undeliverable_error() -> None:
    with smtp_server() as (server, inbox):
        inbox.refuse["gone@example.org"] = "550 5.1.1 no such user"
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        with pytest.raises(TransportError) as info:
            channel.send(Email(key="k", to="gone@example.org", subject="s", text="t"))
    assert info.value.permanent and info.value.outcome == "undeliverable" and info.value.code == 550


def test_a_temporary_refusal_is_retried_later_not_given_up() -> None:
    with smtp_server() as (server, inbox):
        inbox.refuse["busy@example.org"] = "451 4.3.0 try again later"
        channel = SmtpEmail(host="127.0.0.1", port=server.port, security="none")
        with pytest.raises(TransportError) as info:
            channel.send(Email(key="k", to="busy@example.org", subject="s", text="t"))
    assert not info.value.permanent


def test_an_unreachable_server_is_a_transient_error() -> None:
    with smtp_server() as (server, _):
        port = server.port
    channel = SmtpEmail(host="127.0.0.1", port=port, security="none", timeout=2)
    with pytest.raises(TransportError) as info:
        channel.send(Email(key="k", to="a@example.org", subject="s", text="t"))
    assert not info.value.permanent and "unreachable" in str(info.value)


def test_the_console_channel_masks_the_address() -> None:
    out = io.StringIO()
    ConsoleEmail(stream=out).send(
        Email(key="k", to="maria.lopez@example.org", subject="Hi", text="Body")
    )
    assert "m***@example.org" in out.getvalue() and "maria.lopez" not in out.getvalue()
    assert mask_email("nobody") == "***"
