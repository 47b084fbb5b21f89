"""Red-flag workflow across submissions and reroutes (found by a review of the staff pages and
the FHIR export): a review shared by several cases, reroutes into and out of urgent medical
review, and the rank of referrals released after clearance."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from intake.models import Intake
from referrals.access import QUEUE_GROUPS
from referrals.errors import TransitionNotAllowed
from referrals.models import EventKind, Referral, Status, referral_priority
from referrals.proposals import ESCALATED_NOTE
from referrals.services import (
    intake_clear_red_flag,
    referral_cancel,
    referral_claim,
    referral_complete,
    referral_contact,
    referral_reroute,
    referral_schedule,
)
from tests.clinic_fixtures import details, make_staff, submit, worked_case
from tests.referrals.drawn import send_as_drawn
from tests.referrals.test_admin import LIST, QUEUE_QUERIES, _queries

pytestmark = pytest.mark.django_db


def _review(case):
    (review,) = [r for r in case.referrals if r.queue == "urgent_medical_review"]
    return review


def test_clearing_a_shared_review_clears_every_case_that_fed_it(medical_reviewer):
    person = details(phone="07700 900321")
    first = submit("V09", patient=person)  # cauda equina: an emergency review
    later = submit("V17", patient=person)  # diabetic foot: joins the same open review
    review = _review(first)
    assert _review(later).pk == review.pk

    # Clearing as if only the first case were seen is refused, naming the other.
    with pytest.raises(TransitionNotAllowed, match=later.intake.reference):
        intake_clear_red_flag(intake=first.intake, actor=medical_reviewer, reason="Seen one")
    released = intake_clear_red_flag(
        intake=first.intake,
        actor=medical_reviewer,
        reason="Examined: no emergency.",
        seen=[first.intake.reference, later.intake.reference],
    )

    for case in (first, later):
        stored = Intake.objects.get(pk=case.intake.pk)
        assert stored.red_flag_cleared_at is not None
        assert stored.red_flag_clearance_reason == "Examined: no emergency."
    review.refresh_from_db()
    assert review.status == Status.COMPLETED
    suggested = set(first.intake.triage_result["suggested_after_clearance"]) | set(
        later.intake.triage_result["suggested_after_clearance"]
    )
    assert {r.queue for r in released} == suggested
    # Each queue opened on a case that suggested it.
    for referral in released:
        opener = Intake.objects.get(pk=referral.intake_id)
        assert referral.queue in opener.triage_result["suggested_after_clearance"]
    event = review.events.get(kind=EventKind.RED_FLAG_CLEARED)
    assert event.data["intakes"] == [first.intake.reference, later.intake.reference]
    with pytest.raises(TransitionNotAllowed, match="already been cleared"):
        intake_clear_red_flag(intake=later.intake, actor=medical_reviewer, reason="Again")


def test_a_case_left_uncleared_by_an_earlier_clearance_can_still_be_cleared(medical_reviewer):
    """Before the shared clearance, clearing the first case closed the review and left the
    later case's red flag active with nothing to clear it through."""
    person = details(phone="07700 900322")
    first = submit("V09", patient=person)
    later = submit("V17", patient=person)
    both = [first.intake.reference, later.intake.reference]
    intake_clear_red_flag(intake=first.intake, actor=medical_reviewer, reason="Seen", seen=both)
    Intake.objects.filter(pk=later.intake.pk).update(
        red_flag_cleared_at=None, red_flag_cleared_by=None, red_flag_clearance_reason=""
    )
    released = intake_clear_red_flag(
        intake=later.intake, actor=medical_reviewer, reason="Foot seen", release_queues=["podiatry"]
    )
    assert [r.queue for r in released] == ["podiatry"]
    assert Intake.objects.get(pk=later.intake.pk).red_flag_cleared_at is not None


def test_the_review_page_shows_a_later_cases_flags_and_clears_them(client, medical_reviewer):
    person = details(phone="07700 900323")
    first = submit("V17", patient=person)  # diabetic foot, urgent
    later = submit("V09", patient=person)  # cauda equina raises the review to emergency
    review = _review(first)
    review.refresh_from_db()
    assert review.urgency == "emergency"
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    html = page.content.decode()
    assert "Flags of later submissions linked to this referral" in html
    assert later.intake.reference in html
    assert "RED_FLAG_CAUDA_EQUINA" in html
    # The release suggested covers both cases.
    suggested = set(first.intake.triage_result["suggested_after_clearance"]) | set(
        later.intake.triage_result["suggested_after_clearance"]
    )
    assert set(page.context["clear_form"].initial["release"]) == suggested


