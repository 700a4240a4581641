"""One engine tick: the steps, in order, and when the next one is needed.

The daemon calls ``tick`` when it wakes; the simulation calls it on a virtual clock; tests
call it with a frozen ``now``. It never reads the clock itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from adherence.care.flags.refill import refill_step
from adherence.care.step import care_step
from adherence.core.config import Settings, SupplySettings
from adherence.dosing.dispatch import DispatchPolicy, DispatchResult, dispatch_due, next_due
from adherence.dosing.materialize import SliceResult, materialize, materialize_slice
from adherence.messaging.mail import deliver_email
from adherence.messaging.outbox import Sender, deliver, next_pending
from adherence.selfcare.nudges.step import nudge_step
from adherence.selfcare.step import selfcare_step
from notifiers.email import EmailChannel
from notifiers.sms import SmsChannel
from schedules import Catalog


@dataclass
class TickResult:
    materialized: int
    dispatched: DispatchResult
    sent: int
    next_at: datetime | None


@dataclass
class MaterializePass:
    """A materialising pass spread over ticks, so that dispatch never waits behind it: each
    tick expands at most ``slice_plans`` plans, after that tick's reminders went out. First
    the near stage (up to tomorrow: the reminders due now are written first), then the full
    horizon; plans whose horizon is already written are skipped by their mark. With
    ``lock_key`` (PostgreSQL) every slice holds the advisory lock while it writes, and a
    worker that finds another one materialising leaves the pass to it."""

    horizon_days: int
    lock_key: int | None = None
    slice_plans: int = 200
    near_days: int = 1
    stage: int = 0  # 0 near, 1 full horizon, 2 done
    after_id: int = 0
    total: SliceResult = field(default_factory=SliceResult)
    pending_full: bool = False  # ended, and no tick has run the once-a-pass steps yet

    @property
    def done(self) -> bool:
        return self.stage >= 2

    def step(self, session: Session, *, now: datetime, catalog: Catalog) -> int:
        """One slice (across a stage's end, if the budget allows); the doses it wrote."""
        written, budget = 0, self.slice_plans
        while not self.done and budget > 0:
            r = materialize_slice(
                session,
                now=now,
                catalog=catalog,
                horizon_days=self.near_days if self.stage == 0 else self.horizon_days,
                after_id=self.after_id,
                max_plans=budget,
                lock_key=self.lock_key,
            )
            t = self.total
            t.written += r.written
            t.examined += r.examined
            t.skipped += r.skipped
            t.failed += r.failed
            written += r.written
            if r.locked:
                t.locked, self.stage = True, 2
            elif r.next_after is not None:
                self.after_id = r.next_after
                break  # the slice's budget is spent
            else:
                self.stage, self.after_id = self.stage + 1, 0
                budget -= r.examined
        if self.done:
            self.pending_full = True
        return written

    def take_finished(self) -> bool:
        """True once, on the first tick after the pass ended."""
        seen, self.pending_full = self.pending_full, False
        return seen


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    """The dispatcher's rules from ``[engine]`` (and the one-tap link from ``[sms]`` and
    ``[http]``): the daemon and the simulation use the same."""
    eng = settings.engine
    return DispatchPolicy(
        nudges=eng.nudges,
        nudge_every=timedelta(minutes=eng.nudge_every_minutes),
        horizon_days=eng.horizon_days,
        confirm_links=settings.sms.confirm_links,
        public_base_url=settings.http.public_base_url,
        max_length=settings.sms.max_length,
        monitoring=settings.monitoring,
    )


def tick(
    session: Session,
    *,
    now: datetime,
    catalog: Catalog,
    policy: DispatchPolicy,
    channel: SmsChannel | None = None,
    sender: Sender | None = None,
    horizon_days: int,
    do_materialize: bool,
    status_callback: str | None = None,
    clock: Callable[[], datetime] | None = None,
    settings: Settings | None = None,
    mailer: EmailChannel | None = None,
    supply: SupplySettings | None = None,
    materialize_pass: MaterializePass | None = None,
) -> TickResult:
    """One pass of every step. ``supply`` is the ``[supply]`` section when ``settings`` is
    not given (the simulation runs no care step but does send refill texts).
    ``do_materialize`` writes every plan's horizon before dispatching (the simulation, on a
    virtual clock); the daemon passes ``materialize_pass`` instead, one slice per tick. The
    once-a-pass parts of the supply and care steps run with ``do_materialize``, or in the
    tick whose slice ended the pass."""
    written = sent_first = 0
    if do_materialize:
        written = materialize(session, now=now, catalog=catalog, horizon_days=horizon_days)
    # One batch, then hand its texts to the sender before preparing the next: in a morning
    # peak the first reminders leave while later ones are still being dispatched.
    dispatched = dispatch_due(session, now=now, catalog=catalog, policy=policy, max_batches=1)
    if materialize_pass is not None and not materialize_pass.done and not dispatched.more:
        # Reminders due now first: this tick's texts on their way, then, once nothing is
        # left to send now, one slice of the pass.
        sent_first = deliver(
            session,
            now=now,
            channel=channel,
            sender=sender,
            status_callback=status_callback,
            clock=clock,
        )
        queued = next_pending(session)
        if not (sender is not None and sender.busy) and (queued is None or queued > now):
            written += materialize_pass.step(session, now=now, catalog=catalog)
    full = do_materialize or (materialize_pass is not None and materialize_pass.take_finished())
    # Refill texts and refill-overdue flags: a plan's home supply, once a local day and
    # whenever one of its instants comes; before delivery, so a text due now goes now.
    supply = supply or (settings.supply if settings is not None else SupplySettings())
    supply_next = refill_step(session, now=now, catalog=catalog, settings=supply, full=full)
    # Opt-in self-care nudges that are due (none unless a patient chose one).
    nudges_next = nudge_step(session, now=now, settings=settings) if settings is not None else None
    sent = deliver(
        session,
        now=now,
        channel=channel,
        sender=sender,
        status_callback=status_callback,
        clock=clock,
    )
    care_next = selfcare_next = None
    if settings is not None:
        # Flags from what just happened, urgent escalations, digests that are due.
        care_next = care_step(session, now=now, catalog=catalog, settings=settings, full=full)
        # Check-ins due, expired questions, triage for the flare flags just raised.
        selfcare_next = selfcare_step(
            session, now=now, checkin_settings=settings.checkins, triage_settings=settings.triage
        )
    if mailer is not None:
        deliver_email(session, now=now, channel=mailer)
    candidates = [
        t
        for t in (
            next_due(session),
            next_pending(session),
            care_next,
            supply_next,
            selfcare_next,
            nudges_next,
        )
        if t is not None
    ]
    if dispatched.more or (materialize_pass is not None and not materialize_pass.done):
        candidates.append(now)
    nxt = min(candidates) if candidates else None
    if sender is not None and sender.busy:
        # Requests on the wire: come back soon to record them and free their slots.
        soon = now + timedelta(milliseconds=50)
        nxt = soon if nxt is None else min(nxt, soon)
    if nxt is not None and nxt <= now:
        nxt = now  # more work queued than one batch: come back at once
    return TickResult(
        materialized=written, dispatched=dispatched, sent=sent_first + sent, next_at=nxt
    )
