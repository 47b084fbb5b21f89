"""Refer again: a referral completed, declined or cancelled by mistake puts the case back in its
queue as a new referral, linked to the closed one, which stays as it was (found in a QA round
of the staff pages: the only remedy was asking the patient to fill in the form again).
docs/CLINICAL_DECISIONS.md (Referring again)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from intake.models import Urgency
from referrals.errors import QueueNotAllowed, ReasonRequired, TransitionNotAllowed
from referrals.models import (
    EventKind,
    Queue,
    Referral,
    ReferralIntake,
    Status,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    referral_priority,
)
from referrals.services import (
    intake_clear_red_flag,
    referral_cancel,
    referral_claim,
    referral_complete,
    referral_contact,
    referral_decline,
    referral_due_at,
    referral_mark_entered_in_error,
    referral_override_urgency,
    referral_refer_again,
    referral_reroute,
    referral_schedule,
)
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def declined(actor, case: str = "V01", **kwargs) -> Referral:
    (referral,) = submit(case, **kwargs).referrals
    return referral_decline(referral=referral, actor=actor, reason="Seen elsewhere")


def completed(referral: Referral, actor) -> Referral:
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        referral = move(referral=referral, actor=actor)
    return referral


# --- the service ---------------------------------------------------------------------------------


def test_a_declined_referral_referred_again_makes_a_new_linked_referral_and_leaves_it_as_it_was(
    chiropractor, second_chiropractor
):
    old = declined(chiropractor)
    before = Referral.objects.values().get(pk=old.pk)
    new = referral_refer_again(
        referral=old, actor=second_chiropractor, reason="Declined the wrong patient's referral"
    )
    assert new.pk != old.pk
    assert (new.patient_id, new.intake_id, new.queue) == (old.patient_id, old.intake_id, old.queue)
    assert (new.status, new.assigned_to, new.closed_at) == (Status.NEW, None, None)
    assert new.referred_again_from == old
    assert new.rerouted_from is None
    assert new.note == old.note
    assert new.created_by == second_chiropractor
    # The closed referral: every column as it was, and one event more.
    assert Referral.objects.values().get(pk=old.pk) == before
    again = old.events.get(kind=EventKind.REFERRED_AGAIN)
    assert (again.actor, again.reason) == (
        second_chiropractor,
        "Declined the wrong patient's referral",
    )
    assert again.data == {"as": str(new.public_id)}
    (created,) = new.events.all()
    assert (created.kind, created.actor, created.to_status) == (
        EventKind.CREATED,
        second_chiropractor,
        Status.NEW,
    )
    assert created.reason == "Declined the wrong patient's referral"
    assert created.data["again_from"] == str(old.public_id)
    assert created.data["closed_as"] == Status.DECLINED
    # Every case that fed the closed referral feeds the new one.
    assert set(ReferralIntake.objects.filter(referral=new).values_list("intake_id", flat=True)) == {
        old.intake_id
    }


@pytest.mark.parametrize("close", ["complete", "decline", "cancel"])
def test_a_completed_declined_or_cancelled_referral_may_be_referred_again(close, chiropractor):
    (referral,) = submit("V01").referrals
    if close == "complete":
        referral = completed(referral, chiropractor)
    elif close == "decline":
        referral = referral_decline(referral=referral, actor=chiropractor, reason="Wrong one")
    else:
        referral = referral_cancel(referral=referral, actor=chiropractor, reason="Wrong one")
    new = referral_refer_again(referral=referral, actor=chiropractor, reason="Closed by mistake")
    assert new.status == Status.NEW
    assert new.referred_again_from_id == referral.pk


@pytest.mark.parametrize("reason", ["", "   "])
def test_referring_again_needs_a_reason(reason, chiropractor):
    old = declined(chiropractor)
    with pytest.raises(ReasonRequired):
        referral_refer_again(referral=old, actor=chiropractor, reason=reason)
    assert Referral.objects.count() == 1
    assert not old.events.filter(kind=EventKind.REFERRED_AGAIN).exists()


def test_referring_again_is_refused_while_the_patient_has_an_open_referral_in_that_queue(
    chiropractor,
):
    old = declined(chiropractor)
    # The patient filled in the form again meanwhile: its referral is the open one.
    (open_one,) = submit("V01").referrals
    assert open_one.pk != old.pk
    with pytest.raises(TransitionNotAllowed) as refused:
        referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    message = refused.value.message
    assert "already has an open referral in Chiropractic" in message
    assert open_one.intake.reference in message
    assert "New (proposed)" in message
    assert Referral.objects.count() == 2
    assert not old.events.filter(kind=EventKind.REFERRED_AGAIN).exists()


def test_a_referral_referred_again_once_is_not_referred_again_a_second_time(
    chiropractor, second_chiropractor
):
    old = declined(chiropractor)
    new = referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    referral_decline(referral=new, actor=chiropractor, reason="Seen elsewhere after all")
    with pytest.raises(TransitionNotAllowed, match="was already referred again"):
        referral_refer_again(referral=old, actor=second_chiropractor, reason="Again")
    with pytest.raises(TransitionNotAllowed, match="You referred this referral again already"):
        referral_refer_again(referral=old, actor=chiropractor, reason="Again")
    # The case goes on from the latest: that one may be referred again.
    latest = referral_refer_again(referral=new, actor=chiropractor, reason="Wrong again")
    assert latest.referred_again_from_id == new.pk


def test_an_open_referral_is_not_referred_again(chiropractor):
    (referral,) = submit("V01").referrals
    with pytest.raises(TransitionNotAllowed, match="Only a completed, declined or cancelled"):
        referral_refer_again(referral=referral, actor=chiropractor, reason="x")


def test_a_rerouted_referral_is_not_referred_again(chiropractor):
    (referral,) = submit("V01").referrals
    referral_reroute(referral=referral, actor=chiropractor, queue="podiatry", reason="Feet")
    with pytest.raises(TransitionNotAllowed, match="rerouted to Podiatry"):
        referral_refer_again(referral=referral, actor=chiropractor, reason="Back to me")
    assert Referral.objects.count() == 2


def test_a_referral_rerouted_into_one_that_came_from_elsewhere_names_where_it_went(triage_lead):
    """Rerouted into the patient's open podiatry referral, which had come from general review:
    the refusal said "rerouted: the case went on there", naming no queue."""
    (referral,) = submit("V01").referrals
    (feet,) = submit("V21").referrals  # the same patient, in podiatry
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    referral_reroute(referral=review, actor=triage_lead, queue="podiatry", reason="Feet")
    referral_reroute(referral=referral, actor=triage_lead, queue="podiatry", reason="Heel")
    with pytest.raises(TransitionNotAllowed, match="rerouted to Podiatry"):
        referral_refer_again(referral=referral, actor=triage_lead, reason="Back to me")


def test_a_referral_entered_in_error_is_not_referred_again(chiropractor):
    old = declined(chiropractor)
    referral_mark_entered_in_error(referral=old, actor=chiropractor, reason="Wrong patient")
    with pytest.raises(TransitionNotAllowed, match="entered in error"):
        referral_refer_again(referral=old, actor=chiropractor, reason="x")
    assert Referral.objects.count() == 1


def test_another_queues_staff_may_not_refer_again(chiropractor, podiatrist):
    old = declined(chiropractor)
    with pytest.raises(QueueNotAllowed):
        referral_refer_again(referral=old, actor=podiatrist, reason="x")
    assert Referral.objects.count() == 1


def test_a_specialty_referral_is_not_made_again_while_a_red_flag_of_the_patient_stands(
    chiropractor,
):
    old = declined(chiropractor)
    red = submit("V09")  # the same patient, now with a red flag under review
    with pytest.raises(TransitionNotAllowed) as refused:
        referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    assert red.intake.reference in refused.value.message
    assert "urgent medical review" in refused.value.message
    assert Referral.objects.filter(queue=Queue.CHIROPRACTIC).count() == 1


def test_an_urgent_medical_review_referred_again_stays_a_review_its_red_flag_standing(
    medical_reviewer,
):
    submission = submit("V09")
    (review,) = submission.referrals
    # Lowered by a clinician, then cancelled by mistake: the red flag still stands.
    review = referral_override_urgency(
        referral=review, actor=medical_reviewer, urgency="routine", reason="Phoned: settled"
    )
    review = referral_cancel(referral=review, actor=medical_reviewer, reason="Wrong case")
    again = referral_refer_again(
        referral=review, actor=medical_reviewer, reason="Cancelled by mistake"
    )
    intake = submission.intake
    assert again.queue == Queue.URGENT_MEDICAL_REVIEW
    assert again.red_flag_count == intake.red_flag_count > 0
    assert again.leaves_by_clearance
    # Never below the standing red flag's urgency.
    assert again.urgency == intake.urgency
    assert again.priority == referral_priority(intake.urgency, intake.red_flag_count)
    assert again.suggested_after_clearance == review.suggested_after_clearance
    with pytest.raises(TransitionNotAllowed, match="red flag"):
        referral_reroute(referral=again, actor=medical_reviewer, queue="podiatry", reason="x")
    # It is the case's open review: the red flag is cleared through it.
    released = intake_clear_red_flag(intake=intake, actor=medical_reviewer, reason="Examined")
    assert [r.queue for r in released] == ["chiropractic"]
    again.refresh_from_db()
    assert again.status == Status.COMPLETED


# --- urgency, due time, priority, note (docs/CLINICAL_DECISIONS.md) -----------------------------


def test_the_new_referral_keeps_the_closed_ones_urgency_and_note_and_ranks_by_them(chiropractor):
    (referral,) = submit("V01").referrals
    referral = referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="urgent", reason="Worse on the phone"
    )
    referral = referral_decline(referral=referral, actor=chiropractor, reason="Wrong one")
    new = referral_refer_again(referral=referral, actor=chiropractor, reason="Closed by mistake")
    assert new.urgency == Urgency.URGENT
    assert new.priority == referral.priority == referral_priority("urgent", 0)
    assert new.note == referral.note


def test_a_referral_referred_again_keeps_its_due_time_and_waits_from_when_the_case_first_waited(
    chiropractor,
):
    """A patient dropped by mistake waits no longer for it: the due time is the closed
    referral's (here past, so the new one is overdue at once), not five working days from now."""
    came_in = timezone.now() - dt.timedelta(days=10)
    (referral,) = submit("V01").referrals
    Referral.objects.filter(pk=referral.pk).update(
        created_at=came_in, due_at=referral_due_at("routine", came_in)
    )
    referral.refresh_from_db()
    old = referral_decline(referral=referral, actor=chiropractor, reason="Wrong one")
    new = referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    assert new.due_at == old.due_at < timezone.now()
    assert new.waits_since == came_in
    assert new.overdue_at is None  # the escalation job marks it, and tells the lead, at once


