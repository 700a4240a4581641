"""``[supply]``: defaults, environment overrides, and bad values named by key."""

from __future__ import annotations

import pytest

from adherence.core.config import ConfigError, settings_from_mapping


def test_supply_defaults_and_an_environment_override() -> None:
    s = settings_from_mapping({}, {"ADHERENCE_SUPPLY__REMIND_DAYS_BEFORE": "7"})
    assert (s.supply.remind_days_before, s.supply.overdue_days) == (7, 3)
    assert (s.supply.refill_allowed_fraction, s.supply.remind_time) == (0.8, "10:00")


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"remind_days_before": 0}, "[supply] remind_days_before"),
        ({"overdue_days": -1}, "[supply] overdue_days"),
        ({"refill_allowed_fraction": 0.3}, "[supply] refill_allowed_fraction"),
        ({"refill_allowed_fraction": 1.2}, "[supply] refill_allowed_fraction"),
        ({"remind_time": "25:00"}, "[supply] remind_time"),
        ({"remind_days": 5}, "[supply] remind_days"),
    ],
)
def test_a_bad_supply_value_names_the_key(table: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"supply": table}, label="adherence.toml")
    assert needle in str(info.value) and "adherence.toml" in str(info.value)
