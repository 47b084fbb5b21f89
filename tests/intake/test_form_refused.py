"""A step the form refuses answers 303 to its own page, which shows the errors and what was typed
(post/redirect/get: Back or a refresh never asks to send the form again). Django's test client,
no JavaScript; the browser's side is in tests/browser/test_patient_form.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from intake.drafts import SESSION_KEY, draft_for_token
from intake.forms import STEP_FORMS
from intake.models import Intake, IntakeDraft
from intake.rejected import MAX_CHARS, typed_size
from intake.rejected import SESSION_KEY as REFUSED_KEY
from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY, all_steps, refused, step_data

pytestmark = pytest.mark.django_db

GRACE = {**IDENTITY, "given_name": "Grace", "family_name": "Hopper", "date_of_birth": "1966-12-09"}
OMAR = {**IDENTITY, "given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1958-03-30"}
V01 = worked_case("V01")
# Typed in a textarea: the browser sends each line break as "\r\n".
CONCERN = "Sharp pain, left heel.\r\nWorse on stairs\r\n\r\n  <worst> in the morning & at night"


def html(response: Any) -> str:
    return response.content.decode()


def without_tokens(page: str) -> str:
    """The page without what differs on every load: the CSRF token and the script nonce."""
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    return re.sub(r'nonce="[^"]+"', "", page)


def upto(client: Client, stop: str, answers: dict[str, Any] = V01, identity=GRACE) -> None:
    for step, data in all_steps(answers, identity):
        if step == stop:
            return
        assert client.post(f"/form/{step}/", data).status_code == 302, step


def bad_pain_character() -> dict[str, Any]:
    return {**step_data("pain_character", V01), "main_concern": CONCERN, "pain_now_nrs": "14"}


def test_a_refused_step_answers_303_to_its_own_page_and_saves_nothing(client):
    upto(client, "pain_character")
    saved = draft_for_token(client.session[SESSION_KEY])
    assert saved is not None
    response = client.post("/form/pain_character/", bad_pain_character())
    assert (response.status_code, response["Location"]) == (303, "/form/pain_character/")
    after = draft_for_token(client.session[SESSION_KEY])
    assert after is not None
    assert after.data == saved.data
    assert after.current_step == "pain_character"


def test_the_page_after_a_refusal_has_the_summary_the_field_messages_and_the_title(client):
    upto(client, "pain_character")
    page = html(refused(client, "pain_character", bad_pain_character()))
    assert re.search("<title>Error: Pain character \u2013 Step 4 of 12", page)
    assert re.search(r'<div id="error-summary"[^>]*tabindex="-1"[^>]*autofocus>', page)
    assert "There is a problem" in page
    assert 'href="#id_pain_now_nrs">' in page
    assert "Please enter a number from 0 to 10." in page
    assert re.search(r'name="pain_now_nrs" value="14"[^>]*aria-invalid="true"', page)
    assert 'aria-describedby="id_pain_now_nrs_error"' in page
    assert 'id="id_pain_now_nrs_error"' in page
    assert re.search(r'<script src="/static/js/intake-form.js" nonce="[^"]+"></script>', page)


def test_every_value_comes_back_exactly_as_typed(client):
    upto(client, "pain_locations")
    ticks = {
        **step_data("pain_locations", V01),
        "pain_regions": ["heel", "lower_back", "toes"],
        "leg_symptoms_side": "sideways",  # not a choice: refused
    }
    page = html(refused(client, "pain_locations", ticks))
    assert 'href="#id_leg_symptoms_side_0"' in page
    assert "Please choose one of the options." in page
    for code in ("heel", "lower_back", "toes"):
        assert re.search(rf'name="pain_regions" value="{code}"[^>]*checked', page), code
    assert not re.search(r'name="pain_regions" value="buttock"[^>]*checked', page)
    # The body map shows the same ticks.
    assert 'class="map-region is-on" data-field="pain_regions" data-code="heel"' in page
    client.post("/form/pain_locations/", step_data("pain_locations", V01))

    page = html(refused(client, "pain_character", bad_pain_character()))
    textarea = re.search(r'<textarea name="main_concern"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert textarea is not None
    assert textarea.group(1) == escape(CONCERN)
    assert re.search(r'name="night_pain_constant" value="no"[^>]*checked', page)

    page = html(refused(client, "about_you", {"height_cm": "1,80", "has_diabetes": "yes"}))
    assert re.search(r'name="height_cm" value="1,80"[^>]*aria-invalid="true"', page)
    assert re.search(r'name="has_diabetes" value="yes"[^>]*checked', page)


def test_a_refresh_or_a_second_look_shows_the_same_page_again(client):
    upto(client, "pain_character")
    first = html(refused(client, "pain_character", bad_pain_character()))
    again = client.get("/form/pain_character/")
    assert again.status_code == 200
    assert without_tokens(html(again)) == without_tokens(first)
    # Back to the step before, then forward again: still there until the step is sent again.
    assert client.get("/form/pain_locations/").status_code == 200
    assert "There is a problem" not in html(client.get("/form/pain_locations/"))
    assert without_tokens(html(client.get("/form/pain_character/"))) == without_tokens(first)


def test_a_plain_get_is_as_before_a_refusal(client):
    upto(client, "pain_character")
    before = html(client.get("/form/pain_character/"))
    assert "error-summary" not in before
    assert "aria-invalid" not in before
    assert "<title>Pain character \u2013 Step 4 of 12" in before
    other = Client()
    upto(other, "pain_character")
    refused(other, "pain_character", bad_pain_character())
    assert without_tokens(html(client.get("/form/pain_character/"))) == without_tokens(before)


def test_refused_input_is_forgotten_once_the_step_passes(client):
    upto(client, "pain_character")
    refused(client, "pain_character", bad_pain_character())
    assert REFUSED_KEY in client.session
    fixed = {**bad_pain_character(), "pain_now_nrs": "7"}
    response = client.post("/form/pain_character/", fixed)
    assert (response.status_code, response["Location"]) == (302, "/form/neuro/")
    assert REFUSED_KEY not in client.session
    page = html(client.get("/form/pain_character/"))
    assert "error-summary" not in page
    assert re.search(r'name="pain_now_nrs" value="7"', page)  # the saved draft's value
    assert "Worse on stairs" in page


def test_only_the_step_that_passes_is_forgotten(client):
    upto(client, "pain_character")
    refused(client, "pain_character", bad_pain_character())
    refused(client, "pain_locations", {**step_data("pain_locations", V01), "pain_regions": "x"})
    client.post("/form/pain_locations/", step_data("pain_locations", V01))
    assert "error-summary" not in html(client.get("/form/pain_locations/"))
    assert "Please enter a number from 0 to 10." in html(client.get("/form/pain_character/"))


def test_a_refusal_in_one_browser_is_never_shown_in_another(client):
    # The same draft opened on a phone from its link: the laptop's refused input stays there.
    laptop = client
    upto(laptop, "pain_character")
    refused(laptop, "pain_character", bad_pain_character())
    phone = Client()
    assert phone.get(f"/resume/{laptop.session[SESSION_KEY]}/").status_code == 302
    page = html(phone.get("/form/pain_character/"))
    assert "error-summary" not in page
    assert "Worse on stairs" not in page
    assert "Please enter a number from 0 to 10." in html(laptop.get("/form/pain_character/"))

    # Two patients refused on the same step each see their own.
    other = Client()
    upto(other, "pain_character", identity=OMAR)
    refused(other, "pain_character", {**bad_pain_character(), "main_concern": "Omar's knee"})
    assert "Omar&#x27;s knee" in html(other.get("/form/pain_character/"))
    assert "Omar&#x27;s knee" not in html(laptop.get("/form/pain_character/"))
    assert "Worse on stairs" not in html(other.get("/form/pain_character/"))


def test_the_first_step_refused_before_there_is_a_draft_is_answered_on_its_post_and_kept_nowhere(
    client,
):
    """Kept under no draft, a patient's refused name, birth date and contact details were
    shown to whoever opened the form next in that browser (a kiosk), and every refusal from a
    client without a session made a session row of up to 8 KB, with no rate limit (a review)."""
    from django.contrib.sessions.models import Session

    data = {**GRACE, "email": "grace@", "phone": ""}
    response = client.post("/form/identity/", data)
    assert response.status_code == 200
    page = html(response)
    assert '<div id="error-summary"' in page
    assert 'value="Hopper"' in page
    assert REFUSED_KEY not in client.session
    assert not IntakeDraft.objects.exists()
    # The next person at the same browser gets an empty first step.
    page = html(client.get("/form/identity/"))
    assert "Hopper" not in page
    assert "error-summary" not in page
    # A client with no session leaves no session behind.
    sessions = Session.objects.count()
    for _ in range(5):
        assert Client().post("/form/identity/", data).status_code == 200
    assert Session.objects.count() == sessions


def test_the_identity_step_refused_once_there_is_a_draft_answers_303(client):
    upto(client, "pain_character")
    page = html(refused(client, "identity", {**GRACE, "email": "grace@", "phone": ""}))
    assert '<div id="error-summary"' in page
    assert 'value="grace@"' in page


def test_input_kept_for_a_draft_sent_from_another_browser_goes(client):
    """The laptop refused a step, then the phone sent the form from the draft's link: what the
    laptop kept (free text included) stayed in its session (a review)."""
    laptop = client
    upto(laptop, "pain_character")
    refused(laptop, "pain_character", bad_pain_character())
    phone = Client()
    assert phone.get(f"/resume/{laptop.session[SESSION_KEY]}/").status_code == 302
    for step, data in all_steps(V01, GRACE):
        if step != "identity":
            phone.post(f"/form/{step}/", data)
    assert Intake.objects.count() == 1
    assert REFUSED_KEY in laptop.session
    laptop.get("/form/pain_character/")
    assert REFUSED_KEY not in laptop.session


def test_a_step_saved_in_another_browser_since_replaces_what_was_refused_here(client):
    """What was saved later is newer than what was typed here: the kept input showed over
    it, with its errors (a review)."""
    laptop = client
    upto(laptop, "pain_character")
    refused(laptop, "pain_character", bad_pain_character())
    phone = Client()
    assert phone.get(f"/resume/{laptop.session[SESSION_KEY]}/").status_code == 302
    saved = {**step_data("pain_character", V01), "main_concern": "Saved on the phone"}
    assert phone.post("/form/pain_character/", saved).status_code == 302
    page = html(laptop.get("/form/pain_character/"))
    assert "Saved on the phone" in page
    assert "error-summary" not in page
    assert "Worse on stairs" not in page


def test_a_step_saved_here_keeps_what_was_refused_on_another(client):
    upto(client, "pain_character")
    refused(client, "pain_character", bad_pain_character())
    assert client.post("/form/identity/", step_data("identity", V01, GRACE)).status_code == 302
    assert "Worse on stairs" in html(client.get("/form/pain_character/"))


def test_sending_the_form_forgets_what_was_refused_on_an_earlier_step(client):
    """Only the consent step's own refusal was gone when the form was sent: the send itself
    forgetting everything was untested (a review)."""
    upto(client, "consent")
    # Back to an earlier step, refused there and left for the last step.
    refused(client, "pain_character", bad_pain_character())
    assert REFUSED_KEY in client.session
    assert client.post("/form/consent/", step_data("consent", V01)).status_code == 302
    assert Intake.objects.count() == 1
    assert REFUSED_KEY not in client.session


def test_opening_another_drafts_link_drops_what_was_refused_for_this_one(client):
    other = Client()
    upto(other, "pain_character", identity=OMAR)
    upto(client, "pain_character")
    refused(client, "pain_character", bad_pain_character())
    assert client.get(f"/resume/{other.session[SESSION_KEY]}/").status_code == 302
    assert REFUSED_KEY not in client.session
    page = html(client.get("/form/pain_character/"))
    assert "error-summary" not in page
    assert "Worse on stairs" not in page


def test_nothing_typed_travels_in_a_cookie_or_the_address(client):
    upto(client, "pain_character")
    response = client.post("/form/identity/", {**GRACE, "email": "grace.h@", "phone": ""})
    assert response.status_code == 303
    assert "?" not in response["Location"]
    assert set(response.cookies) <= {"sessionid", "csrftoken"}
    for cookie in response.cookies.values():
        assert "grace" not in cookie.value.lower()
        assert "Hopper" not in cookie.value


def test_the_last_step_refused_answers_303_and_a_send_after_it_goes_through(client):
    upto(client, "consent")
    page = html(refused(client, "consent", {"acknowledged_not_emergency": "yes"}))
    assert '<div id="error-summary"' in page
    assert 'href="#id_consent_data_processing_0"' in page
    assert re.search(r'name="acknowledged_not_emergency" value="yes"[^>]*checked', page)
    assert "Send my answers" in page
    assert not Intake.objects.exists()

    response = client.post("/form/consent/", step_data("consent", V01))
    assert (response.status_code, response["Location"]) == (302, "/form/done/")
    assert Intake.objects.count() == 1
    assert REFUSED_KEY not in client.session


def test_a_submission_refused_by_the_validator_answers_303(client):
    upto(client, "consent")
    draft = draft_for_token(client.session[SESSION_KEY])
    assert draft is not None
    draft.data["answers"]["pain_now_nrs"] = 99
    draft.save()
    response = client.post("/form/consent/", step_data("consent", V01))
    assert response.status_code == 303
    assert response["Location"] == "/form/pain_character/?check=1"


def test_a_step_typed_to_every_limit_of_the_page_is_kept_with_room_to_spare():
    """The most a patient can type within the page's own limits, with every option ticked,
    fits three times over in what is kept of a refused step."""
    longest = {
        "identity": {
            **{name: ["x" * 150] for name in ("given_name", "family_name")},
            "email": ["e" * 254],
            "phone": ["7" * 40],
            "date_of_birth": ["1980-05-17"],
            "preferred_contact": ["phone"],
        },
        # A main concern of 1,000 line breaks, each sent as two characters.
        "pain_character": {"main_concern": ["\r\n" * 1000]},
    }
    for step, form_class in STEP_FORMS.items():
        form = form_class(answers={})
        typed = dict(longest.get(step, {}))
        for name, field in form.fields.items():
            choices = [str(code) for code, _label in getattr(field, "choices", [])]
            typed.setdefault(name, choices or ["9" * 20])
        assert typed_size(typed) <= MAX_CHARS // 3, step


def test_more_than_is_kept_is_answered_on_the_post_as_before(client):
    """Only a client ignoring the page's limits sends this much: it gets its messages in the
    answer to the POST, and nothing it sent is dropped."""
    upto(client, "pain_character")
    data = {**bad_pain_character(), "main_concern": "x" * (MAX_CHARS + 1)}
    response = client.post("/form/pain_character/", data)
    assert response.status_code == 200
    page = html(response)
    assert '<div id="error-summary"' in page
    assert 'href="#id_main_concern"' in page
    assert "x" * (MAX_CHARS + 1) in page
    assert REFUSED_KEY not in client.session


def fixed_session(client: Client) -> str:
    """A session made elsewhere and set in ``client``'s browser (session fixation)."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store.save()
    assert store.session_key is not None
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return store.session_key


