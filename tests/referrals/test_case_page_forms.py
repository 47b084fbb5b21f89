"""The case page's forms keep what staff typed, ask the model permissions and save a note once
(each found by a review of the staff pages)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from referrals import services
from referrals.models import Referral, ReferralEvent, StaffNote, Status
from referrals.services import (
    intake_clear_red_flag,
    referral_cancel,
    referral_claim,
    referral_contact,
    referral_release,
    referral_schedule,
    referral_transition,
)
from tests.clinic_fixtures import make_staff, submit
from tests.referrals.drawn import send_as_drawn

pytestmark = pytest.mark.django_db


def url(name, referral):
    return reverse(f"admin:referrals_referral_{name}", args=[referral.public_id])


def test_a_clearance_a_colleague_made_first_keeps_the_reason_typed(client, medical_reviewer):
    case = submit("V09")
    (review,) = case.referrals
    client.force_login(medical_reviewer)
    intake_clear_red_flag(intake=case.intake, actor=medical_reviewer, reason="First")
    typed = "Examined: saddle sensation normal, reflexes brisk."
    answer = client.post(url("clear", review), {"clear-reason": typed})
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "already been cleared" in html
    assert typed in html
    assert "Nothing was saved" in html


def test_a_clearance_a_colleague_made_first_names_who_cleared_it_and_when(client, medical_reviewer):
    """Two reviewers clearing at once: the second was told only that the red flag "has already
    been cleared" (a QA round), and had to go looking for who did it."""
    from django.utils import timezone
    from django.utils.formats import date_format

    from intake.models import Intake
    from referrals.access import QUEUE_GROUPS

    case = submit("V09")
    (review,) = case.referrals
    colleague = make_staff("dr_vera", QUEUE_GROUPS["urgent_medical_review"])
    client.force_login(medical_reviewer)
    intake_clear_red_flag(intake=case.intake, actor=colleague, reason="First")
    answer = client.post(url("clear", review), {"clear-reason": "Seen too"})
    assert answer.status_code == 409
    cleared_at = Intake.objects.get(pk=case.intake.pk).red_flag_cleared_at
    when = date_format(timezone.localtime(cleared_at), "D j M Y H:i T")
    assert when.endswith((" GMT", " BST", " UTC"))  # the clinic's zone, named
    assert (
        f"The red flag on this case has already been cleared by dr_vera at {when}."
    ) in answer.content.decode()


def test_a_move_refused_because_the_referral_closed_keeps_the_reason_typed(
    client, chiropractor, triage_lead
):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    referral_cancel(referral=referral, actor=triage_lead, reason="Patient withdrew")
    typed = "Declining: seen elsewhere, letter on file."
    answer = client.post(url("move", referral), {"move-action": "decline", "move-reason": typed})
    assert answer.status_code == 409
    html = answer.content.decode()
    assert typed in html
    assert "Not saved: the reason you typed" in html


def test_an_entered_in_error_reason_refused_is_shown_with_its_error(client, triage_lead):
    (referral,) = submit("V01").referrals
    referral_cancel(referral=referral, actor=triage_lead, reason="Withdrew")
    client.force_login(triage_lead)
    typed = "x" * 2001
    answer = client.post(
        url("move", referral), {"move-action": "entered_in_error", "move-reason": typed}
    )
    assert answer.status_code == 400
    html = answer.content.decode()
    assert typed in html
    assert "at most 2000 characters" in html


def test_the_case_page_and_its_forms_ask_the_model_permissions(client):
    (referral,) = submit("V01").referrals
    user = make_staff("chiro_x", "Chiropractic team")
    group = Group.objects.get(name="Chiropractic team")
    group.permissions.remove(
        *Permission.objects.filter(codename__in=["change_referral", "add_staffnote"])
    )
    client.force_login(user)
    assert client.get(url("change", referral)).status_code == 200
    assert client.post(url("move", referral), {"move-action": "claim"}).status_code == 403
    assert client.post(url("note", referral), {"note-text": "hi"}).status_code == 403
    assert client.post(url("clear", referral), {"clear-reason": "x"}).status_code == 403
    referral.refresh_from_db()
    assert referral.status == Status.NEW
    assert not StaffNote.objects.exists()
    group.permissions.clear()
    assert client.get(url("change", referral)).status_code == 403


