"""`adherence run`: APScheduler jobs that call the engine steps, plus the HTTP service.

The tick job runs when the next dose or message is due (never later than
``max_sleep_seconds``), so a reminder leaves within a second or two of its time without
polling. Per-dose state lives in our tables; APScheduler holds only two jobs.
Several daemons may share one PostgreSQL database: dose and message claims use
``FOR UPDATE SKIP LOCKED`` and materialising is guarded by an advisory lock.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, func, text
from sqlmodel import col, select

from adherence.bootstrap import App, sms_channel_name
from adherence.clock import Clock, SystemClock
from adherence.config import Settings
from adherence.dispatch import next_due
from adherence.engine import TickResult, tick
from adherence.mail import make_email_channel
from adherence.metrics import DaemonState
from adherence.models import Dose
from adherence.outbox import Sender, reconcile_in_flight
from notifiers.sms import ConsoleSms, SendResult, SmsChannel, SmsMessage, TransportError

log = logging.getLogger("adherence.daemon")
MATERIALIZE_LOCK = 0x4D53_0001  # advisory lock key ("MS" + 1)
HAND_BACK_AFTER = 1.0  # seconds: shorter waits happen inside the running tick job


@dataclass
class TimedChannel:
    """Measures provider calls for /metrics without touching the channel."""

    inner: SmsChannel
    state: DaemonState

    @property
    def name(self) -> str:
        return self.inner.name

    def send(self, message: SmsMessage) -> SendResult:
        started = time.perf_counter()
        try:
            result = self.inner.send(message)
        except TransportError as exc:
            self.state.metrics.messages_failed.labels(exc.outcome).inc()
            raise
        finally:
            self.state.metrics.send_latency.observe(time.perf_counter() - started)
        self.state.metrics.messages_sent.labels("sms").inc()
        return result

    def reconcile(self, message: SmsMessage, since: datetime) -> str | None:
        reconcile = getattr(self.inner, "reconcile", None)
        return None if reconcile is None else reconcile(message, since)


def make_channel(settings: Settings) -> SmsChannel:
    if sms_channel_name(settings) == "twilio":
        from notifiers.twilio_sms import TwilioConfig, TwilioSms

        tw = settings.twilio
        return TwilioSms(
            TwilioConfig(
                account_sid=tw.account_sid,
                auth_token=tw.auth_token,
                from_number=tw.from_number,
                messaging_service_sid=tw.messaging_service_sid,
                api_base_url=tw.api_base_url,
                timeout=tw.timeout_seconds,
            )
        )
    return ConsoleSms()


@contextmanager
def singleton(engine: Engine, key: int) -> Iterator[bool]:
    """True for the one process holding ``key`` (PostgreSQL advisory lock); SQLite runs a
    single daemon, so it is always True there."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


