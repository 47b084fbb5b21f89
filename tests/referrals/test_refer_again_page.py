"""The case page's "Refer again": a closed referral's own form, a reason box, then the new
referral's page (docs/CLINICAL_DECISIONS.md, Referring again)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from referrals.models import AuditEntry, EventKind, Referral, ReferralEvent
from referrals.services import (
    referral_add_note,
    referral_decline,
    referral_mark_entered_in_error,
    referral_refer_again,
    referral_reroute,
)
from tests.clinic_fixtures import details, make_staff, submit
from tests.referrals.drawn import send_as_drawn
from tests.referrals.test_refer_again import declined

pytestmark = pytest.mark.django_db


def url(name, referral):
    return reverse(f"admin:referrals_referral_{name}", args=[referral.public_id])


def test_the_case_page_refers_a_closed_referral_again_and_shows_the_new_one(
    client, chiropractor, second_chiropractor
):
    old = declined(chiropractor)
    client.force_login(second_chiropractor)
    page = client.get(url("change", old))
    assert 'value="Refer again"' in page.content.decode()
    answer = send_as_drawn(
        client, page, url("refer_again", old), **{"move-reason": "Declined the wrong case"}
    )
    new = Referral.objects.get(referred_again_from=old)
    assert answer.status_code == 302
    assert answer["Location"] == url("change", new)
    shown = client.get(answer["Location"]).content.decode()
    assert "Referred again: this is the new referral" in shown
    assert "Referred again from" in shown
    # The one who referred it again is named as such, not as if they had declined it.
    assert "referred again by chiro_chen from the declined referral: “Declined the wrong" in shown
    closed = date_format(localtime(old.closed_at), "D j M Y H:i")
    assert f'{url("change", old)}">the declined referral</a> (closed {closed})' in shown
    assert new.events.get().reason == "Declined the wrong case"
    old_page = client.get(url("change", old)).content.decode()
    assert 'value="Refer again"' not in old_page
    assert "Referred again as" in old_page
    assert f'{url("change", new)}">a new referral in this queue</a>, now New (proposed)' in old_page
    assert "Referred again as a new referral by chiro_chen" in old_page
    kinds = ReferralEvent.objects.filter(referral=old).values_list("kind", flat=True)
    assert list(kinds) == [EventKind.CREATED, EventKind.TRANSITION, EventKind.REFERRED_AGAIN]
    assert AuditEntry.objects.filter(action="refer_again", object_id=str(old.public_id)).exists()


def test_the_case_page_asks_for_the_reason_beside_its_box(client, chiropractor):
    old = declined(chiropractor)
    client.force_login(chiropractor)
    page = client.get(url("change", old))
    answer = send_as_drawn(client, page, url("refer_again", old), **{"move-reason": " "})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert "Please give a reason." in html
    assert 'id="again-reason"' in html
    assert Referral.objects.count() == 1


def test_the_case_page_refusal_names_the_open_referral_and_keeps_the_reason(client, chiropractor):
    old = declined(chiropractor)
    client.force_login(chiropractor)
    page = client.get(url("change", old))
    (open_one,) = submit("V01").referrals
    typed = "Declined by mistake: patient still needs manual therapy."
    answer = send_as_drawn(client, page, url("refer_again", old), **{"move-reason": typed})
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "already has an open referral in Chiropractic" in html
    assert open_one.intake.reference in html
    assert typed in html
    assert Referral.objects.count() == 2


def test_the_case_page_does_not_offer_it_on_a_rerouted_or_entered_in_error_referral(
    client, chiropractor
):
    (rerouted,) = submit("V01").referrals
    referral_reroute(referral=rerouted, actor=chiropractor, queue="podiatry", reason="Feet")
    in_error = declined(chiropractor, patient=details(family_name="Hughes"))
    referral_mark_entered_in_error(referral=in_error, actor=chiropractor, reason="Test entry")
    client.force_login(chiropractor)
    for referral in (rerouted, in_error):
        assert 'value="Refer again"' not in client.get(url("change", referral)).content.decode()


def test_the_case_page_does_not_offer_it_where_it_can_only_be_refused(
    client, chiropractor, medical_reviewer
):
    """An erased patient's referral, and a review whose red flags were cleared, are never
    referred again (the service refuses them whatever is done first): the page offered "Refer
    again", a reason was typed, and the refusal came back (a QA round)."""
    from intake.privacy import patient_erase
    from referrals.services import intake_clear_red_flag

    erased = declined(chiropractor)
    patient_erase(public_id=erased.patient.public_id, actor=chiropractor, reason="By email")
    client.force_login(chiropractor)
    html = client.get(url("change", erased)).content.decode()
    assert 'value="Refer again"' not in html
    assert 'value="Mark entered in error"' in html

    submission = submit("V09", patient=details(family_name="Morgan"))
    (review,) = submission.referrals
    intake_clear_red_flag(intake=submission.intake, actor=medical_reviewer, reason="Seen")
    client.force_login(medical_reviewer)
    html = client.get(url("change", review)).content.decode()
    assert "This referral is completed." in html
    assert 'value="Refer again"' not in html
    assert 'value="Mark entered in error"' in html


