"""Keys whose value has a shape (a URL, a Twilio SID, a phone number) and the Twilio channel's
needs: each wrong one is one ``ConfigError`` line naming the file, section and key."""

from __future__ import annotations

import pytest

from adherence.core.config import ConfigError, load_settings, settings_from_mapping

SID = "AC" + "0123456789abcdef" * 2
SERVICE = "MG" + "fedcba9876543210" * 2
TWILIO = {"account_sid": SID, "auth_token": "secret", "from_number": "+12025550100"}


def error(data: dict[str, dict[str, object]], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data, env, label="clinic.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "url",
    [
        "adherence.example.org",
        "ftp://adherence.example.org",
        "https://",
        "https://host:notaport",
        "https://host/?a=1",
        " https://host",
        "javascript:alert(1)",
    ],
)
def test_a_public_base_url_that_is_not_http_is_refused_naming_the_key(url: str) -> None:
    message = error({"http": {"public_base_url": url}})
    assert message.startswith("config clinic.toml: [http] public_base_url: ")
    assert repr(url) in message and "http(s) URL" in message


@pytest.mark.parametrize(
    "url", ["https://adherence.example.org", "http://127.0.0.1:8080", "https://h.org/base"]
)
def test_an_http_public_base_url_is_kept(url: str) -> None:
    assert settings_from_mapping({"http": {"public_base_url": url}}).http.public_base_url == url


@pytest.mark.parametrize(
    ("key", "value", "shape"),
    [
        ("account_sid", "AC123", "AC and 32 hex digits"),
        ("account_sid", "SK" + "0" * 32, "AC and 32 hex digits"),
        ("account_sid", "AC" + "g" * 32, "AC and 32 hex digits"),
        ("messaging_service_sid", "MG12", "MG and 32 hex digits"),
        ("from_number", "2025550100", "E.164"),
        ("from_number", "+1202555010", "E.164"),
        ("from_number", "+1 202 555 0100", "E.164"),
        ("from_number", "CLINIC", "E.164"),
    ],
)
def test_twilio_values_of_the_wrong_shape_are_refused(key: str, value: str, shape: str) -> None:
    message = error({"twilio": {**TWILIO, key: value}})
    assert message.startswith(f"config clinic.toml: [twilio] {key}: {value!r}")
    assert shape in message


def test_the_shapes_are_checked_in_the_environment_too() -> None:
    message = error({}, {"ADHERENCE_TWILIO__FROM_NUMBER": "+1"})
    assert message.startswith("environment ADHERENCE_TWILIO__FROM_NUMBER ([twilio] from_number)")


@pytest.mark.parametrize(
    "values",
    [
        TWILIO,
        {**TWILIO, "from_number": "", "messaging_service_sid": SERVICE},
        {**TWILIO, "from_number": "55555"},  # a short code
    ],
)
def test_well_shaped_twilio_values_are_kept(values: dict[str, str]) -> None:
    settings = settings_from_mapping({"sms": {"channel": "twilio"}, "twilio": values})
    assert settings.twilio.account_sid == values["account_sid"]
    assert settings.twilio.from_number == values["from_number"]


@pytest.mark.parametrize(
    ("twilio", "missing"),
    [
        (
            {},
            "account_sid, auth_token (or auth_token_file), from_number (or messaging_service_sid)",
        ),
        ({"account_sid": SID, "auth_token": "x"}, "from_number (or messaging_service_sid)"),
        ({"account_sid": SID, "from_number": "+12025550100"}, "auth_token (or auth_token_file)"),
    ],
)
def test_the_twilio_channel_without_what_it_needs_is_one_line(
    twilio: dict[str, str], missing: str
) -> None:
    message = error({"sms": {"channel": "twilio"}, "twilio": twilio})
    assert message == f'config clinic.toml: [sms] channel = "twilio" needs [twilio] {missing}'


def test_the_twilio_channel_from_the_environment_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"ADHERENCE_SMS__CHANNEL": "twilio"}, search=False)
    assert str(info.value).startswith("environment ADHERENCE_SMS__CHANNEL ([sms] channel): ")


def test_auto_without_twilio_is_still_the_console() -> None:
    assert settings_from_mapping({"sms": {"channel": "auto"}}).sms.channel == "auto"
