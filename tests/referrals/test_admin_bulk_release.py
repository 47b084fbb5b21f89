"""The queue's "Release the selected referrals": a confirmation page listing them as they are
now (Django's delete-confirmation pattern), then each released only if unchanged since that
page. Released from the list at once, a release chosen on a list shown minutes ago released
referrals a colleague had claimed, contacted or scheduled since."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referrals.models import AuditEntry, Referral, Status
from referrals.services import (
    referral_cancel,
    referral_claim,
    referral_complete,
    referral_contact,
    referral_release,
    referral_schedule,
)
from tests.clinic_fixtures import details, submit
from tests.referrals.drawn import send_as_drawn

pytestmark = pytest.mark.django_db

LIST = reverse("admin:referrals_referral_changelist")


def chiropractic(n: int) -> list[Referral]:
    return [submit("V01", patient=details(phone=f"07700 97{i:04d}")).referrals[0] for i in range(n)]


def release_from_the_list(client, referrals, **extra):
    data = {
        "action": "release_selected",
        "_selected_action": [r.pk for r in referrals],
        "index": "0",
        **extra,
    }
    return client.post(LIST, data)


def confirm(client, page):
    return send_as_drawn(client, page, LIST)


def status_of(referral: Referral) -> tuple[str, str | None]:
    referral.refresh_from_db()
    return referral.status, referral.assigned_to.username if referral.assigned_to else None


def test_release_from_the_list_asks_first_showing_each_referral_as_it_is_now(
    client, triage_lead, chiropractor, second_chiropractor
):
    """The list showed the referral claimed by Carla; since, she released it and Chen claimed
    it. The list's release went through at once and took Chen's claim."""
    (referral,) = chiropractic(1)
    referral_claim(referral=referral, actor=chiropractor)
    client.force_login(triage_lead)
    client.get(LIST)
    referral_release(referral=referral, actor=chiropractor)
    referral_claim(referral=referral, actor=second_chiropractor)
    page = release_from_the_list(client, [referral])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Release these referrals to the queue?" in html
    assert referral.intake.reference in html
    assert "Claimed — chiro_chen" in html
    assert status_of(referral) == (Status.CLAIMED, "chiro_chen")
    answer = confirm(client, page)
    assert answer.status_code == 302
    assert status_of(referral) == (Status.NEW, None)
    assert AuditEntry.objects.filter(action="release", object_id=str(referral.public_id)).exists()


def test_a_referral_changed_since_the_confirmation_page_is_named_and_the_rest_released(
    client, triage_lead, chiropractor, second_chiropractor
):
    """Each release stands alone: one a colleague changed since the page is left as it is and
    named with what it is now; the others, unchanged, are released."""
    kept, moved, reclaimed = chiropractic(3)
    for referral in (kept, moved, reclaimed):
        referral_claim(referral=referral, actor=chiropractor)
    client.force_login(triage_lead)
    page = release_from_the_list(client, [kept, moved, reclaimed])
    assert page.status_code == 200
    referral_contact(referral=moved, actor=chiropractor)
    referral_release(referral=reclaimed, actor=chiropractor)
    referral_claim(referral=reclaimed, actor=second_chiropractor)
    answer = confirm(client, page)
    assert answer.status_code == 302
    assert status_of(kept) == (Status.NEW, None)
    assert status_of(moved) == (Status.CONTACTED, "chiro_carla")
    assert status_of(reclaimed) == (Status.CLAIMED, "chiro_chen")
    shown = client.get(answer["Location"]).content.decode()
    assert "Released 1 referral to the queue." in shown
    assert "Not released: changed since the confirmation page was shown" in shown
    assert f"{moved.intake.reference} (now Patient contacted, assigned to chiro_carla)" in shown
    assert f"{reclaimed.intake.reference} (now Claimed, assigned to chiro_chen)" in shown


def test_the_confirmation_page_sets_apart_what_cannot_be_released(
    client, triage_lead, chiropractor
):
    """A referral left the list's filter since (completed) is shown as it is now, apart, not
    dropped without a word; one still new has nothing to release."""
    claimed, new, done = chiropractic(3)
    for move in (referral_claim, referral_contact, referral_schedule):
        move(referral=done, actor=chiropractor)
    referral_claim(referral=claimed, actor=chiropractor)
    client.force_login(triage_lead)
    client.get(LIST)
    referral_complete(referral=done, actor=chiropractor)
    page = release_from_the_list(client, [claimed, new, done])
    html = page.content.decode()
    left = html.split("Left as they are", 1)[1]
    assert f"{new.intake.reference}" in left
    assert f"{done.intake.reference}" in left
    assert "it is completed: nothing to release" in left
    assert claimed.intake.reference not in left
    confirm(client, page)
    assert status_of(claimed) == (Status.NEW, None)
    assert status_of(done)[0] == Status.COMPLETED


def test_a_clinician_is_told_on_the_page_that_a_colleagues_claim_is_not_theirs_to_release(
    client, chiropractor, second_chiropractor
):
    mine, theirs = chiropractic(2)
    referral_claim(referral=mine, actor=chiropractor)
    referral_claim(referral=theirs, actor=second_chiropractor)
    client.force_login(chiropractor)
    page = release_from_the_list(client, [mine, theirs])
    left = page.content.decode().split("Left as they are", 1)[1]
    assert theirs.intake.reference in left
    assert "claimed by chiro_chen" in left
    confirm(client, page)
    assert status_of(mine) == (Status.NEW, None)
    assert status_of(theirs) == (Status.CLAIMED, "chiro_chen")


def test_a_confirmation_without_the_state_shown_releases_nothing(client, triage_lead, chiropractor):
    """A hand-made POST (or a page from before) that says nothing of what it showed."""
    (referral,) = chiropractic(1)
    referral_claim(referral=referral, actor=chiropractor)
    client.force_login(triage_lead)
    data = {"action": "release_selected", "_selected_action": [referral.pk], "post": "yes"}
    answer = client.post(LIST, data, follow=True)
    assert status_of(referral) == (Status.CLAIMED, "chiro_carla")
    assert "not on a confirmation page" in answer.content.decode()


def test_another_teams_referral_is_not_listed_nor_released(client, podiatrist, chiropractor):
    (referral,) = chiropractic(1)
    referral_claim(referral=referral, actor=chiropractor)
    client.force_login(podiatrist)
    page = release_from_the_list(client, [referral])
    assert referral.intake.reference not in page.content.decode()
    assert status_of(referral) == (Status.CLAIMED, "chiro_carla")


def test_the_confirmation_page_says_plainly_what_a_release_does_and_goes_back_as_django_does(
    client, triage_lead, chiropractor
):
    """Its intro was not a sentence, and "No, take me back" was a plain link to the list, which
    lost the ticked selection; Django's delete confirmation goes back in history (cancel.js)."""
    referrals = chiropractic(2)
    for referral in referrals:
        referral_claim(referral=referral, actor=chiropractor)
    client.force_login(triage_lead)
    page = client.post(
        LIST + "?status=claimed",
        {"action": "release_selected", "_selected_action": [r.pk for r in referrals], "index": 0},
    )
    html = " ".join(page.content.decode().split())
    assert (
        "<p>These are the referrals as they are now. Each goes back to the queue as new and "
        "unassigned. If a colleague changes one before you press “Release”, it is left as it "
        "is.</p>"
    ) in html
    assert (
        '<a role="button" href="/admin/referrals/referral/?status=claimed" '
        'class="button cancel-link">No, take me back</a>'
    ) in html
    assert "/static/admin/js/cancel.js" in html
    answer = send_as_drawn(client, page, LIST + "?status=claimed")
    assert "Released 2 referrals to the queue." in client.get(answer["Location"]).content.decode()


