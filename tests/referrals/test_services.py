import datetime as dt

import pytest
from django.utils import timezone

from intake.models import Intake
from referrals.errors import QueueNotAllowed, ReasonRequired, TransitionNotAllowed
from referrals.models import TRANSITIONS, Action, EventKind, Referral, Status
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
    referral_release,
    referral_reroute,
    referral_schedule,
    referral_transition,
)
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def sciatica():
    (referral,) = submit("V01").referrals
    return referral


def test_a_referral_goes_from_new_to_completed_with_a_history_row_per_move(sciatica, chiropractor):
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        sciatica = move(referral=sciatica, actor=chiropractor)
    assert sciatica.status == Status.COMPLETED
    assert sciatica.closed_at is not None
    moves = list(
        sciatica.events.filter(kind=EventKind.TRANSITION).values_list("from_status", "to_status")
    )
    assert moves == [
        ("new", "claimed"),
        ("claimed", "contacted"),
        ("contacted", "scheduled"),
        ("scheduled", "completed"),
    ]
    assert all(e.actor == chiropractor for e in sciatica.events.filter(kind=EventKind.TRANSITION))


def test_claiming_records_the_clinician_and_release_puts_it_back(sciatica, chiropractor):
    claimed = referral_claim(referral=sciatica, actor=chiropractor)
    assert claimed.assigned_to == chiropractor
    released = referral_release(referral=claimed, actor=chiropractor)
    assert released.status == Status.NEW
    assert released.assigned_to is None


def test_claim_refuses_a_referral_already_claimed(sciatica, chiropractor, second_chiropractor):
    referral_claim(referral=sciatica, actor=chiropractor)
    with pytest.raises(TransitionNotAllowed, match="already been claimed by chiro_carla"):
        referral_claim(referral=sciatica, actor=second_chiropractor)


def test_only_the_assignee_moves_a_claimed_referral_on(sciatica, chiropractor, second_chiropractor):
    referral_claim(referral=sciatica, actor=chiropractor)
    with pytest.raises(TransitionNotAllowed, match="Only the clinician"):
        referral_contact(referral=sciatica, actor=second_chiropractor)


def test_the_triage_lead_may_move_any_referral(sciatica, chiropractor, triage_lead):
    referral_claim(referral=sciatica, actor=chiropractor)
    assert referral_release(referral=sciatica, actor=triage_lead).status == Status.NEW


def test_an_illegal_move_is_refused_with_a_reason(sciatica, chiropractor):
    with pytest.raises(TransitionNotAllowed, match="cannot be moved"):
        referral_complete(referral=sciatica, actor=chiropractor)
    sciatica.refresh_from_db()
    assert sciatica.status == Status.NEW


@pytest.mark.parametrize(
    "move", [referral_decline, referral_cancel, referral_mark_entered_in_error]
)
def test_closing_moves_need_a_reason(sciatica, chiropractor, move):
    with pytest.raises(ReasonRequired):
        move(referral=sciatica, actor=chiropractor, reason="  ")
    closed = move(referral=sciatica, actor=chiropractor, reason="Patient seen elsewhere")
    assert not closed.is_open
    assert closed.events.last().reason == "Patient seen elsewhere"


def test_entered_in_error_is_reachable_from_a_closed_referral(sciatica, chiropractor):
    referral_decline(referral=sciatica, actor=chiropractor, reason="not appropriate")
    done = referral_mark_entered_in_error(
        referral=sciatica, actor=chiropractor, reason="wrong patient"
    )
    assert done.status == Status.ENTERED_IN_ERROR


def test_every_move_in_the_table_has_a_target_and_sources():
    assert set(TRANSITIONS) == set(Action.values)
    for move in TRANSITIONS.values():
        assert move.sources
        assert move.target in Status.values


def test_staff_cannot_act_on_another_queue(sciatica, podiatrist):
    with pytest.raises(QueueNotAllowed):
        referral_claim(referral=sciatica, actor=podiatrist)


def test_a_move_chosen_on_a_status_shown_before_a_colleagues_move_is_refused(
    sciatica, chiropractor, second_chiropractor
):
    """The status table let a move chosen against a stale page through whenever it was legal
    from the new status (a QA round: a decline made on a page showing the referral new, after
    a colleague had claimed it and contacted the patient)."""
    referral_claim(referral=sciatica, actor=second_chiropractor)
    referral_contact(referral=sciatica, actor=second_chiropractor)
    events = sciatica.events.count()
    stale = {"referral": sciatica, "actor": chiropractor, "reason": "Seen elsewhere"}
    for refused in (
        lambda: referral_transition(action="decline", shown_status="new", **stale),
        lambda: referral_reroute(queue="podiatry", shown_status="new", **stale),
        # The status shown, another assignee (claimed again by someone else meanwhile).
        lambda: referral_transition(
            action="cancel", shown_status="contacted", shown_assignee="chiro_carla", **stale
        ),
    ):
        with pytest.raises(TransitionNotAllowed) as error:
            refused()
        assert error.value.status == 409
        assert error.value.message == (
            "Nothing was saved: a colleague changed this referral since the page was shown. "
            "It is now Patient contacted, assigned to chiro_chen (see the history). Check the "
            "case and choose again."
        )
    sciatica.refresh_from_db()
    assert sciatica.status == Status.CONTACTED
    assert sciatica.events.count() == events
    assert Referral.objects.count() == 1
    declined = referral_transition(
        action="decline", shown_status="contacted", shown_assignee="chiro_chen", **stale
    )
    assert declined.status == Status.DECLINED


