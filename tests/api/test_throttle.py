"""Per-token limits counted in the database: 429 with Retry-After, other tokens unaffected."""

from __future__ import annotations

import pytest

from intake.models import RateCounter
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def test_a_token_over_its_limit_gets_429_with_retry_after(settings, api, make_token):
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_WINDOW_SECONDS = 60
    codes = [api.get("/api/v1/questionnaire").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = api.get("/api/v1/questionnaire")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert list(refused.json()) == ["errors"]
    assert "throttled" in refused.json()["errors"]["non_field_errors"][0].lower()
    other = Api(make_token().raw)
    assert other.get("/api/v1/questionnaire").status_code == 200


def test_the_count_lives_in_the_database_shared_by_every_process(settings, api, integration):
    settings.API_RATE_LIMIT = 100
    for _ in range(3):
        api.get("/api/v1/referrals")
    counter = RateCounter.objects.get(key__startswith=f"api:token:{integration.token.prefix}:")
    assert counter.count == 3


def test_refused_credentials_do_not_count_against_a_token(settings, integration):
    settings.API_RATE_LIMIT = 1
    for _ in range(3):
        Api("clk_" + integration.token.prefix + "_wrong").get("/api/v1/questionnaire")
    assert Api(integration.raw).get("/api/v1/questionnaire").status_code == 200
