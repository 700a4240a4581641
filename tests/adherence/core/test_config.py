"""Settings: where the file comes from, environment overrides, and errors that name the place."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adherence.core.config import (
    ConfigError,
    DatabaseSettings,
    EngineSettings,
    Settings,
    load_settings,
    reminder_days,
    twilio_configured,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config.example.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def error_of(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env or {})
    return str(info.value)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run with an empty working directory (no ./adherence.toml unless a test writes one)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- where the file comes from -----------------------------------------------------------------


def test_no_file_anywhere_gives_the_built_in_defaults(in_tmp: Path) -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.source == "built-in defaults"
    assert settings.database.url == "sqlite:///adherence.db"
    assert settings.engine.horizon_days == 35


def test_config_option_beats_env_var_which_beats_the_working_directory(in_tmp: Path) -> None:
    explicit = write(in_tmp / "explicit.toml", '[database]\nurl = "sqlite:///explicit.db"\n')
    from_env = write(in_tmp / "from-env.toml", '[database]\nurl = "sqlite:///env.db"\n')
    write(in_tmp / "adherence.toml", '[database]\nurl = "sqlite:///cwd.db"\n')
    env = {"ADHERENCE_CONFIG": str(from_env)}

    assert load_settings(explicit, env).database.url == "sqlite:///explicit.db"
    assert load_settings(explicit, env).source == str(explicit)
    assert load_settings(None, env).database.url == "sqlite:///env.db"
    assert load_settings(None, env).source == str(from_env)
    assert load_settings(None, {}).database.url == "sqlite:///cwd.db"
    assert load_settings(None, {}).source == "adherence.toml"


def test_search_false_ignores_the_working_directory_and_env_var(in_tmp: Path) -> None:
    write(in_tmp / "adherence.toml", '[database]\nurl = "sqlite:///cwd.db"\n')
    env = {"ADHERENCE_CONFIG": str(in_tmp / "adherence.toml")}
    assert load_settings(None, env, search=False) == Settings()


def test_a_named_file_that_does_not_exist_is_an_error_naming_it(in_tmp: Path) -> None:
    write(in_tmp / "adherence.toml", "")  # never silently used instead
    message = error_of(in_tmp / "missing.toml")
    assert "missing.toml" in message and "--config" in message
    message = error_of(env={"ADHERENCE_CONFIG": "elsewhere.toml"})
    assert "elsewhere.toml" in message and "$ADHERENCE_CONFIG" in message


def test_a_file_that_is_not_toml_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "[database\nurl = 1\n")
    message = error_of(path)
    assert str(path) in message and "not valid TOML" in message


def test_file_values_are_read_and_keep_their_types(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        "[database]\necho = true\n"
        "[engine]\nhorizon_days = 14\nnudges = 0\n"
        "[twilio]\nrate_per_second = 3\n"
        '[log]\nlevel = "DEBUG"\njson = true\n',
    )
    settings = load_settings(path, {})
    assert settings.database.echo is True
    assert settings.database.url == DatabaseSettings().url  # untouched keys keep defaults
    assert settings.engine == EngineSettings(horizon_days=14, nudges=0)
    assert settings.twilio.rate_per_second == 3.0
    assert isinstance(settings.twilio.rate_per_second, float)
    assert (settings.log.level, settings.log.json) == ("DEBUG", True)


# --- environment overrides ---------------------------------------------------------------------


def test_env_overrides_the_file_and_is_coerced_to_the_setting_type(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[database]\nurl = "sqlite:///file.db"\n[engine]\nhorizon_days = 14\n',
    )
    env = {
        "ADHERENCE_DATABASE__URL": "postgresql+psycopg://db/adherence",
        "ADHERENCE_DATABASE__ECHO": "yes",
        "ADHERENCE_ENGINE__HORIZON_DAYS": "21",
        "ADHERENCE_TWILIO__RATE_PER_SECOND": "2.5",
        "ADHERENCE_HTTP__PORT": " 9090 ",
        "ADHERENCE_LOG__JSON": "off",
    }
    settings = load_settings(path, env)
    assert settings.database.url == "postgresql+psycopg://db/adherence"
    assert settings.database.echo is True
    assert settings.engine.horizon_days == 21
    assert settings.twilio.rate_per_second == 2.5
    assert settings.http.port == 9090
    assert settings.log.json is False


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on"])
def test_env_true_words(word: str, in_tmp: Path) -> None:
    assert load_settings(None, {"ADHERENCE_DATABASE__ECHO": word}).database.echo is True


@pytest.mark.parametrize("word", ["0", "false", "No", "off"])
def test_env_false_words(word: str, in_tmp: Path) -> None:
    file = write(in_tmp / "adherence.toml", "[database]\necho = true\n")
    assert load_settings(file, {"ADHERENCE_DATABASE__ECHO": word}).database.echo is False


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("ADHERENCE_ENGINE__NUDGES", "many", "expected an integer"),
        ("ADHERENCE_ENGINE__NUDGES", "2.5", "expected an integer"),
        ("ADHERENCE_DATABASE__ECHO", "maybe", "expected true or false"),
        ("ADHERENCE_TWILIO__RATE_PER_SECOND", "fast", "expected a number"),
        ("ADHERENCE_TWILIO__RATE_PER_SECOND", "nan", "finite"),
        ("ADHERENCE_ENGINE__HORIZON_DAYS", "0", "greater than 0"),
        ("ADHERENCE_SMS__CHANNEL", "pigeon", "not one of auto, console, twilio"),
    ],
)
def test_a_bad_env_value_names_the_variable(
    var: str, value: str, expected: str, in_tmp: Path
) -> None:
    message = error_of(env={var: value})
    assert var in message
    assert expected in message


def test_an_env_var_with_an_unknown_key_is_an_error_listing_the_known_ones(in_tmp: Path) -> None:
    message = error_of(env={"ADHERENCE_ENGINE__HORIZON": "10"})
    assert "ADHERENCE_ENGINE__HORIZON" in message
    assert "unknown key for [engine]" in message
    assert "horizon_days" in message


def test_an_env_var_with_an_unknown_section_is_an_error(in_tmp: Path) -> None:
    message = error_of(env={"ADHERENCE_DATABSE__URL": "sqlite://"})
    assert "ADHERENCE_DATABSE__URL" in message
    assert "unknown section [databse]" in message


def test_unrelated_adherence_env_vars_are_left_alone(in_tmp: Path) -> None:
    env = {"ADHERENCE_CONFIG_DIR": "x", "ADHERENCE_TEST_DATABASE_URL": "postgresql://x"}
    assert load_settings(None, env) == Settings()


def test_a_whole_section_in_one_variable_is_not_read(in_tmp: Path) -> None:
    # pydantic-settings would parse ADHERENCE_DATABASE as JSON; only <SECTION>__<KEY> counts.
    env = {"ADHERENCE_DATABASE": '{"url": "sqlite:///other.db"}', "ADHERENCE_SOURCE": "x"}
    assert load_settings(None, env) == Settings()


def test_settings_without_arguments_ignore_the_process_environment(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADHERENCE_DATABASE__URL", "sqlite:///from-process-env.db")
    assert Settings().database.url == DatabaseSettings().url == "sqlite:///adherence.db"
    # ... while load_settings() without an env mapping reads the process environment.
    assert load_settings().database.url == "sqlite:///from-process-env.db"


# --- errors in the file name the file, the section and the key ---------------------------------


@pytest.mark.parametrize(
    ("toml", "section", "key", "expected"),
    [
        ("[engine]\nhorizon_dayz = 3\n", "[engine]", "horizon_dayz", "unknown key"),
        ('[engine]\nhorizon_days = "ten"\n', "[engine]", "horizon_days", "expected an integer"),
        ("[engine]\nnudges = 1.5\n", "[engine]", "nudges", "expected an integer"),
        ("[engine]\nnudges = true\n", "[engine]", "nudges", "expected an integer"),
        ('[database]\necho = "yes"\n', "[database]", "echo", "expected true or false"),
        ("[database]\nurl = 5\n", "[database]", "url", "expected a string"),
        ('[twilio]\nrate_per_second = "1"\n', "[twilio]", "rate_per_second", "expected a number"),
        ('[sms]\nchannel = "pigeon"\n', "[sms]", "channel", "'pigeon' is not one of"),
        ('[log]\nlevel = "LOUD"\n', "[log]", "level", "is not one of DEBUG, INFO"),
    ],
)
def test_a_wrong_key_or_type_names_file_section_and_key(
    tmp_path: Path, toml: str, section: str, key: str, expected: str
) -> None:
    path = write(tmp_path / "settings.toml", toml)
    message = error_of(path)
    assert str(path) in message
    assert f"{section} {key}" in message
    assert expected in message


def test_an_unknown_section_names_the_file_and_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[databse]\nurl = 'x'\n")
    message = error_of(path)
    assert str(path) in message
    assert "unknown section [databse]" in message
    assert (
        "database, engine, sms, twilio, http, smtp, calendar, care, supply, workspace, "
        "monitoring, visits, checkins, triage, nudges, log" in message
    )


def test_a_section_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "engine = 3\n")
    message = error_of(path)
    assert str(path) in message and "[engine] must be a table" in message


def test_the_unknown_key_error_lists_the_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[http]\nhostname = 'x'\n")
    assert "(known: host, port, public_base_url)" in error_of(path)


def test_log_level_is_accepted_in_any_case(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", '[log]\nlevel = "warning"\n')
    assert load_settings(path, {}).log.level.upper() == "WARNING"


# --- numbers that must be positive --------------------------------------------------------------

POSITIVE = [
    ("engine", "horizon_days"),
    ("engine", "nudge_every_minutes"),
    ("engine", "snooze_minutes"),
    ("engine", "max_sleep_seconds"),
    ("engine", "materialize_every_minutes"),
    ("twilio", "rate_per_second"),
    ("twilio", "max_workers"),
    ("twilio", "timeout_seconds"),
    ("sms", "max_length"),
]


@pytest.mark.parametrize(("section", "key"), POSITIVE)
@pytest.mark.parametrize("value", ["0", "-1"])
def test_counts_and_durations_must_be_greater_than_zero(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    path = write(tmp_path / "settings.toml", f"[{section}]\n{key} = {value}\n")
    message = error_of(path)
    assert str(path) in message
    assert f"[{section}] {key}: must be greater than 0" in message


@pytest.mark.parametrize(("section", "key"), POSITIVE)
def test_one_is_a_valid_positive_value(tmp_path: Path, section: str, key: str) -> None:
    path = write(tmp_path / "settings.toml", f"[{section}]\n{key} = 1\n")
    assert getattr(getattr(load_settings(path, {}), section), key) == 1


def test_nudges_may_be_zero_but_not_negative(tmp_path: Path) -> None:
    zero = write(tmp_path / "zero.toml", "[engine]\nnudges = 0\n")
    assert load_settings(zero, {}).engine.nudges == 0
    negative = write(tmp_path / "negative.toml", "[engine]\nnudges = -1\n")
    assert "[engine] nudges: must be 0 or more" in error_of(negative)


@pytest.mark.parametrize("port", [0, 65536])
def test_the_http_port_must_be_a_tcp_port(tmp_path: Path, port: int) -> None:
    path = write(tmp_path / "settings.toml", f"[http]\nport = {port}\n")
    assert "[http] port: must be a TCP port" in error_of(path)


def test_an_env_range_error_names_the_variable_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[engine]\nhorizon_days = 10\n")
    message = error_of(path, {"ADHERENCE_ENGINE__HORIZON_DAYS": "-3"})
    assert "ADHERENCE_ENGINE__HORIZON_DAYS" in message
    assert "greater than 0" in message
    assert str(path) not in message


# --- secrets from a file ------------------------------------------------------------------------


def test_the_twilio_auth_token_can_come_from_a_file(tmp_path: Path) -> None:
    secret = write(tmp_path / "token", "s3cret-token\n")
    path = write(
        tmp_path / "settings.toml",
        f'[twilio]\naccount_sid = "AC{"0" * 32}"\nfrom_number = "+12025550143"\n'
        f"auth_token_file = {str(secret)!r}\n",
    )
    settings = load_settings(path, {})
    assert (
        settings.twilio.auth_token.get_secret_value() == "s3cret-token"
    )  # trailing newline stripped
    assert twilio_configured(settings)


def test_the_twilio_auth_token_file_can_be_named_by_env(tmp_path: Path, in_tmp: Path) -> None:
    secret = write(tmp_path / "token", "from-env\n")
    env = {"ADHERENCE_TWILIO__AUTH_TOKEN_FILE": str(secret)}
    assert load_settings(None, env).twilio.auth_token.get_secret_value() == "from-env"


def test_an_explicit_auth_token_wins_over_the_file(tmp_path: Path) -> None:
    secret = write(tmp_path / "token", "from-file")
    path = write(
        tmp_path / "settings.toml",
        f'[twilio]\nauth_token = "inline"\nauth_token_file = {str(secret)!r}\n',
    )
    assert load_settings(path, {}).twilio.auth_token.get_secret_value() == "inline"


def test_an_unreadable_auth_token_file_names_file_section_key_and_secret_path(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-token"
    path = write(tmp_path / "settings.toml", f"[twilio]\nauth_token_file = {str(missing)!r}\n")
    message = error_of(path)
    assert str(path) in message
    assert "[twilio] auth_token_file" in message
    assert str(missing) in message


def test_an_empty_auth_token_file_is_an_error(tmp_path: Path) -> None:
    secret = write(tmp_path / "token", "\n")
    path = write(tmp_path / "settings.toml", f"[twilio]\nauth_token_file = {str(secret)!r}\n")
    assert "is empty" in error_of(path)


def test_twilio_is_not_configured_without_a_sender() -> None:
    assert not twilio_configured(Settings())


def test_secrets_never_appear_in_a_repr(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", '[twilio]\nauth_token = "tw-s3cret"\n')
    settings = load_settings(path, {"ADHERENCE_SMTP__PASSWORD": "smtp-s3cret"})
    assert settings.smtp.password.get_secret_value() == "smtp-s3cret"
    for text in (repr(settings), str(settings), repr(settings.twilio), str(settings.smtp)):
        assert "tw-s3cret" not in text and "smtp-s3cret" not in text


def test_an_unreadable_secret_file_named_by_env_names_the_variable(in_tmp: Path) -> None:
    message = error_of(env={"ADHERENCE_SMTP__PASSWORD_FILE": str(in_tmp / "missing")})
    assert "environment ADHERENCE_SMTP__PASSWORD_FILE ([smtp] password_file)" in message
    assert "cannot read" in message and "missing" in message


# --- config.example.toml documents every key and cannot drift ----------------------------------


# Where config.example.toml deliberately shows something other than the default:
# (section, key) -> the value it shows. Empty: the example is the defaults, spelt out.
EXAMPLE_DIFFERS: dict[tuple[str, str], Any] = {}


def test_the_example_config_loads_and_equals_the_defaults() -> None:
    settings = load_settings(EXAMPLE, {})
    expected = Settings()
    for (section, key), value in EXAMPLE_DIFFERS.items():
        table = getattr(expected, section).model_copy(update={key: value})
        expected = expected.model_copy(update={section: table})
    assert settings.source == str(EXAMPLE)
    assert settings.model_copy(update={"source": expected.source}) == expected


def settings_keys() -> dict[str, set[str]]:
    return {
        name: set(type(getattr(Settings(), name)).model_fields)
        for name in Settings.model_fields
        if name != "source"
    }


def test_the_example_config_names_every_section_and_key() -> None:
    example = tomllib.loads(EXAMPLE.read_text("utf-8"))
    assert {section: set(table) for section, table in example.items()} == settings_keys()


def test_the_example_config_comments_every_key_with_default_and_env_var() -> None:
    section = ""
    comment: list[str] = []
    checked: set[tuple[str, str]] = set()
    for line in EXAMPLE.read_text("utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        if stripped.startswith("["):
            section = stripped.strip("[]")
        elif "=" in stripped:
            key = stripped.split("=", 1)[0].strip()
            text = " ".join(comment)
            default = getattr(getattr(Settings(), section), key)
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            shown = str(default).lower() if isinstance(default, bool) else repr(default)
            assert f"Default: {shown}".replace("'", '"') in text.replace("'", '"'), (
                f"[{section}] {key}: the comment does not give the default {shown}"
            )
            assert f"Env: ADHERENCE_{section.upper()}__{key.upper()}" in text, (
                f"[{section}] {key}: the comment does not name its environment variable"
            )
            checked.add((section, key))
        comment = []
    expected = {(section, key) for section, keys in settings_keys().items() for key in keys}
    assert checked == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[care]\ndigest_time = '8am'\n", "[care] digest_time: '8am' is not a time of day HH:MM"),
        ("[care]\ndigest_time = '24:00'\n", "[care] digest_time: '24:00' is not a time of day"),
        ("[care]\npdc_threshold = 80\n", "[care] pdc_threshold: must be a proportion"),
        ("[smtp]\nsecurity = 'ssl'\n", "[smtp] security: 'ssl' is not one of starttls, tls, none"),
        ("[smtp]\nport = 0\n", "[smtp] port: must be a TCP port"),
        (
            "[calendar]\nappointment_reminder_days = '7, one'\n",
            "[calendar] appointment_reminder_days: '7, one' is not a comma-separated list",
        ),
        ("[calendar]\nalarm_minutes = -5\n", "[calendar] alarm_minutes: must be 0 or more"),
    ],
)
def test_care_calendar_and_smtp_values_are_checked(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / "settings.toml", text)
    assert expected in error_of(path)


def test_the_digest_time_is_read_like_every_other_time_of_day(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[care]\ndigest_time = '7:30'\n")
    assert load_settings(path, {}).care.digest_time == "07:30"


def test_only_the_first_problem_is_reported_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[engine]\nnudges = -1\nhorizon_days = 0\n")
    message = error_of(path)
    assert "\n" not in message
    assert message == f"config {path}: [engine] horizon_days: must be greater than 0"


def test_reminder_days_are_parsed_largest_first(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[calendar]\nappointment_reminder_days = '1, 7,3'\n")
    assert reminder_days(load_settings(path, env={})) == [7, 3, 1]


def test_an_smtp_password_file_is_read(tmp_path: Path) -> None:
    secret = write(tmp_path / "smtp_password", "  s3cret\n")
    path = write(tmp_path / "settings.toml", f"[smtp]\npassword_file = {str(secret)!r}\n")
    assert load_settings(path, env={}).smtp.password.get_secret_value() == "s3cret"
