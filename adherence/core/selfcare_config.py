"""The self-care sections of the settings: label monitoring reminders, neurology visits and
MRI, symptom check-ins, flare triage and opt-in self-care nudges. Each section is one
pydantic model, one field per key, its default written here and nowhere else."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from adherence.core.config_fields import Positive, TimeOfDay, _Section

MAX_REMIND_DAYS = 7  # the earliest check reminder: a week before its date


def _remind_days(value: str) -> str:
    parts = [p.strip() for p in value.split(",")] if value.strip() else []
    if not all(p.isdigit() and int(p) <= MAX_REMIND_DAYS for p in parts) or len(
        set(map(int, parts))
    ) != len(parts):
        raise ValueError(
            f"{value!r} is not a comma-separated list of different whole days from 0 to "
            f'{MAX_REMIND_DAYS} (days before the check; 0 = on the day), e.g. "1,0"'
        )
    return value


RemindDays = Annotated[str, AfterValidator(_remind_days)]


class MonitoringSettings(_Section):
    """``[monitoring]``: reminders and the overdue flag for label-required checks."""

    # Days before a check its reminders go (0: on the day); "" sends none.
    remind_days: RemindDays = "1,0"
    # The patient's local time the reminders go; held back by quiet hours.
    remind_time: TimeOfDay = "09:00"
    # Days after its date a check still counts as done; then monitoring_overdue is raised.
    overdue_days: Positive = 30

    def days_before(self) -> tuple[int, ...]:
        """``remind_days`` as numbers, the earliest reminder first (``(1, 0)``)."""
        return tuple(
            sorted((int(p) for p in self.remind_days.split(",") if p.strip()), reverse=True)
        )


class VisitSettings(_Section):
    """``[visits]``: the clinic's neurology visit and MRI cadences."""


class CheckinSettings(_Section):
    """``[checkins]``: the symptom check-in questions and their flag thresholds."""


class TriageSettings(_Section):
    """``[triage]``: the two-question follow-up to a FLARE reply and what the patient is told."""


class NudgeSettings(_Section):
    """``[nudges]``: the opt-in self-care nudges a clinic offers (off unless a patient opts in)."""
