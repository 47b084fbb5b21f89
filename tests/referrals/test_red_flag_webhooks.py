"""``referral.red_flag_elsewhere_changed``: a patient's open chiropractic, podiatry and orthotic
fitting referrals told to subscribers when a red flag of the patient's comes or is cleared, with
their ``red_flag_elsewhere`` as it is then (docs/CLINICAL_DECISIONS.md, "Red-flag clearance and
reroutes" 7). A record system fed by webhooks, not polling the API's list, was never told that
the chiropractic patient it holds has a red flag standing on another case. Deliveries are read
from the outbox: nothing listens at the address."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intake.bulk import BulkSubmission, intake_submit_bulk
from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.admin_integrations import WebhookEndpointForm
from referrals.models import Referral, WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.red_flag_marks import red_flag_elsewhere_changed
from referrals.services import (
    intake_clear_red_flag,
    referral_cancel,
    referral_claim,
    referral_complete,
    referral_contact,
    referral_schedule,
)
from referrals.tasks import announce_intake, announcement_of, stamp_red_flag_elsewhere
from tests.clinic_fixtures import details, submit, worked_case

RED_FLAG_ELSEWHERE = WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED
STAFF_TEXT = staff_disclaimer(ruleset_version="1.0.0")  # spec §7, with every payload
SPECIALTY = {"chiropractic", "orthotic_fitting", "podiatry"}


def _endpoint(*events: str, name: str = "Partner") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name=name, url="http://127.0.0.1:9/hook", secret="s", events=list(events)
    )


def _payloads(endpoint: WebhookEndpoint, event: str = RED_FLAG_ELSEWHERE) -> list[dict[str, Any]]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, event_type=event)
    return [d.payload for d in deliveries.order_by("id")]


def _told(
    referrals: list[Referral], *, standing: bool, case: Intake, cause: str
) -> list[dict[str, Any]]:
    """The ``data`` each of ``referrals`` is told with (in the order of their ids), as they are
    stored now."""
    stored = Referral.objects.filter(pk__in=[r.pk for r in referrals]).order_by("id")
    return [
        {
            "referral": {
                "id": str(referral.public_id),
                "queue": referral.queue,
                "status": referral.status,
                "urgency": referral.urgency,
                "red_flag_elsewhere": standing,
            },
            "intake": {"id": str(case.public_id), "reference": case.reference},
            "cause": cause,
            "staff_disclaimer": STAFF_TEXT,
        }
        for referral in stored
    ]


def _specialty(referrals: list[Referral]) -> list[Referral]:
    return [r for r in referrals if r.queue in SPECIALTY]


def test_the_endpoint_form_offers_the_event():
    form = WebhookEndpointForm(data={"events": [RED_FLAG_ELSEWHERE]})
    form.is_valid()
    assert "events" not in form.errors
    assert form.cleaned_data["events"] == [RED_FLAG_ELSEWHERE]
    assert f'value="{RED_FLAG_ELSEWHERE}"' in str(form["events"])


@pytest.mark.django_db
def test_a_red_flag_announced_tells_each_open_specialty_referral_of_the_patient(
    chiropractor: User, podiatrist: User, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(RED_FLAG_ELSEWHERE)
    person = details(phone="07700 900401")
    three = submit("V22", patient=person).referrals  # chiropractic, orthotic fitting, podiatry
    submit("V24", patient=person)  # general review: not one of the three queues
    by_queue = {r.queue: r for r in three}
    referral_claim(referral=by_queue["chiropractic"], actor=chiropractor)
    referral_cancel(referral=by_queue["podiatry"], actor=podiatrist, reason="Moved away.")
    assert _payloads(endpoint) == []
    with django_capture_on_commit_callbacks(execute=True):  # the announcement, then its stamp
        red = submit("V09", patient=person)  # cauda equina
    told = _payloads(endpoint)
    open_ones = [by_queue["chiropractic"], by_queue["orthotic_fitting"]]  # not the cancelled
    assert [p["data"] for p in told] == _told(
        open_ones, standing=True, case=red.intake, cause="red_flag"
    )
    assert told[0]["data"]["referral"]["status"] == "claimed"
    assert {p["type"] for p in told} == {"referral.red_flag_elsewhere_changed"}
    assert len({p["id"] for p in told}) == 2  # an event each


@pytest.mark.django_db
def test_a_clearance_tells_false_when_no_other_red_flag_stands(medical_reviewer: User):
    endpoint = _endpoint(RED_FLAG_ELSEWHERE)
    person = details(phone="07700 900402")
    three = submit("V22", patient=person).referrals
    red = submit("V09", patient=person)  # its stamp waits for a commit that never comes here
    assert _payloads(endpoint) == []
    intake_clear_red_flag(
        intake=red.intake,
        actor=medical_reviewer,
        reason="Examined: no emergency.",
        release_queues=[],
    )
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        three, standing=False, case=red.intake, cause="clearance"
    )


@pytest.mark.django_db
def test_a_second_red_flag_and_its_clearance_tell_true_while_the_first_stands(
    medical_reviewer: User, django_capture_on_commit_callbacks
):
    """The event carries the value as it is, not a change: a second red flag while one stands
    tells true again, and clearing it leaves the first standing (its review completed by its
    work, its red flag not cleared), so still true."""
    endpoint = _endpoint(RED_FLAG_ELSEWHERE)
    person = details(phone="07700 900403")
    first = submit("V09", patient=person)
    (review,) = first.referrals
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        review = move(referral=review, actor=medical_reviewer)
    three = submit("V22", patient=person).referrals  # opened while the first red flag stands
    with django_capture_on_commit_callbacks(execute=True):
        second = submit("V17", patient=person)  # diabetic foot: a review of its own
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        three, standing=True, case=second.intake, cause="red_flag"
    )
    WebhookDelivery.objects.all().delete()

    intake_clear_red_flag(
        intake=second.intake, actor=medical_reviewer, reason="Seen: healing.", release_queues=[]
    )
    assert Intake.objects.get(pk=first.intake.pk).red_flag_cleared_at is None
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        three, standing=True, case=second.intake, cause="clearance"
    )


@pytest.mark.django_db
def test_a_clearance_releasing_a_specialty_queue_tells_the_released_referral_too(
    medical_reviewer: User,
):
    endpoint = _endpoint(RED_FLAG_ELSEWHERE, WebhookEvent.REFERRAL_STATUS_CHANGED)
    red = submit("V09", patient=details(phone="07700 900404"))
    (released,) = intake_clear_red_flag(
        intake=red.intake,
        actor=medical_reviewer,
        reason="Seen: no emergency.",
        release_queues=["chiropractic"],
    )
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        [released], standing=False, case=red.intake, cause="clearance"
    )
    # After its creation, in the same transaction.
    (created,) = [
        d
        for d in WebhookDelivery.objects.filter(event_type=WebhookEvent.REFERRAL_STATUS_CHANGED)
        if d.payload["data"]["referral"]["id"] == str(released.public_id)
    ]
    (told,) = WebhookDelivery.objects.filter(event_type=RED_FLAG_ELSEWHERE)
    assert created.pk < told.pk


@pytest.mark.django_db
def test_an_endpoint_not_subscribed_hears_nothing_of_it(
    medical_reviewer: User, django_capture_on_commit_callbacks
):
    others = _endpoint(*(event for event in WebhookEvent.values if event != RED_FLAG_ELSEWHERE))
    _endpoint(RED_FLAG_ELSEWHERE, name="Paging")
    WebhookEndpoint.objects.filter(name="Paging").update(is_active=False)
    subscriber = _endpoint(RED_FLAG_ELSEWHERE, name="Red flags")
    person = details(phone="07700 900405")
    submit("V22", patient=person)
    with django_capture_on_commit_callbacks(execute=True):
        red = submit("V09", patient=person)
    intake_clear_red_flag(
        intake=red.intake, actor=medical_reviewer, reason="Seen.", release_queues=[]
    )
    told = WebhookDelivery.objects.filter(event_type=RED_FLAG_ELSEWHERE)
    assert told.count() == 6  # three referrals, the red flag's stamp and the clearance's
    assert set(told.values_list("endpoint", flat=True)) == {subscriber.pk}
    assert _payloads(others, WebhookEvent.REFERRAL_STATUS_CHANGED)  # its own events still go


@pytest.mark.django_db
def test_generated_cases_tell_nothing_and_a_later_red_flag_tells_their_referrals(
    django_capture_on_commit_callbacks,
):
    """Generated cases are history (intake.bulk): a generated red flag stamps and sends
    nothing. The referrals they left open are real work: a submitted red flag tells them."""
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900406")
    intake_submit_bulk(
        submissions=[
            BulkSubmission(patient=person, answers=worked_case(case), submitted_at=timezone.now())
            for case in ("V22", "V09")
        ]
    )
    assert not WebhookDelivery.objects.exists()
    three = _specialty(list(Referral.objects.filter(patient__phone=person.phone)))
    assert len(three) == 3
    with django_capture_on_commit_callbacks(execute=True):
        red = submit("V17", patient=person)
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        three, standing=True, case=red.intake, cause="red_flag"
    )


@pytest.mark.django_db
def test_a_stamp_queued_before_it_named_its_case_names_the_red_flag_standing(
    django_capture_on_commit_callbacks,
):
    """A stamp task enqueued by an earlier version (its patient alone, and its retries) names
    the patient's latest case whose red flag stands."""
    endpoint = _endpoint(RED_FLAG_ELSEWHERE)
    person = details(phone="07700 900407")
    three = submit("V22", patient=person).referrals
    red = submit("V09", patient=person)
    with django_capture_on_commit_callbacks(execute=True):
        stamp_red_flag_elsewhere.call(red.intake.patient_id)
    assert [p["data"] for p in _payloads(endpoint)] == _told(
        three, standing=True, case=red.intake, cause="red_flag"
    )


