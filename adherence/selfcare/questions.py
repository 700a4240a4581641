"""The clinic's check-in questions: the built-in ones, those of ``[checkins]
questions_file``, and the thresholds that raise a flag.

A bad file or key is a ``QuestionError`` naming the file, the question and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from adherence.core.selfcare_config import CheckinSettings
from notifiers.selfcare_texts import BUILT_IN, VALUE_TYPES, YES_NO, Question, one_segment


class QuestionError(ValueError):
    """The questions or thresholds are not usable; the message says where."""


@dataclass(frozen=True)
class QuestionSet:
    questions: dict[str, Question]
    default_items: tuple[str, ...]
    thresholds: dict[str, int]

    def resolve(self, items: str) -> list[Question]:
        """The questions of a cadence's ``items`` ("" = the clinic's default list)."""
        codes = [c.strip() for c in items.split(",") if c.strip()] or list(self.default_items)
        unknown = [c for c in codes if c not in self.questions]
        if unknown:
            raise QuestionError(
                f"unknown check-in item {', '.join(unknown)}: known are "
                f"{', '.join(sorted(self.questions))}"
            )
        return [self.questions[c] for c in codes]


def load_questions(settings: CheckinSettings) -> QuestionSet:
    questions = dict(BUILT_IN)
    if settings.questions_file:
        questions.update(_read_file(Path(settings.questions_file)))
    thresholds: dict[str, int] = {}
    for part in (p.strip() for p in settings.thresholds.split(",") if p.strip()):
        code, _, number = part.partition(":")
        thresholds[code.strip()] = int(number)
    found = QuestionSet(questions, tuple(settings.items.split(",")), thresholds)
    try:
        found.resolve("")
    except QuestionError as exc:
        raise QuestionError(f"[checkins] items: {exc}") from None
    for code in thresholds:
        if code not in questions or questions[code].value_type == YES_NO:
            raise QuestionError(f"[checkins] thresholds: {code!r} is not a 0-10 score question")
    return found


def _read_file(path: Path) -> dict[str, Question]:
    where = f"[checkins] questions_file {str(path)!r}"
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise QuestionError(f"{where}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise QuestionError(f"{where}: {exc}") from None
    rows = data.get("question")
    if not isinstance(rows, list) or not rows:
        raise QuestionError(f"{where}: no [[question]] tables")
    found: dict[str, Question] = {}
    for number, row in enumerate(rows, start=1):
        here = f"{where}, question {number}"
        if not isinstance(row, dict):
            raise QuestionError(f"{here}: not a table")
        extra = set(row) - {"code", "type", "en", "es", "label_en", "label_es"}
        if extra:
            raise QuestionError(f"{here}: unknown key {', '.join(sorted(extra))}")
        values: dict[str, str] = {}
        for key in ("code", "type", "en", "es", "label_en", "label_es"):
            value = row.get(key, "")
            if not isinstance(value, str):
                raise QuestionError(f"{here}: {key} must be a string")
            if key in ("code", "type", "en", "es") and not value.strip():
                raise QuestionError(f"{here}: {key} is missing")
            values[key] = value.strip()
        code = values["code"]
        if not code.replace("_", "").isalnum() or len(code) > 32:
            raise QuestionError(f"{here}: code {code!r} is not letters, digits and _")
        if values["type"] not in VALUE_TYPES:
            raise QuestionError(f"{here}: type {values['type']!r} is not score or yes_no")
        for lang in ("en", "es"):
            # The wording plus the longest frame around it must stay one SMS segment.
            if not one_segment(values[lang] + " " * 70):
                raise QuestionError(f"{here}: {lang} is too long for one SMS with its frame")
        found[code] = Question(
            code,
            values["type"],
            values["en"],
            values["es"],
            values["label_en"],
            values["label_es"],
        )
    return found
