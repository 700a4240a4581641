"""Tables. Instants are stored in UTC; local dates and wall-clock times next to them.

Unique keys make the engine idempotent: a dose is (plan, epoch, key), an outgoing message
is its ``key`` (dose + purpose + attempt), an inbound message its provider sid.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from adherence.storage.utc import utc_field

# --- statuses ------------------------------------------------------------------------------
# One name per stored value. The columns stay plain strings (no schema change): a StrEnum
# member is a ``str`` equal to its value, so it binds, compares with what a row holds,
# formats and serialises to JSON as that string.


class DoseStatus(StrEnum):
    SCHEDULED = "scheduled"
    REMINDED = "reminded"  # the reminder went out; waiting for an answer (and nudges)
    TAKEN = "taken"
    SKIPPED = "skipped"
    MISSED = "missed"  # the label's late window closed without an answer
    CANCELLED = "cancelled"  # off the schedule (plan stopped, schedule moved by a rule)


# Waiting for the patient: what the dispatcher acts on.
DOSE_OPEN = (DoseStatus.SCHEDULED, DoseStatus.REMINDED)
# An outcome is recorded (a person may still correct it): the doses that count as
# scheduled in measures and exports. Cancelled doses are not here: they left the schedule,
# and materialising may bring one back while its time is still ahead.
DOSE_FINAL = (DoseStatus.TAKEN, DoseStatus.SKIPPED, DoseStatus.MISSED)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; a crash here is reconciled with the provider
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"  # its validity ran out before it could go
    CANCELLED = "cancelled"  # withdrawn before it was sent (snoozed, appointment cancelled)
    NOT_SENT = "not_sent"  # recorded, never sent (a reminder whose window had closed)
    UNDELIVERABLE = "undeliverable"
    OPTED_OUT = "opted_out"
    # Twilio's own statuses, stored as a delivery status callback reports them.
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    READ = "read"
    CANCELED = "canceled"


class SmsStatus(StrEnum):
    """``Patient.sms_status``: whether the patient can be texted."""

    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    UNDELIVERABLE = "undeliverable"


class PlanStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    DONE = "done"


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Still the care team's to look at (one such flag per scope and rule).
FLAG_OPEN = (FlagStatus.OPEN, FlagStatus.ACKNOWLEDGED)


# --- care teams, coordinators, patients -----------------------------------------------------


class CareTeam(SQLModel, table=True):
    __tablename__ = "care_team"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    tz: str = Field(max_length=64)
    phone: str = Field(default="", max_length=32)  # how patients reach the team
    email: str = Field(default="", max_length=320)
    # The clinic's own feed of every patient's infusion appointments (hash of its token).
    calendar_token_hash: str | None = Field(default=None, max_length=128, unique=True)
    created_at: datetime = utc_field(nullable=False)


class Coordinator(SQLModel, table=True):
    __tablename__ = "coordinator"
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="care_team.id", index=True)
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=32)
    token_hash: str | None = Field(default=None, max_length=128, unique=True)
    active: bool = True  # False once revoked: the token no longer opens anything
    # How flags reach this coordinator: urgent ones at once, the rest in a daily digest sent
    # at digest_time in the coordinator's zone (the team's zone when empty).
    notify_sms: bool = False
    notify_email: bool = True
    digest_time: str = Field(default="08:00", max_length=5)
    tz: str = Field(default="", max_length=64)
    revoked_at: datetime | None = utc_field()
    created_at: datetime = utc_field(nullable=False)
    # The next digest instant to act on (UTC): a worker claims it by moving it on with a
    # conditional update, so two daemons never both send one. NULL: computed on first sight.
    next_digest_at: datetime | None = utc_field(index=True)


class Patient(SQLModel, table=True):
    __tablename__ = "patient"
    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="care_team.id", index=True)
    name: str = Field(max_length=200)
    phone: str = Field(max_length=32, index=True)  # E.164
    tz: str = Field(max_length=64)
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    email: str = Field(default="", max_length=320)
    discreet: bool = True  # no drug names in texts or calendar titles unless opted out
    language: str = Field(default="en", max_length=8)
    quiet_start: str | None = Field(default=None, max_length=5)  # "22:00"
    quiet_end: str | None = Field(default=None, max_length=5)  # "07:00"
    sms_status: str = Field(default="active", max_length=16)  # active|opted_out|undeliverable
    active: bool = True  # False once removed (records are kept)
    # The subscribed calendar feed: only a hash of its token is kept; rotating replaces it.
    calendar_token_hash: str | None = Field(default=None, max_length=128, unique=True)
    calendar_token_at: datetime | None = utc_field()
    invites: bool = False  # opted in to appointment invitations by e-mail
    # A family caregiver told about flags, only with the patient's recorded consent.
    caregiver_name: str = Field(default="", max_length=200)
    caregiver_phone: str = Field(default="", max_length=32)
    caregiver_email: str = Field(default="", max_length=320)
    caregiver_consent_at: datetime | None = utc_field()
    created_at: datetime = utc_field(nullable=False)
    updated_at: datetime = utc_field(nullable=False)


# --- therapy plans and doses -----------------------------------------------------------------


class Plan(SQLModel, table=True):
    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    regimen: str = Field(max_length=64)  # catalog code
    options_json: str = Field(default="{}", sa_type=Text)
    start_date: date
    times_json: str = Field(default="[]", sa_type=Text)  # local "HH:MM" list; [] = defaults
    status: str = Field(default="active", max_length=16)  # active|paused|stopped|completed
    epoch: int = 0  # bumped when titration restarts at Day 1
    epoch_start: date  # Day 1 of the current epoch
    rebases_json: str = Field(default="{}", sa_type=Text)  # occasion -> date actually given
    paused_at: datetime | None = utc_field()
    stop_reason: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(nullable=False)
    updated_at: datetime = utc_field(nullable=False)
    # The patient's local day the low-PDC rule last measured this plan (once a day).
    pdc_checked_on: date | None = None
    # Home supply (pills, self-injections), recomputed once a local day and whenever a
    # dispensing record arrives: the next refill-reminder instant and the instant the plan
    # is refill-overdue (UTC). Each is claimed with a conditional update, as digests are.
    supply_checked_on: date | None = None
    refill_remind_at: datetime | None = utc_field(index=True)
    refill_overdue_at: datetime | None = utc_field(index=True)
    # How far materialising has written this plan's doses (the patient's local date) and
    # when: a pass skips the plan while that covers its horizon and nothing changed since.
    materialized_until: date | None = None
    materialized_at: datetime | None = utc_field()

    @property
    def options(self) -> dict[str, str]:
        return dict(json.loads(self.options_json))

    @property
    def times(self) -> list[str]:
        return list(json.loads(self.times_json))

    @property
    def rebases(self) -> dict[int, date]:
        raw = json.loads(self.rebases_json)
        return {int(k): date.fromisoformat(v) for k, v in raw.items()}

    def set_rebases(self, rebases: dict[int, date]) -> None:
        self.rebases_json = json.dumps({str(k): v.isoformat() for k, v in sorted(rebases.items())})


class Dose(SQLModel, table=True):
    __tablename__ = "dose"
    __table_args__ = (
        UniqueConstraint("plan_id", "epoch", "key", name="uq_dose_plan_epoch_key"),
        Index("ix_dose_next_action", "next_action_at"),
        # A patient's doses by time, covering updated_at: the calendar feed's version
        # check (count and latest change in its window) reads this index alone. It also
        # serves every lookup by patient_id (its leading column).
        Index("ix_dose_patient_due", "patient_id", "due_at", "updated_at"),
        # Each materialise batch's lookup: a batch of plans' doses from two days ago on.
        Index("ix_dose_plan_due", "plan_id", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")  # indexed by ix_dose_plan_due
    patient_id: int = Field(foreign_key="patient.id")
    epoch: int = 0
    key: str = Field(max_length=64)
    occasion: int = 0
    due_at: datetime = utc_field(nullable=False, index=True)
    local_date: date
    local_time: str = Field(max_length=5)
    day: int
    amount: float
    unit: str = Field(max_length=16)
    kind: str = Field(max_length=16)  # dose | infusion | monitoring
    phase: str = Field(max_length=64)
    label: str = Field(default="", max_length=200)
    earliest: date | None = None
    latest: date | None = None
    window_closes_at: datetime = utc_field(nullable=False)
    status: str = Field(default="scheduled", max_length=16)
    late: bool = False
    taken_at: datetime | None = utc_field()
    confirmed_at: datetime | None = utc_field()
    confirmed_via: str = Field(default="", max_length=16)  # sms | clinic | phone | import
    confirmed_by: str = Field(default="", max_length=200)
    # Where an imported or entered record came from ("pharmacy EHR", "infusion log") and a
    # free-text note; empty for doses answered by text.
    source: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)
    # The injection site the patient's reply named (a catalog code, "LT"), empty when none;
    # and, when that use repeated against the therapy's rotation rule, why (stored at the
    # reply: the rule is read against the history as it was then, not as later edits leave it).
    site: str | None = Field(default=None, max_length=16)
    site_note: str = Field(default="", max_length=200)
    nudges_sent: int = 0
    snoozed_until: datetime | None = utc_field()
    next_action_at: datetime | None = utc_field()
    updated_at: datetime = utc_field(nullable=False)
    # The short code its texts name ("A7") when a reply could mean more than one open dose
    # (``adherence.dosing.codes``); null when it never needed one.
    reply_code: str | None = Field(default=None, max_length=4)


class DoseChange(SQLModel, table=True):
    """Every status change made by a person (a clinic entry, a correction): who, when, what."""

    __tablename__ = "dose_change"
    id: int | None = Field(default=None, primary_key=True)
    dose_id: int = Field(foreign_key="dose.id", index=True)
    old_status: str = Field(max_length=16)
    new_status: str = Field(max_length=16)
    old_taken_at: datetime | None = utc_field()
    new_taken_at: datetime | None = utc_field()
    changed_by: str = Field(max_length=200)
    changed_at: datetime = utc_field(nullable=False)
    reason: str = Field(default="", max_length=500)


class RuleEvent(SQLModel, table=True):
    """A label rule that fired (titration restart, repeat observation, shift, cap, ...), or
    an engine fact the care-team rules consume (a dose that became missed). ``notified`` is
    set when a care-team rule has consumed it."""

    __tablename__ = "rule_event"
    # The care-team rules read the events not consumed yet on every tick: the index keeps
    # that a short range however many (consumed) events accumulate.
    __table_args__ = (Index("ix_rule_event_pending", "notified", "type"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    dose_id: int | None = Field(default=None, foreign_key="dose.id")
    type: str = Field(max_length=48)
    at: datetime = utc_field(nullable=False, index=True)
    details_json: str = Field(default="{}", sa_type=Text)
    notified: bool = False

    @property
    def details(self) -> dict[str, Any]:
        return dict(json.loads(self.details_json))


class Dispense(SQLModel, table=True):
    """A pharmacy fill of a plan's home supply (pills, self-injections): the date it was
    dispensed and the days it supplies. The unique key makes an import idempotent: the
    same fill recorded twice (the same file imported again) is one row."""

    __tablename__ = "dispense"
    __table_args__ = (
        UniqueConstraint(
            "plan_id", "dispensed_on", "days_supply", "source", name="uq_dispense_fill"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    dispensed_on: date  # the patient's local date
    days_supply: int
    quantity: float | None = None  # doses supplied (tablets, syringes, pens), when known
    source: str = Field(default="", max_length=200)
    recorded_via: str = Field(default="", max_length=16)  # cli | api | import
    recorded_by: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(nullable=False)


# --- messages ------------------------------------------------------------------------------


class OutboxMessage(SQLModel, table=True):
    """Written before the network call; the unique key makes a resend impossible."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    dose_id: int | None = Field(default=None, foreign_key="dose.id", index=True)
    purpose: str = Field(max_length=32)  # reminder|nudge|reply|help|flag|...
    channel: str = Field(default="sms", max_length=16)
    to: str = Field(max_length=320)
    body: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)
    # pending|sending|sent|delivered|undelivered|failed|expired|cancelled
    attempts: int = 0
    next_attempt_at: datetime | None = utc_field()
    valid_until: datetime = utc_field(nullable=False)
    # A Twilio SID (34 characters) or an e-mail Message-ID (often 70-100).
    provider_id: str | None = Field(default=None, max_length=255, index=True)
    error: str = Field(default="", max_length=500)
    created_at: datetime = utc_field(nullable=False)
    sent_at: datetime | None = utc_field()
    updated_at: datetime = utc_field(nullable=False)


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound"
    __table_args__ = (
        # A patient's texts by time: the call list's "last answer" (max per patient) is read
        # from the index alone; lookups by patient_id use its leading column.
        Index("ix_inbound_patient_received", "patient_id", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    provider_sid: str = Field(max_length=64, unique=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    from_number: str = Field(max_length=32)
    body: str = Field(sa_type=Text)
    intent: str = Field(default="", max_length=16)
    dose_id: int | None = Field(default=None, foreign_key="dose.id")
    received_at: datetime = utc_field(nullable=False)


# --- calendar and appointments ---------------------------------------------------------------


class Appointment(SQLModel, table=True):
    """The booked slot of a clinic infusion. ``uid`` never changes; ``sequence`` goes up
    with every change that the patient's calendar must see (iTIP, RFC 5546)."""

    __tablename__ = "appointment"
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=128, unique=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    dose_id: int | None = Field(default=None, foreign_key="dose.id", index=True)
    at: datetime = utc_field(nullable=False, index=True)
    duration_minutes: int = 240
    location: str = Field(default="", max_length=300)
    status: str = Field(default="booked", max_length=16)  # booked | cancelled | done
    sequence: int = 0
    forced_reason: str = Field(default="", max_length=500)  # booked outside the label's window
    booked_by: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(nullable=False)
    updated_at: datetime = utc_field(nullable=False)


# --- care team: flags and the audit trail ----------------------------------------------------


class Flag(SQLModel, table=True):
    """Something the care team should look at. ``open_key`` ("plan:12:missed_doses") is set
    while the flag is open or acknowledged and cleared when it is resolved, so the unique
    index allows one open flag per plan (or patient) and rule, and any number of old ones."""

    __tablename__ = "flag"
    id: int | None = Field(default=None, primary_key=True)
    open_key: str | None = Field(default=None, max_length=128, unique=True)
    team_id: int = Field(foreign_key="care_team.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    rule: str = Field(max_length=48)
    severity: str = Field(default="normal", max_length=16)  # urgent | normal
    status: str = Field(default="open", max_length=16)  # open | acknowledged | resolved
    occurrences: int = 1
    first_at: datetime = utc_field(nullable=False)
    last_at: datetime = utc_field(nullable=False)
    details_json: str = Field(default="{}", sa_type=Text)
    notified_at: datetime | None = utc_field()  # urgent: when sent; others: in which digest
    acknowledged_by: str = Field(default="", max_length=200)
    acknowledged_at: datetime | None = utc_field()
    resolved_by: str = Field(default="", max_length=200)
    resolved_at: datetime | None = utc_field()
    note: str = Field(default="", sa_type=Text)

    @property
    def details(self) -> dict[str, Any]:
        return dict(json.loads(self.details_json))


class AuditEvent(SQLModel, table=True):
    """Every read or export of patient data: who, what, when."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(nullable=False, index=True)
    actor: str = Field(max_length=200)  # "coordinator:7" or "cli:<user>"
    team_id: int | None = Field(default=None, foreign_key="care_team.id", index=True)
    action: str = Field(max_length=48)  # read | export | ack | resolve ...
    resource: str = Field(max_length=200)  # "patient:12", "export:csv", "flags"
    patient_id: int | None = Field(default=None, index=True)
    details_json: str = Field(default="{}", sa_type=Text)


# The workspace's tables (sign-in sessions, call results, one-tap links) and the self-care
# tables (check-ins, observations, open questions, nudges) live in their own modules;
# imported here so that importing the models registers every table.
from adherence.storage.selfcare import CheckinSchedule as CheckinSchedule  # noqa: E402
from adherence.storage.selfcare import NudgeSubscription as NudgeSubscription  # noqa: E402
from adherence.storage.selfcare import Observation as Observation  # noqa: E402
from adherence.storage.selfcare import Prompt as Prompt  # noqa: E402
from adherence.storage.visits import Visit as Visit  # noqa: E402
from adherence.storage.workspace import CallResult as CallResult  # noqa: E402
from adherence.storage.workspace import ConfirmLink as ConfirmLink  # noqa: E402
from adherence.storage.workspace import WorkspaceSession as WorkspaceSession  # noqa: E402

# The doses changed since a pass's watermark (``adherence.storage.watermarks``), read by
# index rather than by a scan of every dose.
Index("ix_dose_updated_at", Dose.__table__.c.updated_at)  # type: ignore[attr-defined]
from adherence.storage.watermarks import Watermark as Watermark  # noqa: E402
