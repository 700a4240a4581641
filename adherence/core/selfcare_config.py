"""The self-care sections of the settings: label monitoring reminders, neurology visits and
MRI, symptom check-ins, flare triage and opt-in self-care nudges. Each section is one
pydantic model, one field per key, its default written here and nowhere else."""

from __future__ import annotations

from adherence.core.config_fields import _Section


class MonitoringSettings(_Section):
    """``[monitoring]``: reminders and the overdue flag for label-required checks."""


class VisitSettings(_Section):
    """``[visits]``: the clinic's neurology visit and MRI cadences."""


class CheckinSettings(_Section):
    """``[checkins]``: the symptom check-in questions and their flag thresholds."""


class TriageSettings(_Section):
    """``[triage]``: the two-question follow-up to a FLARE reply and what the patient is told."""


class NudgeSettings(_Section):
    """``[nudges]``: the opt-in self-care nudges a clinic offers (off unless a patient opts in)."""
