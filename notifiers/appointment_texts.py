"""What patients read about a booked infusion: reminder texts, the premedication text,
and the invitation e-mail's subject, body and calendar title.

Discreet by default, like ``texts``: "a clinic appointment", never the drug, unless the
patient opted out of discretion. The premedication text then says only "the medicines
your clinic asked you to take before it", since the medicine names reveal the therapy.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifiers.texts import LANGUAGES


@dataclass(frozen=True, slots=True)
class AppointmentText:
    team: str  # the care team's name (who is writing)
    local_date: str  # "Tue 02 Mar"
    local_time: str  # "09:00"
    language: str = "en"
    discreet: bool = True
    what: str = ""  # e.g. "Ocrevus 600 mg infusion", used only when not discreet
    location: str = ""
    premedication: str = ""  # the label's premedication, used only when not discreet
    premed_minutes: int = 0  # how long before the start it is due


_DISCREET = {"en": "a clinic appointment", "es": "una cita en la clínica"}
_TITLE_DISCREET = {"en": "Clinic appointment", "es": "Cita en la clínica"}

_DAYS = {
    "en": "{team}: reminder, you have {what} on {date} at {time}{where}. Reply HELP for contact.",
    "es": "{team}: recordatorio, tiene {what} el {date} a las {time}{where}. Responda AYUDA.",
}
_WHERE = {"en": " ({location})", "es": " ({location})"}
_PREMED_DISCREET = {
    "en": "{team}: your appointment is at {time}. Take the medicines your clinic asked you "
    "to take about {minutes} min before it.",
    "es": "{team}: su cita es a las {time}. Tome los medicamentos que le indicó la clínica "
    "unos {minutes} min antes.",
}
_PREMED_NAMED = {
    "en": "{team}: your {what} is at {time}. Before it: {premed}",
    "es": "{team}: su {what} es a las {time}. Antes: {premed}",
}
_SUBJECT = {
    "en": {"REQUEST": "{title}: {date} {time}", "CANCEL": "Cancelled: {title} on {date}"},
    "es": {"REQUEST": "{title}: {date} {time}", "CANCEL": "Cancelada: {title} el {date}"},
}
_BODY = {
    "en": {
        "REQUEST": "{team} has booked {what} for you on {date} at {time}{where}.\n"
        "Accept the invitation to add it to your calendar. If the time does not suit you, "
        "please call the clinic{phone}.",
        "CANCEL": "{team} has cancelled {what} on {date} at {time}. It will be removed from "
        "your calendar. Please call the clinic{phone} if you have questions.",
    },
    "es": {
        "REQUEST": "{team} ha reservado {what} para usted el {date} a las {time}{where}.\n"
        "Acepte la invitación para añadirla a su calendario. Si la hora no le conviene, "
        "llame a la clínica{phone}.",
        "CANCEL": "{team} ha cancelado {what} del {date} a las {time}. Se eliminará de su "
        "calendario. Llame a la clínica{phone} si tiene preguntas.",
    },
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _what(t: AppointmentText) -> str:
    if t.discreet or not t.what:
        return _DISCREET[_lang(t.language)]
    return t.what


def _where(t: AppointmentText) -> str:
    return _WHERE[_lang(t.language)].format(location=t.location) if t.location else ""


def days_before(t: AppointmentText) -> str:
    """The reminder texted some days before the appointment."""
    return _DAYS[_lang(t.language)].format(
        team=t.team, what=_what(t), date=t.local_date, time=t.local_time, where=_where(t)
    )


def premedication(t: AppointmentText) -> str:
    """The text before the appointment about the premedication the label describes."""
    lang = _lang(t.language)
    if t.discreet or not t.premedication or not t.what:
        return _PREMED_DISCREET[lang].format(
            team=t.team, time=t.local_time, minutes=t.premed_minutes
        )
    return _PREMED_NAMED[lang].format(
        team=t.team, what=t.what, time=t.local_time, premed=t.premedication
    )


def title(t: AppointmentText) -> str:
    """The calendar event's SUMMARY."""
    if t.discreet or not t.what:
        return _TITLE_DISCREET[_lang(t.language)]
    return t.what[:1].upper() + t.what[1:]


def subject(t: AppointmentText, method: str) -> str:
    return _SUBJECT[_lang(t.language)][method].format(
        title=title(t), date=t.local_date, time=t.local_time
    )


def email_body(t: AppointmentText, method: str, team_phone: str = "") -> str:
    return _BODY[_lang(t.language)][method].format(
        team=t.team,
        what=_what(t),
        date=t.local_date,
        time=t.local_time,
        where=_where(t),
        phone=f" ({team_phone})" if team_phone else "",
    )