def _statements(patient_id: int, case: Intake) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        red_flag_elsewhere_changed(
            patient_id, now=timezone.now(), cause="red_flag", case=lambda: case
        )
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_the_referrals_are_read_back_only_for_a_subscriber_in_one_statement():
    """The stamp is one read of the cases feeding the referrals still to announce (none here:
    announced) and one UPDATE. Nobody subscribing, it reads the subscribers (as each event
    does) and nothing more; a subscriber adds one read of the stamped referrals, with what
    the payloads need, and its deliveries. Nothing stamped, nothing more is read."""
    _endpoint(*(event for event in WebhookEvent.values if event != RED_FLAG_ELSEWHERE))
    person = details(phone="07700 900408")
    submit("V22", patient=person)
    red = submit("V09", patient=person)
    Intake.objects.update(announced_at=timezone.now())  # as the worker leaves them
    patient_id = red.intake.patient_id
    unheard = _statements(patient_id, red.intake)
    assert [sql.split()[0] for sql in unheard] == ["SELECT", "UPDATE", "SELECT"]
    assert '"referrals_referralintake"' in unheard[0]  # the cases still to announce
    assert '"referrals_webhookendpoint"' in unheard[2]

    _endpoint(RED_FLAG_ELSEWHERE, name="Red flags")
    heard = _statements(patient_id, red.intake)
    assert (heard[0], heard[2]) == (unheard[0], unheard[2])  # the UPDATE's time differs
    assert heard[1].startswith("UPDATE")
    (read_back, *inserts) = heard[3:]
    assert read_back.startswith("SELECT")
    assert '"referrals_referral"' in read_back
    assert len(inserts) == 3
    assert all(sql.startswith('INSERT INTO "referrals_webhookdelivery"') for sql in inserts)

    alone = submit("V09", patient=details(phone="07700 900409"))  # no specialty referral
    assert [sql.split()[0] for sql in _statements(alone.intake.patient_id, alone.intake)] == [
        "SELECT",
        "UPDATE",
    ]


