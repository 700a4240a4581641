"""``[[therapy.monitoring]]``: a label-required check (lab, exam) and its schedule.

Every check names its ``source`` (label, secondary, unconfirmed) and its ``ref``: the
document and section it comes from, e.g. ``"Gilenya US PI 5.3"``. A check due before the
first dose or course is an ``anchor = "dose"`` (``first = 1``) or ``"phase_start"`` check
with a negative offset (``offset = "-7 days"``): see ``schedules.expand``.
"""

from __future__ import annotations

import re
from typing import Any

from schedules.fields import (
    Schema,
    _duration,
    _Entry,
    _list_of,
    _one_of,
    _phase_name,
    _source,
    _table,
    _text,
    _time_of_day,
    _when,
    _whole,
)
from schedules.pieces import BEFORE_START, Monitoring
from schedules.therapy import ALWAYS, Conditional

ANCHORS = ("start", "dose", "phase_start", BEFORE_START)
# A baseline check is due once, its offset before Day 1: nothing repeats it.
_NOT_BEFORE_START = ("every", "count", "first", "phases", "until_after_last_dose")
# A document and a section: "Gilenya US PI 5.3", "Lemtrada US PI 5.1, REMS",
# "Novantrone US PI Boxed Warning".
_REF = re.compile(r"^\S+(\s\S+)*\s(\d+(\.\d+)*|Boxed Warning)\b.*$")


def _ref_text(entry: _Entry, value: Any, path: str) -> str:
    text = _text(entry, value, path)
    if not _REF.match(text) or text != text.strip():
        raise entry.fail(
            path, f"expected a document and section like 'Gilenya US PI 5.3', got {text!r}"
        )
    return text


_MONITORING: Schema = {
    "name": _text,
    "label": _text,
    "anchor": _one_of(ANCHORS, "must be start, dose, phase_start or before_start"),
    "offset": _duration(signed=True),
    "offsets": _list_of(_duration(signed=True), "expected a list of durations", empty=False),
    "every": _duration(positive=True),
    "count": _whole(refs=False),
    "first": _whole(refs=False),
    "phases": _list_of(_phase_name, "expected a list of phase names"),
    "until_after_last_dose": _duration(),
    "at": _time_of_day,
    "source": _source,
    "ref": _ref_text,
    "when": _when,
}
_REQUIRED = ("name", "label", "anchor", "ref")


def parse_monitoring(entry: _Entry, data: Any, path: str) -> Conditional[Monitoring]:
    values = _table(entry, data, path, _MONITORING, required=_REQUIRED)
    when = values.pop("when", ALWAYS)
    offset = values.pop("offset", None)
    if offset is not None and "offsets" in values:
        raise entry.fail(f"{path}offset", "give only one of offset, offsets")
    if offset is not None:
        values["offsets"] = (offset,)
    if values["anchor"] == "phase_start" and not values.get("phases"):
        raise entry.fail(f"{path}phases", "is required for anchor phase_start")
    if values["anchor"] == BEFORE_START:
        for key in _NOT_BEFORE_START:
            if key in values:
                raise entry.fail(f"{path}{key}", "is not for anchor before_start (due once)")
        offsets = values.get("offsets", ())
        negative = len(offsets) == 1 and (offsets[0].days < 0 or offsets[0].months < 0)
        if not negative:
            raise entry.fail(f"{path}offset", "anchor before_start needs one negative offset")
    return Conditional(Monitoring(**values), when)
