"""Spec §7's staff text goes with every webhook: a payload hands a case's urgencies and queues
to another system, so it carries ``staff_disclaimer`` naming the ruleset versions they come
from (docs/CLINICAL_DECISIONS.md, Patient texts 6). Read from the outbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.services import referral_claim, referral_override_urgency, referral_reroute
from referrals.tasks import announce_intake, announcement_of, stamp_red_flag_elsewhere
from tests.clinic_fixtures import details, submit

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
OLD, NOW = staff_disclaimer(ruleset_version="0.9.0"), staff_disclaimer(ruleset_version="1.0.0")
BOTH = staff_disclaimer(ruleset_version="0.9.0, 1.0.0")


@pytest.fixture
def endpoint(db: None) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )


def _told(endpoint: WebhookEndpoint) -> list[tuple[str, Any]]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id")
    return [(d.event_type, d.payload["data"]["staff_disclaimer"]) for d in deliveries]


def _triaged_by_an_older_ruleset(intake: Intake) -> None:
    Intake.objects.filter(pk=intake.pk).update(ruleset_version="0.9.0")


@pytest.mark.django_db
def test_every_event_names_the_ruleset_versions_of_the_cases_its_urgencies_come_from(
    settings, endpoint, django_capture_on_commit_callbacks
):
    """The first case opened the review under 0.9.0; the second (1.0.0) joined and raised it:
    what the second's events tell comes from both."""
    settings.TASKS = DATABASE_QUEUE  # the announcements wait while the first case is changed
    person = details(phone="07700 900123")
    chiropractic = submit("V01", patient=person)  # open in chiropractic
    first = submit("V17", patient=person)  # urgent medical review, urgent
    second = submit("V09", patient=person)  # joins the review and raises it to emergency
    _triaged_by_an_older_ruleset(first.intake)
    _triaged_by_an_older_ruleset(chiropractic.intake)
    # The chiropractic referral's creation is told before its red flag elsewhere (a referral
    # whose creation is still to be told is not told of it).
    announce_intake.call(chiropractic.intake.pk, *announcement_of(chiropractic.intake))
    announce_intake.call(second.intake.pk, *announcement_of(second.intake))
    # The second's red flag stamps the chiropractic referral the 0.9.0 case opened (the task
    # waits for the commit of the transaction it runs in: the test's).
    with django_capture_on_commit_callbacks(execute=True):
        stamp_red_flag_elsewhere.call(second.intake.patient_id, intake_id=second.intake.pk)
    assert _told(endpoint) == [
        (WebhookEvent.INTAKE_SUBMITTED, OLD),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, OLD),  # the chiropractic referral opened
        (WebhookEvent.INTAKE_SUBMITTED, OLD),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, OLD),  # the review opened
        (WebhookEvent.INTAKE_SUBMITTED, BOTH),
        (WebhookEvent.REFERRAL_URGENCY_CHANGED, BOTH),
        (WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED, BOTH),
    ]
    assert {event for event, _ in _told(endpoint)} == set(WebhookEvent.values)


def _shape(value: Any) -> Any:
    """The field names of a payload, nested (a list by its first item), without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


@pytest.mark.django_db
def test_the_api_guides_example_payloads_have_every_field_the_events_carry(
    settings, endpoint, django_capture_on_commit_callbacks
):
    settings.TASKS = DATABASE_QUEUE
    person = details(phone="07700 900123")
    chiropractic = submit("V01", patient=person)  # a referral for the red flag's stamp
    submit("V17", patient=person)
    later = submit("V09", patient=person)
    for case in (chiropractic, later):  # the referral told created, then its red flag
        announce_intake.call(case.intake.pk, *announcement_of(case.intake))
    with django_capture_on_commit_callbacks(execute=True):  # the stamp waits for a commit
        stamp_red_flag_elsewhere.call(later.intake.patient_id, intake_id=later.intake.pk)
    sent = {d.event_type: d.payload for d in WebhookDelivery.objects.filter(endpoint=endpoint)}
    guide = (Path(__file__).parents[2] / "docs" / "API.md").read_text()
    webhooks = guide.split("## 6. Webhooks", 1)[1].split("\n## ", 1)[0]
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", webhooks, re.S)]
    assert {example["type"] for example in examples} == set(WebhookEvent.values)
    for example in examples:
        assert _shape(example) == _shape(sent[example["type"]]), example["type"]
        assert example["data"]["staff_disclaimer"].startswith(NOW.split(" (version")[0])


@pytest.mark.django_db
def test_a_move_and_an_override_name_the_ruleset_of_the_case_that_opened_the_referral(
    endpoint, chiropractor: User
):
    (referral,) = submit("V01").referrals
    _triaged_by_an_older_ruleset(referral.intake)
    WebhookDelivery.objects.all().delete()
    referral_claim(referral=referral, actor=chiropractor)
    referral_override_urgency(referral=referral, actor=chiropractor, urgency="urgent", reason="x")
    assert _told(endpoint) == [
        (WebhookEvent.REFERRAL_STATUS_CHANGED, OLD),
        (WebhookEvent.REFERRAL_URGENCY_CHANGED, OLD),
    ]


@pytest.mark.django_db
def test_a_reroute_raising_a_referral_another_case_opened_names_both_cases_rulesets(
    endpoint, podiatrist: User, chiropractor: User
):
    person = details(phone="07700 900123")
    (chiro,) = submit("V01", patient=person).referrals  # chiropractic, routine
    (podiatry,) = submit("V21", patient=person).referrals  # podiatry, routine
    _triaged_by_an_older_ruleset(chiro.intake)
    referral_override_urgency(referral=podiatry, actor=podiatrist, urgency="urgent", reason="x")
    WebhookDelivery.objects.all().delete()
    joined = referral_reroute(
        referral=podiatry, actor=podiatrist, queue="chiropractic", reason="Back."
    )
    assert joined.pk == chiro.pk
    assert _told(endpoint) == [
        (WebhookEvent.REFERRAL_STATUS_CHANGED, NOW),  # the podiatry referral closed, rerouted
        (WebhookEvent.REFERRAL_URGENCY_CHANGED, BOTH),  # the chiropractic one raised
    ]


@pytest.mark.django_db
def test_a_case_triaged_now_is_told_with_the_ruleset_in_force(endpoint):
    submit("V15")  # chiropractic and podiatry
    assert _told(endpoint) == [
        (WebhookEvent.INTAKE_SUBMITTED, NOW),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, NOW),
        (WebhookEvent.REFERRAL_STATUS_CHANGED, NOW),
    ]
    assert "(version 1.0.0)" in NOW


def _statements_announcing_a_raise(phone: str) -> list[str]:
    person = details(phone=phone)
    submit("V17", patient=person)
    later = submit("V09", patient=person)
    with CaptureQueriesContext(connection) as queries:
        announce_intake.call(later.intake.pk, *announcement_of(later.intake))
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_the_staff_text_is_built_from_what_the_announcement_reads_already(settings):
    """The case's ruleset version is read with the case, each referral's with its opening case
    (``announce_intake``'s only() and select_related): a subscriber adds its deliveries only."""
    settings.TASKS = DATABASE_QUEUE
    unheard = _statements_announcing_a_raise("07700 900001")
    WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )
    heard = _statements_announcing_a_raise("07700 900002")
    added = len(heard) - len(unheard)
    inserts = [sql for sql in heard if sql.startswith('INSERT INTO "referrals_webhookdelivery"')]
    # Four events (the earlier case's two, announced first, and the raising case's two).
    assert added == len(inserts) == 4
