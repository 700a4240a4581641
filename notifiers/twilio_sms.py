"""SMS through Twilio with the real ``twilio`` client, and Twilio's webhook forms (an
incoming text, a delivery status) parsed into plain values.

Error mapping (Twilio's codes):
* permanent, never retried: 21211 invalid 'To', 21614 not a mobile number, 21408 region
  not permitted (the phone is undeliverable); 21610 the recipient opted out at the carrier;
  any other 4xx;
* transient, retried with backoff while the message is still valid: 429 / 20429, 5xx, a
  connection that never reached Twilio;
* uncertain: a request that timed out after it was sent may have created the message,
  so it is never blindly retried: ``reconcile`` looks for it in Twilio's message list.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifiers.sms import SendResult, SmsMessage, TransportError

log = logging.getLogger("adherence.twilio")

UNDELIVERABLE = {21211, 21614, 21408}
OPTED_OUT = {21610}
TRANSIENT_CODES = {20429}
MAX_VALIDITY = 36_000  # seconds, Twilio's limit
MIN_VALIDITY = 1


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = "https://api.twilio.com"
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A text someone sent us, from Twilio's incoming-message webhook."""

    sid: str  # Twilio's MessageSid: the same message retried by Twilio has the same one
    from_number: str
    to: str
    body: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status from Twilio's status callback for a message we sent."""

    sid: str
    status: str  # queued | sent | delivered | undelivered | failed | read | ...
    error_code: int | None = None  # a carrier error (30003 unreachable, 30005 unknown, ...)


def parse_inbound(
    form: Mapping[str, str], idempotency_token: str | None = None
) -> InboundSms | None:
    """The webhook's form as plain values; None when it names no message (nothing could be
    recorded once). Without a sid, Twilio's idempotency token (the same on its retries)
    stands in for it."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid and idempotency_token:
        sid = f"token:{idempotency_token}"
    if not sid:
        return None
    return InboundSms(
        sid=sid, from_number=form.get("From", ""), to=form.get("To", ""), body=form.get("Body", "")
    )


def parse_status(form: Mapping[str, str]) -> StatusUpdate | None:
    """The status callback's form as plain values; None without a sid or a status."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not sid or not status:
        return None
    code = form.get("ErrorCode") or ""
    return StatusUpdate(sid=sid, status=status, error_code=int(code) if code.isdigit() else None)


def validity_seconds(valid_until: datetime | None, now: datetime) -> int | None:
    if valid_until is None:
        return None
    seconds = int((valid_until - now).total_seconds())
    return max(MIN_VALIDITY, min(MAX_VALIDITY, seconds))


class TwilioSms:
    name = "twilio"

    def __init__(self, config: TwilioConfig, *, now: type[datetime] = datetime) -> None:
        if not (config.from_number or config.messaging_service_sid):
            raise ValueError("[twilio] needs from_number or messaging_service_sid")
        self.config = config
        http = TwilioHttpClient(timeout=config.timeout, pool_connections=True)
        self.client = Client(config.account_sid, config.auth_token, http_client=http)
        # One network seam: point the real client at a fake API on loopback in tests.
        self.client.api.base_url = config.api_base_url.rstrip("/")
        self._now = now

    def send(self, message: SmsMessage) -> SendResult:
        kwargs: dict[str, object] = {"to": message.to, "body": message.body}
        if self.config.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            kwargs["from_"] = self.config.from_number
        validity = validity_seconds(message.valid_until, self._now.now(UTC))
        if validity is not None:
            kwargs["validity_period"] = validity
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _map_rest_error(exc) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise TransportError(
                f"connect timeout: {type(exc).__name__}", permanent=False
            ) from None
        except requests.exceptions.ReadTimeout as exc:
            # The request reached Twilio: the message may exist. Reconcile, never resend blindly.
            raise TransportError(
                f"timed out after sending: {type(exc).__name__}",
                permanent=False,
                outcome="uncertain",
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransportError("connection refused", permanent=False) from None
            # Dropped mid-request: Twilio may have created the message.
            raise TransportError(
                f"connection lost: {type(exc).__name__}", permanent=False, outcome="uncertain"
            ) from None
        return SendResult(provider_id=str(created.sid), status=str(created.status or "queued"))

    def reconcile(self, message: SmsMessage, since: datetime) -> str | None:
        """Twilio's sid of ``message`` if it was created after ``since``, else None.
        Raises TransportError when Twilio cannot be asked (try again later)."""
        try:
            found = self.client.messages.list(
                to=message.to, date_sent_after=since - timedelta(minutes=5), limit=200
            )
        except TwilioRestException as exc:
            raise _map_rest_error(exc) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"reconcile failed: {type(exc).__name__}", permanent=False
            ) from None
        for item in found:
            if item.body == message.body:
                return str(item.sid)
        return None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text


def _map_rest_error(exc: TwilioRestException) -> TransportError:
    code = exc.code if isinstance(exc.code, int) else None
    status = exc.status or 0
    if code in UNDELIVERABLE:
        return TransportError(f"twilio {code}", permanent=True, code=code, outcome="undeliverable")
    if code in OPTED_OUT:
        return TransportError(f"twilio {code}", permanent=True, code=code, outcome="opted_out")
    if status == 429 or code in TRANSIENT_CODES or status >= 500:
        return TransportError(f"twilio HTTP {status} code {code}", permanent=False, code=code)
    return TransportError(f"twilio HTTP {status} code {code}", permanent=True, code=code)
