"""A lost database is a 503 with Retry-After, JSON under /api/ and a friendly page elsewhere."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from referrals.tokens import api_token_create
from tests.api.conftest import ALL_SCOPES, Api, intake_body
from tests.form_data import IDENTITY

pytestmark = pytest.mark.django_db


def broken(error: Exception):
    def raise_(*args, **kwargs):
        raise error

    return raise_


@pytest.mark.parametrize("error", [OperationalError("server closed"), InterfaceError("closed")])
def test_the_form_answers_a_friendly_503_page(monkeypatch, error):
    monkeypatch.setattr("intake.views.rate_limit_hit", broken(error))
    response = Client(raise_request_exception=False).post("/form/identity/", IDENTITY)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Please try again in a minute" in page
    assert "Traceback" not in page
    assert "server closed" not in page


def test_the_api_answers_503_json(monkeypatch):
    api = Api(api_token_create(name="Outage", scopes=ALL_SCOPES).raw)
    api.client = Client(raise_request_exception=False)
    monkeypatch.setattr("intake.api.intake_submit", broken(OperationalError("gone")))
    response = api.post("/api/v1/intakes", intake_body())
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"]["non_field_errors"]


def test_other_errors_stay_500(monkeypatch):
    api = Api(api_token_create(name="Bug", scopes=ALL_SCOPES).raw)
    api.client = Client(raise_request_exception=False)
    monkeypatch.setattr("intake.api.intake_submit", broken(RuntimeError("bug")))
    response = api.post("/api/v1/intakes", intake_body())
    assert response.status_code == 500
    assert "Retry-After" not in response
    # In the API's one error shape, not Django's HTML page (a review found the HTML).
    assert response["Content-Type"] == "application/json"
    assert "Idempotency-Key" in response.json()["errors"]["non_field_errors"][0]
    page = Client(raise_request_exception=False)
    monkeypatch.setattr("intake.views.rate_limit_hit", broken(RuntimeError("bug")))
    assert page.post("/form/identity/", IDENTITY)["Content-Type"].startswith("text/html")
