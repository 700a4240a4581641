"""What patients read about a booked neurology visit or MRI: the reminder text and the
calendar event's title.

Discreet by default, like ``appointment_texts``: "a clinic visit", never the visit type
(a neurology visit or an MRI points at the condition), unless the patient opted out of
discretion.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifiers.texts import LANGUAGES


@dataclass(frozen=True, slots=True)
class VisitText:
    team: str
    local_date: str  # "Tue 02 Mar"
    local_time: str  # "09:00"
    visit_type: str  # neurology | mri | a clinic's own code
    language: str = "en"
    discreet: bool = True
    location: str = ""


_DISCREET = {"en": "a clinic visit", "es": "una cita en la clínica"}
_TITLE_DISCREET = {"en": "Clinic visit", "es": "Cita en la clínica"}
_NAMED = {
    "en": {"neurology": "your neurology visit", "mri": "your MRI scan"},
    "es": {"neurology": "su consulta de neurología", "mri": "su resonancia magnética"},
}
_OTHER = {"en": "your {code} visit", "es": "su cita ({code})"}
_DAYS = {
    "en": "{team}: reminder, you have {what} on {date} at {time}{where}. Reply HELP for contact.",
    "es": "{team}: recordatorio, tiene {what} el {date} a las {time}{where}. Responda AYUDA.",
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def what(t: VisitText) -> str:
    lang = _lang(t.language)
    if t.discreet:
        return _DISCREET[lang]
    return _NAMED[lang].get(t.visit_type) or _OTHER[lang].format(code=t.visit_type)


def days_before(t: VisitText) -> str:
    """The reminder texted some days before the visit."""
    where = f" ({t.location})" if t.location else ""
    return _DAYS[_lang(t.language)].format(
        team=t.team, what=what(t), date=t.local_date, time=t.local_time, where=where
    )


def title(t: VisitText) -> str:
    """The calendar event's SUMMARY."""
    if t.discreet:
        return _TITLE_DISCREET[_lang(t.language)]
    named = what(t).removeprefix("your ").removeprefix("su ")
    return named[:1].upper() + named[1:]
