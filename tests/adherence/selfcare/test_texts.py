"""Check-in and triage texts: one SMS segment each, English and Spanish, with the longest
care-team name we allow in a text (40 characters), and the answers' shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adherence.core.config import settings_from_mapping
from adherence.core.selfcare_config import CheckinSettings
from adherence.selfcare.prompts import answer_shape
from adherence.selfcare.questions import QuestionError, load_questions
from notifiers.selfcare_texts import (
    BUILT_IN,
    TRIAGE,
    checkin_done,
    noted,
    one_segment,
    question_text,
    triage_text,
)

TEAM = "Riverside Multiple Sclerosis Care Center"[:40]
DEFAULTS = settings_from_mapping({})


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_checkin_text_is_one_segment(language: str) -> None:
    questions = list(BUILT_IN.values())
    longest_noted = max(
        (noted(q, v, language) for q in questions for v in (10.0, 1.0, 0.0)), key=len
    )
    for q in questions:
        first = question_text(TEAM, q, language, 1, 4)
        later = question_text(TEAM, q, language, 4, 4, longest_noted)
        assert one_segment(first), first
        assert one_segment(later), later
    assert one_segment(checkin_done(TEAM, language, longest_noted))


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_triage_text_is_one_segment(language: str) -> None:
    first = triage_text(TEAM, TRIAGE[0], language)
    second = triage_text(TEAM, TRIAGE[1], language, noted(TRIAGE[0], 1.0, language))
    closing = DEFAULTS.triage.closing_es if language == "es" else DEFAULTS.triage.closing_en
    last = f"{noted(TRIAGE[1], 1.0, language)} {closing.format(team=TEAM)}"
    for text in (first, second, last):
        assert one_segment(text), text
    assert "911/112" in last


def test_one_segment_counts_gsm7_and_unicode() -> None:
    assert one_segment("a" * 160) and not one_segment("a" * 161)
    assert one_segment("á" * 70) and not one_segment("á" + "a" * 70)  # á is not GSM-7


@pytest.mark.parametrize(
    ("text", "value_type", "value"),
    [
        ("7", "score", 7.0),
        (" 10 ", "score", 10.0),
        ("0.", "score", 0.0),
        ("11", "score", None),
        ("T", "score", None),
        ("7 8", "score", None),
        ("Y", "yes_no", 1.0),
        ("yes!", "yes_no", 1.0),
        ("Sí", "yes_no", 1.0),
        ("n", "yes_no", 0.0),
        ("NO", "yes_no", 0.0),
        ("T", "yes_no", None),
        ("1", "yes_no", None),
    ],
)
def test_answer_shapes(text: str, value_type: str, value: float | None) -> None:
    assert answer_shape(text, value_type) == value


def test_a_clinic_question_file_adds_and_replaces_questions(tmp_path: Path) -> None:
    path = tmp_path / "questions.toml"
    path.write_text(
        '[[question]]\ncode = "sleep"\ntype = "score"\nen = "How badly did you sleep, 0-10?"\n'
        'es = "Que tan mal durmio, 0-10?"\nlabel_en = "sleep"\nlabel_es = "sueno"\n',
        "utf-8",
    )
    found = load_questions(
        CheckinSettings(questions_file=str(path), items="sleep,fatigue", thresholds="sleep:7")
    )
    assert [q.code for q in found.resolve("")] == ["sleep", "fatigue"]
    assert found.thresholds == {"sleep": 7}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[question]]\ncode = "x"\ntype = "scale"\nen = "a"\nes = "b"\n', "type 'scale'"),
        ('[[question]]\ncode = "x"\ntype = "score"\nen = "a"\n', "question 1: es is missing"),
        (
            '[[question]]\ncode = "x"\ntype = "score"\nen = "a"\nes = "b"\nwhy = 1\n',
            "unknown key why",
        ),
        ("question = 3\n", "no [[question]] tables"),
        ("[[question]\n", "questions_file"),
    ],
)
def test_a_bad_question_file_names_the_question_and_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "questions.toml"
    path.write_text(body, "utf-8")
    with pytest.raises(QuestionError, match=message.replace("[", r"\[")):
        load_questions(CheckinSettings(questions_file=str(path)))


def test_a_threshold_on_a_yes_no_question_is_refused() -> None:
    with pytest.raises(QuestionError, match="thresholds: 'new_symptoms'"):
        load_questions(CheckinSettings(thresholds="new_symptoms:1"))


def test_a_questions_file_broken_after_start_skips_checkins_but_not_the_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    from sqlmodel import Session, SQLModel, create_engine

    from adherence.core.selfcare_config import TriageSettings
    from adherence.selfcare.step import selfcare_step

    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        nxt = selfcare_step(
            s,
            now=datetime(2026, 3, 1, tzinfo=UTC),
            checkin_settings=CheckinSettings(questions_file=str(tmp_path / "gone.toml")),
            triage_settings=TriageSettings(),
        )
    assert nxt is None
    assert "check-ins not sent: [checkins] questions_file" in caplog.text