def test_a_session_set_in_the_browser_beforehand_never_holds_the_draft(client):
    """The session that holds a draft gets a new key when the draft is started or its link
    opened: one fixed in the browser beforehand by someone else stayed the draft's."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    fixed = fixed_session(client)
    assert client.post("/form/identity/", step_data("identity", V01, GRACE)).status_code == 302
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != fixed
    assert SESSION_KEY not in SessionStore(session_key=fixed).load()
    token = client.session[SESSION_KEY]

    phone = Client()
    fixed = fixed_session(phone)
    assert phone.get(f"/resume/{token}/").status_code == 302
    assert phone.cookies[settings.SESSION_COOKIE_NAME].value != fixed
    assert SESSION_KEY not in SessionStore(session_key=fixed).load()
    assert "Step 2 of 12" in html(phone.get("/form/about_you/"))


def test_a_shared_browser_can_start_a_new_form_and_the_one_left_half_way_stays_saved(client):
    """On a shared computer the start page offered the next person only "Continue your saved
    form", with the previous person's answers, for as long as the session lasted."""
    upto(client, "pain_character")
    refused(client, "pain_character", bad_pain_character())
    token = client.session[SESSION_KEY]
    page = html(client.get("/"))
    assert "Continue your saved form" in page
    assert 'action="/form/new/"' in page
    assert 'aria-describedby="start-new-help"' in page
    assert client.get("/form/new/").status_code == 405

    response = client.post("/form/new/")
    assert (response.status_code, response["Location"]) == (302, "/form/identity/")
    assert SESSION_KEY not in client.session
    assert REFUSED_KEY not in client.session
    page = html(client.get("/form/identity/"))
    assert "Hopper" not in page
    assert "Continue your saved form" not in html(client.get("/"))
    # Theirs is still saved, and its link still opens it.
    assert draft_for_token(token) is not None
    elsewhere = Client()
    assert elsewhere.get(f"/resume/{token}/")["Location"] == "/form/pain_character/"


def test_starting_a_new_form_from_a_browser_without_a_session_makes_none():
    from django.contrib.sessions.models import Session

    sessions = Session.objects.count()
    assert Client().post("/form/new/")["Location"] == "/form/identity/"
    assert Session.objects.count() == sessions


def test_starting_a_new_form_keeps_a_staff_sign_in_on_the_same_browser(client, admin_user):
    client.force_login(admin_user)
    upto(client, "pain_character")
    assert client.post("/form/new/").status_code == 302
    assert client.get("/admin/").status_code == 200
