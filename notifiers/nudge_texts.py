"""What patients read in an opt-in self-care nudge: one short, friendly line per topic,
English and Spanish, one SMS segment.

Discreet always: no condition, no medicine, no medical advice; general self-care the
patient chose with the care team, and how to stop (TIPS OFF / NO TIPS). The
smoking-cessation text names the support line the clinic configures.
"""

from __future__ import annotations

from notifiers.texts import LANGUAGES

TOPICS = ("exercise", "hydration", "stress", "smoking")

_TEXTS = {
    "en": {
        "exercise": "{team}: a gentle reminder to move a little today, at a pace that feels "
        "right for you.",
        "hydration": "{team}: warm days ahead. Keep water with you, find shade or a cool "
        "room, and take breaks.",
        "stress": "{team}: a reminder to take a short break today: a few slow breaths, a "
        "stretch or a moment outside.",
        "smoking": "{team}: support to quit smoking is free and confidential: call {line}.",
    },
    "es": {
        "exercise": "{team}: un recordatorio para moverse un poco hoy, al ritmo que le convenga.",
        "hydration": "{team}: vienen días de calor. Lleve agua, busque sombra o un lugar "
        "fresco y descanse.",
        "stress": "{team}: tómese hoy una pausa corta: unas respiraciones lentas, un "
        "estiramiento o salir un momento.",
        "smoking": "{team}: la ayuda para dejar de fumar es gratuita y confidencial: llame "
        "al {line}.",
    },
}
_STOP = {"en": " Reply TIPS OFF to stop.", "es": " Responda NO TIPS para dejarlo."}


def nudge(topic: str, *, team: str, language: str = "en", line: str = "") -> str:
    """The text for ``topic`` (one of ``TOPICS``); raises KeyError for any other."""
    lang = language if language in LANGUAGES else "en"
    return _TEXTS[lang][topic].format(team=team, line=line) + _STOP[lang]


_STOPPED = {
    "en": "{team}: no more tips. Your other texts continue. Ask your care team to restart.",
    "es": "{team}: no recibirá más consejos. Sus otros mensajes siguen. Pida a su equipo "
    "reanudarlos.",
}


def stopped(team: str, language: str = "en") -> str:
    """The answer to TIPS OFF / NO TIPS."""
    return _STOPPED[language if language in LANGUAGES else "en"].format(team=team)
