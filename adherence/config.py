"""Settings: TOML file + environment overrides -> validated, immutable settings.

Where they come from, first match wins: ``--config FILE``, ``$ADHERENCE_CONFIG``,
``./adherence.toml``, else built-in defaults. Any key can then be overridden by an
environment variable ``ADHERENCE_<SECTION>__<KEY>`` (``ADHERENCE_DATABASE__URL``).
A wrong key or type is a ``ConfigError`` naming the file, section and key.
Built once by the entry point and passed down; nothing reads it at import time.
"""

from __future__ import annotations

import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "ADHERENCE_"


class ConfigError(ValueError):
    """A configuration problem; the message names where (file, section, key)."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///adherence.db"  # a SQLAlchemy URL; PostgreSQL: postgresql+psycopg://...
    echo: bool = False


@dataclass(frozen=True)
class EngineSettings:
    horizon_days: int = 35  # doses are materialised this far ahead
    nudges: int = 2  # extra texts when a reminder gets no answer
    nudge_every_minutes: int = 60
    snooze_minutes: int = 30  # a bare SNOOZE
    max_sleep_seconds: int = 60  # the daemon wakes at least this often
    materialize_every_minutes: int = 60


@dataclass(frozen=True)
class SmsSettings:
    channel: str = "auto"  # auto | console | twilio ; auto = twilio when credentials are set
    max_length: int = 160


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = ""
    auth_token_file: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = "https://api.twilio.com"
    rate_per_second: float = 1.0
    max_workers: int = 8  # concurrent requests to Twilio
    timeout_seconds: float = 10.0  # per request; a timed-out create is reconciled, not resent


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: e-mail is printed to standard output, nothing leaves the machine
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str = ""
    password: str = ""
    password_file: str = ""
    from_address: str = "adherence@localhost"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class CalendarSettings:
    past_days: int = 30  # the feed shows doses this far back, with their recorded status
    future_days: int = 90  # ... and this far ahead
    refresh_minutes: int = 720  # REFRESH-INTERVAL / X-PUBLISHED-TTL asked of subscribers
    alarm_minutes: int = 0  # VALARM before each dose in the feed; 0 = none (SMS reminds)
    appointment_reminder_days: str = "7,1"  # texts this many days before a booked infusion
    text_link_at_enrollment: bool = False


@dataclass(frozen=True)
class CareSettings:
    pdc_threshold: float = 0.8  # adherent at or above this proportion of days covered
    pdc_days: int = 30  # the flag looks at PDC over this many days
    missed_in_a_row_oral: int = 2  # consecutive missed doses that raise a flag, per kind
    missed_in_a_row_injectable: int = 1
    missed_in_a_row_relapse: int = 1
    silence_days: int = 7  # no answer to any text for this long raises a flag
    permissible_gap_days: int = 60  # persistence: no gap between doses longer than this
    digest_time: str = "08:00"  # default local time of a new coordinator's daily digest


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    care: CareSettings = field(default_factory=CareSettings)
    log: LogSettings = field(default_factory=LogSettings)
    source: str = "built-in defaults"


_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sms", "channel"): ("auto", "console", "twilio"),
    ("log", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
    ("smtp", "security"): ("starttls", "tls", "none"),
}
_POSITIVE = {
    ("engine", "horizon_days"),
    ("engine", "nudge_every_minutes"),
    ("engine", "snooze_minutes"),
    ("engine", "max_sleep_seconds"),
    ("engine", "materialize_every_minutes"),
    ("twilio", "rate_per_second"),
    ("twilio", "max_workers"),
    ("twilio", "timeout_seconds"),
    ("sms", "max_length"),
    ("smtp", "timeout_seconds"),
    ("calendar", "past_days"),
    ("calendar", "future_days"),
    ("calendar", "refresh_minutes"),
    ("care", "pdc_days"),
    ("care", "missed_in_a_row_oral"),
    ("care", "missed_in_a_row_injectable"),
    ("care", "missed_in_a_row_relapse"),
    ("care", "silence_days"),
    ("care", "permissible_gap_days"),
}
_NON_NEGATIVE = {("engine", "nudges"), ("calendar", "alarm_minutes")}
_CLOCK_TIMES = {("care", "digest_time")}


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings) if f.name != "source"}


def _coerce(where: str, value: Any, typ: Any, from_env: bool) -> Any:
    if isinstance(typ, types.UnionType):
        typ = next(t for t in typing.get_args(typ) if t is not type(None))
    if typ is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported setting type")  # pragma: no cover


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
    sections = _section_types()
    built: dict[str, Any] = {}
    for key in data:
        if key not in sections:
            raise ConfigError(
                f"config {label}: unknown section [{key}] (known: {', '.join(sections)})"
            )
    if env is not None:
        _check_env_sections(env, sections)
    for name, cls in sections.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"config {label}: [{name}] must be a table")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        # Where each value came from, so an error names the place to fix.
        where: dict[str, str] = {}
        for key, value in raw.items():
            if key not in known:
                raise ConfigError(
                    f"config {label}: [{name}] {key}: unknown key (known: {', '.join(sorted(known))})"
                )
            where[key] = f"config {label}: [{name}] {key}"
            values[key] = _coerce(where[key], value, hints[key], False)
        if env is not None:
            prefix = f"{ENV_PREFIX}{name.upper()}__"
            for env_key in env:
                if env_key.startswith(prefix) and env_key[len(prefix) :].lower() not in known:
                    raise ConfigError(
                        f"environment {env_key}: unknown key for [{name}] "
                        f"(known: {', '.join(sorted(known))})"
                    )
            for key in known:
                env_key = f"{prefix}{key.upper()}"
                if env_key in env:
                    where[key] = f"environment {env_key} ([{name}] {key})"
                    values[key] = _coerce(where[key], env[env_key], hints[key], True)
        for key, value in values.items():
            _check_range(where[key], name, key, value)
        built[name] = cls(**values)
    settings = Settings(**built, source=label)
    return _resolve_secrets(settings, label)


def _check_env_sections(env: Mapping[str, str], sections: Mapping[str, type]) -> None:
    # ADHERENCE_<SECTION>__<KEY> with a misspelt section would otherwise be ignored.
    for env_key in env:
        if not env_key.startswith(ENV_PREFIX) or "__" not in env_key:
            continue
        section = env_key[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section not in sections:
            raise ConfigError(
                f"environment {env_key}: unknown section [{section}] (known: {', '.join(sections)})"
            )


def _check_range(where: str, section: str, key: str, value: Any) -> None:
    choices = _CHOICES.get((section, key))
    if choices and (value.upper() if key == "level" else value) not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number")
    if (section, key) in _POSITIVE and value <= 0:
        raise ConfigError(f"{where}: must be greater than 0")
    if (section, key) in _NON_NEGATIVE and value < 0:
        raise ConfigError(f"{where}: must be 0 or more")
    if (section, key) in (("http", "port"), ("smtp", "port")) and not 1 <= value <= 65535:
        raise ConfigError(f"{where}: must be a TCP port, 1 to 65535")
    if (section, key) == ("care", "pdc_threshold") and not 0 < value <= 1:
        raise ConfigError(f"{where}: must be a proportion, greater than 0 and at most 1")
    if (section, key) in _CLOCK_TIMES:
        hh, sep, mm = value.partition(":")
        if not (sep and len(hh) == len(mm) == 2 and hh.isdigit() and mm.isdigit()) or not (
            int(hh) < 24 and int(mm) < 60
        ):
            raise ConfigError(f'{where}: {value!r} is not a time of day HH:MM (e.g. "08:00")')
    if (section, key) == ("calendar", "appointment_reminder_days"):
        parts = [p.strip() for p in value.split(",")] if value.strip() else []
        if not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ConfigError(
                f'{where}: {value!r} is not a comma-separated list of whole days, e.g. "7,1"'
            )


def reminder_days(settings: Settings) -> list[int]:
    """[calendar] appointment_reminder_days as numbers, largest first (validated on load)."""
    raw = settings.calendar.appointment_reminder_days
    return sorted({int(p) for p in raw.split(",") if p.strip()}, reverse=True)


def _read_secret(label: str, where: str, path: str) -> str:
    try:
        secret = Path(path).read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"config {label}: {where}: cannot read {path!r}: {exc.strerror or exc}"
        ) from None
    if not secret:
        raise ConfigError(f"config {label}: {where}: {path!r} is empty")
    return secret


def _resolve_secrets(settings: Settings, label: str = "config") -> Settings:
    tw = settings.twilio
    if tw.auth_token_file and not tw.auth_token:
        token = _read_secret(label, "[twilio] auth_token_file", tw.auth_token_file)
        settings = replace(settings, twilio=replace(tw, auth_token=token))
    smtp = settings.smtp
    if smtp.password_file and not smtp.password:
        password = _read_secret(label, "[smtp] password_file", smtp.password_file)
        settings = replace(settings, smtp=replace(smtp, password=password))
    return settings


def twilio_configured(settings: Settings) -> bool:
    tw = settings.twilio
    return bool(tw.account_sid and tw.auth_token and (tw.from_number or tw.messaging_service_sid))