def test_a_due_time_still_ahead_is_kept_too(chiropractor):
    old = declined(chiropractor)
    new = referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    assert new.due_at == old.due_at
    assert new.due_at <= referral_due_at(new.urgency, timezone.now())


def test_the_due_time_follows_a_raise_to_the_standing_red_flags_urgency(medical_reviewer):
    submission = submit("V09")
    (review,) = submission.referrals
    came_in = timezone.now() - dt.timedelta(days=3)
    # A review lowered to routine, due in five working days, then cancelled by mistake.
    review = referral_override_urgency(
        referral=review, actor=medical_reviewer, urgency="routine", reason="Phoned: settled"
    )
    Referral.objects.filter(pk=review.pk).update(
        created_at=came_in, due_at=referral_due_at("routine", came_in)
    )
    review = referral_cancel(referral=review, actor=medical_reviewer, reason="Wrong case")
    again = referral_refer_again(referral=review, actor=medical_reviewer, reason="By mistake")
    assert again.urgency == submission.intake.urgency
    assert again.due_at == referral_due_at(submission.intake.urgency, came_in)
    assert again.due_at < review.due_at


def test_an_erased_patients_referral_is_not_referred_again(chiropractor):
    from intake.privacy import patient_erase

    old = declined(chiropractor)
    patient_erase(public_id=old.patient.public_id, actor=chiropractor, reason="Asked by email")
    with pytest.raises(TransitionNotAllowed, match="erased"):
        referral_refer_again(referral=old, actor=chiropractor, reason="x")


