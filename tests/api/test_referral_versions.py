"""A referral's version: its ETag, If-None-Match (304) and If-Match on every move (412)."""

from __future__ import annotations

import pytest
from django.test import Client

from referrals.etags import tag_of
from referrals.models import Referral
from referrals.services import referral_decline
from tests.api.conftest import Api
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def detail_path(referral: Referral) -> str:
    return f"/api/v1/referrals/{referral.public_id}"


def etag(api: Api, referral: Referral) -> str:
    response = api.get(detail_path(referral))
    assert response.status_code == 200
    return response.headers["ETag"]


def test_the_detail_carries_a_strong_etag_of_what_it_shows(api):
    (referral,) = submit("V01").referrals
    response = api.get(detail_path(referral))
    tag = response.headers["ETag"]
    assert tag[0] == tag[-1] == '"'  # strong (no W/): If-Match compares no other kind
    assert tag == tag_of(response.json())
    assert api.get(detail_path(referral)).headers["ETag"] == tag  # nothing changed


def test_every_moves_answer_carries_the_etag_a_read_then_gives(api):
    (referral,) = submit("V01").referrals
    before = etag(api, referral)
    response = api.post(f"{detail_path(referral)}/claim")
    assert response.status_code == 200
    assert response.headers["ETag"] != before
    assert response.headers["ETag"] == etag(api, referral)


def test_a_reroutes_answer_carries_the_new_referrals_etag(api):
    (referral,) = submit("V01").referrals
    response = api.post(f"{detail_path(referral)}/reroute", {"queue": "podiatry", "reason": "x"})
    new = Referral.objects.get(rerouted_from=referral)
    assert response.headers["ETag"] == etag(api, new) != etag(api, referral)


def test_the_etag_changes_with_a_case_that_joins(api):
    first = submit("V01")
    (referral,) = first.referrals
    before = etag(api, referral)
    submit("V01")  # the patient's later submission joins the open referral
    assert etag(api, referral) != before


def test_the_etag_changes_when_a_closed_referral_is_referred_again(api, triage_lead):
    """Its row is not written (its updated_at stays), only its history: the tag follows what
    the detail shows, not updated_at alone."""
    (referral,) = submit("V01").referrals
    closed = referral_decline(referral=referral, actor=triage_lead, reason="Seen elsewhere")
    before = etag(api, closed)
    updated = api.get(detail_path(closed)).json()["updated_at"]
    api.post(f"{detail_path(closed)}/refer-again", {"reason": "Declined the wrong case"})
    assert api.get(detail_path(closed)).json()["updated_at"] == updated
    assert etag(api, closed) != before


def test_the_etag_changes_when_the_referral_becomes_overdue(api):
    (referral,) = submit("V01").referrals
    body = api.get(detail_path(referral)).json()
    assert body["overdue"] is False
    before = etag(api, referral)
    # Only the clock moves: its due time passes.
    Referral.objects.filter(pk=referral.pk).update(due_at=referral.created_at)
    after = api.get(detail_path(referral))
    assert after.json()["overdue"] is True
    assert after.headers["ETag"] != before


@pytest.mark.parametrize("form", ["{tag}", "W/{tag}", '"old", {tag}', "*"])
def test_if_none_match_naming_the_current_version_is_304_without_a_body(api, form):
    (referral,) = submit("V01").referrals
    tag = etag(api, referral)
    response = api.client.get(
        detail_path(referral), headers={**api.headers, "If-None-Match": form.format(tag=tag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == tag


def test_if_none_match_naming_an_older_version_answers_with_the_referral(api):
    (referral,) = submit("V01").referrals
    old = etag(api, referral)
    api.post(f"{detail_path(referral)}/claim")
    response = api.client.get(detail_path(referral), headers={**api.headers, "If-None-Match": old})
    assert response.status_code == 200
    assert response.json()["status"] == "claimed"
    assert response.headers["ETag"] != old


def test_a_malformed_if_none_match_is_a_400_naming_the_header(api):
    (referral,) = submit("V01").referrals
    response = api.client.get(
        detail_path(referral), headers={**api.headers, "If-None-Match": "no-quotes"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["If-None-Match"]


def test_if_none_match_is_a_404_for_a_referral_out_of_the_tokens_queues(make_token):
    (referral,) = submit("V01").referrals  # chiropractic
    podiatry = Api(make_token(queues=("podiatry",)).raw)
    response = podiatry.client.get(
        detail_path(referral), headers={**podiatry.headers, "If-None-Match": "*"}
    )
    assert response.status_code == 404
    assert "ETag" not in response.headers


def test_the_schema_documents_the_etag_and_if_none_match(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    read = schema["paths"]["/api/v1/referrals/{public_id}"]["get"]
    assert "If-None-Match" in [p["name"] for p in read["parameters"] if p["in"] == "header"]
    for code in ("200", "304"):
        assert "ETag" in read["responses"][code]["headers"], code
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/referrals/{public_id}/"):
            assert "ETag" in operations["post"]["responses"]["200"]["headers"], path
    listed = schema["paths"]["/api/v1/referrals"]["get"]["responses"]["200"]
    assert "ETag" not in listed.get("headers", {})