def test_staff_can_send_a_case_without_a_red_flag_to_urgent_medical_review(client, triage_lead):
    (referral,) = submit("V01").referrals
    client.force_login(triage_lead)
    answer = client.post(
        reverse("admin:referrals_referral_move", args=[referral.public_id]),
        {"move-action": "reroute", "move-queue": "urgent_medical_review", "move-reason": "Worse"},
    )
    assert answer.status_code == 302
    new = Referral.objects.get(rerouted_from=referral)
    assert new.queue == "urgent_medical_review"
    assert new.note == ESCALATED_NOTE
    assert new.red_flag_count == 0
    assert new.suggested_after_clearance == []
    # Without a red flag, it may be sent on again.
    onward = referral_reroute(referral=new, actor=triage_lead, queue="podiatry", reason="Seen")
    assert onward.queue == "podiatry"


def test_a_red_flag_leaves_urgent_medical_review_only_through_clearance(client, triage_lead):
    review = _review(submit("V09"))
    client.force_login(triage_lead)
    reason = "Looks muscular to me, typed at length"
    answer = client.post(
        reverse("admin:referrals_referral_move", args=[review.public_id]),
        {"move-action": "reroute", "move-queue": "chiropractic", "move-reason": reason},
    )
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "leaves urgent medical review when its red flag is" in html
    assert reason in html  # what was typed is still there
    review.refresh_from_db()
    assert review.status == Status.NEW


def test_a_reroute_to_a_queue_the_case_also_went_to_joins_that_referral(triage_lead):
    case = submit("V22")  # chiropractic, orthotic fitting and podiatry
    chiro = next(r for r in case.referrals if r.queue == "chiropractic")
    podiatry = next(r for r in case.referrals if r.queue == "podiatry")
    new = referral_reroute(referral=chiro, actor=triage_lead, queue="podiatry", reason="Feet")
    assert new.pk == podiatry.pk
    chiro.refresh_from_db()
    assert chiro.status == Status.REROUTED


def test_a_released_referral_ranks_by_urgency_alone_and_can_be_rerouted(
    medical_reviewer, triage_lead
):
    case = submit("V09")
    (released, *_rest) = intake_clear_red_flag(
        intake=case.intake, actor=medical_reviewer, reason="Examined"
    )
    assert released.red_flag_count == 0
    assert released.priority == referral_priority("routine", 0)
    other = "podiatry" if released.queue != "podiatry" else "chiropractic"
    moved = referral_reroute(referral=released, actor=triage_lead, queue=other, reason="Feet")
    assert moved.queue == other
    assert moved.priority == referral_priority(moved.urgency, 0)


def test_the_migration_ranks_stored_released_referrals_by_urgency_alone(medical_reviewer):
    case = submit("V09")
    released = intake_clear_red_flag(intake=case.intake, actor=medical_reviewer, reason="Seen")
    Referral.objects.filter(pk__in=[r.pk for r in released]).update(
        red_flag_count=2, priority=referral_priority("routine", 2)
    )
    from django.apps import apps

    module = importlib.import_module(
        "referrals.migrations.0010_released_referrals_rank_without_cleared_red_flags"
    )
    module.rank_without_cleared_red_flags(apps, None)
    for referral in Referral.objects.filter(pk__in=[r.pk for r in released]):
        assert (referral.red_flag_count, referral.priority) == (0, referral_priority("routine", 0))
    review = _review(case)
    review.refresh_from_db()
    assert review.red_flag_count > 0  # the review keeps its red flags


