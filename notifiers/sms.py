"""SMS channels: plain values in, plain results out.

A channel's ``send`` returns a ``SendResult`` or raises ``TransportError`` saying whether
the failure is permanent (invalid number, opted out: never retry) or transient (timeout,
429, 5xx: retry while the message is still valid).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Protocol, TextIO


@dataclass(frozen=True, slots=True)
class SmsMessage:
    key: str  # our idempotency key (outbox row)
    to: str  # E.164
    body: str
    valid_until: datetime | None = None
    status_callback: str | None = None
    purpose: str = ""  # what the message is for (reminder, nudge, ...): for metrics only


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str
    status: str = "sent"  # queued | sent | accepted ...


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        # failed | undeliverable | opted_out | uncertain, or unavailable: the server itself
        # (unreachable, refusing our login), so the next message would fail the same way.
        outcome: str = "failed",
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.outcome = outcome


class SmsChannel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: SmsMessage) -> SendResult: ...


@dataclass
class ConsoleSms:
    """The embedded default: texts are printed to standard output, nothing leaves the
    machine. Printed, not logged: the log never carries message bodies at INFO, and this
    channel exists only so a developer or a demo can read the texts."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = "console"
    _ids: count[int] = field(default_factory=lambda: count(1))

    def send(self, message: SmsMessage) -> SendResult:
        sid = f"CONSOLE{next(self._ids):08d}"
        self.stream.write(f"[sms {sid} to {mask_phone(message.to)}] {message.body}\n")
        self.stream.flush()
        return SendResult(provider_id=sid, status="sent")


@dataclass
class MemorySms:
    """Keeps what was sent; used by the simulation to build its timeline."""

    name: str = "memory"
    sent: list[SmsMessage] = field(default_factory=list)

    def send(self, message: SmsMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id=f"SIM{len(self.sent):08d}", status="sent")


def mask_phone(number: str) -> str:
    """+15551234567 -> +1******4567: enough to tell two patients apart in a log."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 6) + number[-4:]
