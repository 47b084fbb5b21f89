"""``referral.urgency_changed``: an open referral's urgency told to subscribers when it changes,
written with the change (deliveries are read from the outbox: nothing listens at the address)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from referrals.admin_integrations import WebhookEndpointForm
from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.services import referral_claim, referral_contact, referral_override_urgency
from tests.clinic_fixtures import submit

URGENCY_CHANGED = WebhookEvent.REFERRAL_URGENCY_CHANGED


def _endpoint(*events: str, name: str = "Partner") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name=name, url="http://127.0.0.1:9/hook", secret="s", events=list(events)
    )


def _payloads(endpoint: WebhookEndpoint, event: str = URGENCY_CHANGED) -> list[dict[str, Any]]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, event_type=event)
    return [d.payload for d in deliveries.order_by("id")]


def test_the_endpoint_form_offers_the_event():
    choices = dict(WebhookEndpointForm().fields["events"].choices)
    assert choices[URGENCY_CHANGED] == "Referral urgency changed"


@pytest.mark.django_db
def test_an_override_is_told_once_with_both_urgencies_and_no_reason(chiropractor: User):
    endpoint = _endpoint(URGENCY_CHANGED)
    (referral,) = submit("V01").referrals
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="urgent", reason="Phoned: much worse."
    )
    (payload,) = _payloads(endpoint)
    assert payload["type"] == "referral.urgency_changed"
    assert payload["data"] == {
        "referral": {
            "id": str(referral.public_id),
            "queue": "chiropractic",
            "status": "new",
            "urgency": "urgent",
            "previous_urgency": "routine",
        },
        "intake": {"id": str(referral.intake.public_id), "reference": referral.intake.reference},
        "cause": "override",
    }
    assert "Phoned" not in str(payload)


@pytest.mark.django_db
def test_an_override_down_is_told_too(medical_reviewer: User):
    endpoint = _endpoint(URGENCY_CHANGED)
    (review,) = submit("V17").referrals  # urgent
    referral_override_urgency(
        referral=review, actor=medical_reviewer, urgency="routine", reason="Seen: healing."
    )
    (payload,) = _payloads(endpoint)
    referral = payload["data"]["referral"]
    assert (referral["previous_urgency"], referral["urgency"]) == ("urgent", "routine")


@pytest.mark.django_db
def test_an_override_that_rolls_back_is_never_told(chiropractor: User):
    endpoint = _endpoint(URGENCY_CHANGED)
    (referral,) = submit("V01").referrals
    inside: list[int] = []

    def override_then_fail() -> None:
        with transaction.atomic():
            referral_override_urgency(
                referral=referral, actor=chiropractor, urgency="emergency", reason="Phoned."
            )
            inside.append(len(_payloads(endpoint)))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        override_then_fail()
    assert inside == [1]
    assert _payloads(endpoint) == []


@pytest.mark.django_db
def test_an_endpoint_not_subscribed_hears_nothing_of_an_override(chiropractor: User):
    others = _endpoint(WebhookEvent.INTAKE_SUBMITTED, WebhookEvent.REFERRAL_STATUS_CHANGED)
    _endpoint(URGENCY_CHANGED, name="Paging")
    WebhookEndpoint.objects.filter(name="Paging").update(is_active=False)
    (referral,) = submit("V01").referrals
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="urgent", reason="Phoned."
    )
    assert not WebhookDelivery.objects.filter(event_type=URGENCY_CHANGED).exists()
    assert _payloads(others, WebhookEvent.REFERRAL_STATUS_CHANGED)  # its own events still go


@pytest.mark.django_db
def test_an_override_is_told_after_the_status_changes_before_it(chiropractor: User):
    endpoint = _endpoint(*WebhookEvent.values)
    (referral,) = submit("V01").referrals
    referral_claim(referral=referral, actor=chiropractor)
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="urgent", reason="Phoned."
    )
    referral_contact(referral=referral, actor=chiropractor)
    told = [
        (d.event_type, d.payload["data"]["referral"].get("status"), d.created_at)
        for d in WebhookDelivery.objects.filter(endpoint=endpoint)
        .exclude(event_type=WebhookEvent.INTAKE_SUBMITTED)
        .order_by("id")
    ]
    assert [t[:2] for t in told] == [
        (WebhookEvent.REFERRAL_STATUS_CHANGED, "new"),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, "claimed"),
        (URGENCY_CHANGED, "claimed"),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, "contacted"),
    ]
    # Receivers order by the payload's created_at.
    assert [t[2] for t in told] == sorted(t[2] for t in told)