def test_the_case_page_shows_the_latest_later_cases_newest_last(client, chiropractor):
    from referrals.admin import CASE_LATER_SHOWN

    person = details(phone="07700 900324")
    cases = [submit("V01", patient=person) for _ in range(CASE_LATER_SHOWN + 2)]
    (referral,) = cases[0].referrals
    client.force_login(chiropractor)
    page = client.get(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    shown = [case["reference"] for case in page.context["later_cases"]]
    assert shown == [case.intake.reference for case in cases[2:]]
    assert page.context["later_more"] is True


def test_the_queue_row_of_a_review_shows_a_later_cases_red_flags_in_one_statement(
    client, medical_reviewer
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils.html import strip_tags

    queue = reverse("admin:referrals_referral_changelist")
    client.force_login(medical_reviewer)

    def page() -> tuple[str, int]:
        """The page's text (a flag code's chip may break after an underscore: <wbr>)."""
        with CaptureQueriesContext(connection) as ctx:
            text = strip_tags(client.get(queue).content.decode())
        return text, len(ctx.captured_queries)

    person = details(phone="07700 900325")
    submit("V17", patient=person)  # diabetic foot: the review's own red flag
    text, statements = page()
    assert "RED_FLAG_DIABETIC_FOOT" in text
    assert "RED_FLAG_CAUDA_EQUINA" not in text
    submit("V09", patient=person)  # cauda equina joins it, raising it to emergency
    text, with_later = page()
    assert "RED_FLAG_DIABETIC_FOOT" in text
    assert "RED_FLAG_CAUDA_EQUINA" in text
    for n in range(3):  # more reviews, more later cases: no more statements
        other = details(phone=f"07700 90033{n}")
        submit("V17", patient=other)
        submit("V09", patient=other)
    assert page()[1] == with_later == statements


def test_a_red_flag_that_joined_after_the_page_was_loaded_is_not_cleared_unseen(
    client, medical_reviewer
):
    """A review found a clearance, sent from a page loaded before a CES case joined the
    review, clearing that red flag unseen."""
    person = details(phone="07700 900340")
    first = submit("V17", patient=person)
    review = _review(first)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    form = page.context["clear_form"]
    assert form.initial["seen"] == first.intake.reference
    later = submit("V09", patient=person)  # joins after the page was drawn
    answer = client.post(
        reverse("admin:referrals_referral_clear", args=[review.public_id]),
        {"clear-reason": "Foot examined", "clear-seen": form.initial["seen"]},
    )
    assert answer.status_code == 409
    assert later.intake.reference in answer.content.decode()
    assert Intake.objects.get(pk=later.intake.pk).red_flag_cleared_at is None
    assert Intake.objects.get(pk=first.intake.pk).red_flag_cleared_at is None
    # The page drawn now shows it and sends both.
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    seen = page.context["clear_form"].initial["seen"]
    assert set(seen.split(",")) == {first.intake.reference, later.intake.reference}
    answer = client.post(
        reverse("admin:referrals_referral_clear", args=[review.public_id]),
        {"clear-reason": "Both examined", "clear-seen": seen},
    )
    assert answer.status_code == 302
    assert Intake.objects.get(pk=later.intake.pk).red_flag_cleared_at is not None


def test_every_uncleared_red_flag_case_is_shown_beyond_the_latest_ten(client, medical_reviewer):
    from referrals.admin import CASE_LATER_SHOWN

    person = details(phone="07700 900341")
    first = submit("V09", patient=person)
    red = submit("V09", patient=person)  # an older later case with a red flag
    for _ in range(CASE_LATER_SHOWN + 1):
        submit("V09", patient=person)
    review = _review(first)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    shown = [case["reference"] for case in page.context["later_cases"]]
    assert red.intake.reference in shown
    assert red.intake.reference in page.context["clear_form"].initial["seen"].split(",")


def test_a_review_cancelled_or_entered_in_error_is_not_reopened_by_a_clearance(
    medical_reviewer, triage_lead
):
    from referrals.services import referral_cancel

    case = submit("V09")
    referral_cancel(referral=_review(case), actor=triage_lead, reason="Duplicate")
    with pytest.raises(TransitionNotAllowed, match="no open urgent medical review"):
        intake_clear_red_flag(intake=case.intake, actor=medical_reviewer, reason="Seen")
    assert (
        not Referral.objects.filter(patient=case.intake.patient)
        .exclude(queue="urgent_medical_review")
        .exists()
    )


def test_the_api_clearance_names_the_other_cases_it_clears(medical_reviewer):
    from rest_framework.test import APIClient

    person = details(phone="07700 900342")
    first = submit("V09", patient=person)
    later = submit("V17", patient=person)
    api = APIClient()
    api.force_login(medical_reviewer)
    url = f"/api/v1/intakes/{first.intake.public_id}/clear-red-flag"
    refused = api.post(url, {"reason": "Examined"}, format="json")
    assert refused.status_code == 409
    assert later.intake.reference in str(refused.json())
    cleared = api.post(
        url, {"reason": "Examined", "with_intakes": [later.intake.reference]}, format="json"
    )
    assert cleared.status_code == 200
    assert Intake.objects.get(pk=later.intake.pk).red_flag_cleared_at is not None


def test_the_api_clearance_naming_the_review_read_is_refused_once_it_was_closed_otherwise(
    medical_reviewer,
):
    """The API's clearance with ``review``, as the case page sends the review it showed: a
    review completed by its work was referred again, and the one made again entered in error
    by a colleague; named, the clearance is refused (it acted on the older completed review,
    whatever the client had read). Without ``review`` it acts on the case's review as it is."""
    from rest_framework.test import APIClient

    from referrals.services import referral_mark_entered_in_error, referral_refer_again

    case = submit("V09")
    colleague = make_staff("dr_vera", QUEUE_GROUPS["urgent_medical_review"])
    first = _review(case)
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        first = move(referral=first, actor=colleague)
    again = referral_refer_again(referral=first, actor=colleague, reason="Completed by mistake")
    referral_mark_entered_in_error(referral=again, actor=colleague, reason="Wrong patient")
    api = APIClient()
    api.force_login(medical_reviewer)
    url = f"/api/v1/intakes/{case.intake.public_id}/clear-red-flag"
    body = {"reason": "Examined", "review": str(again.public_id)}
    refused = api.post(url, body, format="json")
    assert refused.status_code == 409, refused.json()
    assert "not the review you chose to clear (Entered in error)" in str(refused.json())
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is None
    cleared = api.post(url, {"reason": "Examined"}, format="json")
    assert cleared.status_code == 200
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is not None


def _clear_url(review):
    return reverse("admin:referrals_referral_clear", args=[review.public_id])


def test_the_drawn_clearance_form_clears_a_shared_review(client, medical_reviewer):
    """A review found the form never sent the cases it showed, so a review a later red-flag
    case had joined could not be cleared from the page at all."""
    person = details(phone="07700 900350")
    first = submit("V17", patient=person)
    later = submit("V09", patient=person)
    review = _review(first)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    answer = send_as_drawn(client, page, _clear_url(review), **{"clear-reason": "Examined"})
    assert answer.status_code == 302, answer.content.decode()[:500]
    for case in (first, later):
        assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is not None


def test_the_form_drawn_with_a_refusal_names_the_case_that_joined(client, medical_reviewer):
    person = details(phone="07700 900351")
    first = submit("V17", patient=person)
    review = _review(first)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    later = submit("V09", patient=person)
    refused = send_as_drawn(client, page, _clear_url(review), **{"clear-reason": "Foot seen"})
    assert refused.status_code == 409
    assert "Foot seen" in refused.content.decode()  # what was typed is kept
    assert "RED_FLAG_CAUDA_EQUINA" in refused.content.decode()  # the joined case is shown
    answer = send_as_drawn(client, refused, _clear_url(review))
    assert answer.status_code == 302
    assert Intake.objects.get(pk=later.intake.pk).red_flag_cleared_at is not None


def test_a_review_with_hundreds_of_uncleared_cases_can_be_cleared(client, medical_reviewer):
    person = details(phone="07700 900352")
    first = submit("V09", patient=person)
    for _ in range(240):  # more references than 2,000 characters hold
        submit("V09", patient=person)
    review = _review(first)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    answer = send_as_drawn(client, page, _clear_url(review), **{"clear-reason": "Examined"})
    assert answer.status_code == 302
    assert not Intake.objects.filter(patient=first.intake.patient, red_flag_cleared_at=None)


def test_a_red_flag_left_on_a_review_completed_by_its_work_can_still_be_cleared(
    medical_reviewer,
):
    case = submit("V09")
    review = _review(case)
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        review = move(referral=review, actor=medical_reviewer)
    released = intake_clear_red_flag(intake=case.intake, actor=medical_reviewer, reason="Seen")
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is not None
    assert {r.queue for r in released} == set(
        case.intake.triage_result["suggested_after_clearance"]
    )


def test_a_clearance_chosen_on_a_page_shown_before_a_colleague_moved_the_review_is_refused(
    client, medical_reviewer
):
    """Two reviewers on one review (a QA round with two browser contexts): the page showed it
    scheduled; a colleague completed it, its red flag standing, and the clearance went through
    as one of a review completed by its work, releasing queues, without the reviewer ever
    seeing it completed."""
    case = submit("V09")
    review = _review(case)
    colleague = make_staff("dr_vera", QUEUE_GROUPS["urgent_medical_review"])
    for move in (referral_claim, referral_contact, referral_schedule):
        move(referral=review, actor=colleague)
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    assert 'name="clear-status_shown" value="scheduled"' in page.content.decode()
    referral_complete(referral=review, actor=colleague)
    history = list(review.events.values_list("pk", flat=True))
    referrals = Referral.objects.count()
    typed = "Examined: saddle sensation normal, reflexes symmetrical."
    refused = send_as_drawn(client, page, _clear_url(review), **{"clear-reason": typed})
    assert refused.status_code == 409
    html = refused.content.decode()
    assert (
        "a colleague changed this referral since the page was shown. It is now Completed, "
        "assigned to dr_vera (see the history)"
    ) in html
    assert typed in html
    assert "no longer has a red flag" not in html  # it has: the colleague did not clear it
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is None
    assert list(review.events.values_list("pk", flat=True)) == history
    assert Referral.objects.count() == referrals
    # The page sent back carries the review as it is now: sent again, it clears the red flag.
    assert 'name="clear-status_shown" value="completed"' in html
    answer = send_as_drawn(client, refused, _clear_url(review))
    assert answer.status_code == 302
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is not None


def test_a_later_cases_answers_and_what_it_was_shown_are_on_the_referrals_page(
    client, medical_reviewer
):
    """A later submission that joined a referral has no case page of its own: its row in
    Submissions opens the referral's, which showed the first case's answers and messages and
    only the later one's flags, while it said "their answers are on their own case pages". A
    cauda equina case raising a diabetic-foot review to emergency: what the patient wrote and
    was told (the emergency advice) was shown nowhere (found in a QA round)."""
    person = details(phone="07700 900325")
    first = submit("V17", patient=person)  # diabetic foot, urgent
    answers = {**worked_case("V09"), "main_concern": "Numb between my legs since this morning"}
    later = submit(answers=answers, patient=person)  # cauda equina: joins, raises to emergency
    review = _review(first)
    client.force_login(medical_reviewer)
    opened = client.get(reverse("admin:intake_intake_change", args=[later.intake.pk]))
    page_url = reverse("admin:referrals_referral_change", args=[review.public_id])
    assert opened["Location"] == f"{page_url}#later-{later.intake.reference}"
    html = client.get(page_url).content.decode()
    assert f'id="later-{later.intake.reference}"' in html
    assert "Numb between my legs since this morning" in html
    assert later.intake.patient_messages["urgency_message"] in html
    assert "on their own case pages" not in html
    # The first case's own row still opens the page at its top.
    opened = client.get(reverse("admin:intake_intake_change", args=[first.intake.pk]))
    assert opened["Location"] == page_url


def test_a_clearance_is_checked_against_the_review_the_page_showed_not_an_older_one(
    client, medical_reviewer
):
    """A review completed by its work, its red flag standing, was referred again; the page
    showed the new review. A colleague marked that one entered in error meanwhile: the
    clearance looked for the case's review, found the first (completed, no longer superseded),
    and told the reviewer it was "now Completed"; sent again from the page sent back, it went
    through, releasing queues on the authority of a review the page had never shown."""
    from referrals.services import referral_mark_entered_in_error, referral_refer_again

    case = submit("V09")
    colleague = make_staff("dr_vera", QUEUE_GROUPS["urgent_medical_review"])
    first = _review(case)
    for move in (referral_claim, referral_contact, referral_schedule, referral_complete):
        first = move(referral=first, actor=colleague)
    again = referral_refer_again(referral=first, actor=colleague, reason="Completed by mistake")
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[again.public_id]))
    referral_mark_entered_in_error(referral=again, actor=colleague, reason="Wrong patient")
    referrals = Referral.objects.count()
    typed = "Examined: saddle sensation normal."
    refused = send_as_drawn(client, page, _clear_url(again), **{"clear-reason": typed})
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "It is now Entered in error" in html
    assert "It is now Completed" not in html
    assert typed in html
    # The page sent back (which shows the review entered in error) offers no clearance: sent
    # again it is refused still, not cleared on the older review's account.
    assert f'action="{_clear_url(again)}"' not in html
    resent = client.post(
        _clear_url(again),
        {
            "clear-reason": typed,
            "clear-status_shown": "entered_in_error",
            "clear-review_shown": str(again.public_id),
            "clear-seen": case.intake.reference,
        },
    )
    assert resent.status_code == 409
    assert "not the review you chose to clear" in resent.content.decode()
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is None
    assert Referral.objects.count() == referrals


