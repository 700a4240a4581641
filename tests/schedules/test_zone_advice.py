"""``zone_advice``: a valid zone name that a clinic probably did not mean."""

from __future__ import annotations

import pytest

from schedules.localtime import zone_advice


@pytest.mark.parametrize(
    ("name", "offset", "region"),
    [
        ("EST", "UTC-05:00", "America/New_York"),
        ("MST", "UTC-07:00", "America/Denver"),
        ("Etc/GMT+5", "UTC-05:00", "a region zone"),
        ("Etc/GMT-10", "UTC+10:00", "a region zone"),
    ],
)
def test_a_fixed_offset_is_named_with_the_zone_probably_meant(
    name: str, offset: str, region: str
) -> None:
    advice = zone_advice(name)
    assert advice is not None
    assert f"({offset} all year" in advice and region in advice


@pytest.mark.parametrize(
    "name", ["UTC", "Etc/UTC", "America/New_York", "Asia/Tokyo", "EST5EDT", "America/Phoenix"]
)
def test_a_region_zone_or_utc_needs_no_advice(name: str) -> None:
    assert zone_advice(name) is None
