"""A NUL character in a query string is a 400, JSON under /api/ and a page elsewhere: PostgreSQL
refuses NUL in text, and the admin's list filters passed such values to their queries (a 500,
found by a review)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referrals.tokens import api_token_create
from tests.api.conftest import ALL_SCOPES, Api

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (reverse("admin:referrals_referral_changelist"), "status=%00"),
        (reverse("admin:referrals_referral_changelist"), "queue=a%00b"),
        (reverse("admin:referrals_referral_changelist"), "urgency__exact=%00"),
        (reverse("admin:intake_intake_changelist"), "source__exact=%00"),
        (reverse("admin:referrals_auditentry_changelist"), "action=%00"),
        (reverse("admin:referrals_referral_changelist"), "%00=1"),
    ],
)
def test_a_staff_page_asked_with_nul_answers_400(client, triage_lead, url, query):
    client.force_login(triage_lead)
    response = client.get(f"{url}?{query}")
    assert response.status_code == 400
    assert "That request was not understood" in response.content.decode()
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [("queue=%00", "queue"), ("status=a%00", "status"), ("updated_since=%00", "updated_since")],
)
def test_the_api_validates_what_it_reads_and_nul_is_no_value(query, field):
    """Under /api/ every parameter read is validated: a 400 naming it."""
    api = Api(api_token_create(name="Nul", scopes=ALL_SCOPES).raw)
    response = api.client.get(f"/api/v1/referrals?{query}", headers=api.headers)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_an_encoded_percent_sign_is_not_a_nul(client, triage_lead):
    client.force_login(triage_lead)
    url = reverse("admin:referrals_referral_changelist")
    assert client.get(f"{url}?q=%2500").status_code == 200
