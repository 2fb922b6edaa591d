"""Fuzz the REST API from its own OpenAPI schema (schemathesis) against a running `cecot-rag serve`.

Every operation gets a bounded number of generated requests: no 5xx, every status code and body
as the schema declares.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from helpers_server import RunningServer, running_server

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # A short URL timeout: generated URLs must fail fast, never hang the run.
    with running_server(tmp_path_factory.mktemp("fuzz"), url_timeout="3") as running:
        yield running


def test_api_never_answers_5xx_and_always_matches_its_schema(server: RunningServer) -> None:
    # Operations are walked here rather than with schemathesis.pytest.from_fixture, which relies on a
    # pytest internal (Item._nodeid) that pytest 9 no longer has.
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    tried: list[str] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.base_url, timeout=120, checks=checks)

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert "POST /api/v1/ask" in tried and "POST /api/v1/documents" in tried
    assert failures == []
