"""Settings: TOML file + environment overrides -> validated, immutable settings.

Where they come from, first match wins: ``--config FILE``, ``$ADHERENCE_CONFIG``,
``./adherence.toml``, else built-in defaults. Any key can then be overridden by an
environment variable ``ADHERENCE_<SECTION>__<KEY>`` (``ADHERENCE_DATABASE__URL``).
A wrong key or type is a ``ConfigError`` naming the file (or variable), section and key.
Built once by the entry point and passed down; nothing reads it at import time.

Each section is a pydantic model and each key is one field: its type, range and default are
written there and nowhere else. A value from the file must already have its TOML type
(``horizon_days = "10"`` is an error); a value from the environment is a string and is
converted first, as pydantic-settings does for a ``strict`` model.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    SecretStr,
    ValidationError,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from adherence.core.config_fields import (
    AccountSid,
    Count,
    DayList,
    LogLevel,
    Port,
    Positive,
    PositiveNumber,
    Proportion,
    PublicUrl,
    SenderNumber,
    ServiceSid,
    TimeOfDay,
    _Section,
)
from adherence.core.selfcare_config import (
    CheckinSettings,
    MonitoringSettings,
    NudgeSettings,
    TriageSettings,
    VisitSettings,
)

ENV_PREFIX = "ADHERENCE_"
ENV_DELIMITER = "__"


class ConfigError(ValueError):
    """A configuration problem; the message names where (file, section, key)."""


# --- the sections: one field per key, with its default ---------------------------------------


class DatabaseSettings(_Section):
    url: str = "sqlite:///adherence.db"  # a SQLAlchemy URL; PostgreSQL: postgresql+psycopg://...
    echo: bool = False


class EngineSettings(_Section):
    horizon_days: Positive = 35  # doses are materialised this far ahead
    nudges: Count = 2  # extra texts when a reminder gets no answer
    nudge_every_minutes: Positive = 60
    snooze_minutes: Positive = 30  # a bare SNOOZE
    max_sleep_seconds: Positive = 60  # the daemon wakes at least this often
    materialize_every_minutes: Positive = 60


class SmsSettings(_Section):
    # auto = twilio when credentials are set, else console
    channel: Literal["auto", "console", "twilio"] = "auto"
    max_length: Positive = 160
    # A one-tap Taken/Skip link in each reminder text (opening it confirms nothing).
    confirm_links: bool = False


class TwilioSettings(_Section):
    account_sid: AccountSid = ""  # "AC" and 32 hex digits
    auth_token: SecretStr = SecretStr("")  # never in a repr or a log line
    auth_token_file: str = ""
    # E.164 (+15551234567) or a short code (5-6 digits): patients must be able to answer, so
    # an alphanumeric sender id is refused.
    from_number: SenderNumber = ""
    messaging_service_sid: ServiceSid = ""  # "MG" and 32 hex digits
    api_base_url: str = "https://api.twilio.com"
    rate_per_second: PositiveNumber = 1.0
    max_workers: Positive = 8  # concurrent requests to Twilio
    timeout_seconds: PositiveNumber = 10.0  # per request; a timed-out create is reconciled


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    public_base_url: PublicUrl = "http://127.0.0.1:8080"  # what Twilio signs: http(s) only


class SmtpSettings(_Section):
    host: str = ""  # empty: e-mail is printed to standard output, nothing leaves the machine
    port: Port = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: str = ""
    # Not checked as an address: the default (a local mailbox) has no dotted domain.
    from_address: str = "adherence@localhost"
    timeout_seconds: PositiveNumber = 10.0


class CalendarSettings(_Section):
    past_days: Positive = 30  # the feed shows doses this far back, with their recorded status
    future_days: Positive = 90  # ... and this far ahead
    refresh_minutes: Positive = 720  # REFRESH-INTERVAL / X-PUBLISHED-TTL asked of subscribers
    alarm_minutes: Count = 0  # VALARM before each dose in the feed; 0 = none (SMS reminds)
    appointment_reminder_days: DayList = "7,1"  # texts this many days before an infusion
    text_link_at_enrollment: bool = False


class CareSettings(_Section):
    pdc_threshold: Proportion = 0.8  # adherent at or above this proportion of days covered
    pdc_days: Positive = 30  # the flag looks at PDC over this many days
    missed_in_a_row_oral: Positive = 2  # consecutive missed doses that raise a flag, per kind
    missed_in_a_row_injectable: Positive = 1
    missed_in_a_row_relapse: Positive = 1
    silence_days: Positive = 7  # no answer to any text for this long raises a flag
    permissible_gap_days: Positive = 60  # persistence: no gap between doses longer than this
    digest_time: TimeOfDay = "08:00"  # default local time of a new coordinator's daily digest


def _refill_fraction(value: float) -> float:
    if not 0.5 <= value <= 1:
        raise ValueError("must be a fraction of the supply from 0.5 to 1 (insurers use 0.75-0.85)")
    return value


RefillFraction = Annotated[float, AfterValidator(_refill_fraction)]


class SupplySettings(_Section):
    # Specialty pharmacies ask for at least 5 days to ship a refill.
    remind_days_before: Positive = 5  # the refill text goes this many days before run-out
    overdue_days: Positive = 3  # a refill_overdue flag this many days past run-out, no fill
    refill_allowed_fraction: RefillFraction = 0.8  # insurers allow a refill after this much used
    remind_time: TimeOfDay = "10:00"  # local time of the refill text and the overdue flag


class WorkspaceSettings(_Section):
    session_hours: Positive = 12  # a sign-in lasts at most this long, however busy
    idle_minutes: Positive = 60  # ... and ends after this long without a page view
    # Secure cookies: "auto" when [http] public_base_url is https or the request came over TLS.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    call_back_days: Positive = 2  # "call back later" puts the patient back on the list then
    retry_days: Positive = 1  # ... and "no answer" / "left voicemail" after this many days


# The key ``json`` shadows BaseModel.json, pydantic v1's serialiser (deprecated, unused
# here); the key name is part of the config format, so the warning (and mypy's complaint
# about the override) is only noise.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", 'Field name "json"', UserWarning)

    class LogSettings(_Section):
        level: LogLevel = "INFO"  # any case in the file; kept upper-case
        json: bool = False  # type: ignore[assignment]


class Settings(BaseSettings):
    """All sections, plus where they came from (``source``, for messages)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        env_nested_max_split=1,  # ADHERENCE_TWILIO__AUTH_TOKEN_FILE: section, then key
        case_sensitive=False,
        strict=True,  # also tells the environment source to convert strings first
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    engine: EngineSettings = EngineSettings()
    sms: SmsSettings = SmsSettings()
    twilio: TwilioSettings = TwilioSettings()
    http: HttpSettings = HttpSettings()
    smtp: SmtpSettings = SmtpSettings()
    calendar: CalendarSettings = CalendarSettings()
    care: CareSettings = CareSettings()
    supply: SupplySettings = SupplySettings()
    workspace: WorkspaceSettings = WorkspaceSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    visits: VisitSettings = VisitSettings()
    checkins: CheckinSettings = CheckinSettings()
    triage: TriageSettings = TriageSettings()
    nudges: NudgeSettings = NudgeSettings()
    log: LogSettings = LogSettings()
    source: str = "built-in defaults"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what the caller passes: ``Settings()`` is the built-in defaults whatever the
        # process environment holds, and ``load_settings`` layers the file and the
        # environment it was given (a test passes a dict, not os.environ).
        return (init_settings,)


