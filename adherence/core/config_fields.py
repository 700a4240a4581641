"""The value types of the settings (a key's constraint travels with its type) and the base of
every section. Shared by ``config`` (the loader and the core sections) and ``selfcare_config``
(the self-care sections)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from schedules.localtime import parse_hhmm


def _tcp_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be a TCP port, 1 to 65535")
    return value


def _proportion(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError("must be a proportion, greater than 0 and at most 1")
    return value


def _time_of_day(value: str) -> str:
    # The same HH:MM reader as every other time of day (coordinators, plans, the catalog).
    try:
        return parse_hhmm(value).strftime("%H:%M")
    except ValueError:
        raise ValueError(f'{value!r} is not a time of day HH:MM (e.g. "08:00")') from None


def _whole_days(value: str) -> str:
    parts = [p.strip() for p in value.split(",")] if value.strip() else []
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f'{value!r} is not a comma-separated list of whole days, e.g. "7,1"')
    return value


def _public_url(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or value != value.strip()
    ):
        raise ValueError(
            f"{value!r} is not an http(s) URL such as https://adherence.example.org "
            "(the address Twilio and patients reach this daemon at)"
        )
    return value


def _sid(prefix: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        hexdigits = value[2:]
        if value and not (
            value.startswith(prefix)
            and len(hexdigits) == 32
            and all(c in "0123456789abcdefABCDEF" for c in hexdigits)
        ):
            raise ValueError(f"{value!r} is not a Twilio {what}: {prefix} and 32 hex digits")
        return value

    return AfterValidator(check)


def _sender(value: str) -> str:
    if not value or (value.isdigit() and 5 <= len(value) <= 6):  # none, or a short code
        return value
    import phonenumbers  # here, not at import: most commands never check a sender

    try:
        number = phonenumbers.parse(value, None) if value.startswith("+") else None
    except phonenumbers.NumberParseException:
        number = None
    if (
        number is None
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value
    ):
        raise ValueError(
            f"{value!r} is not a phone number in E.164 form (e.g. +15551234567) "
            "or a 5-6 digit short code"
        )
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


Positive = Annotated[int, Field(gt=0)]
PositiveNumber = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]  # 0 allowed: "none"
Port = Annotated[int, AfterValidator(_tcp_port)]
Proportion = Annotated[float, AfterValidator(_proportion)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
DayList = Annotated[str, AfterValidator(_whole_days)]
PublicUrl = Annotated[str, AfterValidator(_public_url)]
AccountSid = Annotated[str, _sid("AC", "account SID")]
ServiceSid = Annotated[str, _sid("MG", "messaging service SID")]
SenderNumber = Annotated[str, AfterValidator(_sender)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class _Section(BaseModel):
    # strict: the file's TOML types are taken as they are (no "1" -> 1, no true -> 1).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
