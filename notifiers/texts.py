"""What patients read. Short (one SMS segment where possible), discreet by default:
no drug name, diagnosis or dose unless the patient opted in; always how to answer."""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "es")


@dataclass(frozen=True, slots=True)
class DoseText:
    team: str  # the care team's name (who is texting)
    language: str = "en"
    discreet: bool = True
    what: str = ""  # e.g. "Tecfidera 240 mg", used only when not discreet
    kind: str = "dose"  # dose | infusion | monitoring
    local_time: str = ""  # "20:00"
    local_date: str = ""  # "Tue 3 Mar"


_REMINDER = {
    "en": {
        "dose": "{team}: time for your {what} ({time}). Reply T when taken, S to skip, Z to snooze.",
        "infusion": "{team}: reminder, you have {what} on {date} at {time}. Reply HELP for contact.",
        "monitoring": "{team}: reminder, {what} is due on {date}. Reply HELP for contact.",
    },
    "es": {
        "dose": "{team}: hora de su {what} ({time}). Responda T si la tomó, S para omitir, Z para posponer.",
        "infusion": "{team}: recordatorio, tiene {what} el {date} a las {time}. Responda AYUDA.",
        "monitoring": "{team}: recordatorio, {what} el {date}. Responda AYUDA para contacto.",
    },
}
_DISCREET_WHAT = {
    "en": {"dose": "medication", "infusion": "a clinic appointment", "monitoring": "a check-up"},
    "es": {"dose": "medicación", "infusion": "una cita en la clínica", "monitoring": "un control"},
}
_NUDGE = {
    "en": "{team}: still waiting to hear about your {time} {what}. Reply T if taken, S to skip.",
    "es": "{team}: aún esperamos su respuesta sobre su {what} de las {time}. Responda T o S.",
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def _what(t: DoseText) -> str:
    if t.discreet or not t.what:
        return _DISCREET_WHAT[_lang(t.language)].get(t.kind, "medication")
    return t.what


def reminder(t: DoseText) -> str:
    lang = _lang(t.language)
    template = _REMINDER[lang].get(t.kind, _REMINDER[lang]["dose"])
    return template.format(team=t.team, what=_what(t), time=t.local_time, date=t.local_date)


def nudge(t: DoseText) -> str:
    return _NUDGE[_lang(t.language)].format(team=t.team, what=_what(t), time=t.local_time)
