"""``referral.urgency_changed``: an open referral's urgency told to subscribers when it changes,
written with the change (deliveries are read from the outbox: nothing listens at the address)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from intake.bulk import BulkSubmission, intake_submit_bulk
from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.admin_integrations import WebhookEndpointForm
from referrals.models import Referral, WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.services import (
    referral_claim,
    referral_contact,
    referral_override_urgency,
    referral_reroute,
)
from referrals.tasks import announce_intake, announcement_of
from tests.clinic_fixtures import details, submit, worked_case

URGENCY_CHANGED = WebhookEvent.REFERRAL_URGENCY_CHANGED
STATUS_CHANGED = WebhookEvent.REFERRAL_STATUS_CHANGED
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
STAFF_TEXT = staff_disclaimer(ruleset_version="1.0.0")  # spec §7, with every payload


def _endpoint(*events: str, name: str = "Partner") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name=name, url="http://127.0.0.1:9/hook", secret="s", events=list(events)
    )


def _payloads(endpoint: WebhookEndpoint, event: str = URGENCY_CHANGED) -> list[dict[str, Any]]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, event_type=event)
    return [d.payload for d in deliveries.order_by("id")]


def test_the_endpoint_form_offers_the_event():
    form = WebhookEndpointForm(data={"events": [URGENCY_CHANGED]})
    form.is_valid()
    assert "events" not in form.errors
    assert form.cleaned_data["events"] == [URGENCY_CHANGED]
    assert f'value="{URGENCY_CHANGED}"' in str(form["events"])


def test_the_api_guide_documents_every_event_an_endpoint_can_subscribe_to():
    guide = (Path(__file__).parents[2] / "docs" / "API.md").read_text()
    webhooks = guide.split("## 6. Webhooks", 1)[1].split("\n## ", 1)[0]
    (subscribe,) = re.findall(r"the events you want: (.*?)\.\n", webhooks, re.DOTALL)
    assert set(re.findall(r"`([a-z_]+\.[a-z_]+)`", subscribe)) == set(WebhookEvent.values)
    for event in WebhookEvent.values:
        assert f'"type": "{event}"' in webhooks  # an example payload
    assert "poll" not in webhooks


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
            "red_flag_elsewhere": False,
            "previous_urgency": "routine",
        },
        "intake": {"id": str(referral.intake.public_id), "reference": referral.intake.reference},
        "cause": "override",
        "staff_disclaimer": STAFF_TEXT,
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


# --- a later submission joining an open referral ---------------------------------------------


@pytest.mark.django_db
def test_a_submission_that_raises_an_open_referral_is_told_once_naming_the_case():
    endpoint = _endpoint(URGENCY_CHANGED)
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals  # urgent medical review, urgent
    later = submit("V09", patient=person)  # an emergency: joins the review and raises it
    assert later.referrals[0].pk == review.pk
    (payload,) = _payloads(endpoint)
    assert payload["data"] == {
        "referral": {
            "id": str(review.public_id),
            "queue": "urgent_medical_review",
            "status": "new",
            "urgency": "emergency",
            "red_flag_elsewhere": False,  # not a specialty queue
            "previous_urgency": "urgent",
        },
        "intake": {"id": str(later.intake.public_id), "reference": later.intake.reference},
        "cause": "submission",
        "staff_disclaimer": STAFF_TEXT,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("first", "then"), [("V09", "V09"), ("V09", "V17"), ("V01", "V01")])
def test_a_submission_joining_at_the_same_or_a_lower_urgency_tells_nothing(first, then):
    endpoint = _endpoint(URGENCY_CHANGED)
    person = details(phone="07700 900123")
    (referral,) = submit(first, patient=person).referrals
    joined = submit(then, patient=person)
    assert joined.referrals[0].pk == referral.pk
    assert Referral.objects.get(pk=referral.pk).urgency == referral.urgency  # never lowered
    assert _payloads(endpoint) == []


@pytest.mark.django_db
def test_a_raising_submission_that_rolls_back_tells_nothing():
    endpoint = _endpoint(URGENCY_CHANGED)
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals

    def submit_then_fail() -> None:
        with transaction.atomic():
            submit("V09", patient=person)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        submit_then_fail()
    assert Referral.objects.get(pk=review.pk).urgency == "urgent"
    assert _payloads(endpoint) == []


@pytest.mark.django_db
def test_an_endpoint_not_subscribed_hears_nothing_of_a_raise():
    others = _endpoint(WebhookEvent.INTAKE_SUBMITTED, STATUS_CHANGED)
    person = details(phone="07700 900123")
    submit("V17", patient=person)
    submit("V09", patient=person)
    assert not WebhookDelivery.objects.filter(event_type=URGENCY_CHANGED).exists()
    assert len(_payloads(others, WebhookEvent.INTAKE_SUBMITTED)) == 2


def _told(endpoint: WebhookEndpoint) -> list[tuple[str, str]]:
    """(event, what it tells) in the order recorded."""
    told = []
    for delivery in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id"):
        data = delivery.payload["data"]
        if delivery.event_type == WebhookEvent.INTAKE_SUBMITTED:
            what = data["intake"]["reference"]
        elif delivery.event_type == STATUS_CHANGED:
            what = f"{data['referral']['previous_status']}->{data['referral']['status']}"
        else:
            what = f"{data['referral']['previous_urgency']}->{data['referral']['urgency']}"
        told.append((delivery.event_type, what))
    return told


@pytest.mark.django_db
def test_a_raise_told_by_the_worker_before_the_earlier_cases_announcement_waits_for_it(
    settings,
):
    """The worker may run the later case's announcement first: the referral's creation, by the
    earlier case, is still told before its raise."""
    settings.TASKS = DATABASE_QUEUE  # the announcements wait in the queue
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900123")
    first = submit("V17", patient=person)
    second = submit("V09", patient=person)
    assert announce_intake.call(second.intake.pk, *announcement_of(second.intake)) == 1
    assert _told(endpoint) == [
        (WebhookEvent.INTAKE_SUBMITTED, first.intake.reference),
        (STATUS_CHANGED, "None->new"),
        (WebhookEvent.INTAKE_SUBMITTED, second.intake.reference),
        (URGENCY_CHANGED, "urgent->emergency"),
    ]
    created, raised = (
        d.payload["data"]
        for d in WebhookDelivery.objects.filter(
            endpoint=endpoint, event_type__in=[STATUS_CHANGED, URGENCY_CHANGED]
        ).order_by("id")
    )
    # Told as created, urgent, though the worker reached it after the raise.
    assert created["referral"]["urgency"] == raised["referral"]["previous_urgency"] == "urgent"
    (first_told,) = _payloads(endpoint, WebhookEvent.INTAKE_SUBMITTED)[:1]
    assert first_told["data"]["referrals"][0]["urgency"] == "urgent"
    # The first's own task, run later, finds it told.
    assert announce_intake.call(first.intake.pk, *announcement_of(first.intake)) == 0
    assert len(_told(endpoint)) == 4


@pytest.mark.django_db
def test_a_raise_the_worker_has_not_told_is_told_before_a_later_move(
    settings, medical_reviewer: User
):
    settings.TASKS = DATABASE_QUEUE
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals
    second = submit("V09", patient=person)
    referral_claim(referral=review, actor=medical_reviewer)
    referral_override_urgency(
        referral=review, actor=medical_reviewer, urgency="urgent", reason="Seen: not so bad."
    )
    assert [event for event, _ in _told(endpoint)] == [
        WebhookEvent.INTAKE_SUBMITTED,
        STATUS_CHANGED,
        WebhookEvent.INTAKE_SUBMITTED,
        URGENCY_CHANGED,
        STATUS_CHANGED,
        URGENCY_CHANGED,
    ]
    raised, overridden = _payloads(endpoint)
    assert (raised["data"]["cause"], raised["data"]["intake"]["reference"]) == (
        "submission",
        second.intake.reference,
    )
    assert raised["data"]["referral"]["urgency"] == "emergency"
    assert overridden["data"]["cause"] == "override"
    assert overridden["data"]["referral"]["previous_urgency"] == "emergency"
    assert Intake.objects.filter(announced_at=None).count() == 0


@pytest.mark.django_db
def test_a_raise_told_late_names_the_urgency_it_raised_to_not_a_later_one(
    settings, medical_reviewer: User
):
    """Two raises of one referral before the worker ran: each is told as it was."""
    settings.TASKS = DATABASE_QUEUE
    endpoint = _endpoint(URGENCY_CHANGED)
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals
    referral_override_urgency(
        referral=review, actor=medical_reviewer, urgency="routine", reason="Seen: healing."
    )
    second = submit("V17", patient=person)  # raises it back to urgent
    third = submit("V09", patient=person)  # and this one to emergency
    for case in (second, third):
        announce_intake.call(case.intake.pk, *announcement_of(case.intake))
    told = [
        (p["data"]["cause"], p["data"]["intake"]["reference"], p["data"]["referral"]["urgency"])
        for p in _payloads(endpoint)
    ]
    assert told == [
        ("override", review.intake.reference, "routine"),
        ("submission", second.intake.reference, "urgent"),
        ("submission", third.intake.reference, "emergency"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("later_first", [True, False])
def test_a_case_joining_without_a_raise_is_told_with_the_urgency_it_left_not_a_later_raise(
    settings, later_first
):
    """A case joins an open referral at its urgency; a later case raises it before the worker
    has announced the first: the first's intake.submitted shows the referral as the first left
    it (urgent), and the raise is told after it, from urgent, whichever task the worker runs
    first."""
    settings.TASKS = DATABASE_QUEUE
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900123")
    first = submit("V17", patient=person)
    announce_intake.call(first.intake.pk, *announcement_of(first.intake))
    joined = submit("V17", patient=person)  # joins at urgent: no raise
    raising = submit("V09", patient=person)  # raises it to emergency
    (review,) = first.referrals
    assert joined.referrals[0].pk == raising.referrals[0].pk == review.pk
    order = (raising, joined) if later_first else (joined, raising)
    for case in order:
        announce_intake.call(case.intake.pk, *announcement_of(case.intake))
    assert _told(endpoint)[2:] == [
        (WebhookEvent.INTAKE_SUBMITTED, joined.intake.reference),
        (WebhookEvent.INTAKE_SUBMITTED, raising.intake.reference),
        (URGENCY_CHANGED, "urgent->emergency"),
    ]
    submitted = {
        p["data"]["intake"]["reference"]: p["data"]["referrals"][0]["urgency"]
        for p in _payloads(endpoint, WebhookEvent.INTAKE_SUBMITTED)
    }
    assert submitted == {
        first.intake.reference: "urgent",
        joined.intake.reference: "urgent",
        raising.intake.reference: "emergency",
    }


# --- a reroute joining an open referral ---------------------------------------------------------


@pytest.mark.django_db
def test_a_reroute_that_raises_the_open_referral_it_joins_is_told_once(chiropractor: User):
    endpoint = _endpoint(URGENCY_CHANGED)
    case = submit("V15")  # chiropractic and podiatry, routine
    chiro, podiatry = sorted(case.referrals, key=lambda r: r.queue)
    referral_override_urgency(
        referral=chiro, actor=chiropractor, urgency="urgent", reason="Phoned: worse."
    )
    new = referral_reroute(referral=chiro, actor=chiropractor, queue="podiatry", reason="Feet.")
    assert new.pk == podiatry.pk
    overridden, rerouted = _payloads(endpoint)
    assert overridden["data"]["cause"] == "override"
    assert rerouted["data"] == {
        "referral": {
            "id": str(podiatry.public_id),
            "queue": "podiatry",
            "status": "new",
            "urgency": "urgent",
            "red_flag_elsewhere": False,
            "previous_urgency": "routine",
        },
        "intake": {"id": str(case.intake.public_id), "reference": case.intake.reference},
        "cause": "reroute",
        "staff_disclaimer": STAFF_TEXT,
    }
    assert "Feet" not in str(rerouted)


@pytest.mark.django_db
def test_a_reroute_joining_at_the_same_urgency_tells_nothing(chiropractor: User):
    endpoint = _endpoint(URGENCY_CHANGED)
    case = submit("V15")
    chiro = next(r for r in case.referrals if r.queue == "chiropractic")
    referral_reroute(referral=chiro, actor=chiropractor, queue="podiatry", reason="Feet.")
    assert _payloads(endpoint) == []


@pytest.mark.django_db
def test_a_reroute_tells_the_joined_referrals_creation_before_raising_it(
    settings, chiropractor: User
):
    """The referral it joins came from a case the worker has not announced yet."""
    settings.TASKS = DATABASE_QUEUE
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900123")
    (chiro,) = submit("V01", patient=person).referrals
    referral_override_urgency(
        referral=chiro, actor=chiropractor, urgency="urgent", reason="Phoned: worse."
    )
    feet = submit("V11", patient=person)  # orthotic fitting and podiatry: waits for the worker
    referral_reroute(referral=chiro, actor=chiropractor, queue="podiatry", reason="Feet.")
    assert _told(endpoint)[3:] == [
        (WebhookEvent.INTAKE_SUBMITTED, feet.intake.reference),
        (STATUS_CHANGED, "None->new"),
        (STATUS_CHANGED, "None->new"),
        (STATUS_CHANGED, "new->rerouted"),
        (URGENCY_CHANGED, "routine->urgent"),
    ]


# --- generated history ------------------------------------------------------------------------


@pytest.mark.django_db
def test_generated_cases_that_raise_a_stored_referral_tell_nothing():
    """Generated cases are history (intake.bulk): announced as they are written, with no
    webhooks, and so is a raise they make."""
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals
    before = WebhookDelivery.objects.count()
    intake_submit_bulk(
        submissions=[
            BulkSubmission(
                patient=person,
                answers=worked_case("V09"),
                submitted_at=timezone.now(),
                may_be_stored=True,
            )
        ]
    )
    assert Referral.objects.get(pk=review.pk).urgency == "emergency"
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == before