@pytest.mark.django_db
def test_a_referral_whose_creation_is_untold_is_told_created_before_its_red_flag(
    settings, django_capture_on_commit_callbacks
):
    """A subscriber hears of a referral's creation before any change to it (docs/API.md §6).
    The stamp told the chiropractic referral of a case the worker had not announced yet (a
    backlog, a lost announcement) its red flag elsewhere first (a review); then it left it to
    the creation, which a clearance could overtake (below). It now announces the case first,
    as a status move does: its intake.submitted and creations, then the stamp's event."""
    endpoint = _endpoint(*WebhookEvent.values)
    person = details(phone="07700 900499")
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    first = submit("V22", patient=person)  # its announcement queued, not run
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        red = submit("V09", patient=person)  # announced, then its stamp
    assert Intake.objects.get(pk=first.intake.pk).announced_at is not None  # by the stamp
    chiropractic = next(r for r in first.referrals if r.queue == "chiropractic")
    assert Referral.objects.get(pk=chiropractic.pk).updated_at > chiropractic.updated_at

    def told(referral: Referral) -> list[tuple[str, bool]]:
        return [
            (d.event_type, d.payload["data"]["referral"]["red_flag_elsewhere"])
            for d in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id")
            if d.payload["data"].get("referral", {}).get("id") == str(referral.public_id)
        ]

    assert told(chiropractic) == [
        (WebhookEvent.REFERRAL_STATUS_CHANGED, True),  # created, as it is told then
        (RED_FLAG_ELSEWHERE, True),
    ]
    submitted = [
        d.payload["data"]["intake"]["reference"]
        for d in WebhookDelivery.objects.filter(event_type=WebhookEvent.INTAKE_SUBMITTED).order_by(
            "id"
        )
    ]
    assert submitted == [red.intake.reference, first.intake.reference]  # each once
    announce_intake.call(first.intake.pk, *announcement_of(first.intake))  # the queued task
    assert len(told(chiropractic)) == 2  # finds it announced


def _referrals_told(endpoint: WebhookEndpoint, event: str) -> dict[str, list[tuple[Any, ...]]]:
    """By queue, each ``event`` told: (status, previous status, red_flag_elsewhere)."""
    told: dict[str, list[tuple[Any, ...]]] = {}
    for payload in _payloads(endpoint, event):
        referral = payload["data"]["referral"]
        told.setdefault(referral["queue"], []).append(
            (referral["status"], referral.get("previous_status"), referral["red_flag_elsewhere"])
        )
    return told


