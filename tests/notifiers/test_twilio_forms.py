"""Twilio's webhook forms as plain values, and the patients' answers in both languages."""

from __future__ import annotations

from typing import get_args

import pytest

from notifiers import texts
from notifiers.twilio_sms import InboundSms, StatusUpdate, parse_inbound, parse_status


def test_an_inbound_form_becomes_plain_values_and_a_retry_without_sid_keeps_its_token() -> None:
    form = {"MessageSid": "SM1", "From": "+12025550143", "To": "+12025550100", "Body": " T "}
    assert parse_inbound(form) == InboundSms("SM1", "+12025550143", "+12025550100", " T ")
    assert parse_inbound({"SmsSid": "SM2"}) == InboundSms("SM2", "", "", "")
    assert parse_inbound({"Body": "T"}, "retry-1") == InboundSms("token:retry-1", "", "", "T")
    assert parse_inbound({"Body": "T"}) is None  # nothing to record once


def test_a_status_form_becomes_plain_values() -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert parse_status(form) == StatusUpdate("SM1", "undelivered", 30003)
    assert parse_status({"SmsSid": "SM1", "SmsStatus": "sent", "ErrorCode": ""}) == StatusUpdate(
        "SM1", "sent", None
    )
    assert parse_status({"MessageSid": "SM1"}) is None
    assert parse_status({"MessageStatus": "sent"}) is None


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_answer_exists_in_every_language(language: str) -> None:
    for kind in get_args(texts.Answer):
        if kind in ("help", "flare", "flare_untold"):
            continue  # need a contact: help_answer, flare_answer
        assert texts.answer(kind, language, team="Clinic", minutes=5)
    for told in (True, False):
        assert "+12025550100" in texts.flare_answer("Clinic", "+12025550100", language, told=told)


def test_answers_fall_back_to_english_and_name_the_clinic_without_a_contact() -> None:
    assert texts.answer("taken", "fr") == "Thanks, recorded."
    assert texts.answer("snoozed", "es", minutes=20) == "Le recordaremos en 20 min."
    assert "Contact: your clinic." in texts.help_answer("Clinic", "", "en")
    assert "Contacto: +12025550100." in texts.help_answer("Clinic", "+12025550100", "es")
    assert texts.flare_answer("Clinic", "", "es").endswith("llame a su clínica.")
    assert texts.flare_answer("Clinic", "+1202", "en").endswith("call +1202.")