def test_a_review_with_its_red_flag_standing_is_still_offered_it(client, medical_reviewer):
    """Completed by its work with the red flag standing (no clearance), a review may be made
    again: the page offers it."""
    from tests.referrals.test_refer_again import completed

    (review,) = submit("V09").referrals
    review = completed(review, medical_reviewer)
    client.force_login(medical_reviewer)
    assert 'value="Refer again"' in client.get(url("change", review)).content.decode()


def test_another_teams_referral_is_not_found_through_the_case_page(
    client, chiropractor, podiatrist
):
    old = declined(chiropractor)
    client.force_login(podiatrist)
    answer = client.post(
        url("refer_again", old), {"move-action": "refer_again", "move-reason": "Mine now"}
    )
    assert answer.status_code == 404
    assert Referral.objects.count() == 1


def test_the_open_move_form_does_not_offer_referring_again(client, chiropractor):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    html = client.get(url("change", referral)).content.decode()
    assert 'value="refer_again"' not in html


def test_the_notes_of_the_referral_closed_by_mistake_are_shown_on_the_new_one(
    client, chiropractor, second_chiropractor, podiatrist
):
    """Written for whoever takes the case next: the referral made again is that one."""
    (referral,) = submit("V01").referrals
    referral_add_note(referral=referral, actor=chiropractor, text="Prefers mornings; deaf left ear")
    old = referral_decline(referral=referral, actor=chiropractor, reason="Seen elsewhere")
    new = referral_refer_again(referral=old, actor=second_chiropractor, reason="By mistake")
    referral_add_note(referral=new, actor=second_chiropractor, text="Called: booked Tuesday")
    client.force_login(second_chiropractor)
    notes = client.get(url("change", new)).content.decode().split('id="notes-h"', 1)[1]
    notes = notes.split("</section>", 1)[0]
    assert "in Chiropractic, before it was referred again" in notes
    assert notes.index("Prefers mornings") < notes.index("Called: booked Tuesday")
    assert "before the reroute" not in notes
    # Rerouted on, the case takes both referrals' notes with it.
    feet = referral_reroute(
        referral=new, actor=second_chiropractor, queue="podiatry", reason="Feet"
    )
    client.force_login(podiatrist)
    notes = client.get(url("change", feet)).content.decode().split('id="notes-h"', 1)[1]
    notes = notes.split("</section>", 1)[0]
    assert "in Chiropractic, before it was referred again" in notes
    assert "in Chiropractic, before the reroute" in notes
    # The closed referral's page shows only its own.
    client.force_login(chiropractor)
    closed = client.get(url("change", old)).content.decode().split('id="notes-h"', 1)[1]
    assert "Called: booked Tuesday" not in closed.split("</section>", 1)[0]


def test_referring_again_asks_the_change_permission_as_every_move_does(client, chiropractor):
    old = declined(chiropractor)
    viewer = make_staff("chiro_viewer", "Chiropractic team")
    Group.objects.get(name="Chiropractic team").permissions.remove(
        Permission.objects.get(codename="change_referral")
    )
    client.force_login(viewer)
    page = client.get(url("change", old)).content.decode()
    assert 'value="Refer again"' not in page
    answer = client.post(
        url("refer_again", old), {"move-action": "refer_again", "move-reason": "Mine"}
    )
    assert answer.status_code == 403
    assert Referral.objects.count() == 1


def test_refer_again_clicked_twice_makes_one_referral_and_says_it_was_the_actors_own(
    client, chiropractor
):
    old = declined(chiropractor)
    client.force_login(chiropractor)
    page = client.get(url("change", old))
    first = send_as_drawn(client, page, url("refer_again", old), **{"move-reason": "By mistake"})
    second = send_as_drawn(client, page, url("refer_again", old), **{"move-reason": "By mistake"})
    assert first.status_code == 302
    assert second.status_code == 409
    html = second.content.decode()
    assert "You referred this referral again already" in html
    assert "Referred again as" in html
    assert Referral.objects.filter(referred_again_from=old).count() == 1


