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
    log: LogSettings = field(default_factory=LogSettings)
    source: str = "built-in defaults"


_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sms", "channel"): ("auto", "console", "twilio"),
    ("log", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
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
}
_NON_NEGATIVE = {("engine", "nudges")}


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
    if (section, key) == ("http", "port") and not 1 <= value <= 65535:
        raise ConfigError(f"{where}: must be a TCP port, 1 to 65535")


def _resolve_secrets(settings: Settings, label: str = "config") -> Settings:
    tw = settings.twilio
    if tw.auth_token_file and not tw.auth_token:
        try:
            token = Path(tw.auth_token_file).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"config {label}: [twilio] auth_token_file: cannot read "
                f"{tw.auth_token_file!r}: {exc.strerror or exc}"
            ) from None
        if not token:
            raise ConfigError(
                f"config {label}: [twilio] auth_token_file: {tw.auth_token_file!r} is empty"
            )
        settings = replace(settings, twilio=replace(tw, auth_token=token))
    return settings


def twilio_configured(settings: Settings) -> bool:
    tw = settings.twilio
    return bool(tw.account_sid and tw.auth_token and (tw.from_number or tw.messaging_service_sid))
