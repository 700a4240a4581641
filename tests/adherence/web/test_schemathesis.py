"""Schemathesis against the served OpenAPI document, on SQLite and PostgreSQL: every
operation, with and without a valid bearer token, answers no 5xx and only status codes the
document describes. Bounded: ``EXAMPLES`` generated requests per operation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.adherence.web.conftest import Served

schemathesis = pytest.importorskip("schemathesis")
checks = pytest.importorskip("schemathesis.specs.openapi.checks")
core_checks = pytest.importorskip("schemathesis.checks")

EXAMPLES = 30


def test_no_operation_answers_a_server_error_or_an_undocumented_status(served: Served) -> None:
    schema = schemathesis.openapi.from_url(served.client.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            for headers in (served.auth, {}):
                response = case.call(base_url=served.client.base, headers=headers)
                case.validate_response(
                    response,
                    checks=[core_checks.not_a_server_error, checks.status_code_conformance],
                )

        run()
