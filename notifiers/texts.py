"""What patients read. Short (one SMS segment where possible), discreet by default:
no drug name, diagnosis or dose unless the patient opted in; always how to answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

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
    # When a reply could mean more than one dose: the dose's reply code ("A7"), and on a
    # phone shared by patients whose dose it is ("A.M.", or the first name if opted in).
    code: str = ""
    whose: str = ""


_REMINDER = {
    "en": {
        "dose": "{team}{who}: time for your {what} ({time}). Reply T{c} when taken, S{c} to skip, Z{c} to snooze.",
        "infusion": "{team}{who}: reminder, you have {what} on {date} at {time}. Reply HELP for contact.",
        "monitoring": "{team}{who}: reminder, {what} is due on {date}. Reply HELP for contact.",
    },
    "es": {
        "dose": "{team}{who}: hora de su {what} ({time}). Responda T{c} cuando la tome, S{c} para omitir, Z{c} para posponer.",
        "infusion": "{team}{who}: recordatorio, tiene {what} el {date} a las {time}. Responda AYUDA.",
        "monitoring": "{team}{who}: recordatorio, {what} el {date}. Responda AYUDA para contacto.",
    },
}
_DISCREET_WHAT = {
    "en": {"dose": "medication", "infusion": "a clinic appointment", "monitoring": "a check-up"},
    "es": {"dose": "medicina", "infusion": "una cita en la clínica", "monitoring": "un control"},
}
# Shorter wordings of the home-dose reminder and nudge, longest first: the first that fits
# one SMS segment is sent (a long team name, a drug name, a code). Spanish keeps to GSM-7
# (no á í ó ú) so that its segment is 160 characters, not 70.
_REMINDER_SHORTER = {
    "en": (
        "{team}{who}: your {what} ({time}). Reply T{c} (taken), S{c} (skip) or Z{c} (snooze).",
        "{team}{who}: your {what} ({time}). Reply T{c}, S{c} or Z{c}.",
        "{team}{who}: {what} {time}. Reply T{c}/S{c}/Z{c}",
    ),
    "es": (
        "{team}{who}: su {what} ({time}). Responda T{c} (tomada), S{c} (omitir) o Z{c} (posponer).",
        "{team}{who}: su {what} ({time}). Responda T{c}, S{c} o Z{c}.",
        "{team}{who}: {what} {time}. Responda T{c}/S{c}/Z{c}",
    ),
}
_NUDGE = {
    "en": (
        "{team}{who}: still waiting to hear about your {time} {what}. Reply T{c} if taken, S{c} to skip.",
        "{team}{who}: your {time} {what}? Reply T{c} if taken, S{c} to skip.",
        "{team}{who}: {what} {time}? Reply T{c}/S{c}",
    ),
    "es": (
        "{team}{who}: seguimos esperando su respuesta sobre su {what} de las {time}. Responda T{c} o S{c}.",
        "{team}{who}: ¿su {what} de las {time}? Responda T{c} o S{c}.",
        "{team}{who}: ¿{what} {time}? Responda T{c}/S{c}",
    ),
}
_WHO = {"en": " (for {whose})", "es": " (para {whose})"}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def language_of(language: str) -> str:
    """The language texts are written in for a patient who asked for ``language``."""
    return _lang(language)


def _what(t: DoseText) -> str:
    if t.discreet or not t.what:
        return _DISCREET_WHAT[_lang(t.language)].get(t.kind, "medication")
    return t.what


def _fields(t: DoseText) -> dict[str, str]:
    """What every dose text is filled with: the reply code after T/S/Z (" A7", or nothing)
    and whose dose it is after the team's name (" (for A.M.)", or nothing)."""
    lang = _lang(t.language)
    return {
        "team": t.team,
        "what": _what(t),
        "time": t.local_time,
        "date": t.local_date,
        "c": f" {t.code}" if t.code else "",
        "who": _WHO[lang].format(whose=t.whose) if t.whose else "",
    }


def _first_fitting(templates: tuple[str, ...], fields: dict[str, str]) -> str:
    """The first of ``templates`` (longest first) that fits one SMS segment; the last when
    none does."""
    text = ""
    for template in templates:
        text = template.format(**fields)
        if one_segment(text):
            break
    return text