class Worker:
    def __init__(
        self, app: App, channel: SmsChannel, state: DaemonState, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.clock = clock or SystemClock()
        tw = app.settings.twilio
        self.channel = TimedChannel(channel, state)
        self.status_callback = (
            app.settings.http.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        )
        self.sender = Sender(
            channel=self.channel,
            workers=tw.max_workers,
            rate_per_second=tw.rate_per_second if channel.name == "twilio" else 1000.0,
            status_callback=self.status_callback if channel.name == "twilio" else None,
        )
        self.reconcile_after = timedelta(seconds=tw.timeout_seconds + 5)
        self.mailer = make_email_channel(app.settings)
        self.next_materialize = self.clock.now()
        self.scheduler: BackgroundScheduler | None = None
        self.first = True
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run_once(self) -> TickResult:
        with self.lock:
            now = self.clock.now()
            eng = self.app.settings.engine
            with self.app.session() as s:
                reconcile_in_flight(
                    s,
                    now=now,
                    channel=self.channel,
                    # At start, anything still "sending" was in flight when we stopped.
                    older_than=timedelta(0) if self.first else self.reconcile_after,
                    status_callback=self.sender.status_callback,
                )
                self.first = False
                due_now = s.exec(
                    select(func.count()).select_from(Dose).where(col(Dose.next_action_at) <= now)
                ).one()
                oldest = next_due(s)
                m = self.state.metrics
                m.reminders_due.set(due_now)
                lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
                m.dispatch_lag.set(lag)
                do_mat = False
                if now >= self.next_materialize:
                    with singleton(self.app.engine, MATERIALIZE_LOCK) as mine:
                        do_mat = mine
                    self.next_materialize = now + timedelta(minutes=eng.materialize_every_minutes)
                result = tick(
                    s,
                    now=now,
                    catalog=self.app.catalog,
                    policy=self.app.policy,
                    sender=self.sender,
                    horizon_days=eng.horizon_days,
                    do_materialize=do_mat,
                    status_callback=self.sender.status_callback,
                    clock=self.clock.now,
                    settings=self.app.settings,
                    mailer=self.mailer,
                )
            m = self.state.metrics
            m.ticks.inc()
            m.doses_missed.inc(result.dispatched.missed)
            self.state.last_tick_at = self.clock.now()
            if result.dispatched.acted or result.sent or result.materialized:
                log.info(
                    "tick acted=%d reminders=%d nudges=%d missed=%d sent=%d materialized=%d",
                    result.dispatched.acted,
                    result.dispatched.reminders,
                    result.dispatched.nudges,
                    result.dispatched.missed,
                    result.sent,
                    result.materialized,
                )
            for event in result.dispatched.events:
                log.info("rule event type=%s plan=%s", event.type, event.plan_id)
            return result

    def tick_job(self) -> None:
        """Run the engine until its next step is more than a moment away, then hand the
        wait back to APScheduler. Short waits (work still queued, sends on the wire) stay in
        this run: a job re-added for "right now" while this run is still on the books would
        be skipped by APScheduler as a second instance, and the daemon would go quiet."""
        while not self.stopping.is_set():
            now = self.clock.now()
            try:
                nxt = self.run_once().next_at
            except Exception:
                log.exception("tick failed; retrying shortly")
                nxt = now + timedelta(seconds=5)
            limit = self.clock.now() + timedelta(seconds=self.app.settings.engine.max_sleep_seconds)
            when = min(nxt, limit) if nxt else limit
            wait = (when - self.clock.now()).total_seconds()
            if wait <= HAND_BACK_AFTER:
                self.stopping.wait(max(0.0, wait))
                continue
            if self.scheduler is not None and not self.stopping.is_set():
                self.scheduler.add_job(
                    self.tick_job,
                    "date",
                    run_date=when,
                    id="tick",
                    replace_existing=True,
                    misfire_grace_time=None,
                    coalesce=True,
                    max_instances=1,
                )
            return

    def wake(self) -> None:
        """Run the tick now (after a webhook changed something)."""
        if self.scheduler is not None and not self.stopping.is_set():
            # JobLookupError: the tick is running right now and reschedules itself.
            with suppress(Exception):
                self.scheduler.modify_job("tick", next_run_time=datetime.now(UTC))

    def start(self) -> None:
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.start()
        self.state.scheduler_running = True
        self.state.started_at = self.clock.now()
        self.scheduler.add_job(
            self.tick_job,
            "date",
            run_date=datetime.now(UTC),
            id="tick",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def stop(self) -> None:
        """Stop taking new work; let in-flight sends finish (their rows are then recorded)."""
        self.stopping.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        self.state.scheduler_running = False
        with self.lock, self.app.session() as s:
            recorded = self.sender.finish(s, self.clock.now())
        if recorded:
            log.info("recorded %d in-flight sends before exit", recorded)
        self.sender.close(wait=True)


def run_daemon(
    app: App, *, host: str, port: int, once: bool = False, channel: SmsChannel | None = None
) -> int:
    import uvicorn

    from adherence.web import create_app

    state = DaemonState()
    chan = channel or make_channel(app.settings)
    worker = Worker(app, chan, state)
    log.info("daemon starting channel=%s database=%s", chan.name, app.engine.dialect.name)
    if once:
        result = worker.run_once()
        worker.stop()
        log.info("once: next action at %s", result.next_at.isoformat() if result.next_at else "-")
        return 0
    web = create_app(app, state=state, wake=worker.wake)

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM after its shutdown, which would kill the process
            # before our in-flight sends are recorded: we handle the signals ourselves.
            yield

    server = Server(
        uvicorn.Config(web, host=host, port=port, log_level="warning", access_log=False)
    )

    def _exit(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        server.should_exit = True
        worker.stopping.set()

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    worker.start()
    try:
        server.run()  # returns once should_exit is set and open requests are answered
    finally:
        log.info("daemon stopping: finishing in-flight sends")
        worker.stop()
        log.info("daemon stopped")
    return 0