def test_a_double_clicked_note_is_saved_once(client, chiropractor):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    for _ in range(2):
        answer = client.post(url("note", referral), {"note-text": "Phoned, no answer."})
        assert answer.status_code == 302
    assert StaffNote.objects.filter(referral=referral).count() == 1
    # The same words later, or other words, are new notes.
    client.post(url("note", referral), {"note-text": "Phoned again."})
    assert StaffNote.objects.filter(referral=referral).count() == 2


def test_the_notes_section_is_named_by_its_heading_and_the_reason_help_is_shown(
    client, chiropractor
):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert 'aria-labelledby="notes-h"' in html
    assert 'id="id_move-reason_helptext"' in html


def _chiropractor_without(*codenames):
    user = make_staff("chiro_y", "Chiropractic team")
    Group.objects.get(name="Chiropractic team").permissions.remove(
        *Permission.objects.filter(codename__in=codenames)
    )
    return user


def test_the_queue_actions_and_the_api_ask_the_change_permission_too(client):
    """The case page refused a claim without "change referral", but the queue's bulk action
    and the API with the same session claimed (a review found both)."""
    (referral,) = submit("V01").referrals
    client.force_login(_chiropractor_without("change_referral"))
    listed = client.get(reverse("admin:referrals_referral_changelist"))
    assert listed.status_code == 200
    assert "claim_selected" not in listed.content.decode()
    client.post(
        reverse("admin:referrals_referral_changelist"),
        {"action": "claim_selected", "_selected_action": [referral.pk]},
    )
    answer = client.post(f"/api/v1/referrals/{referral.public_id}/claim", {})
    assert answer.status_code == 403
    referral.refresh_from_db()
    assert referral.status == Status.NEW
    assert client.get(f"/api/v1/referrals/{referral.public_id}").status_code == 200


def test_a_refused_note_does_not_show_the_case_to_whoever_may_not_view_it(client):
    (referral,) = submit("V01").referrals
    client.force_login(_chiropractor_without("view_referral", "change_referral"))
    answer = client.post(url("note", referral), {"note-text": ""})
    assert answer.status_code == 403
    assert referral.intake.reference not in answer.content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"move-action": "decline", "move-reason": " "}, "reason"),
        ({"move-action": "override_urgency", "move-urgency": "urgent"}, "reason"),
        ({"move-action": "reroute", "move-reason": "x", "move-queue": ""}, "queue"),
        ({"move-action": "override_urgency", "move-reason": "x"}, "urgency"),
    ],
)
def test_a_move_refused_for_what_was_left_out_marks_that_field(client, chiropractor, data, field):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    answer = client.post(url("move", referral), data)
    assert answer.status_code == 400
    html = answer.content.decode()
    # The error is the field's, so a screen reader reads it with the field (WCAG 3.3.1, 1.3.1).
    (control,) = re.findall(rf'<[a-z]+ name="move-{field}"[^>]*>', html)
    assert 'aria-invalid="true"' in control
    assert re.search(rf'aria-describedby="[^"]*id_move-{field}_error"', control)
    assert f'id="id_move-{field}_error"' in html
    assert "nonfield" not in html


