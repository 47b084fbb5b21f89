"""schemathesis drives every operation of the published schema in-process (SQLite and PostgreSQL).

Checks: no 5xx, only documented statuses and content types, and bodies that match the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic.wsgi import application
from referrals.tokens import CreatedToken
from tests.clinic_fixtures import submit

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A tenth of the loaded profile's examples per operation (dev 20, ci 5, deep 200).
EXAMPLES = max(5, hypothesis_settings().max_examples // 10)


@pytest.fixture
def fuzz_setup(settings, integration: CreatedToken) -> Iterator[str]:
    settings.API_RATE_LIMIT = 1_000_000
    # Some real cases, so generated ids are not the only thing the API sees.
    submit("V01")
    submit("V09")
    # The test's transaction owns the connection: Django must not close it between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield integration.raw
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, fuzz_setup: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_setup}"}, checks=CHECKS)
