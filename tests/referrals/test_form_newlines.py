"""Staff text is measured as the browser measures it: a line break is one character.

A browser counts each line break in a textarea as one character against its maxlength but sends
it as "\\r\\n"; the server counted two, so text the browser let through was refused."""

import pytest
from django.urls import reverse

from intake.models import Intake
from referrals.forms import ClearRedFlagForm, MoveForm, StaffNoteForm
from referrals.models import ReferralEvent, StaffNote
from tests.clinic_fixtures import details, submit


def typed(length: int) -> str:
    """Text of ``length`` characters as the browser counts them: lines of 50, "\\n" between."""
    lines, rest = divmod(length, 50)
    return ("x" * 49 + "\n") * lines + "x" * rest


def as_sent(text: str) -> str:
    return text.replace("\n", "\r\n")


def too_long(limit: int, has: int) -> str:
    return f"Ensure this value has at most {limit} characters (it has {has})."


FORMS = [
    pytest.param(StaffNoteForm, "text", 5000, {}, id="staff note"),
    pytest.param(MoveForm, "reason", 2000, {"action": "decline"}, id="move reason"),
    pytest.param(ClearRedFlagForm, "reason", 2000, {}, id="clear red flag reason"),
]


@pytest.mark.parametrize(("form_class", "field", "limit", "other"), FORMS)
def test_the_textarea_gives_the_browser_the_same_limit(form_class, field, limit, other):
    assert f'maxlength="{limit}"' in str(form_class()[field])


@pytest.mark.parametrize(("form_class", "field", "limit", "other"), FORMS)
def test_text_at_the_browsers_limit_is_accepted_with_its_line_breaks_as_newlines(
    form_class, field, limit, other
):
    text = typed(limit - 10)
    assert len(as_sent(text)) > limit  # what the server used to count
    form = form_class({**other, field: as_sent(text)})
    assert form.is_valid(), form.errors
    assert form.cleaned_data[field] == text


@pytest.mark.parametrize(("form_class", "field", "limit", "other"), FORMS)
def test_text_over_the_limit_once_its_line_breaks_are_counted_once_is_still_refused(
    form_class, field, limit, other
):
    form = form_class({**other, field: as_sent(typed(limit + 1))})
    assert not form.is_valid()
    assert form.errors[field] == [too_long(limit, limit + 1)]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("one\r\ntwo", "one\ntwo"),
        ("one\rtwo", "one\ntwo"),  # old Mac line breaks, or a hand-made POST
        ("one\ntwo", "one\ntwo"),
        ("one\r\n\r\ntwo\r\rthree", "one\n\ntwo\n\nthree"),
        ("\r\n  trimmed  \r\n", "trimmed"),
    ],
)
def test_every_kind_of_line_break_is_kept_as_a_newline(sent, kept):
    form = StaffNoteForm({"text": sent})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["text"] == kept


@pytest.mark.django_db
def test_a_long_note_typed_in_the_browser_is_saved_with_newlines(client, chiropractor):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    url = reverse("admin:referrals_referral_note", args=[referral.public_id])
    text = typed(4990)
    response = client.post(url, {"note-text": as_sent(text)})
    assert response.status_code == 302
    assert StaffNote.objects.get(referral=referral).text == text

    response = client.post(url, {"note-text": as_sent(typed(5001))})
    assert response.status_code == 400
    assert too_long(5000, 5001) in response.content.decode()


@pytest.mark.django_db
def test_a_long_decline_reason_typed_in_the_browser_is_saved_with_newlines(client, chiropractor):
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    url = reverse("admin:referrals_referral_move", args=[referral.public_id])
    too_much = {"move-action": "decline", "move-reason": as_sent(typed(2001))}
    response = client.post(url, too_much)
    assert response.status_code == 400
    assert too_long(2000, 2001) in response.content.decode()

    text = typed(1990)
    response = client.post(url, {"move-action": "decline", "move-reason": as_sent(text)})
    assert response.status_code == 302
    assert ReferralEvent.objects.get(referral=referral, to_status="declined").reason == text


@pytest.mark.django_db
def test_a_long_red_flag_clearance_typed_in_the_browser_is_saved_with_newlines(
    client, medical_reviewer
):
    (referral,) = submit("V09", patient=details(family_name="Morgan")).referrals
    client.force_login(medical_reviewer)
    url = reverse("admin:referrals_referral_clear", args=[referral.public_id])
    response = client.post(url, {"clear-reason": as_sent(typed(2001))})
    assert response.status_code == 400
    assert too_long(2000, 2001) in response.content.decode()

    text = typed(1990)
    response = client.post(url, {"clear-reason": as_sent(text)})
    assert response.status_code == 302
    assert Intake.objects.get(pk=referral.intake_id).red_flag_clearance_reason == text


@pytest.mark.django_db
def test_a_reason_typed_on_several_lines_shows_on_several_lines_in_the_history(
    client, chiropractor
):
    """Saved with its newlines, but drawn on one line in the history (a review); escaped."""
    (referral,) = submit("V01").referrals
    client.force_login(chiropractor)
    url = reverse("admin:referrals_referral_move", args=[referral.public_id])
    reason = "Seen elsewhere.\nGP letter <attached> & filed."
    assert (
        client.post(url, {"move-action": "decline", "move-reason": as_sent(reason)}).status_code
        == 302
    )
    page = client.get(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    html = page.content.decode()
    assert "“Seen elsewhere.<br>GP letter &lt;attached&gt; &amp; filed.”" in html