def test_a_referral_made_again_that_a_reroute_joined_shows_the_notes_of_both(
    client, chiropractor, podiatrist
):
    """A reroute into the patient's open referral of its queue links that referral to the one
    rerouted (rerouted_from) even when it was made again from one closed by mistake: it then
    came from both, and the page followed the reroute alone, so the notes written before the
    mistake (for whoever takes the case next) were no longer shown on it."""
    (referral,) = submit("V01").referrals
    referral_add_note(referral=referral, actor=chiropractor, text="Prefers mornings; deaf left ear")
    old = referral_decline(referral=referral, actor=chiropractor, reason="Seen elsewhere")
    again = referral_refer_again(referral=old, actor=chiropractor, reason="By mistake")
    (feet,) = submit("V21").referrals  # the same patient, in podiatry
    referral_add_note(referral=feet, actor=podiatrist, text="Arch pain is from the back")
    joined = referral_reroute(referral=feet, actor=podiatrist, queue="chiropractic", reason="Back")
    assert joined.pk == again.pk
    client.force_login(chiropractor)
    notes = client.get(url("change", again)).content.decode().split('id="notes-h"', 1)[1]
    notes = notes.split("</section>", 1)[0]
    assert "Prefers mornings" in notes
    assert "in Chiropractic, before it was referred again" in notes
    assert "Arch pain is from the back" in notes
    assert "in Podiatry, before the reroute" in notes


def test_entered_in_error_chosen_on_a_page_shown_before_a_colleague_referred_it_again_is_refused(
    client, chiropractor, second_chiropractor
):
    """Carla's page showed the declined referral as it was; meanwhile Chen referred it again.
    Its status unchanged, Carla's "entered in error" (another patient's record, say) went
    through without her seeing that a new referral had been made from it, which stayed open in
    the queue. As for any move chosen on a page shown before a colleague changed the referral:
    refused, nothing saved, the reason kept, the page sent back showing the new referral."""
    old = declined(chiropractor)
    client.force_login(chiropractor)
    page = client.get(url("change", old))
    new = referral_refer_again(referral=old, actor=second_chiropractor, reason="By mistake")
    history = list(ReferralEvent.objects.filter(referral=old).values_list("pk", flat=True))
    typed = "Not this patient: the names were swapped at reception."
    refused = send_as_drawn(
        client,
        page,
        url("move", old),
        **{"move-action": "entered_in_error", "move-reason": typed},
    )
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "a colleague referred this referral again since the page was shown" in html
    assert new.intake.reference in html
    assert typed in html
    assert "Referred again as" in html
    old.refresh_from_db()
    assert old.status == "declined"
    assert list(ReferralEvent.objects.filter(referral=old).values_list("pk", flat=True)) == history
    # Sent again from the page that shows the new referral: saved.
    again = send_as_drawn(client, refused, url("move", old))
    assert again.status_code == 302
    old.refresh_from_db()
    assert old.status == "entered_in_error"


def test_entered_in_error_from_a_page_that_showed_the_referral_made_again_is_saved(
    client, chiropractor
):
    old = declined(chiropractor)
    referral_refer_again(referral=old, actor=chiropractor, reason="By mistake")
    client.force_login(chiropractor)
    page = client.get(url("change", old))
    answer = send_as_drawn(
        client, page, url("move", old), **{"move-action": "entered_in_error", "move-reason": "x"}
    )
    assert answer.status_code == 302


def _referred_again_row(html: str) -> str:
    row = html.split('<th scope="row">Referred again as</th>', 1)
    assert len(row) == 2, "no “Referred again as” row"
    return row[1].split("</tr>", 1)[0]


def test_the_closed_page_links_the_referral_made_again_once_that_was_entered_in_error(
    client, chiropractor
):
    """The new referral called wrong: the closed one's page still links it, with its status, as
    its history names it, so staff can follow the case."""
    old = declined(chiropractor)
    new = referral_refer_again(referral=old, actor=chiropractor, reason="By mistake")
    referral_mark_entered_in_error(referral=new, actor=chiropractor, reason="Wrong patient")
    client.force_login(chiropractor)
    row = _referred_again_row(client.get(url("change", old)).content.decode())
    assert url("change", new) in row
    assert row.endswith(", now Entered in error</td>")
    assert client.get(url("change", new)).status_code == 200


def test_the_closed_page_keeps_the_link_once_it_was_itself_entered_in_error(client, chiropractor):
    """Marking the closed referral entered in error after it was made again (which the page
    offers) hid the link to the new referral, open in the queue, that its history names."""
    old = declined(chiropractor)
    new = referral_refer_again(referral=old, actor=chiropractor, reason="By mistake")
    referral_mark_entered_in_error(referral=old, actor=chiropractor, reason="Wrong patient")
    client.force_login(chiropractor)
    row = _referred_again_row(client.get(url("change", old)).content.decode())
    assert url("change", new) in row
    assert row.endswith(", now New (proposed)</td>")