@pytest.mark.django_db
def test_a_referral_opened_while_a_red_flag_stands_is_told_so_with_its_creation(
    chiropractor: User, podiatrist: User, medical_reviewer: User, django_capture_on_commit_callbacks
):
    """Every referral a payload carries says its ``red_flag_elsewhere``, as the API reads it
    then: a referral opened while a red flag stands had no event saying so (the stamp tells
    only those open when a red flag comes or is cleared), and a receiver fed by webhooks held
    a chiropractic referral with nothing to check first. Its creation says so now, as do its
    status changes and its case's ``intake.submitted``; a closed one, or one of another queue,
    says false, as the API's list does."""
    endpoint = _endpoint(
        WebhookEvent.INTAKE_SUBMITTED,
        WebhookEvent.REFERRAL_STATUS_CHANGED,
        WebhookEvent.REFERRAL_URGENCY_CHANGED,
    )
    person = details(phone="07700 900410")
    with django_capture_on_commit_callbacks(execute=True):
        red = submit("V09", patient=person)
    (review,) = red.referrals
    assert _referrals_told(endpoint, WebhookEvent.REFERRAL_STATUS_CHANGED) == {
        "urgent_medical_review": [("new", None, False)]  # not one of the three queues
    }
    WebhookDelivery.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        later = submit("V22", patient=person)  # opened while the red flag stands
    (submitted,) = _payloads(endpoint, WebhookEvent.INTAKE_SUBMITTED)
    assert {r["queue"]: r["red_flag_elsewhere"] for r in submitted["data"]["referrals"]} == {
        "chiropractic": True,
        "orthotic_fitting": True,
        "podiatry": True,
    }
    assert _referrals_told(endpoint, WebhookEvent.REFERRAL_STATUS_CHANGED) == {
        queue: [("new", None, True)] for queue in SPECIALTY
    }
    WebhookDelivery.objects.all().delete()

    by_queue = {r.queue: r for r in later.referrals}
    with django_capture_on_commit_callbacks(execute=True):
        referral_claim(referral=by_queue["chiropractic"], actor=chiropractor)
        referral_cancel(referral=by_queue["podiatry"], actor=podiatrist, reason="Moved away.")
        referral_claim(referral=review, actor=medical_reviewer)
    assert _referrals_told(endpoint, WebhookEvent.REFERRAL_STATUS_CHANGED) == {
        "chiropractic": [("claimed", "new", True)],
        "podiatry": [("cancelled", "new", False)],  # closed: nothing to check before treating
        "urgent_medical_review": [("claimed", "new", False)],
    }
    WebhookDelivery.objects.all().delete()

    intake_clear_red_flag(
        intake=red.intake, actor=medical_reviewer, reason="Examined.", release_queues=[]
    )
    with django_capture_on_commit_callbacks(execute=True):
        referral_contact(referral=by_queue["chiropractic"], actor=chiropractor)
    assert _referrals_told(endpoint, WebhookEvent.REFERRAL_STATUS_CHANGED) == {
        "urgent_medical_review": [("completed", "claimed", False)],  # by the clearance
        "chiropractic": [("contacted", "claimed", False)],  # cleared
    }


@pytest.mark.django_db
def test_a_case_s_new_referrals_read_the_red_flags_standing_once(
    django_capture_on_commit_callbacks,
):
    """The red flags standing are read once for all the referrals a case opens, only when
    someone subscribes, and not at all for a case whose referrals none can concern."""
    _endpoint(WebhookEvent.REFERRAL_STATUS_CHANGED)

    def reads(case: str, phone: str) -> int:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            submit(case, patient=details(phone=phone))
        return sum(
            'SELECT DISTINCT "intake_intake"."patient_id"' in q["sql"]
            for q in queries.captured_queries
        )

    assert reads("V22", "07700 900411") == 1  # three specialty referrals, one read
    assert reads("V24", "07700 900412") == 0  # general review only


@pytest.mark.django_db
def test_an_announcement_reads_the_red_flags_standing_once_for_all_its_events(
    django_capture_on_commit_callbacks,
):
    """A subscriber to both a case's intake.submitted and its referrals' creations: the
    announcement told both from one read of the red flags standing (the same patient, the same
    transaction), not one for each event."""
    _endpoint(WebhookEvent.INTAKE_SUBMITTED, WebhookEvent.REFERRAL_STATUS_CHANGED)
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        submit("V22", patient=details(phone="07700 900413"))  # three specialty referrals
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if 'SELECT DISTINCT "intake_intake"."patient_id"' in q["sql"]
    ]
    assert len(reads) == 1