@pytest.mark.parametrize("close", ["cancel", "decline"])
def test_a_refused_clearance_of_a_review_closed_meanwhile_offers_no_form_only_the_reason(
    client, medical_reviewer, close
):
    """A colleague cancelled or declined the review while the page was shown: the page sent
    back offered "Clear red flag and release" again, which could only be refused again, while a
    fresh load offered no clearance (a QA round). The reason typed is still shown, to copy."""
    from referrals import services

    case = submit("V09")
    review = _review(case)
    colleague = make_staff("dr_vera", QUEUE_GROUPS["urgent_medical_review"])
    client.force_login(medical_reviewer)
    page = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    getattr(services, f"referral_{close}")(referral=review, actor=colleague, reason="Duplicate")
    typed = "Examined: saddle sensation normal."
    refused = send_as_drawn(client, page, _clear_url(review), **{"clear-reason": typed})
    assert refused.status_code == 409
    html = refused.content.decode()
    fresh = client.get(reverse("admin:referrals_referral_change", args=[review.public_id]))
    assert f'action="{_clear_url(review)}"' not in fresh.content.decode()
    assert f'action="{_clear_url(review)}"' not in html
    assert "Clear red flag and release" not in html
    assert "Nothing was saved." in html
    assert f"readonly>{typed}</textarea>" in html
    assert Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at is None