def test_a_move_without_the_status_shown_is_taken_as_before(sciatica, chiropractor, triage_lead):
    """The API and pages from before the status was sent act on the referral as it is."""
    referral_claim(referral=sciatica, actor=triage_lead)
    declined = referral_decline(referral=sciatica, actor=chiropractor, reason="Seen elsewhere")
    assert declined.status == Status.DECLINED


def test_reroute_closes_the_old_referral_and_links_a_new_one(sciatica, chiropractor):
    new = referral_reroute(
        referral=sciatica, actor=chiropractor, queue="podiatry", reason="Foot problem, not back"
    )
    sciatica.refresh_from_db()
    assert sciatica.status == Status.REROUTED
    assert new.queue == "podiatry"
    assert new.status == Status.NEW
    assert new.rerouted_from == sciatica
    assert new.due_at <= sciatica.due_at
    assert sciatica.events.last().data == {"to": "podiatry"}


def test_reroute_needs_a_reason(sciatica, chiropractor):
    with pytest.raises(ReasonRequired):
        referral_reroute(referral=sciatica, actor=chiropractor, queue="podiatry", reason="")
    assert Referral.objects.count() == 1


def test_a_clinician_may_override_urgency_with_a_recorded_reason(sciatica, chiropractor):
    with pytest.raises(ReasonRequired):
        referral_override_urgency(
            referral=sciatica, actor=chiropractor, urgency="urgent", reason=""
        )
    changed = referral_override_urgency(
        referral=sciatica, actor=chiropractor, urgency="urgent", reason="Pain much worse on phone"
    )
    assert changed.urgency == "urgent"
    assert changed.priority > 0
    event = changed.events.get(kind=EventKind.URGENCY_OVERRIDDEN)
    assert (event.from_urgency, event.to_urgency) == ("routine", "urgent")


def test_an_urgency_change_after_reroutes_counts_from_when_the_case_first_waited(
    sciatica, triage_lead
):
    """Counted from the reroute, routine -> urgent -> routine gave the case five more working
    days than it had before the reroute (a review)."""
    came_in = timezone.now() - dt.timedelta(days=4)
    Referral.objects.filter(pk=sciatica.pk).update(
        created_at=came_in, due_at=referral_due_at("routine", came_in)
    )
    sciatica.refresh_from_db()
    feet = referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Feet")
    insoles = referral_reroute(
        referral=feet, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    assert insoles.due_at == sciatica.due_at
    up = referral_override_urgency(
        referral=insoles, actor=triage_lead, urgency="urgent", reason="Worse on the phone"
    )
    assert up.due_at == referral_due_at("urgent", came_in)
    down = referral_override_urgency(
        referral=up, actor=triage_lead, urgency="routine", reason="Settled on review"
    )
    assert down.due_at == sciatica.due_at


def test_a_referral_released_after_clearance_counts_from_its_release(medical_reviewer):
    """The case could not be worked in that queue before the red flag was cleared
    (docs/CLINICAL_DECISIONS.md, reroutes 5)."""
    intake = submit("V09").intake
    Intake.objects.filter(pk=intake.pk).update(submitted_at=timezone.now() - dt.timedelta(days=9))
    before = timezone.now()
    (released,) = intake_clear_red_flag(intake=intake, actor=medical_reviewer, reason="Examined")
    assert released.created_at >= before
    assert released.due_at == referral_due_at(released.urgency, released.created_at)


def test_clearing_a_red_flag_closes_the_review_and_releases_the_suggested_queues(
    medical_reviewer,
):
    intake = submit("V09").intake
    released = intake_clear_red_flag(
        intake=intake, actor=medical_reviewer, reason="Examined: no cauda equina signs"
    )
    assert [r.queue for r in released] == ["chiropractic"]
    assert released[0].urgency == "routine"
    review = Referral.objects.get(queue="urgent_medical_review")
    assert review.status == Status.COMPLETED
    assert review.events.filter(kind=EventKind.RED_FLAG_CLEARED).exists()
    intake.refresh_from_db()
    assert intake.red_flag_cleared_by == medical_reviewer
    with pytest.raises(TransitionNotAllowed, match="already been cleared"):
        intake_clear_red_flag(intake=intake, actor=medical_reviewer, reason="again")


def test_clearing_a_red_flag_needs_the_review_queue(chiropractor):
    intake = submit("V09").intake
    with pytest.raises(QueueNotAllowed):
        intake_clear_red_flag(intake=intake, actor=chiropractor, reason="fine")


def test_clear_red_flag_is_not_a_move_for_specialty_queues(sciatica, triage_lead):
    with pytest.raises(TransitionNotAllowed):
        referral_transition(
            referral=sciatica, action=Action.CLEAR_RED_FLAG, actor=triage_lead, reason="x"
        )