def test_the_claim_action_says_how_many_it_claimed_in_plain_words(client, chiropractor):
    """It said "1 referral(s): claim done." (a QA round)."""
    one, two, three = chiropractic(3)
    client.force_login(chiropractor)
    for chosen, said in (([one], "Claimed 1 referral."), ([two, three], "Claimed 2 referrals.")):
        data = {"action": "claim_selected", "_selected_action": [r.pk for r in chosen]}
        answer = client.post(LIST, {**data, "index": "0"}, follow=True)
        assert said in answer.content.decode()


def test_a_claim_from_the_list_names_a_referral_that_left_the_list_since(
    client, chiropractor, triage_lead
):
    """Carla's list showed three new referrals; before she chose "Claim", the lead cancelled
    one. Django ran the action on the selection within the list's filters (open work), so the
    cancelled one was dropped without a word: "Claimed 2 referrals." for three chosen, and
    nothing at all when it was the only one chosen. It is refused as the service refuses it,
    saying why, as a claim of one a colleague claimed is."""
    one, two, three = chiropractic(3)
    client.force_login(chiropractor)
    client.get(LIST)
    referral_cancel(referral=three, actor=triage_lead, reason="Duplicate of an earlier case")
    data = {"action": "claim_selected", "_selected_action": [one.pk, two.pk, three.pk]}
    answer = client.post(LIST, {**data, "index": "0"}, follow=True)
    shown = [str(m) for m in answer.context["messages"]]
    assert shown == [
        f"{three.intake.reference}: A referral that is cancelled cannot be moved by “claim”.",
        "Claimed 2 referrals.",
    ]
    assert status_of(three) == (Status.CANCELLED, None)
    alone = client.post(LIST, {**data, "_selected_action": [three.pk], "index": "0"}, follow=True)
    assert [str(m) for m in alone.context["messages"]] == [shown[0]]


def test_a_claim_from_the_list_names_the_referrals_no_longer_in_ones_queues(
    client, chiropractor, podiatrist
):
    """A hand-made selection, or a list shown before the user left a queue's team: the
    referrals outside the user's queues are counted, not claimed, and not named."""
    (mine,) = chiropractic(1)
    (theirs, _orthotics) = submit("V11", patient=details(family_name="Foot")).referrals
    client.force_login(chiropractor)
    data = {"action": "claim_selected", "_selected_action": [mine.pk, theirs.pk], "index": "0"}
    shown = [str(m) for m in client.post(LIST, data, follow=True).context["messages"]]
    assert shown == ["Claimed 1 referral.", "Not claimed: 1 referral no longer in your queues."]
    assert status_of(theirs) == (Status.NEW, None)