def test_a_specialty_referral_open_when_a_later_case_raises_a_red_flag_says_so(
    client, chiropractor, medical_reviewer
):
    """Ada's back pain opened a chiropractic referral; two days later her answers report a new
    bladder change, and that case goes to urgent medical review alone (§0.3). The chiropractic
    referral stays open, and its page showed nothing of the red flag: chiropractic is not for a
    patient with a red flag (§4.4). It says so until the red flag is cleared."""
    person = details(phone="07700 900331")
    (chiropractic,) = submit("V01", patient=person).referrals
    emergency = submit("V09", patient=person)
    url = reverse("admin:referrals_referral_change", args=[chiropractic.public_id])
    client.force_login(chiropractor)
    page = client.get(url)
    assert page.context["red_flags_elsewhere"] == [emergency.intake.reference]
    assert "Red flag not yet cleared on another case of this patient" in page.content.decode()
    assert emergency.intake.reference in page.content.decode()

    client.force_login(medical_reviewer)
    review = client.get(
        reverse("admin:referrals_referral_change", args=[_review(emergency).public_id])
    )
    assert review.context["red_flags_elsewhere"] == []  # the review shows its red flags itself
    # General review is not one of §4.4's three: it says nothing.
    (general,) = submit("V24", patient=person).referrals
    assert general.queue == "general_review"
    client.force_login(make_staff("general_gil", QUEUE_GROUPS["general_review"]))
    page_general = client.get(reverse("admin:referrals_referral_change", args=[general.public_id]))
    assert page_general.context["red_flags_elsewhere"] == []
    client.force_login(medical_reviewer)

    intake_clear_red_flag(
        intake=emergency.intake, actor=medical_reviewer, reason="Examined: no emergency."
    )
    client.force_login(chiropractor)
    page = client.get(url)
    assert page.context["red_flags_elsewhere"] == []
    assert "Red flag not yet cleared" not in page.content.decode()


