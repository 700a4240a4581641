"""What a patient reads in their subscribed calendar feed: titles, outcome words, the
descriptions and (through the titles) the alarms, in the patient's language.

Discreet by default ("Medication", "Clinic appointment"), naming the therapy only when the
patient opted out of discretion, like the texts. Dates are written with the language's own
day and month abbreviations (never the machine's locale).
"""

from __future__ import annotations

from datetime import date, datetime

from notifiers.texts import LANGUAGES

_DISCREET = {
    "en": {
        "dose": "Medication",
        "infusion": "Clinic appointment",
        "monitoring": "Lab test / check-up",
    },
    "es": {
        "dose": "Medicación",
        "infusion": "Cita en la clínica",
        "monitoring": "Análisis / control",
    },
}
_OUTCOME = {
    "en": {
        "dose": {
            "taken": "taken",
            "skipped": "skipped",
            "missed": "missed",
            "not_sent": "not recorded",
        },
        "infusion": {
            "taken": "given",
            "skipped": "skipped",
            "missed": "missed",
            "not_sent": "missed",
        },
        "monitoring": {
            "taken": "done",
            "skipped": "skipped",
            "missed": "missed",
            "not_sent": "missed",
        },
    },
    "es": {
        "dose": {
            "taken": "tomada",
            "skipped": "omitida",
            "missed": "no tomada",
            "not_sent": "sin registrar",
        },
        "infusion": {
            "taken": "administrada",
            "skipped": "omitida",
            "missed": "no administrada",
            "not_sent": "no administrada",
        },
        "monitoring": {
            "taken": "hecho",
            "skipped": "omitido",
            "missed": "no hecho",
            "not_sent": "no hecho",
        },
    },
}
# An appointment's derived state (``adherence.calendar.state``) as its title's suffix.
_APPOINTMENT = {
    "en": {"given": "given", "not given": "not given"},
    "es": {"given": "administrada", "not given": "no administrada"},
}
_INFUSION = {"en": "{what} infusion", "es": "Infusión de {what}"}
_TAKEN_AT = {"en": "Taken at {time}, {day}.", "es": "Tomada a las {time}, {day}."}
_DUE = {
    "en": "Due {due}; allowed between {earliest} and {latest}.",
    "es": "Prevista el {due}; permitida entre el {earliest} y el {latest}.",
}
_BOOKING = {
    "en": "Your care team will book the appointment.",
    "es": "Su equipo de atención reservará la cita.",
}
_FEED_NAME = {"en": "Therapy calendar", "es": "Calendario de tratamiento"}
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _day_month(day: date, lang: str) -> str:
    return f"{day.day:02d} {_MONTHS[lang][day.month - 1]}"


def weekday_date(day: date, language: str = "en", *, year: bool = False) -> str:
    """ "Mon 04 May" (or "lun 04 may"), with the year when asked."""
    lang = _lang(language)
    text = f"{_WEEKDAYS[lang][day.weekday()]} {_day_month(day, lang)}"
    return f"{text} {day.year}" if year else text


def discreet_title(kind: str, language: str = "en") -> str:
    titles = _DISCREET[_lang(language)]
    return titles.get(kind, titles["dose"])


def outcome(kind: str, status: str, language: str = "en") -> str | None:
    """The word a recorded item's title ends with; None while it is open."""
    words = _OUTCOME[_lang(language)]
    return words.get(kind, words["dose"]).get(status)


def appointment_outcome(state: str, language: str = "en") -> str | None:
    """The word a booked appointment's title ends with once its dose is recorded."""
    return _APPOINTMENT[_lang(language)].get(state)


def infusion_title(what: str, language: str = "en") -> str:
    return _INFUSION[_lang(language)].format(what=what)


def taken_at(moment: datetime, language: str = "en") -> str:
    """ "Taken at 09:10, Mon 04 May." (``moment`` already in the patient's zone)."""
    lang = _lang(language)
    day = weekday_date(moment.date(), lang)
    return _TAKEN_AT[lang].format(time=f"{moment:%H:%M}", day=day)


def due_window(due: date, earliest: date, latest: date, language: str = "en") -> str:
    lang = _lang(language)
    return _DUE[lang].format(
        due=weekday_date(due, lang, year=True),
        earliest=_day_month(earliest, lang),
        latest=f"{_day_month(latest, lang)} {latest.year}",
    )


def booking_note(language: str = "en") -> str:
    return _BOOKING[_lang(language)]


def feed_name(language: str = "en") -> str:
    return _FEED_NAME[_lang(language)]
