"""What patients read in a symptom check-in and a flare triage (English and Spanish).

Every text fits one SMS segment (GSM-7, at most 160 characters, with a care-team name of up
to 40 characters) and names no drug or diagnosis: a check-in asks how the patient feels, in
the words the clinic chose.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "es")
SCORE = "score"
YES_NO = "yes_no"
VALUE_TYPES = (SCORE, YES_NO)


@dataclass(frozen=True, slots=True)
class Question:
    """One check-in question: its code, its answer's shape, its wording and short label
    (said back in "Noted: fatigue 7") in English and Spanish."""

    code: str
    value_type: str  # score | yes_no
    en: str
    es: str
    label_en: str = ""
    label_es: str = ""

    def wording(self, language: str) -> str:
        return self.es if language == "es" else self.en

    def label(self, language: str) -> str:
        found = self.label_es if language == "es" else self.label_en
        return found or self.code.replace("_", " ")


BUILT_IN: dict[str, Question] = {
    q.code: q
    for q in (
        Question(
            "fatigue",
            SCORE,
            "How tired have you felt this week, 0 (not at all) to 10 (worst)?",
            "Cuanto cansancio ha sentido esta semana, de 0 (nada) a 10 (el peor)?",
            "fatigue",
            "cansancio",
        ),
        Question(
            "mood",
            SCORE,
            "How stressed or low have you felt this week, 0 (not at all) to 10 (worst)?",
            "Cuanto estres o desanimo ha sentido esta semana, de 0 (nada) a 10?",
            "mood",
            "animo",
        ),
        Question(
            "walking",
            SCORE,
            "How hard has walking been this week, 0 (no trouble) to 10 (worst)?",
            "Cuanto le ha costado caminar esta semana, de 0 (nada) a 10 (lo peor)?",
            "walking",
            "caminar",
        ),
        Question(
            "new_symptoms",
            YES_NO,
            "Any new symptoms this week?",
            "Ha tenido sintomas nuevos esta semana?",
            "new symptoms",
            "sintomas nuevos",
        ),
    )
}

# The flare triage: two yes/no questions, asked after a FLARE / RELAPSE reply.
TRIAGE = (
    Question(
        "triage_new",
        YES_NO,
        "Are your symptoms new or worse than before?",
        "Sus sintomas son nuevos o peores que antes?",
        "new or worse",
        "nuevos o peores",
    ),
    Question(
        "triage_24h",
        YES_NO,
        "Have they lasted more than 24 hours?",
        "Han durado mas de 24 horas?",
        "over 24 hours",
        "mas de 24 horas",
    ),
)

_HOW = {
    "en": {SCORE: "Reply 0-10.", YES_NO: "Reply Y or N."},
    "es": {SCORE: "Responda 0-10.", YES_NO: "Responda S o N."},
}
_INTRO = {
    "en": "{team} check-in ({n}/{total}): {q} {how}",
    "es": "{team} consulta ({n}/{total}): {q} {how}",
}
_TRIAGE_INTRO = {
    "en": "{team}: we have told your care team. {q} {how}",
    "es": "{team}: avisamos a su equipo. {q} {how}",
}
_NOTED = {"en": "Noted: {label} {value}.", "es": "Anotado: {label} {value}."}
_YES_NO_SAID = {"en": ("no", "yes"), "es": ("no", "si")}
_DONE = {
    "en": "{team}: thank you, your check-in is complete.",
    "es": "{team}: gracias, su consulta esta completa.",
}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "en"


def question_text(
    team: str, question: Question, language: str, number: int, total: int, noted: str = ""
) -> str:
    """A check-in question: "<team> check-in (1/4): <wording> Reply 0-10."; a later one
    follows what was just noted: "Noted: fatigue 7. (2/4) <wording> Reply 0-10."."""
    lang = _lang(language)
    if noted:
        how = _HOW[lang][question.value_type]
        return f"{noted} ({number}/{total}) {question.wording(lang)} {how}"
    return _INTRO[lang].format(
        team=team,
        n=number,
        total=total,
        q=question.wording(lang),
        how=_HOW[lang][question.value_type],
    )


def triage_text(team: str, question: Question, language: str, noted: str = "") -> str:
    """A triage question: the first one says the care team has been told, the second
    follows what was just noted."""
    lang = _lang(language)
    how = _HOW[lang][question.value_type]
    if noted:
        return f"{noted} {question.wording(lang)} {how}"
    return _TRIAGE_INTRO[lang].format(team=team, q=question.wording(lang), how=how)


def noted(question: Question, value: float, language: str) -> str:
    """What was recorded, said back: "Noted: fatigue 7." / "Noted: new symptoms yes."."""
    lang = _lang(language)
    if question.value_type == YES_NO:
        said = _YES_NO_SAID[lang][1 if value else 0]
    else:
        said = str(int(value))
    return _NOTED[lang].format(label=question.label(lang), value=said)


def checkin_done(team: str, language: str, noted: str = "") -> str:
    done = _DONE[_lang(language)].format(team=team)
    return f"{noted} {done}" if noted else done


# GSM-7's basic character set: a text made only of these fits 160 characters a segment.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def one_segment(text: str) -> bool:
    """True when ``text`` goes as one SMS segment (GSM-7 and 160 characters at most, else
    UCS-2 and 70 at most)."""
    if all(c in GSM7 for c in text):
        return len(text) <= 160
    return len(text) <= 70
