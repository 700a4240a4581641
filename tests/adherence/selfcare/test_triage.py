"""Flare triage in virtual time through the real engine tick: a FLARE reply, the urgent
flag, two questions, and the flag's urgency following the answers (or no answer)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session

from adherence.engine import dispatch_policy, tick
from adherence.storage.models import Patient
from notifiers.sms import MemorySms
from schedules import Catalog
from tests.adherence.engine_helpers import at, enroll
from tests.adherence.selfcare.helpers import DEFAULTS, flags, observations, prompts, reply

CLOSING = "Your care team will call you. If it is an emergency, call 911/112."


def run(session: Session, catalog: Catalog, now: datetime, channel: MemorySms) -> None:
    tick(
        session,
        now=now,
        catalog=catalog,
        policy=dispatch_policy(DEFAULTS),
        channel=channel,
        horizon_days=3,
        do_materialize=True,
        settings=DEFAULTS,
    )


def flare(session: Session, catalog: Catalog, language: str = "en") -> tuple[Patient, MemorySms]:
    now = at(2026, 3, 1, 8)
    enrolled = enroll(
        session, catalog, "teriflunomide", date(2026, 3, 1), now=now, times=["20:00"],
        language=language,
    )  # fmt: skip
    session.commit()
    channel = MemorySms()
    first = reply(session, catalog, enrolled.patient, "RELAPSE", at(2026, 3, 1, 10))
    assert first.intent.kind == "flare"
    run(session, catalog, at(2026, 3, 1, 10, 1), channel)  # the flag, the question queued
    run(
        session, catalog, at(2026, 3, 1, 10, 1) + timedelta(seconds=1), channel
    )  # ... and sent (at once)
    return enrolled.patient, channel


def test_both_yes_keeps_the_flag_urgent_as_a_possible_relapse(
    session: Session, catalog: Catalog
) -> None:
    patient, channel = flare(session, catalog)
    [flag] = flags(session, "flare_reported")
    assert flag.severity == "urgent"
    asked = [m.body for m in channel.sent if m.key.startswith("prompt:triage")]
    assert asked == [
        "Riverside MS Clinic: we have told your care team. Are your symptoms new or worse "
        "than before? Reply Y or N."
    ]
    second = reply(session, catalog, patient, "Y", at(2026, 3, 1, 10, 5))
    assert second.intent.kind == "triage"
    assert (
        second.answer
        == "Noted: new or worse yes. Have they lasted more than 24 hours? Reply Y or N."
    )
    last = reply(session, catalog, patient, "yes", at(2026, 3, 1, 10, 6))
    assert last.answer == f"Noted: over 24 hours yes. Riverside MS Clinic: thank you. {CLOSING}"
    [flag] = flags(session, "flare_reported")
    assert flag.severity == "urgent"
    assert flag.details["triage"]["possible_relapse"] is True
    assert [o.item for o in observations(session)] == ["triage_new", "triage_24h"]
    # The next ticks ask nothing again.
    run(session, catalog, at(2026, 3, 1, 10, 30), channel)
    assert len(prompts(session)) == 2


@pytest.mark.parametrize("answers", [("y", "n"), ("n", "n"), ("n", "y")])
def test_any_no_makes_the_flag_normal_with_the_answers(
    session: Session, catalog: Catalog, answers: tuple[str, str]
) -> None:
    patient, _ = flare(session, catalog)
    for k, text in enumerate(answers):
        reply(session, catalog, patient, text, at(2026, 3, 1, 10, 5 + k))
    [flag] = flags(session, "flare_reported")
    assert flag.severity == "normal"
    triage = flag.details["triage"]
    assert triage["possible_relapse"] is False
    assert triage["new_or_worse"] is (answers[0] == "y")
    assert triage["over_24_hours"] is (answers[1] == "y")


def test_no_answer_leaves_the_flag_urgent(session: Session, catalog: Catalog) -> None:
    patient, channel = flare(session, catalog)
    reply(session, catalog, patient, "y", at(2026, 3, 1, 10, 5))  # then silence
    run(session, catalog, at(2026, 3, 1, 10, 5) + timedelta(hours=4, minutes=1), channel)
    [flag] = flags(session, "flare_reported")
    assert flag.severity == "urgent"
    assert flag.details["triage"]["status"] == "no answer"
    assert flag.details["triage"]["new_or_worse"] is True
    assert [p.status for p in prompts(session)] == ["answered", "expired"]


def test_spanish_triage_and_closing(session: Session, catalog: Catalog) -> None:
    patient, channel = flare(session, catalog, language="es")
    [asked] = [m.body for m in channel.sent if m.key.startswith("prompt:triage")]
    assert asked.startswith("Riverside MS Clinic: avisamos a su equipo. Sus sintomas son nuevos")
    reply(session, catalog, patient, "si", at(2026, 3, 1, 10, 5))
    last = reply(session, catalog, patient, "no", at(2026, 3, 1, 10, 6))
    assert last.answer is not None
    assert last.answer.endswith("Su equipo le llamara. Si es una emergencia, llame al 911/112.")
    [flag] = flags(session, "flare_reported")
    assert flag.severity == "normal"


def test_a_checkin_due_during_a_triage_does_not_interrupt_it(
    session: Session, catalog: Catalog
) -> None:
    from adherence.core.selfcare_config import CheckinSettings
    from adherence.selfcare.cadence import set_cadence

    patient, channel = flare(session, catalog)
    set_cadence(session, patient=patient, every_days=7, local_time="10:30", items="fatigue",
                settings=CheckinSettings(), now=at(2026, 3, 1, 10, 2), by="x")  # fmt: skip
    session.commit()
    run(session, catalog, at(2026, 3, 1, 10, 30), channel)
    assert [p.kind for p in prompts(session)] == ["triage"]  # no check-in asked over it
    answer = reply(session, catalog, patient, "y", at(2026, 3, 1, 10, 35))
    assert answer.intent.kind == "triage"