SECTIONS: tuple[str, ...] = tuple(name for name in Settings.model_fields if name != "source")


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping ``load_settings`` was given."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Case-insensitive, as the source expects (it looks names up in lower case).
        return {name.lower(): value for name, value in self._environ.items()}


# --- loading ----------------------------------------------------------------------------------


def find_config_file(
    explicit: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} (from --config) does not exist")
        return path
    from_env = env.get("ADHERENCE_CONFIG")
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"config file {from_env!r} (from $ADHERENCE_CONFIG) does not exist")
        return path
    local = Path("adherence.toml")
    return local if local.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    search: bool = True,
) -> Settings:
    """Build settings from a file (or the usual places) and environment overrides."""
    env = os.environ if env is None else env
    file = find_config_file(path, env) if search or path else None
    data: dict[str, Any] = {}
    label = "built-in defaults"
    if file is not None:
        label = str(file)
        try:
            data = tomllib.loads(file.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {label}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config {label}: cannot be read: {exc}") from None
    return settings_from_mapping(data, env, label=label)


def settings_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, *, label: str = "config"
) -> Settings:
    """Settings from a parsed file (``label`` names it) with ``env`` on top, if given."""
    for key in data:  # also keeps ``source`` out of the file's reach
        if key not in SECTIONS:
            raise ConfigError(
                f"config {label}: unknown section [{key}] (known: {', '.join(SECTIONS)})"
            )
    env = env or {}
    overrides = _overrides(env)
    # pydantic-settings reads ADHERENCE_<SECTION>__<KEY> into {section: {key: value}}; those
    # keys win over the file's, the file's other keys stay.
    from_env = _Environment({name: env[name] for name in overrides.values()})()
    values: dict[str, Any] = dict(data)
    for section, table in from_env.items():
        below = values.get(section, {})
        values[section] = {**below, **table} if isinstance(below, dict) else below
    try:
        settings = Settings(**values, source=label)
    except ValidationError as exc:
        raise ConfigError(_message(exc.errors()[0], label, overrides)) from None
    settings = _resolve_secrets(settings, label, overrides)
    _check_channel(settings, label, overrides)
    return settings


