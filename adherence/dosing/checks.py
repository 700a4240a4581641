"""Reminders for label checks (labs, exams: doses of kind ``monitoring``).

A check is reminded on each of ``[monitoring] remind_days`` before its date ("1,0": the day
before and on the day) at ``remind_time``, the patient's local time, held back by quiet
hours; a reminder whose moment passed while the daemon was down is replaced by the next one,
never sent late (the on-the-day text is sent until the end of that day). Nothing here marks
a check missed: the clinic records it done (``confirm(via="clinic")``), and one not recorded
``overdue_days`` after its date raises ``monitoring_overdue`` (``adherence.care.flags``).

No state beyond the dose row: the outbox key ``dose:ID:check:N`` (N days before) makes each
reminder go once, and ``next_action_at`` is the next reminder's moment. Materialising sets
a check's first action a week and a day ahead of it (``REMIND_BEFORE``; it does not read the
settings); the first action here moves it to the first reminder the settings ask for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from adherence.core.selfcare_config import MonitoringSettings
from adherence.dosing import onetap
from adherence.messaging.outbox import enqueue
from adherence.storage.models import CareTeam, Dose, Patient
from notifiers import texts
from schedules.localtime import local_instant, parse_hhmm

log = logging.getLogger("adherence.dispatch")


@dataclass(frozen=True)
class Reminder:
    days_before: int
    at: datetime


def reminders(dose: Dose, patient: Patient, settings: MonitoringSettings) -> list[Reminder]:
    """The check's reminders, earliest first, at ``remind_time`` on each remind day."""
    zone = ZoneInfo(patient.tz)
    t = parse_hhmm(settings.remind_time)
    return [
        Reminder(d, local_instant(dose.local_date - timedelta(days=d), t, zone))
        for d in settings.days_before()
    ]


def day_end(dose: Dose, patient: Patient) -> datetime:
    """The end of the check's date, in the patient's zone: the last reminder's limit."""
    return local_instant(dose.local_date + timedelta(days=1), time(0, 0), ZoneInfo(patient.tz))


def act_on_check(
    session: Session,
    dose: Dose,
    patient: Patient,
    team: CareTeam,
    *,
    now: datetime,
    settings: MonitoringSettings,
    quiet_end: datetime | None,
) -> int:
    """Send the reminder whose moment has come (if any) and set the next action. Returns
    the number of texts queued (0 or 1). ``quiet_end``: when the patient's quiet hours end,
    if ``now`` is inside them."""
    end = day_end(dose, patient)
    planned = [r for r in reminders(dose, patient, settings) if r.at < end]
    upcoming = [r for r in planned if r.at > now]
    passed = [r for r in planned if r.at <= now]
    if now >= end:
        dose.next_action_at = None  # recorded by the clinic; overdue is the care step's
        return 0
    sent = 0
    if passed:
        current = passed[-1]  # an older one whose moment passed unsent is never sent late
        valid = upcoming[0].at if upcoming else end
        if quiet_end is not None and quiet_end < valid:
            dose.next_action_at = quiet_end
            return 0
        if quiet_end is None and patient.sms_status == "active":
            info = onetap.dose_info(dose, patient, team, "")
            enqueue(
                session,
                key=f"dose:{dose.id}:check:{current.days_before}",
                to=patient.phone,
                body=texts.check_reminder(info, current.days_before),
                purpose="reminder",
                now=now,
                valid_until=valid,
                patient_id=patient.id,
                dose_id=dose.id,
                defer=True,
            )
            log.info("check reminder queued dose=%s patient=%s", dose.id, patient.id)
            sent = 1
    dose.next_action_at = upcoming[0].at if upcoming else None
    return sent