QUEUE_MARK = "Red flag not yet cleared on another case of this patient"


def _marked_rows(client, **params: str) -> set[tuple[str, str]]:
    """The (reference, queue) of the queue page's rows that carry the red-flag mark, of every
    row it lists."""
    page = client.get(LIST, {"status": "any", **params}).content.decode()
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    shown = {
        (reference, queue): QUEUE_MARK in row
        for row in rows
        for reference in re.findall(r'class="field-reference"><a [^>]*>([^<]+)</a>', row)
        for queue in re.findall(r'class="field-queue">([^<]*)</td>', row)
    }
    assert shown, page
    return {row for row, marked in shown.items() if marked}


def test_the_queue_marks_an_open_specialty_referral_while_a_red_flag_of_the_patient_stands(
    client, triage_lead, chiropractor, medical_reviewer
):
    """The case page's warning (the test above) in the queue staff page through: a
    chiropractor saw nothing of the later red flag until they opened the case. The rows of
    §4.4's three queues say so while open (not the cancelled podiatry one, not general review,
    not the review itself, not another patient's), until a reviewer clears it, in words; and
    the page reads it in the statements it already ran (CLINICAL_DECISIONS, Red-flag clearance
    and reroutes 7)."""
    person = details(phone="07700 900332")
    three = submit("V22", patient=person)  # chiropractic, orthotic fitting, podiatry
    (podiatry,) = [r for r in three.referrals if r.queue == "podiatry"]
    referral_cancel(referral=podiatry, actor=triage_lead, reason="Seen elsewhere")
    (general,) = submit("V24", patient=person).referrals
    other = submit("V01", patient=details(family_name="Hughes", phone="07700 900333"))
    client.force_login(triage_lead)
    client.get(LIST)  # the first request after logging in extends the session
    assert _marked_rows(client) == set()
    chiropractic = LIST + "?status=any&queue=chiropractic"
    before = _queries(client, chiropractic)

    emergency = submit("V09", patient=person)
    reference = three.intake.reference
    marked = {(reference, "Chiropractic"), (reference, "Orthotic fitting")}
    assert _marked_rows(client) == marked
    rows = client.get(LIST, {"status": "any"}).content.decode()
    assert (
        '<strong class="red-flag-elsewhere">Red flag not yet cleared on another case of this '
        "patient: check with urgent medical review first.</strong>" in rows
    )
    assert emergency.intake.reference in rows  # listed, unmarked: the review itself
    assert other.intake.reference in rows  # another patient's chiropractic referral
    assert general.queue == "general_review"
    # The same statements as before the red flag (a page with an urgent medical review reads
    # the reviews' later red flags: one more, with or without the mark).
    assert _queries(client, chiropractic) == before
    flagged = _queries(client, LIST + "?status=any")
    # Django's own rendering of the rows (a popup's) marks the same rows.
    assert _marked_rows(client, _popup="1") == marked
    client.force_login(chiropractor)
    client.get(LIST)
    assert _marked_rows(client) == {(reference, "Chiropractic")}
    assert _queries(client, LIST) == QUEUE_QUERIES
    # The page a chiropractor lands on (open work, their queue: the compiled statement), and
    # its capped count reads the keys alone, not each counted row's red flags elsewhere.
    with CaptureQueriesContext(connection) as landing:
        page = client.get(LIST).content.decode()
    assert page.count(QUEUE_MARK) == 1
    (count,) = [q["sql"] for q in landing.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "intake_intake" not in count

    intake_clear_red_flag(
        intake=emergency.intake, actor=medical_reviewer, reason="Examined: no emergency."
    )
    assert _marked_rows(client) == set()
    client.force_login(triage_lead)
    client.get(LIST)
    assert _marked_rows(client) == set()
    assert _queries(client, LIST + "?status=any") == flagged


def test_a_red_flag_stamp_always_moves_updated_at_even_behind_a_clock_ahead():
    """A poller skips the rows whose id and updated_at it holds (docs/API.md): a stamp that
    left updated_at as it was, the row stamped by a host whose clock was ahead, was skipped."""
    import datetime as dt

    from django.utils import timezone

    from referrals.red_flag_marks import TICK, red_flag_elsewhere_changed

    three = submit("V22", patient=details(phone="07700 900338"))
    ahead = timezone.now() + dt.timedelta(hours=1)
    Referral.objects.filter(pk__in=[r.pk for r in three.referrals]).update(updated_at=ahead)

    def stamp(now: dt.datetime) -> int:  # nobody subscribes: no case to name
        return red_flag_elsewhere_changed(
            three.intake.patient_id, now=now, cause="red_flag", case=lambda: None
        )

    assert stamp(timezone.now()) == 3
    assert {r.updated_at for r in Referral.objects.filter(patient=three.intake.patient_id)} == {
        ahead + TICK
    }
    later = ahead + dt.timedelta(minutes=1)
    stamp(later)
    assert {r.updated_at for r in Referral.objects.filter(patient=three.intake.patient_id)} == {
        later
    }