def _overrides(env: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(section, key) -> the ADHERENCE_<SECTION>__<KEY> variable that sets it. A misspelt
    section is an error here: the source looks up known sections only, and would skip it."""
    found: dict[tuple[str, str], str] = {}
    for name in env:
        if not name.upper().startswith(ENV_PREFIX) or ENV_DELIMITER not in name:
            continue  # ADHERENCE_CONFIG, ADHERENCE_TEST_DATABASE_URL: not a setting
        section, _, key = name[len(ENV_PREFIX) :].lower().partition(ENV_DELIMITER)
        if section not in SECTIONS:
            raise ConfigError(
                f"environment {name}: unknown section [{section}] (known: {', '.join(SECTIONS)})"
            )
        found[section, key] = name
    return found


def _message(error: ErrorDetails, label: str, overrides: Mapping[tuple[str, str], str]) -> str:
    """One line naming the file or the variable, the section and the key."""
    loc = [str(part) for part in error["loc"]]
    if len(loc) == 1:  # a section given as something other than a table
        return f"config {label}: [{loc[0]}] must be a table"
    section, key = loc[0], loc[1]
    variable = overrides.get((section, key))
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(_section_model(section).model_fields))
        if variable:
            return f"environment {variable}: unknown key for [{section}] (known: {known})"
        return f"config {label}: [{section}] {key}: unknown key (known: {known})"
    where = (
        f"environment {variable} ([{section}] {key})"
        if variable
        else f"config {label}: [{section}] {key}"
    )
    return f"{where}: {_problem(error, section, key)}"


def _section_model(section: str) -> type[BaseModel]:
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
}


def _problem(error: ErrorDetails, section: str, key: str) -> str:
    kind, got, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got!r}"
    if kind == "literal_error":
        if not isinstance(got, str):
            return f"expected a string, got {got!r}"
        choices = get_args(_section_model(section).model_fields[key].annotation)
        return f"{got!r} is not one of {', '.join(choices)}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']} or more"
    if kind == "value_error":  # our validators above: the message is the whole story
        return str(ctx["error"])
    return str(error["msg"])  # pragma: no cover - every type a section uses is above


# --- secrets read from files ------------------------------------------------------------------


def _read_secret(where: str, path: str) -> SecretStr:
    try:
        secret = Path(path).read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path!r}: {exc.strerror or exc}") from None
    if not secret:
        raise ConfigError(f"{where}: {path!r} is empty")
    return SecretStr(secret)


def _resolve_secrets(
    settings: Settings, label: str, overrides: Mapping[tuple[str, str], str]
) -> Settings:
    """``auth_token_file`` / ``password_file`` fill an empty ``auth_token`` / ``password``."""

    def where(section: str, key: str) -> str:
        variable = overrides.get((section, key))
        return (
            f"environment {variable} ([{section}] {key})"
            if variable
            else f"config {label}: [{section}] {key}"
        )

    tw, smtp = settings.twilio, settings.smtp
    update: dict[str, BaseModel] = {}
    if tw.auth_token_file and not tw.auth_token.get_secret_value():
        token = _read_secret(where("twilio", "auth_token_file"), tw.auth_token_file)
        update["twilio"] = tw.model_copy(update={"auth_token": token})
    if smtp.password_file and not smtp.password.get_secret_value():
        password = _read_secret(where("smtp", "password_file"), smtp.password_file)
        update["smtp"] = smtp.model_copy(update={"password": password})
    return settings.model_copy(update=update) if update else settings


def _check_channel(
    settings: Settings, label: str, overrides: Mapping[tuple[str, str], str]
) -> None:
    """``[sms] channel = "twilio"`` needs what a Twilio send needs: one line naming what is
    missing (``auto`` falls back to the console instead)."""
    if settings.sms.channel != "twilio":
        return
    tw = settings.twilio
    missing = [
        name
        for name, present in (
            ("account_sid", tw.account_sid),
            ("auth_token (or auth_token_file)", tw.auth_token.get_secret_value()),
            ("from_number (or messaging_service_sid)", tw.from_number or tw.messaging_service_sid),
        )
        if not present
    ]
    if missing:
        variable = overrides.get(("sms", "channel"))
        where = f"environment {variable} ([sms] channel)" if variable else f"config {label}"
        raise ConfigError(f'{where}: [sms] channel = "twilio" needs [twilio] {", ".join(missing)}')


# --- helpers other modules use ----------------------------------------------------------------


def reminder_days(settings: Settings) -> list[int]:
    """[calendar] appointment_reminder_days as numbers, largest first (validated on load)."""
    raw = settings.calendar.appointment_reminder_days
    return sorted({int(p) for p in raw.split(",") if p.strip()}, reverse=True)


def twilio_configured(settings: Settings) -> bool:
    tw = settings.twilio
    return bool(
        tw.account_sid
        and tw.auth_token.get_secret_value()
        and (tw.from_number or tw.messaging_service_sid)
    )
