"""Prometheus metrics, one registry per daemon (tests build many)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reminders_due = Gauge(
            "adherence_reminders_due", "Doses whose next action is due now", registry=r
        )
        self.messages_sent = Counter(
            "adherence_messages_sent_total",
            "Messages handed to the SMS provider",
            ["purpose"],
            registry=r,
        )
        self.messages_failed = Counter(
            "adherence_messages_failed_total",
            "Messages that failed to send",
            ["outcome"],
            registry=r,
        )
        self.replies = Counter(
            "adherence_replies_total", "Inbound patient replies", ["intent"], registry=r
        )
        self.doses_missed = Counter(
            "adherence_doses_missed_total", "Doses marked missed", registry=r
        )
        self.send_latency = Histogram(
            "adherence_send_latency_seconds",
            "Provider call duration",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.dispatch_lag = Gauge(
            "adherence_dispatch_lag_seconds",
            "How late the last tick started after its due time",
            registry=r,
        )
        self.ticks = Counter("adherence_ticks_total", "Engine ticks run", registry=r)


@dataclass
class DaemonState:
    """What /healthz reports: set by the worker, read by the web app."""

    metrics: Metrics = field(default_factory=Metrics)
    last_tick_at: datetime | None = None
    scheduler_running: bool = False
    started_at: datetime | None = None