# --- telling others ------------------------------------------------------------------------------


def test_a_new_referral_made_again_is_announced_as_created(chiropractor):
    old = declined(chiropractor)
    WebhookEndpoint.objects.create(
        name="Booking", url="https://booking.test/hook", secret="s", events=list(WebhookEvent)
    )
    # The outbox row is written with the referral (and sent after commit).
    new = referral_refer_again(referral=old, actor=chiropractor, reason="Closed by mistake")
    (delivery,) = WebhookDelivery.objects.all()
    referral = delivery.payload["data"]["referral"]
    assert (referral["id"], referral["status"], referral["previous_status"]) == (
        str(new.public_id),
        "new",
        None,
    )


@pytest.mark.parametrize(("case", "notified"), [("V09", True), ("V01", False)])
def test_an_emergency_or_urgent_referral_made_again_pages_its_queue(
    case, notified, medical_reviewer, chiropractor, django_capture_on_commit_callbacks
):
    (referral,) = submit(case).referrals
    actor = medical_reviewer if case == "V09" else chiropractor
    old = referral_cancel(referral=referral, actor=actor, reason="Wrong one")
    with (
        mock.patch("referrals.tasks.notify_queue_staff") as notify,
        django_capture_on_commit_callbacks(execute=True),
    ):
        new = referral_refer_again(referral=old, actor=actor, reason="Closed by mistake")
    assert notify.enqueue.call_args_list == ([mock.call(new.pk)] if notified else [])