def reminder(t: DoseText) -> str:
    lang = _lang(t.language)
    fields = _fields(t)
    if t.kind not in _REMINDER[lang] or t.kind == "dose":
        return _first_fitting((_REMINDER[lang]["dose"], *_REMINDER_SHORTER[lang]), fields)
    return _REMINDER[lang][t.kind].format(**fields)


# --- label monitoring: a check's reminders (the day before, on the day) ---------------------

# {when} is one of _CHECK_WHEN. Discreet: "a clinic check", never the lab or exam, unless the
# patient opted in and the named text still fits one SMS segment. Spanish avoids the accents
# GSM-7 lacks (á, í, ó, ú) so that it stays a 160-character segment.
_CHECK = {
    "en": "{team}: you have a clinic check {when}. Reply HELP for contact.",
    "es": "{team}: tiene un control médico {when}. Responda AYUDA para contacto.",
}
_CHECK_NAMED = {
    "en": "{team}: you have a clinic check {when}: {what}. Reply HELP for contact.",
    "es": "{team}: tiene un control médico {when}: {what}. Responda AYUDA para contacto.",
}
_CHECK_WHEN = {
    "en": ("today", "tomorrow", "on {date}"),
    "es": ("hoy", "mañana", "el {date}"),
}


def check_reminder(t: DoseText, days_before: int) -> str:
    """The reminder of a label check ``days_before`` its date (0: on the day); the check
    is named only for a patient who opted in, and only when that fits one segment."""
    lang = _lang(t.language)
    words = _CHECK_WHEN[lang]
    when = words[days_before] if days_before < 2 else words[2].format(date=t.local_date)
    plain = _CHECK[lang].format(team=t.team, when=when)
    if t.discreet or not t.what:
        return plain
    named = _CHECK_NAMED[lang].format(team=t.team, when=when, what=t.what)
    return named if one_segment(named) else plain


# GSM 03.38: the basic set (one septet each) and the extension set (two septets each).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")


