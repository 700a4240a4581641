"""E-mail channels: plain values in, plain results out (the same contract as SMS).

``SmtpEmail`` talks to a real mail server with the standard library's ``smtplib``; an
``Email`` with a ``calendar`` part is sent the way calendar clients expect an iTIP
invitation (RFC 6047): a ``text/calendar; method=...`` alternative next to the plain text,
plus the same object as an ``invite.ics`` attachment for clients that only look there.
``ConsoleEmail`` prints, for the embedded default where no mail server is configured.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from itertools import count
from typing import Protocol, TextIO

from notifiers.sms import SendResult, TransportError


@dataclass(frozen=True, slots=True)
class Email:
    key: str  # our idempotency key (outbox row); also the Message-ID's left part
    to: str
    subject: str
    text: str
    calendar: str | None = None  # a serialised VCALENDAR (iTIP) to send as an invitation
    method: str | None = None  # its METHOD: REQUEST | CANCEL


class EmailChannel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, email: Email) -> SendResult: ...


def build_message(email: Email, from_address: str) -> EmailMessage:
    """The MIME message for ``email`` (separate from sending, so tests can read it)."""
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False)
    domain = from_address.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=_safe_id(email.key), domain=domain)
    msg.set_content(email.text)
    if email.calendar is not None:
        method = (email.method or "REQUEST").upper()
        # The calendar part as an alternative: Outlook, Apple Mail and Gmail show their
        # accept/decline UI from it. The attachment copy serves clients that only look there.
        msg.add_alternative(
            email.calendar.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            params={"method": method, "charset": "utf-8"},
            cte="base64",
        )
        msg.add_attachment(
            email.calendar.encode("utf-8"),
            maintype="application",
            subtype="ics",
            filename="invite.ics",
        )
    return msg


@dataclass
class SmtpEmail:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str = ""
    password: str = ""
    from_address: str = "adherence@localhost"
    timeout: float = 10.0
    name: str = "smtp"

    def send(self, email: Email) -> SendResult:
        message = build_message(email, self.from_address)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            # 5xx: the address is wrong for good; 4xx: try again later.
            permanent = any(500 <= c < 600 for c in codes)
            raise TransportError(
                f"recipient refused ({', '.join(map(str, codes))})",
                permanent=permanent,
                code=codes[0] if codes else None,
                outcome="undeliverable" if permanent else "failed",
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"mail server refused the login ({exc.smtp_code})",
                permanent=False,
                code=exc.smtp_code,
                outcome="unavailable",
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"mail server answered {exc.smtp_code}",
                permanent=500 <= exc.smtp_code < 600,
                code=exc.smtp_code,
                # 421: the service itself is closing or not available (RFC 5321).
                outcome="unavailable" if exc.smtp_code == 421 else "failed",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"mail server unreachable: {type(exc).__name__}",
                permanent=False,
                outcome="unavailable",
            ) from None
        if refused:
            raise TransportError("recipient refused", permanent=True, outcome="undeliverable")
        return SendResult(provider_id=str(message["Message-ID"]), status="sent")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


@dataclass
class ConsoleEmail:
    """The embedded default: e-mails are printed to standard output (never logged)."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = "console"
    _ids: count[int] = field(default_factory=lambda: count(1))

    def send(self, email: Email) -> SendResult:
        mid = f"console-{next(self._ids):08d}"
        extra = f" [+ invitation {email.method or 'REQUEST'}]" if email.calendar else ""
        self.stream.write(
            f"[email {mid} to {mask_email(email.to)}] {email.subject}{extra}\n{email.text}\n"
        )
        self.stream.flush()
        return SendResult(provider_id=mid, status="sent")


@dataclass
class MemoryEmail:
    """Keeps what was sent; used by the simulation."""

    name: str = "memory"
    sent: list[Email] = field(default_factory=list)

    def send(self, email: Email) -> SendResult:
        self.sent.append(email)
        return SendResult(provider_id=f"mem-{len(self.sent):08d}", status="sent")


def mask_email(address: str) -> str:
    """maria.lopez@example.org -> m***@example.org."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def _safe_id(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "." for c in key)[:60]