@pytest.mark.parametrize(
    ("action", "choice", "reason_error"),
    [
        ("reroute", "queue", "Please give a reason."),
        ("override_urgency", "urgency", "Please give a reason for changing the urgency."),
    ],
)
def test_a_choice_and_a_reason_both_left_out_are_both_said_at_once(
    client, chiropractor, action, choice, reason_error
):
    """The service refuses the missing queue or urgency first: the missing reason was said
    only on the next try (a review found it)."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    answer = client.post(url("move", referral), {"move-action": action, "move-reason": " "})
    assert answer.status_code == 400
    html = answer.content.decode()
    for field in (choice, "reason"):
        (control,) = re.findall(rf'<[a-z]+ name="move-{field}"[^>]*>', html)
        assert 'aria-invalid="true"' in control, field
    assert reason_error in html


def test_an_entered_in_error_reason_left_out_is_read_with_its_field(client, triage_lead):
    (referral,) = submit("V01").referrals
    referral_cancel(referral=referral, actor=triage_lead, reason="Withdrew")
    client.force_login(triage_lead)
    answer = client.post(url("move", referral), {"move-action": "entered_in_error"})
    assert answer.status_code == 400
    html = answer.content.decode()
    (control,) = re.findall(r'<textarea id="eie-reason"[^>]*>', html)
    assert 'aria-invalid="true"' in control
    assert 'aria-describedby="id_move-reason_error"' in control
    assert 'id="id_move-reason_error"' in html


def test_the_case_page_names_the_queues_suggested_after_clearance(client, medical_reviewer):
    (review,) = submit("V09").referrals
    review.suggested_after_clearance = ["orthotic_fitting", "chiropractic"]
    review.save(update_fields=["suggested_after_clearance"])
    client.force_login(medical_reviewer)
    html = client.get(url("change", review)).content.decode()
    row = re.search(r"Suggested after clearance</th><td>([^<]*)</td>", html)
    assert row is not None
    assert row.group(1) == "Orthotic fitting, Chiropractic"


def test_a_referral_entered_in_error_is_not_offered_that_move_again(client, triage_lead):
    (referral,) = submit("V01").referrals
    referral_transition(
        referral=referral, action="entered_in_error", actor=triage_lead, reason="Duplicate"
    )
    client.force_login(triage_lead)
    html = client.get(url("change", referral)).content.decode()
    assert "This referral is entered in error." in html
    # The move is refused from this status (TRANSITIONS): a form for it could only fail.
    assert url("move", referral) not in html
    assert "Mark entered in error" not in html
    # A colleague's page drawn before: its refusal is still shown.
    answer = client.post(
        url("move", referral), {"move-action": "entered_in_error", "move-reason": "Dup"}
    )
    assert answer.status_code == 409
    assert "cannot be moved" in answer.content.decode()


def test_the_history_of_a_rerouted_referral_says_where_it_went(client, chiropractor):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    data = {"move-action": "reroute", "move-queue": "podiatry", "move-reason": "Heel pain"}
    assert client.post(url("move", referral), data).status_code == 302
    # The podiatry referral is not the chiropractor's to see: the old page is all they have.
    html = client.get(url("change", referral)).content.decode()
    assert (
        f"Status changed: New (proposed) → Rerouted to Podiatry by {chiropractor.get_username()}: "
        "“Heel pain”" in html
    )


def offered(html, name):
    select = re.search(rf'<select name="move-{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, name
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_the_move_form_offers_only_what_the_referral_can_take(client, chiropractor):
    """It offered every move whatever the status (Complete on a new referral, Claim on a
    claimed one), each refused only after it was tried, and the referral's own queue and
    urgency."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert offered(html, "action") == [
        "", "claim", "reroute", "decline", "cancel", "entered_in_error", "override_urgency"
    ]  # fmt: skip
    assert "chiropractic" not in offered(html, "queue")
    assert "podiatry" in offered(html, "queue")
    assert offered(html, "urgency") == ["", "emergency", "urgent"]

    referral_transition(referral=referral, action="claim", actor=chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert offered(html, "action") == [
        "", "release", "contact", "reroute", "decline", "cancel", "entered_in_error",
        "override_urgency",
    ]  # fmt: skip


def test_no_move_is_chosen_until_staff_choose_one(client, chiropractor):
    """The first move offered was chosen: on a scheduled referral Apply alone completed it
    (on a claimed one it released the claim)."""
    (referral,) = submit("V01").referrals
    for action in ("claim", "contact", "schedule"):
        referral = referral_transition(referral=referral, action=action, actor=chiropractor)
    client.force_login(chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert offered(html, "action")[:2] == ["", "complete"]
    assert '<option value="" selected>—</option>' in html.split('name="move-action"')[1]
    answer = client.post(url("move", referral), {"move-action": "", "move-reason": ""})
    assert answer.status_code == 400
    (control,) = re.findall(r'<select name="move-action"[^>]*>', answer.content.decode())
    assert 'aria-invalid="true"' in control
    assert "Choose a move." in answer.content.decode()
    referral.refresh_from_db()
    assert referral.status == Status.SCHEDULED


def test_a_red_flag_review_offers_no_reroute_it_would_refuse(client, medical_reviewer):
    (review,) = submit("V09").referrals
    client.force_login(medical_reviewer)
    html = client.get(url("change", review)).content.decode()
    assert "reroute" not in offered(html, "action")
    assert "claim" in offered(html, "action")
    # Nor its queue: a "Reroute to" select was still shown, for a move not offered.
    assert 'name="move-queue"' not in html
    assert "Reroute to" not in html
    assert offered(html, "urgency") == ["", "urgent", "routine"]


def test_an_urgency_left_out_is_asked_for_among_those_offered(client, medical_reviewer):
    """The refusal named all three ("Choose emergency, urgent or routine.") where the form
    offered the two other than the referral's own."""
    (review,) = submit("V09").referrals
    client.force_login(medical_reviewer)
    data = {"move-action": "override_urgency", "move-reason": "Seen: stable"}
    answer = client.post(url("move", review), data)
    assert answer.status_code == 400
    html = answer.content.decode()
    assert offered(html, "urgency") == ["", "urgent", "routine"]
    assert "<li>Choose urgent or routine.</li>" in html


def test_a_move_a_colleague_made_impossible_stays_chosen_beside_its_error(
    client, chiropractor, triage_lead
):
    (referral,) = submit("V01").referrals
    referral_transition(referral=referral, action="claim", actor=triage_lead)
    client.force_login(chiropractor)
    answer = client.post(url("move", referral), {"move-action": "claim", "move-reason": ""})
    assert answer.status_code == 409
    html = answer.content.decode()
    assert '<option value="claim" selected>' in html
    assert "release" in offered(html, "action")


def test_a_page_sent_back_with_an_error_says_so_in_its_title_and_at_its_top(client, chiropractor):
    """The page opened at its top with the error only beside its field, further down, and the
    same title as before (a review); Django's change form prefixes "Error:"."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert "<title>Case" in html
    assert "errornote" not in html
    answer = client.post(url("move", referral), {"move-action": "decline", "move-reason": ""})
    html = answer.content.decode()
    assert "<title>Error: Case" in html
    assert '<p class="errornote">Not saved: see the error below.</p>' in html


def test_a_change_of_urgency_chosen_on_a_page_shown_before_another_is_refused(
    client, chiropractor, triage_lead
):
    """Two staff on one case: the lead raised it to emergency while a clinician's page still
    showed it routine, and the clinician's "Change urgency: Urgent" (meant as a raise) lowered
    the emergency to urgent, saved without a word (found in chromium in a QA round)."""
    from referrals.services import referral_override_urgency

    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    shown = client.get(url("change", referral)).content.decode()
    assert 'name="move-urgency_shown" value="routine"' in shown
    referral_override_urgency(
        referral=referral, actor=triage_lead, urgency="emergency", reason="New saddle numbness"
    )
    typed = "Pain worse at night"
    answer = client.post(
        url("move", referral),
        {
            "move-action": "override_urgency",
            "move-urgency": "urgent",
            "move-reason": typed,
            "move-urgency_shown": "routine",
        },
    )
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "changed to Emergency since" in html
    assert typed in html
    # The page sent back carries the urgency it shows now, so choosing again is a choice made
    # on what is there.
    assert 'name="move-urgency_shown" value="emergency"' in html
    referral.refresh_from_db()
    assert referral.urgency == "emergency"
    answer = client.post(
        url("move", referral),
        {
            "move-action": "override_urgency",
            "move-urgency": "urgent",
            "move-reason": typed,
            "move-urgency_shown": "emergency",
        },
    )
    assert answer.status_code == 302
    referral.refresh_from_db()
    assert referral.urgency == "urgent"


# A move chosen on a case page shown before a colleague moved the referral (found in a QA round
# with two staff in two browser contexts): the status table let it through whenever it was legal
# from the new status, and the page answered "Saved".
CHANGED_SINCE = "a colleague changed this referral since the page was shown. It is now"


def _history(referral):
    return list(ReferralEvent.objects.filter(referral=referral).values_list("pk", flat=True))


def _carries(html, status, assignee=""):
    return (
        f'name="move-status_shown" value="{status}"' in html
        and f'name="move-assignee_shown" value="{assignee}"' in html
    )


def _refused_as_stale(refused, referral, history, *, now, status, assignee=""):
    """A move chosen on a page shown before the referral changed: 409, nothing saved, and the
    page sent back shows the referral as it is now and carries it (the same choice, made again
    on it, is a choice made on what is there). The page's HTML."""
    assert refused.status_code == 409
    html = refused.content.decode()
    assert f"{CHANGED_SINCE} {now}" in html
    referral.refresh_from_db()
    assert referral.status == status
    assert _history(referral) == history
    assert _carries(html, status, assignee)
    return html


def _sent_again(client, page, referral):
    """The choice a page sent back holds, sent again as drawn: saved."""
    assert send_as_drawn(client, page, url("move", referral)).status_code == 302
    referral.refresh_from_db()
    return referral


def test_a_decline_chosen_on_a_page_shown_before_a_colleague_moved_the_referral_is_refused(
    client, chiropractor, second_chiropractor
):
    """Carla's page showed the referral new; meanwhile Chen claimed it and contacted the
    patient, and Carla's decline, with her reason, declined the case Chen was working on."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    page = client.get(url("change", referral))
    assert _carries(page.content.decode(), "new")
    referral_claim(referral=referral, actor=second_chiropractor)
    referral_contact(referral=referral, actor=second_chiropractor)
    history = _history(referral)
    typed = "Seen privately last week, no need for the clinic."
    refused = send_as_drawn(
        client, page, url("move", referral), **{"move-action": "decline", "move-reason": typed}
    )
    html = _refused_as_stale(
        refused,
        referral,
        history,
        now="Patient contacted, assigned to chiro_chen (see the history)",
        status=Status.CONTACTED,
        assignee="chiro_chen",
    )
    assert typed in html
    assert _sent_again(client, refused, referral).status == Status.DECLINED
    assert referral.events.latest("id").reason == typed


def test_a_reroute_chosen_on_a_page_shown_before_a_colleague_claimed_it_is_refused(
    client, chiropractor, second_chiropractor
):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    page = client.get(url("change", referral))
    referral_claim(referral=referral, actor=second_chiropractor)
    history = _history(referral)
    typed = "Heel pain is the main complaint: podiatry first."
    choice = {"move-action": "reroute", "move-queue": "podiatry", "move-reason": typed}
    refused = send_as_drawn(client, page, url("move", referral), **choice)
    html = _refused_as_stale(
        refused,
        referral,
        history,
        now="Claimed, assigned to chiro_chen",
        status=Status.CLAIMED,
        assignee="chiro_chen",
    )
    assert typed in html
    assert not Referral.objects.filter(queue="podiatry").exists()
    assert _sent_again(client, refused, referral).status == Status.REROUTED
    assert Referral.objects.get(rerouted_from=referral).queue == "podiatry"


def test_a_complete_sent_again_after_a_colleague_scheduled_the_referral_is_refused(
    client, chiropractor, triage_lead
):
    """A page sent back keeps the move tried chosen (here "Complete", refused while the patient
    was only contacted): Apply pressed again once the lead had recorded the appointment
    completed a referral the page still showed contacted."""
    (referral,) = submit("V01").referrals
    referral_claim(referral=referral, actor=chiropractor)
    referral_contact(referral=referral, actor=chiropractor)
    client.force_login(chiropractor)
    page = client.get(url("change", referral))
    first = send_as_drawn(client, page, url("move", referral), **{"move-action": "complete"})
    assert first.status_code == 409
    assert '<option value="complete" selected>' in first.content.decode()
    referral_schedule(referral=referral, actor=triage_lead)
    history = _history(referral)
    refused = send_as_drawn(client, first, url("move", referral))
    _refused_as_stale(
        refused,
        referral,
        history,
        now="Scheduled, assigned to chiro_carla",
        status=Status.SCHEDULED,
        assignee="chiro_carla",
    )
    assert _sent_again(client, refused, referral).status == Status.COMPLETED


def test_a_release_chosen_on_a_page_shown_before_the_referral_changed_hands_is_refused(
    client, chiropractor, second_chiropractor, triage_lead
):
    """The status is the same (claimed), the assignee is not: the lead's release, meant for
    Chen's claim, would have released Carla's."""
    (referral,) = submit("V01").referrals
    referral_claim(referral=referral, actor=second_chiropractor)
    client.force_login(triage_lead)
    page = client.get(url("change", referral))
    assert _carries(page.content.decode(), "claimed", "chiro_chen")
    referral_release(referral=referral, actor=second_chiropractor)
    referral_claim(referral=referral, actor=chiropractor)
    history = _history(referral)
    refused = send_as_drawn(client, page, url("move", referral), **{"move-action": "release"})
    _refused_as_stale(
        refused,
        referral,
        history,
        now="Claimed, assigned to chiro_carla",
        status=Status.CLAIMED,
        assignee="chiro_carla",
    )
    assert referral.assigned_to == chiropractor
    assert _sent_again(client, refused, referral).status == Status.NEW


def test_a_page_refused_in_a_race_carries_the_status_the_colleague_set(
    client, chiropractor, second_chiropractor, monkeypatch
):
    """The colleague's move committed after the move's request read the referral and before
    the service locked it: the page sent back showed, and carried, the status from before, so
    the same choice made on it was refused again."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    page = client.get(url("change", referral))
    transition = services.referral_transition

    def colleague_first(**kwargs):
        transition(referral=referral, action="claim", actor=second_chiropractor)
        monkeypatch.setattr(services, "referral_transition", transition)
        return transition(**kwargs)

    monkeypatch.setattr(services, "referral_transition", colleague_first)
    typed = "Duplicate of a referral already open elsewhere."
    choice = {"move-action": "cancel", "move-reason": typed}
    refused = send_as_drawn(client, page, url("move", referral), **choice)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert _carries(html, "claimed", "chiro_chen")
    assert "<td>Claimed — chiro_chen</td>" in html
    assert _sent_again(client, refused, referral).status == Status.CANCELLED


def test_a_move_sent_twice_is_not_said_to_be_a_colleagues(client, chiropractor):
    """A double click on Apply: the first request saves, the second is answered, and its
    refusal named a colleague who was not there."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    page = client.get(url("change", referral))
    choice = {"move-action": "decline", "move-reason": "Seen privately, letter on file."}
    assert send_as_drawn(client, page, url("move", referral), **choice).status_code == 302
    again = send_as_drawn(client, page, url("move", referral), **choice)
    assert again.status_code == 409
    html = again.content.decode()
    assert "Nothing was saved: you changed this referral since the page was shown" in html
    assert "It is now Declined (see the history)" in html
    assert "colleague" not in html
    assert referral.events.filter(to_status=Status.DECLINED).count() == 1