def sms_units(text: str) -> tuple[str, int]:
    """``("gsm7", septets)`` when GSM-7 can carry ``text``, else ``("ucs2", UTF-16 units)``."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in text):
        return "gsm7", sum(2 if c in _GSM7_EXT else 1 for c in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


def one_segment(text: str) -> bool:
    """Fits one SMS segment: 160 GSM-7 septets, or 70 UCS-2 units."""
    encoding, units = sms_units(text)
    return units <= (160 if encoding == "gsm7" else 70)


def nudge(t: DoseText) -> str:
    return _first_fitting(_NUDGE[_lang(t.language)], _fields(t))


# --- the one-tap link: the reminder that carries it, and the page it opens ------------------

# Longest first: the first that fits the length limit with the link in it is sent.
_REMINDER_LINK = {
    "en": (
        "{team}{who}: time for your {what} ({time}). Tap {link} or reply T{c} (taken), S{c} (skip), Z{c} (snooze).",
        "{team}{who}: time for your {what} ({time}). Tap {link} or reply T{c}, S{c} or Z{c}.",
        "{team}{who}: your {what} ({time}): {link} or reply T{c}/S{c}/Z{c}.",
    ),
    "es": (
        "{team}{who}: hora de su {what} ({time}). Toque {link} o responda T{c} (tomada), S{c} (omitir), Z{c} (posponer).",
        "{team}{who}: hora de su {what} ({time}). Toque {link} o responda T{c}, S{c} o Z{c}.",
        "{team}{who}: su {what} ({time}): {link} o responda T{c}/S{c}/Z{c}.",
    ),
}
_NUDGE_LINK = {
    "en": (
        "{team}{who}: still waiting to hear about your {time} {what}. Tap {link} or reply T{c} if taken, S{c} to skip.",
        "{team}{who}: your {time} {what}? Tap {link} or reply T{c} or S{c}.",
    ),
    "es": (
        "{team}{who}: seguimos esperando su respuesta sobre su {what} de las {time}. Toque {link} o responda T{c} o S{c}.",
        "{team}{who}: ¿su {what} de las {time}? Toque {link} o responda T{c} o S{c}.",
    ),
}


def with_link(t: DoseText, link: str, *, nudge: bool, max_length: int) -> str | None:
    """The reminder (or nudge) for a home dose with its one-tap ``link``: the longest
    wording that fits ``max_length`` characters, or None when none does (the text then
    goes without a link: replying T or S always works)."""
    lang = _lang(t.language)
    for template in (_NUDGE_LINK if nudge else _REMINDER_LINK)[lang]:
        text = template.format(link=link, **_fields(t))
        if len(text) <= max_length:
            return text
    return None


# The injection site a reminder suggests (a body site, not a drug: discreet enough).
_SITE = {"en": " Suggested site: {site}.", "es": " Sitio sugerido: {site}."}


def with_site(text: str, site: str, language: str, *, max_length: int) -> str:
    """``text`` with the suggested injection ``site`` added when the whole still fits
    ``max_length`` characters; otherwise ``text`` as it was (the suggestion is optional)."""
    longer = text + _SITE[_lang(language)].format(site=site)
    return longer if len(longer) <= max_length else text


_PAGE = {
    "en": {
        "title": "Your {what}",
        "heading": "{team}: your {what}",
        "due": "Due {date} at {time}.",
        "question": "Did you take it?",
        "taken": "Taken",
        "skip": "Skip",
        "recorded_taken": "Recorded: taken at {taken}. Thank you.",
        "recorded_skipped": "Recorded: skipped.",
        "already_taken": "This dose was already recorded as taken. Nothing was changed.",
        "already_skipped": "This dose was already recorded as skipped. Nothing was changed.",
        "failed": "This could not be recorded. Please reply to the text message instead.",
    },
    "es": {
        "title": "Su {what}",
        "heading": "{team}: su {what}",
        "due": "Para el {date} a las {time}.",
        "question": "¿La tomó?",
        "taken": "Tomada",
        "skip": "Omitir",
        "recorded_taken": "Registrado: tomada a las {taken}. Gracias.",
        "recorded_skipped": "Registrado: omitida.",
        "already_taken": "Esta dosis ya estaba registrada como tomada. No se cambió nada.",
        "already_skipped": "Esta dosis ya estaba registrada como omitida. No se cambió nada.",
        "failed": "No se pudo registrar. Por favor, responda al mensaje de texto.",
    },
}
# A link that has expired, was used or was never ours: nothing is known of whose it was, so
# the page says it in every language, with no dose information.
LINK_GONE = {
    "en": (
        "This link is no longer valid",
        "It has expired or was already used. Please reply to the text message instead.",
    ),
    "es": (
        "Este enlace ya no es válido",
        "Caducó o ya se usó. Por favor, responda al mensaje de texto.",
    ),
}

LINK_REFUSED = {
    "en": (
        "Nothing was recorded",
        "Please open the link in your text message again, or reply to the text message.",
    ),
    "es": (
        "No se registró nada",
        "Abra de nuevo el enlace de su mensaje de texto, o responda al mensaje.",
    ),
}


def page_texts(t: DoseText, *, taken_time: str = "") -> dict[str, str]:
    """The one-tap page's words for ``t``'s dose in the patient's language, discreet like
    the texts (no drug name unless the patient opted in)."""
    lang = _lang(t.language)
    what = _what(t)
    return {
        key: value.format(
            team=t.team, what=what, date=t.local_date, time=t.local_time, taken=taken_time
        )
        for key, value in _PAGE[lang].items()
    }


# --- answers to a patient's reply ----------------------------------------------------------

Answer = Literal[
    "resumed",  # START
    "help",  # HELP
    "flare",  # FLARE, the team has a phone number
    "flare_no_phone",
    "flare_untold",  # FLARE, but the team has no coordinator an alert can reach
    "flare_untold_no_phone",
    "no_dose",  # T, S or Z with no dose waiting for an answer
    "snoozed",
    "taken",
    "taken_late",
    "skipped",
    "already_taken",  # the dose was answered already (perhaps by a reply a moment earlier)
    "already_skipped",
    "unknown",  # anything else: how to answer
    "site_recent",  # added to "taken": the site named was used recently (rotation rule)
    "site_unknown",  # added to "taken": the words after T named no injection site
]

_ANSWERS: dict[str, dict[Answer, str]] = {
    "en": {
        "resumed": "{team}: reminders resumed.",
        "help": "{team}: treatment reminders. Contact: {contact}. Reply T (taken), S (skip), Z (snooze), FLARE (new symptoms), STOP (opt out).",
        "flare": "{team}: your care team has been told. If urgent, call {contact}.",
        "flare_no_phone": "{team}: your care team has been told. If urgent, call your clinic.",
        "flare_untold": "{team}: we could not alert your care team automatically. Please call {contact} today.",
        "flare_untold_no_phone": "{team}: we could not alert your care team automatically. Please call your clinic today.",
        "no_dose": "{team}: there is no dose waiting for an answer right now.",
        "snoozed": "OK, we'll remind you in {minutes} min.",
        "taken": "Thanks, recorded.",
        "taken_late": "Thanks, recorded as late.",
        "skipped": "Noted: skipped.",
        "already_taken": "This dose was already recorded as taken.",
        "already_skipped": "This dose was already recorded as skipped.",
        "unknown": "Reply T (taken), S (skip), Z (snooze) or HELP.",
        "site_recent": "Note: {site} was used recently.",
        "site_unknown": "Site not recognised; the dose is recorded.",
    },
    "es": {
        "resumed": "{team}: recordatorios reanudados.",
        "help": "{team}: recordatorios de su tratamiento. Contacto: {contact}. Responda T (tomada), S (omitir), Z (posponer), BROTE (sintomas), STOP (baja).",
        "flare": "{team}: avisamos a su equipo. Si es urgente llame al {contact}.",
        "flare_no_phone": "{team}: avisamos a su equipo. Si es urgente llame a su clínica.",
        "flare_untold": "{team}: no pudimos avisar a su equipo. Llame hoy al {contact}.",
        "flare_untold_no_phone": "{team}: no pudimos avisar a su equipo. Llame hoy a su clínica.",
        "no_dose": "{team}: no hay ninguna dosis pendiente.",
        "snoozed": "Le recordaremos en {minutes} min.",
        "taken": "Gracias, registrado.",
        "taken_late": "Gracias, registrado (tarde).",
        "skipped": "Anotado: omitida.",
        "already_taken": "Esta dosis ya estaba registrada como tomada.",
        "already_skipped": "Esta dosis ya estaba registrada como omitida.",
        "unknown": "Responda T (tomada), S (omitir), Z (posponer) o AYUDA.",
        "site_recent": "Nota: {site} se usó hace poco.",
        "site_unknown": "No reconocimos el sitio; la dosis quedó registrada.",
    },
}
_NO_CONTACT = {"en": "your clinic", "es": "su clínica"}


def answer(
    kind: Answer, language: str = "en", *, team: str = "", minutes: int = 0, site: str = ""
) -> str:
    """The answer to a reply, in the patient's language."""
    return _ANSWERS[_lang(language)][kind].format(team=team, minutes=minutes, site=site)


