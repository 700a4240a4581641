"""What the per-therapy tests compare: a therapy's items without the label checks that
test_monitoring.py covers (baseline checks before the first dose, eye exams, the fumarates'
lymphocyte counts), whose expected lists predate them."""

from __future__ import annotations

from schedules import Item

NEWER_CHECKS = frozenset(
    f"monitoring:{n}"
    for n in (
        "baseline",
        "lymphocytes-before",
        "lymphocytes-before-2",
        "eye-exam",
        "lymphocyte-count",
    )
)


def without_newer_checks(items: list[Item]) -> list[Item]:
    return [i for i in items if i.stream not in NEWER_CHECKS]