# --- the red flag's clearance after a review referred again ---------------------------------------


@pytest.mark.parametrize(
    ("fate", "clears"),
    [("cancel", False), ("decline", False), ("complete", True), ("entered_in_error", True)],
)
def test_a_review_completed_by_mistake_and_referred_again_is_not_the_clearances_review(
    fate, clears, medical_reviewer
):
    """A review completed by mistake, its red flag standing, referred again; the new review is
    then cancelled (or declined). The case's review is that cancelled one, which a clearance
    does not reopen (test_a_review_cancelled_or_entered_in_error_is_not_reopened_by_a_clearance):
    the clearance went through as one of the first review, "completed by its work", releasing
    the case to its queues. When the new review was itself made by mistake (entered in error),
    the first one's completion stands and the red flag is cleared on its own, as before."""
    submission = submit("V09")
    (review,) = submission.referrals
    review = completed(review, medical_reviewer)
    again = referral_refer_again(referral=review, actor=medical_reviewer, reason="By mistake")
    if fate == "cancel":
        referral_cancel(referral=again, actor=medical_reviewer, reason="Seen in A&E instead")
    elif fate == "decline":
        referral_decline(referral=again, actor=medical_reviewer, reason="Not for us")
    elif fate == "complete":
        completed(again, medical_reviewer)
    else:
        referral_mark_entered_in_error(referral=again, actor=medical_reviewer, reason="Wrong one")
    intake = submission.intake
    if clears:
        released = intake_clear_red_flag(intake=intake, actor=medical_reviewer, reason="Examined")
        assert [r.queue for r in released] == ["chiropractic"]
        return
    with pytest.raises(TransitionNotAllowed, match="no open urgent medical review"):
        intake_clear_red_flag(intake=intake, actor=medical_reviewer, reason="Examined")
    intake.refresh_from_db()
    assert intake.red_flag_cleared_at is None
    assert not Referral.objects.exclude(queue=Queue.URGENT_MEDICAL_REVIEW).exists()
    assert not review.events.filter(kind=EventKind.RED_FLAG_CLEARED).exists()


@pytest.mark.parametrize("closed_by", ["clearance", "work, then a clearance on its own"])
def test_a_review_whose_red_flags_were_cleared_is_not_referred_again(closed_by, medical_reviewer):
    """Its red flags cleared (the review completed by the clearance, or completed by its work
    and the case then cleared on its own), a review referred again came back as an emergency
    review with no red flag: its note told the reviewer to clear flags already cleared, no
    clearance form was offered for it, and the queue's staff were paged for an emergency the
    clearance had settled. The clearance is not undone by referring again."""
    submission = submit("V09")
    (review,) = submission.referrals
    if closed_by == "clearance":
        intake_clear_red_flag(intake=submission.intake, actor=medical_reviewer, reason="Seen")
    else:
        review = completed(review, medical_reviewer)
        intake_clear_red_flag(intake=submission.intake, actor=medical_reviewer, reason="Seen")
    review.refresh_from_db()
    assert review.status == Status.COMPLETED
    with pytest.raises(TransitionNotAllowed, match=r"red flags .* were cleared") as refused:
        referral_refer_again(referral=review, actor=medical_reviewer, reason="By mistake")
    assert "reroute" in refused.value.message
    assert not Referral.objects.filter(
        queue=Queue.URGENT_MEDICAL_REVIEW, status=Status.NEW
    ).exists()
    assert not review.events.filter(kind=EventKind.REFERRED_AGAIN).exists()


def test_a_review_a_reroute_sent_without_a_red_flag_may_be_referred_again(
    chiropractor, medical_reviewer
):
    """Sent to urgent medical review by staff (no red flag of its own), it is made again as any
    referral is, with its note."""
    (referral,) = submit("V01").referrals
    review = referral_reroute(
        referral=referral, actor=chiropractor, queue="urgent_medical_review", reason="Worried"
    )
    review = referral_cancel(referral=review, actor=medical_reviewer, reason="Wrong one")
    again = referral_refer_again(referral=review, actor=medical_reviewer, reason="By mistake")
    assert (again.queue, again.red_flag_count, again.note) == (
        Queue.URGENT_MEDICAL_REVIEW,
        0,
        review.note,
    )