def help_answer(team: str, contact: str, language: str = "en") -> str:
    """HELP: who is texting and how to reach them (``contact`` empty: the clinic)."""
    lang = _lang(language)
    return _ANSWERS[lang]["help"].format(team=team, contact=contact or _NO_CONTACT[lang])


def flare_answer(team: str, phone: str, language: str = "en", *, told: bool = True) -> str:
    """FLARE: the care team is told; urgent cases call the team's phone. ``told`` False: no
    coordinator can be alerted, and the patient is asked to call instead."""
    lang = _lang(language)
    kind: Answer
    if not phone:
        kind = "flare_no_phone" if told else "flare_untold_no_phone"
        return _ANSWERS[lang][kind].format(team=team)
    kind = "flare" if told else "flare_untold"
    return _ANSWERS[lang][kind].format(team=team, contact=phone)


# --- which dose a reply was about: codes, shared phones ------------------------------------

_RECORDED_FOR = {
    "en": "Dose: {what} at {time}{for_whom}{code}.",
    "es": "Dosis: {what} de las {time}{for_whom}{code}.",
}
_FOR_WHOM = {"en": " for {whose}", "es": " para {whose}"}
_UNKNOWN_CODE = {
    "en": "{team}: no dose with code {code} is waiting for an answer. Nothing was recorded.",
    "es": "{team}: ninguna dosis con la clave {code} espera respuesta. No se registro nada.",
}
_WHICH_DOSE = {
    "en": "{team}: this phone gets reminders for more than one person. Nothing was recorded; "
    "reply with the code: {choices}.",
    "es": "{team}: este teléfono recibe recordatorios de varias personas. No se registro nada; "
    "responda con la clave: {choices}.",
}
_OR = {"en": " or ", "es": " o "}


