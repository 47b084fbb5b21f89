"""POST /referrals/{id}/refer-again: the case page's "Refer again", through the API."""

from __future__ import annotations

import pytest

from referrals.models import AuditEntry, EventKind, Referral, Scope, Status
from referrals.services import referral_decline
from tests.api.conftest import Api
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def declined(actor) -> Referral:
    (referral,) = submit("V01").referrals
    return referral_decline(referral=referral, actor=actor, reason="Seen elsewhere")


def path(referral: Referral) -> str:
    return f"/api/v1/referrals/{referral.public_id}/refer-again"


def test_refer_again_answers_with_the_new_referral_linked_to_the_closed_one(api, triage_lead):
    old = declined(triage_lead)
    response = api.post(path(old), {"reason": "Declined the wrong case"})
    assert response.status_code == 200
    body = response.json()
    new = Referral.objects.get(referred_again_from=old)
    assert body["id"] == str(new.public_id)
    assert (body["queue"], body["status"]) == ("chiropractic", "new")
    assert body["referred_again_from"] == str(old.public_id)
    assert body["rerouted_from"] is None
    assert body["due_at"] == api.get(f"/api/v1/referrals/{old.public_id}").json()["due_at"]
    assert [(e["kind"], e["reason"]) for e in body["events"]] == [
        (EventKind.CREATED, "Declined the wrong case")
    ]
    closed = api.get(f"/api/v1/referrals/{old.public_id}").json()
    assert closed["status"] == "declined"
    assert closed["referred_again_from"] is None
    assert closed["events"][-1]["kind"] == EventKind.REFERRED_AGAIN
    assert AuditEntry.objects.filter(action="refer_again", object_id=str(old.public_id)).exists()


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}])
def test_refer_again_needs_a_reason(api, triage_lead, body):
    old = declined(triage_lead)
    response = api.post(path(old), body)
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert Referral.objects.count() == 1


def test_refer_again_is_409_naming_the_patients_open_referral_in_the_queue(api, triage_lead):
    old = declined(triage_lead)
    (open_one,) = submit("V01").referrals
    response = api.post(path(old), {"reason": "Closed by mistake"})
    assert response.status_code == 409
    (message,) = response.json()["errors"]["non_field_errors"]
    assert "already has an open referral in Chiropractic" in message
    assert open_one.intake.reference in message


def test_refer_again_of_an_open_referral_is_409(api):
    (referral,) = submit("V01").referrals
    assert api.post(path(referral), {"reason": "x"}).status_code == 409
    referral.refresh_from_db()
    assert referral.status == Status.NEW


def test_refer_again_needs_the_write_scope(make_token, triage_lead):
    old = declined(triage_lead)
    reader = Api(make_token(Scope.REFERRALS_READ).raw)
    assert reader.post(path(old), {"reason": "x"}).status_code == 403
    assert Referral.objects.count() == 1


def test_refer_again_of_another_queues_referral_is_404(make_token, triage_lead):
    old = declined(triage_lead)
    feet = Api(make_token(Scope.REFERRALS_WRITE, Scope.REFERRALS_READ, queues=("podiatry",)).raw)
    assert feet.post(path(old), {"reason": "x"}).status_code == 404
    assert Referral.objects.count() == 1


def test_the_schema_documents_refer_again(api):
    schema = api.get("/api/schema/", format="json").json()
    operation = schema["paths"]["/api/v1/referrals/{public_id}/refer-again"]["post"]
    assert operation["operationId"] == "referral_refer_again"
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
