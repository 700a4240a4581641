"""The self-care sections of the settings: label monitoring reminders, neurology visits and
MRI, symptom check-ins, flare triage and opt-in self-care nudges. Each section is one
pydantic model, one field per key, its default written here and nowhere else."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from adherence.core.config_fields import Positive, TimeOfDay, _Section

# The check-in questions shipped with the daemon; a clinic adds its own in ``questions_file``.
BUILT_IN_ITEMS = ("fatigue", "mood", "walking", "new_symptoms")


def _codes(value: str) -> str:
    parts = [p.strip() for p in value.split(",")]
    bad = [p for p in parts if not p or not p.replace("_", "").isalnum() or len(p) > 32]
    if bad or not value.strip():
        raise ValueError(f"{value!r} is not a comma-separated list of question codes")
    return ",".join(parts)


def _thresholds(value: str) -> str:
    for part in (p.strip() for p in value.split(",") if p.strip()):
        code, _, number = part.partition(":")
        if not code.strip() or not number.strip().isdigit() or not 0 <= int(number) <= 10:
            raise ValueError(f'{part!r} is not code:score with a score 0 to 10 (e.g. "fatigue:8")')
    return value


CodeList = Annotated[str, AfterValidator(_codes)]
ThresholdList = Annotated[str, AfterValidator(_thresholds)]
Points = Annotated[int, Field(ge=1, le=10)]
VISIT_TYPE_MAX = 16


def _cadences(value: str) -> str:
    """``"neurology:6,mri:12"``: visit type codes and their cadence in whole months."""
    seen: set[str] = set()
    for part in (p.strip() for p in value.split(",") if p.strip()):
        code, sep, months = part.partition(":")
        code = code.strip()
        ok = sep and code.isidentifier() and code.islower() and len(code) <= VISIT_TYPE_MAX
        if not ok or not months.strip().isdigit() or int(months) <= 0 or code in seen:
            raise ValueError(
                f"{part!r} is not TYPE:MONTHS (a lower-case code up to {VISIT_TYPE_MAX} "
                'letters and a whole number of months, e.g. "neurology:6,mri:12")'
            )
        seen.add(code)
    return value


def _months(value: str) -> str:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 12 for p in parts):
        raise ValueError(f'{value!r} is not a comma-separated list of months 1-12, e.g. "6,7,8"')
    return value


Cadences = Annotated[str, AfterValidator(_cadences)]
MonthList = Annotated[str, AfterValidator(_months)]


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

    cadences: Cadences = "neurology:6,mri:12"  # visit type : every this many months
    window_days: Positive = 30  # a visit is due this many days either side of its date
    duration_minutes: Positive = 60  # a booked visit's length unless the booking says


class CheckinSettings(_Section):
    """``[checkins]``: the symptom check-in questions and their flag thresholds."""

    items: CodeList = ",".join(BUILT_IN_ITEMS)
    questions_file: str = ""
    thresholds: ThresholdList = "fatigue:8,mood:8,walking:8"
    worsening_points: Points = 3
    worsening_answers: Positive = 3
    expires_hours: Positive = 12


class TriageSettings(_Section):
    """``[triage]``: the two-question follow-up to a FLARE reply and what the patient is told."""

    expires_hours: Positive = 4
    closing_en: str = (
        "{team}: thank you. Your care team will call you. If it is an emergency, call 911/112."
    )
    closing_es: str = (
        "{team}: gracias. Su equipo le llamara. Si es una emergencia, llame al 911/112."
    )


class NudgeSettings(_Section):
    """``[nudges]``: the opt-in self-care nudges a clinic offers (off unless a patient opts in)."""

    every_days: Positive = 7  # a new subscription's cadence unless the team chooses one
    local_time: TimeOfDay = "10:00"  # ... and its time of day, in the patient's zone
    hot_months: MonthList = "5,6,7,8,9"  # the hydration/cooling nudge is sent only in these
    quitline_en: str = "1-800-784-8669"  # the smoking-cessation support line, English texts
    quitline_es: str = "1-855-335-3569"  # ... and Spanish texts