def recorded_for(t: DoseText) -> str:
    """Which dose an answer was recorded for (added to "Thanks, recorded."), as discreet as
    the reminder: "Dose: medication at 20:00 (A7)."."""
    lang = _lang(t.language)
    return _RECORDED_FOR[lang].format(
        what=_what(t),
        time=t.local_time,
        for_whom=_FOR_WHOM[lang].format(whose=t.whose) if t.whose else "",
        code=f" ({t.code})" if t.code else "",
    )


def unknown_code(team: str, code: str, language: str = "en") -> str:
    """A reply naming a code that no dose waiting for an answer has."""
    return _UNKNOWN_CODE[_lang(language)].format(team=team, code=code)


def which_dose(team: str, choices: list[tuple[str, str]], letter: str, language: str) -> str:
    """A reply without a code from a phone shared by patients who each have a dose open:
    nothing is guessed; the answer names the codes ("T A7 (A.M.) or T C3 (J.P.)")."""
    lang = _lang(language)
    named = _OR[lang].join(f"{letter} {code} ({whose})" for code, whose in choices)
    return _WHICH_DOSE[lang].format(team=team, choices=named)


# --- the calendar feed link, texted at enrollment ------------------------------------------

_FEED_LINK = {
    "en": "{sender}add your therapy calendar to your phone: {url}",
    "es": "{sender}agregue su calendario de tratamiento al teléfono: {url}",
}


def feed_link(team: str | None, url: str, language: str = "en") -> str:
    """The text offering the patient their calendar feed; ``team`` None: no sender name."""
    sender = f"{team}: " if team is not None else ""
    return _FEED_LINK[_lang(language)].format(sender=sender, url=url)


# --- home supply: the refill reminder and the answer to "R" --------------------------------

_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}
_REFILL = {
    "en": "{team}: your {what} runs out around {out}. Please order your refill (allowed from "
    "{allowed}). Reply R when ordered.",
    "es": "{team}: su {what} se acaba hacia el {out}. Pida la reposición (permitida desde el "
    "{allowed}). Responda R cuando la pida.",
}
_REFILL_NOW = {
    "en": "{team}: your {what} runs out around {out}. Please order your refill now. "
    "Reply R when ordered.",
    "es": "{team}: su {what} se acaba hacia el {out}. Pida la reposición ya. "
    "Responda R cuando la pida.",
}
_REFILL_ORDERED = {
    "en": "{team}: thanks, noted that your refill is ordered.",
    "es": "{team}: gracias, anotamos que pidió la reposición.",
}


def short_date(day: date, language: str = "en") -> str:
    """ "Dec 14" / "14 dic": a date without the year, in the patient's language."""
    lang = _lang(language)
    month = _MONTHS[lang][day.month - 1]
    return f"{month} {day.day}" if lang == "en" else f"{day.day} {month}"


def refill_reminder(
    *,
    team: str,
    runs_out: date,
    allowed_from: date | None,
    today: date,
    language: str = "en",
    discreet: bool = True,
    what: str = "",
) -> str:
    """The refill text: when the supply runs out and from when the insurer allows a refill.
    Discreet unless the patient opted out (``what`` is then the drug's name)."""
    lang = _lang(language)
    thing = _DISCREET_WHAT[lang]["dose"] if discreet or not what else what
    if allowed_from is None or allowed_from <= today:
        return _REFILL_NOW[lang].format(team=team, what=thing, out=short_date(runs_out, lang))
    return _REFILL[lang].format(
        team=team,
        what=thing,
        out=short_date(runs_out, lang),
        allowed=short_date(allowed_from, lang),
    )


def refill_ordered_answer(team: str, language: str = "en") -> str:
    return _REFILL_ORDERED[_lang(language)].format(team=team)
