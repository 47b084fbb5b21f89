"""The patient form's pages, driven through Django's test client (no JavaScript)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest
from django.test import Client

from intake.drafts import SESSION_KEY, STEP_CODES, draft_for_token
from intake.models import Intake, IntakeDraft
from intake.questionnaire import CORE_FIELDS, INTERRUPT_FIELDS, MODULE_FIELDS, fields_in_section
from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY, all_steps, refused, step_data

pytestmark = pytest.mark.django_db

# Named patients.
GRACE = {**IDENTITY, "given_name": "Grace", "family_name": "Hopper", "date_of_birth": "1966-12-09"}
OMAR = {
    **IDENTITY,
    "given_name": "Omar",
    "family_name": "Haddad",
    "date_of_birth": "1958-03-30",
    "email": "omar@example.org",
    "preferred_contact": "email",
}
TEEN_TOM = {**IDENTITY, "given_name": "Tom", "family_name": "Young", "date_of_birth": "2014-01-01"}


def saved_draft(client: Client) -> IntakeDraft:
    draft = draft_for_token(client.session[SESSION_KEY])
    assert draft is not None
    return draft


def html(response) -> str:
    return response.content.decode()


def complete(client: Client, answers: dict[str, Any], identity=GRACE, *, upto: str | None = None):
    """Post every step (up to, not including, ``upto``); return the last response."""
    response = None
    for step, data in all_steps(answers, identity):
        if step == upto:
            break
        response = client.post(f"/form/{step}/", data)
        assert response.status_code == 302, (step, html(response)[:2000])
    return response


def test_the_start_page_explains_the_form_its_length_and_the_disclaimer(client):
    page = html(client.get("/"))
    assert "Tell us about your foot or back pain" in page
    assert "10 to 15 minutes" in page
    assert "12 short steps" in page
    assert "It does <strong>not</strong> diagnose any condition" in page
    assert "call 999 or go to an emergency department now" in page
    assert 'href="/form/identity/"' in page


def test_the_patient_pages_are_never_kept_by_a_cache(client):
    """Each differs by session (the start page offers a form in progress; every page carries
    its CSRF token); the start page alone was cacheable (a review)."""
    for path in ("/", "/form/identity/"):
        assert "no-store" in client.get(path)["Cache-Control"], path


def test_grace_completes_a_routine_case_with_several_queues(client):
    response = complete(client, worked_case("V22"))
    assert response["Location"] == "/form/done/"
    intake = Intake.objects.get()
    assert intake.source == "form"
    assert intake.urgency == "routine"
    assert sorted(intake.referrals.values_list("queue", flat=True)) == [
        "chiropractic",
        "orthotic_fitting",
        "podiatry",
    ]
    assert intake.patient.given_name == "Grace"
    # The draft keeps only what it made, for a second "Send" (tests/intake/test_form_race.py).
    assert [draft.data for draft in IntakeDraft.objects.all()] == [
        {"sent_intake": str(intake.public_id)}
    ]
    assert SESSION_KEY not in client.session

    page = html(client.get("/form/done/"))
    assert re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}", page)
    assert f"{intake.reference[:4]}-{intake.reference[4:]}" in page
    assert "review your answers within 5 working days" in page
    assert "Get emergency help straight away if you develop" in page
    assert "It does <strong>not</strong> diagnose any condition" in page
    for code in intake.flag_codes:
        assert code not in page
    for flag in intake.triage_result["flags"]:
        assert flag["explanation"] not in page


def test_an_urgent_diabetic_case_shows_the_urgent_message_and_the_diabetic_safety_net(client):
    complete(client, worked_case("V17"), OMAR)
    page = html(client.get("/form/done/"))
    assert "a clinician should look at your form soon" in page
    assert "contact your diabetes foot service or GP the same day" in page
    assert Intake.objects.get().urgency == "urgent"


def test_the_clinics_own_numbers_fill_the_patients_texts(client, settings):
    """§4.3 and §7 say "[emergency number]" and "[urgent care number]": every page fills them
    from the clinic's settings. The tests ran with the defaults alone (999 and 111), which a
    text with the numbers written in would have passed too."""
    settings.CLINIC_EMERGENCY_NUMBER = "112"
    settings.CLINIC_URGENT_CARE_NUMBER = "116117"
    assert "call 112 or go to an emergency department now" in html(client.get("/"))
    assert "call 112 or go to an emergency department now" in html(Client().get("/form/under-16/"))
    emergency = Client()
    answers = worked_case("V09")
    complete(emergency, answers, upto="red_flags")
    sent = emergency.post("/form/red_flags/", step_data("red_flags", answers))
    assert "Please call 112 or go to your nearest emergency department" in html(
        emergency.get(sent["Location"])
    )

    complete(client, worked_case("V17"), OMAR)  # urgent: a foot ulcer in someone with diabetes
    done = html(client.get("/form/done/"))
    assert "If your symptoms get worse before then, call 116117 or go to an emergency" in done
    assert "turn cold, pale, blue or black, call 112 now." in done
    assert "if they are closed, call 116117." in done
    assert "call 112 or go to an emergency department now" in done
    shown = Intake.objects.get(patient__given_name="Omar").patient_messages
    assert not any("999" in text or "111" in text for text in shown.values() if text)


def test_an_emergency_answer_shows_the_advice_on_the_next_page_without_javascript(client):
    answers = worked_case("V09")
    complete(client, answers, upto="red_flags")
    response = client.post("/form/red_flags/", step_data("red_flags", answers))
    consent = html(client.get(response["Location"]))
    advice = re.search(r'<div id="interrupt-advice" class="([^"]*)"', consent)
    assert advice is not None
    assert "d-none" not in advice.group(1)
    # Focus starts on the advice (it did not without JavaScript: the page opened at its top,
    # and a screen reader need not read a role="alert" present when the page loads).
    assert re.search(r'<div id="interrupt-advice"[^>]* autofocus>', consent)
    assert consent.count(" autofocus") == 1
    assert "call 999 or go to your nearest emergency department <strong>now</strong>" in consent
    assert "You can finish this form later. Do not delay getting help." in consent
    shown_at = saved_draft(client).data["interrupt_shown_at"]
    assert shown_at

    client.post("/form/consent/", step_data("consent", answers))
    intake = Intake.objects.get()
    assert intake.urgency == "emergency"
    assert intake.interrupt_shown_at is not None
    assert intake.interrupt_shown_at.isoformat() == shown_at
    assert "Do not wait for us to contact you" in html(client.get("/form/done/"))


def test_the_advice_shows_even_when_the_red_flag_step_has_another_error(client):
    answers = worked_case("V09")
    complete(client, answers, upto="red_flags")
    data = step_data("red_flags", answers)
    del data["fever_or_chills"]
    page = html(refused(client, "red_flags", data))
    assert "There is a problem" in page
    # One place takes the focus: the error summary, above the advice.
    assert page.count(" autofocus") == 1
    assert re.search(r'id="error-summary"[^>]* autofocus>', page)
    assert re.search(
        r'<div id="interrupt-advice" class="alert alert-danger interrupt-advice"', page
    )
    assert saved_draft(client).data["interrupt_shown_at"]


def test_the_red_flag_page_carries_the_hidden_advice_and_marks_the_questions_for_the_script(client):
    complete(client, worked_case("V01"), upto="red_flags")
    page = html(client.get("/form/red_flags/"))
    assert 'class="alert alert-danger interrupt-advice d-none"' in page
    for code in INTERRUPT_FIELDS:
        assert re.search(rf'name="{code}" value="yes"[^>]*data-interrupt="true"', page), code
    assert re.search(r'<script src="/static/js/intake-form.js" nonce="[^"]+"></script>', page)


def test_the_script_reports_when_it_showed_the_advice(client):
    complete(client, worked_case("V01"), upto="red_flags")
    assert client.post("/form/interrupt-shown/").status_code == 204
    assert saved_draft(client).data["interrupt_shown_at"]


def test_steps_show_a_progress_indicator_and_a_back_link(client):
    complete(client, worked_case("V01"), upto="pain_character")
    page = html(client.get("/form/pain_character/"))
    assert "Step 4 of 12" in page
    assert '<progress class="form-progress mb-3" max="12" value="4"' in page
    assert 'href="/form/pain_locations/">Back</a>' in page


def test_a_step_cannot_be_opened_before_the_earlier_ones_are_done(client):
    assert client.get("/form/neuro/")["Location"] == "/form/identity/"
    complete(client, worked_case("V01"), upto="pain_locations")
    assert client.get("/form/neuro/")["Location"] == "/form/pain_locations/"
    assert client.get("/form/nonsense/").status_code == 404


def test_errors_are_listed_at_the_top_tied_to_their_fields_and_what_was_typed_is_kept(client):
    complete(client, worked_case("V01"), upto="pain_character")
    data = {"main_concern": "My back aches", "pain_now_nrs": "14", "first_steps_heel_pain": "no"}
    page = html(refused(client, "pain_character", data))
    assert '<div id="error-summary"' in page
    assert 'href="#id_pain_now_nrs"' in page
    assert 'href="#id_night_pain_constant_0"' in page
    assert "Please enter a number from 0 to 10." in page
    assert re.search(r'name="pain_now_nrs" value="14"[^>]*aria-invalid="true"', page)
    assert 'aria-describedby="id_pain_now_nrs_error"' in page
    assert 'id="id_pain_now_nrs_error"' in page
    assert "My back aches" in page
    assert re.search(r'value="no"[^>]*id="id_first_steps_heel_pain_1"[^>]*checked', page)


def test_every_yes_no_question_is_a_radio_pair_with_nothing_selected(client):
    answers = worked_case("V01")
    complete(client, answers)  # leaves no draft: start again to walk every step
    client = Client()
    for step, data in all_steps(answers, GRACE):
        page = html(client.get(f"/form/{step}/"))
        for spec in fields_in_section(step) if step != "identity" else ():
            if spec.kind != "bool":
                continue
            assert f'name="{spec.code}" value="yes"' in page
            assert f'name="{spec.code}" value="no"' in page
            assert not re.search(rf'name="{spec.code}" value="(yes|no)"[^>]*checked', page)
        client.post(f"/form/{step}/", data)


def test_the_startback_module_is_never_asked(client):
    answers = worked_case("V01")
    for step, data in all_steps(answers, GRACE):
        page = html(client.get(f"/form/{step}/"))
        for spec in MODULE_FIELDS:
            assert spec.code not in page
        client.post(f"/form/{step}/", data)


def test_the_timing_step_shows_only_the_questions_that_apply(client):
    answers = worked_case("V11")  # plantar heel pain: symptoms, but none in the legs
    complete(client, answers, upto="timing")
    page = html(client.get("/form/timing/"))
    assert 'name="symptom_duration"' in page
    assert 'name="onset_type"' in page
    assert 'name="leg_symptoms_duration"' not in page
    client.post("/form/timing/", step_data("timing", answers))
    complete_rest(client, answers, after="timing")
    assert Intake.objects.get().answers["leg_symptoms_duration"] is None


def complete_rest(client: Client, answers: dict[str, Any], *, after: str) -> None:
    for step in STEP_CODES[STEP_CODES.index(after) + 1 :]:
        response = client.post(f"/form/{step}/", step_data(step, answers))
        assert response.status_code == 302, (step, html(response)[:2000])


def test_without_symptoms_the_timing_step_asks_nothing_and_sends_nulls(client):
    answers = worked_case("V24")
    complete(client, answers, upto="timing")
    page = html(client.get("/form/timing/"))
    assert "None of the questions in this step apply to you" in page
    assert client.post("/form/timing/", {})["Location"] == "/form/footwear/"
    complete_rest(client, answers, after="timing")
    stored = Intake.objects.get().answers
    assert stored["symptom_duration"] is None
    assert stored["onset_type"] is None
    assert stored["leg_symptoms_duration"] is None


def test_height_and_weight_in_imperial_are_stored_in_whole_cm_and_kg(client):
    answers = worked_case("V01")
    complete(client, answers, upto="about_you")
    data = {
        "height_feet": "6",
        "height_inches": "3",
        "weight_stones": "11",
        "weight_pounds": "0",
        "has_diabetes": "no",
    }
    assert client.post("/form/about_you/", data).status_code == 302
    complete_rest(client, answers, after="about_you")
    stored = Intake.objects.get().answers
    assert (stored["height_cm"], stored["weight_kg"]) == (191, 70)


def test_height_and_weight_are_marked_as_needing_an_answer(client):
    """Both are required, and the page says "Questions marked * need an answer.", but their
    legends had no *: a patient skipping them learnt they were needed only from the error."""
    complete(client, worked_case("V01"), upto="about_you")
    page = html(client.get("/form/about_you/"))
    legends = re.findall(r"<legend[^>]*>(.*?)</legend>", page, re.S)
    for question in ("How tall are you?", "About how much do you weigh?"):
        (legend,) = [text for text in legends if question in text]
        assert '<span class="asteriskField">*</span>' in legend, legend


def test_height_in_both_units_at_once_is_refused(client):
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_cm": "180", "height_feet": "6", "weight_kg": "80", "has_diabetes": "no"}
    assert "Please use one kind of unit only, not both." in html(refused(client, "about_you", data))


def test_an_imperial_box_filled_wrongly_has_one_message_in_plain_words(client):
    """Inches 5.55 gave "Centimetres: Please answer this question." (the patient had answered,
    in inches) and Django's "Ensure that there are no more than 1 decimal place." (a review)."""
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_feet": "5", "height_inches": "5.55", "weight_kg": "80", "has_diabetes": "no"}
    page = html(refused(client, "about_you", data))
    assert (
        "Please enter the inches as a number with at most one decimal place, for example 5.5."
        in page
    )
    assert "Please answer this question" not in page
    assert "Ensure that" not in page


def test_an_out_of_range_imperial_height_says_what_it_came_to(client):
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_feet": "3", "weight_kg": "80", "has_diabetes": "no"}
    assert "That comes to 91 cm. Please enter a number from 120 to 220." in html(
        refused(client, "about_you", data)
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"height_feet": "6", "height_inches": "-3"}, "Please enter the inches as 0 or more."),
        ({"height_feet": "-1", "height_inches": "90"}, "Please enter the feet as 0 or more."),
        (
            {"height_feet": "5", "height_inches": "30"},
            "With the feet filled in, please enter fewer than 12 inches (12 inches make a foot).",
        ),
        ({"weight_stones": "-2", "weight_pounds": "0"}, "Please enter the stones as 0 or more."),
        ({"weight_stones": "11", "weight_pounds": "-4"}, "Please enter the pounds as 0 or more."),
        (
            {"weight_stones": "11", "weight_pounds": "14"},
            "With the stones filled in, please enter fewer than 14 pounds "
            "(14 pounds make a stone).",
        ),
    ],
)
def test_a_slip_in_an_imperial_box_is_asked_again_not_converted(client, typed, message):
    """'6 ft -3 in' was stored as 175 cm, '-1 ft 90 in' as 198 and '5 ft 30 in' converted as
    7 ft 6 in (a review): each changed the BMI, and LIFESTYLE_RISK through it, unseen."""
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_cm": "", "weight_kg": "", "has_diabetes": "no", **typed}
    if "height_feet" not in typed:
        data["height_cm"] = "175"
    if "weight_stones" not in typed:
        data["weight_kg"] = "80"
    page = html(refused(client, "about_you", data))
    assert page.count(message) >= 1
    assert "Please answer this question" not in page
    assert "That comes to" not in page
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ({"height_inches": "70", "weight_kg": "80"}, ("height_cm", 178)),
        ({"height_cm": "178", "weight_pounds": "180"}, ("weight_kg", 82)),
        ({"height_feet": "5", "height_inches": "11.9", "weight_kg": "80"}, ("height_cm", 183)),
        ({"height_cm": "178", "weight_stones": "12", "weight_pounds": "13.5"}, ("weight_kg", 82)),
    ],
)
def test_the_smaller_unit_alone_may_be_any_size(client, typed, stored):
    """70 inches, or 180 pounds with no stones, is how many people give them."""
    answers = worked_case("V01")
    complete(client, answers, upto="about_you")
    assert client.post("/form/about_you/", {"has_diabetes": "no", **typed}).status_code == 302
    complete_rest(client, answers, after="about_you")
    code, value = stored
    assert Intake.objects.get().answers[code] == value


def test_a_height_in_inches_alone_out_of_range_is_told_at_the_inches_box(client):
    """It was put on the feet box, which the patient left empty (a review)."""
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_inches": "40", "weight_kg": "80", "has_diabetes": "no"}
    page = html(refused(client, "about_you", data))
    assert "That comes to 102 cm. Please enter a number from 120 to 220." in page
    assert 'href="#id_height_inches"' in page
    assert 'href="#id_height_feet"' not in page


def test_an_absurd_imperial_height_or_weight_is_a_form_message_not_an_error(client):
    """Numbers past the decimal context's 28 digits made the conversion raise (a 500 on the
    public form, found by a review): now converted exactly and refused by the range."""
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_feet": "1" + "0" * 31, "weight_stones": "9" * 45, "has_diabetes": "no"}
    page = html(refused(client, "about_you", data))
    assert "Please enter a number from 120 to 220." in page
    assert "Please enter a number from 30 to 250." in page


def test_after_sending_a_second_send_or_back_shows_the_result_again(client):
    """The browser's Back from the result page, or Send clicked again once it went: the
    result page, where an empty first step looked like the form was lost (a review)."""
    answers = worked_case("V01")
    complete(client, answers)
    reference = Intake.objects.get().reference
    for response in (
        client.post("/form/consent/", step_data("consent", answers)),
        client.get("/form/consent/"),
    ):
        assert response["Location"] == "/form/done/"
    assert f"{reference[:4]}-{reference[4:]}" in html(client.get("/form/done/"))
    assert Intake.objects.count() == 1
    # Starting a new form from the start page is still possible.
    assert client.get("/form/identity/").status_code == 200


def test_a_step_sent_after_the_session_ended_says_how_to_carry_on(client):
    answers = worked_case("V01")
    complete(client, answers, upto="timing")
    client.cookies.clear()  # idle past the limit, or the browser closed
    response = client.post("/form/timing/", step_data("timing", answers))
    assert response.status_code == 200
    page = html(response)
    assert "We cannot find your form on this browser" in page
    assert "private link" in page
    assert client.get("/form/timing/")["Location"] == "/form/identity/"  # a newcomer


def test_a_question_hidden_then_asked_again_is_asked_again_before_sending(client):
    """Leg symptoms answered "none" then back: the leg-duration answer was nulled but its typed
    value kept, so the form refused to send and the page it pointed to showed no error."""
    answers = worked_case("V01")
    assert answers["leg_symptoms_duration"] is not None
    complete(client, answers, upto="consent")
    no_leg = {
        **answers,
        "leg_symptoms_side": "none",
        "pain_below_knee_side": "none",
        "leg_neuro_side": "none",
    }
    for version in (no_leg, answers):
        for step in ("pain_locations", "neuro"):
            response = client.post(f"/form/{step}/", step_data(step, version))
            assert response.status_code == 302, html(response)[:3000]
    sent = client.post("/form/consent/", step_data("consent", answers))
    assert sent["Location"] == "/form/timing/?check=1"
    assert not Intake.objects.exists()
    page = html(client.get(sent["Location"]))
    assert "Your answers have not been sent yet" in page
    assert '<div id="error-summary"' in page
    assert 'href="#id_leg_symptoms_duration_0"' in page


def test_tom_under_16_is_refused_as_soon_as_he_gives_his_date_of_birth(client):
    sent = client.post("/form/identity/", TEEN_TOM)
    # 303 to the refusal's own page: reload and Back never ask to send his birth date again.
    assert (sent.status_code, sent["Location"]) == (303, "/form/under-16/")
    response = client.get(sent["Location"])
    assert response.status_code == 200
    page = html(response)
    assert "only for people aged 16 and over" in page
    assert "contact your GP or family doctor" in page
    assert "call 999 or go to an emergency department now" in page
    assert not IntakeDraft.objects.exists()


def test_the_contact_hint_is_read_with_the_first_contact_box(client):
    """It sat under the email box, after the phone box (a review)."""
    page = html(client.get("/form/identity/"))
    phone = re.search(r'<input[^>]*name="phone"[^>]*>', page)
    assert phone is not None
    described = re.search(r'aria-describedby="([^"]+)"', phone.group(0))
    assert described is not None
    hint = re.search(rf'id="{described.group(1)}"[^>]*>([^<]*)<', page)
    assert hint is not None
    assert hint.group(1).strip() == "Give a phone number, an email address or both."


def test_a_missing_name_or_birth_date_says_what_to_enter(client):
    page = html(refused(client, "identity", {**GRACE, "given_name": "", "date_of_birth": ""}))
    assert "Please enter your given name." in page
    assert "Please enter your date of birth: day, month and year." in page
    assert "This field is required." not in page


def test_identity_needs_a_way_to_reach_the_patient(client):
    data = {**GRACE, "phone": "", "email": ""}
    page = html(refused(client, "identity", data))
    assert "Please give a phone number or an email address so we can reach you." in page
    assert not IntakeDraft.objects.exists()


@pytest.mark.parametrize("field", ["given_name", "family_name", "phone"])
def test_a_null_byte_in_identity_text_is_a_field_message(client, field):
    response = refused(client, "identity", {**GRACE, field: "Ad\x00a"})
    assert f'href="#id_{field}"' in html(response)


def test_a_name_with_invisible_direction_characters_asks_for_it_again(client):
    """A name pasted with a right-to-left override shows reversed, and the patient cannot see
    what to remove: the step asks for the name again, and stores nothing."""
    response = refused(client, "identity", {**GRACE, "family_name": "\u202erepoH"})
    page = html(response)
    assert 'href="#id_family_name"' in page
    assert "Please type the family name again: it holds invisible characters" in page
    assert not IntakeDraft.objects.exists()


def test_a_null_byte_in_the_main_concern_is_a_field_message(client):
    complete(client, worked_case("V01"), upto="pain_character")
    data = step_data("pain_character", worked_case("V01"))
    response = refused(client, "pain_character", {**data, "main_concern": "pain\x00"})
    assert 'href="#id_main_concern"' in html(response)
    assert "Null characters are not allowed." in html(response)


def test_a_main_concern_with_line_breaks_is_counted_as_the_browser_counts_it(client):
    """Browsers send each line break as two characters and count it as one against the
    textarea's maxlength (1,000): 900 characters in 100 lines were refused as 999 + 99."""
    complete(client, worked_case("V01"), upto="pain_character")
    data = step_data("pain_character", worked_case("V01"))
    typed = "\r\n".join(["Sore back."] * 91)  # 1,000 characters as the browser counts them
    assert len(typed.replace("\r\n", "\n")) == 1000
    response = client.post("/form/pain_character/", {**data, "main_concern": typed})
    assert response.status_code == 302, html(response)
    too_long = typed + "!"
    response = refused(client, "pain_character", {**data, "main_concern": too_long})
    assert 'href="#id_main_concern"' in html(response)


def test_a_resume_link_opens_the_draft_on_another_device(client):
    complete(client, worked_case("V01"), upto="neuro")
    token = client.session[SESSION_KEY]
    assert f"/resume/{token}/" in html(client.get("/form/neuro/"))

    phone = Client()
    response = phone.get(f"/resume/{token}/")
    assert response["Location"] == "/form/neuro/"
    assert phone.session[SESSION_KEY] == token
    page = html(phone.get("/form/pain_locations/"))
    assert 'value="left"' in page
    assert re.search(r'value="left"[^>]*checked', page)


def form_field(page: str) -> str:
    """The hidden field naming the form a step was shown for."""
    found = re.search(r'<input type="hidden" name="(form-[0-9a-z]+)" value="">', page)
    assert found
    return found[1]


def test_a_step_shown_for_one_form_is_not_saved_into_another_opened_here_since(client):
    """Grace's step was saved into Omar's form when his private link had been opened in another
    tab of the same browser since: her answers over his, his next step shown to her; and a step
    his form had not reached yet sent her to his current step, with his answers."""
    complete(client, worked_case("V01"), upto="pain_character")
    graces = form_field(html(client.get("/form/pain_locations/")))
    assert form_field(html(client.get("/form/identity/"))) == graces  # the same form, any step
    phone = Client()
    complete(phone, worked_case("V17"), OMAR, upto="pain_locations")
    omars = saved_draft(phone)
    assert client.get(f"/resume/{phone.session[SESSION_KEY]}/").status_code == 302

    for step in ("pain_locations", "pain_character"):  # reached in his form, and not yet
        response = client.post(
            f"/form/{step}/", {**step_data(step, worked_case("V01")), graces: ""}
        )
        assert response.status_code == 200
        assert "This page is from another form" in html(response)
        assert "Omar" not in html(response)
        assert saved_draft(client).data == omars.data
    # His own page is saved as before.
    his = form_field(html(client.get("/form/pain_locations/")))
    assert his != graces
    data = {**step_data("pain_locations", worked_case("V17")), his: ""}
    assert client.post("/form/pain_locations/", data)["Location"] == "/form/pain_character/"


def test_a_first_step_shown_with_no_form_in_progress_starts_one_whatever_is_held_since(client):
    new = form_field(html(client.get("/form/identity/")))
    assert new == "form-new"
    phone = Client()
    complete(phone, worked_case("V17"), OMAR, upto="neuro")
    omars = saved_draft(phone)
    client.get(f"/resume/{phone.session[SESSION_KEY]}/")

    response = client.post("/form/identity/", {**step_data("identity", {}, GRACE), new: ""})
    assert response["Location"] == "/form/about_you/"
    grace = saved_draft(client)
    assert grace.pk != omars.pk
    assert grace.data["patient"]["given_name"] == "Grace"
    assert IntakeDraft.objects.get(pk=omars.pk).data == omars.data


def record_url(page: str) -> str:
    """Where a step's script reports that it showed the emergency advice."""
    found = re.search(r'data-record-url="([^"]+)"', page)
    assert found
    return found[1]


def test_the_advice_shown_on_a_page_of_one_form_is_not_recorded_in_another_opened_since(client):
    """Grace ticks an emergency "Yes" on her red-flag step after Omar's private link was opened
    in another tab: her page's report of the advice went to the form the browser held, his,
    which then said the advice had been shown to him."""
    complete(client, worked_case("V01"), upto="red_flags")
    graces = record_url(html(client.get("/form/red_flags/")))
    assert graces.startswith("/form/interrupt-shown/?form=")
    phone = Client()
    complete(phone, worked_case("V17"), OMAR, upto="red_flags")
    client.get(f"/resume/{phone.session[SESSION_KEY]}/")

    assert client.post(graces).status_code == 204
    assert "interrupt_shown_at" not in saved_draft(client).data
    his = record_url(html(client.get("/form/red_flags/")))
    assert his != graces
    assert client.post(his).status_code == 204
    assert saved_draft(client).data["interrupt_shown_at"]


def test_the_advice_reported_by_a_page_that_names_no_form_is_recorded(client):
    complete(client, worked_case("V01"), upto="red_flags")
    assert client.post("/form/interrupt-shown/").status_code == 204
    assert saved_draft(client).data["interrupt_shown_at"]


def test_an_unknown_or_expired_resume_link_gets_a_friendly_page(client):
    response = client.get("/resume/not-a-real-token/")
    assert response.status_code == 404
    assert "This saved form is no longer available" in html(response)


def test_a_failed_submission_sends_the_patient_back_to_the_step_with_the_error(client):
    answers = worked_case("V01")
    complete(client, answers, upto="consent")
    draft = saved_draft(client)
    draft.data["answers"]["pain_now_nrs"] = 99
    draft.data["values"]["pain_character"]["pain_now_nrs"] = "99"
    draft.save()
    response = client.post("/form/consent/", step_data("consent", answers))
    assert response["Location"] == "/form/pain_character/?check=1"
    page = html(client.get(response["Location"]))
    assert "Please enter a number from 0 to 10." in page
    assert not Intake.objects.exists()


def test_the_confirmation_page_needs_a_submission_in_this_session(client):
    assert client.get("/form/done/")["Location"] == "/"


def test_a_filled_honeypot_is_refused_without_saving(client):
    response = client.post("/form/identity/", {**GRACE, "website": "http://spam.example"})
    assert response.status_code == 400
    assert "We could not accept this form" in html(response)
    assert not IntakeDraft.objects.exists()


def test_the_form_needs_its_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/form/identity/", GRACE)
    assert response.status_code == 403
    # The site's page, saying what to do and with the numbers to call, not Django's bare one.
    page = html(response)
    assert "Go back, reload the page, and send it again." in page
    assert "call 999" in page


def test_an_unknown_address_is_the_sites_page_or_the_apis_error():
    page = Client(raise_request_exception=False).get("/form/nope/")
    assert page.status_code == 404
    assert "Page not found" in html(page)
    assert "call 999" in html(page)
    api = Client().get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert list(api.json()["errors"]) == ["non_field_errors"]
    schema = Client().get("/api/nothing-here")  # under /api/, outside the API's own routes
    assert schema.status_code == 404
    assert schema.json() == {"errors": {"non_field_errors": ["There is nothing at this address."]}}


@pytest.mark.parametrize("path", ["/api/v2/referrals", "/api/", "/api/v1"])
def test_an_unknown_api_address_is_json_with_debug_on_too(settings, path):
    """`make run` serves with DEBUG on, where Django's HTML debug page answered another version
    of the API (docs/API.md: a JSON 404; an API QA round)."""
    settings.DEBUG = True
    for response in (Client().get(path), Client(enforce_csrf_checks=True).post(path, {})):
        assert response.status_code == 404
        assert response.json() == {
            "errors": {"non_field_errors": ["There is nothing at this address."]}
        }


@pytest.mark.parametrize("debug", [False, True])
def test_an_api_address_that_wants_its_slash_is_still_sent_to_it(settings, debug):
    """A route matching every address under /api/ left CommonMiddleware nothing to add the
    slash to: /api/docs and /api/schema were a 404 (a review)."""
    settings.DEBUG = debug
    for path, to in (
        ("/api/docs", "/api/docs/"),
        ("/api/schema?format=json", "/api/schema/?format=json"),
    ):
        response = Client().get(path)
        assert (response.status_code, response["Location"]) == (301, to)
    assert Client().post("/api/docs", {}).status_code == 404  # a POST's body cannot follow


def test_starting_too_many_forms_from_one_address_gets_a_friendly_429(client, settings):
    settings.FORM_RATE_LIMIT = 2
    for _ in range(2):
        assert Client().post("/form/identity/", GRACE).status_code == 302
    response = Client().post("/form/identity/", GRACE)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Please try again later" in html(response)
    assert IntakeDraft.objects.count() == 2


def test_an_oversized_body_gets_a_friendly_413_page(client, settings):
    settings.MAX_REQUEST_BYTES = 2048
    response = client.post("/form/identity/", {**GRACE, "given_name": "A" * 5000})
    assert response.status_code == 413
    assert "What you sent is too large" in html(response)


def test_an_oversized_api_body_gets_json_413(client, settings):
    settings.API_MAX_REQUEST_BYTES = 2048
    response = client.post("/api/v1/intakes", "x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"errors": {"non_field_errors": ["The request body is too large."]}}


@pytest.mark.parametrize("step", STEP_CODES)
def test_no_step_page_has_an_inline_style_or_an_unlabelled_input(client, step):
    answers = worked_case("V01")
    complete(client, answers, upto=step)
    page = html(client.get(f"/form/{step}/"))
    assert " style=" not in page
    assert "<script>" not in page
    for input_id in re.findall(
        r'<input type="(?:text|number|email|tel|date)"[^>]*id="([^"]+)"', page
    ):
        assert f'for="{input_id}"' in page, input_id
    assert "<fieldset" in page or step == "identity"


def test_every_questionnaire_field_except_computed_and_module_ones_is_on_some_step(client):
    answers = worked_case("V09")
    seen: set[str] = set()
    for step, data in all_steps(answers, GRACE):
        page = html(client.get(f"/form/{step}/"))
        seen |= {spec.code for spec in CORE_FIELDS if f'name="{spec.code}"' in page}
        client.post(f"/form/{step}/", data)
    expected = {spec.code for spec in CORE_FIELDS if not spec.computed}
    assert seen == expected


def test_the_region_steps_offer_the_clickable_map_without_nerve_root_names():
    from crispy_forms.utils import render_crispy_form

    from intake.forms import STEP_FORMS

    pain = render_crispy_form(STEP_FORMS["pain_locations"](answers={}))
    assert 'data-body-map="pain_regions" hidden' in pain
    assert 'id="map-pain_regions-lower_back"' in pain
    assert 'role="checkbox"' in pain
    assert "You can also tap the picture" in pain
    bound = STEP_FORMS["neuro"](data={"numbness_areas": ["inner_shin"]}, answers={})
    neuro = render_crispy_form(bound)
    assert 'class="map-region is-on" data-field="numbness_areas" data-code="inner_shin"' in neuro
    for staff_word in ("L4 pattern", "L5 pattern", "S1 pattern", "polyneuropathy", "[L"):
        assert staff_word not in neuro


def test_a_form_in_progress_is_kept_open_by_its_page_and_warns_before_it_closes(client):
    """After SESSION_IDLE_MINUTES without a request the session, and what was typed on the
    page and not sent, was gone with no warning (WCAG 2.2.1; a review). The step's page says
    how long it has and asks the server to keep it open while the patient is at it."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    first = html(client.get("/form/identity/"))
    assert 'id="idle-warning"' not in first  # no form held yet: nothing to keep open
    complete(client, worked_case("V01"), upto="pain_locations")
    page = html(client.get("/form/pain_locations/"))
    assert 'id="idle-warning"' in page
    assert 'data-idle-seconds="1800"' in page
    assert "this form closes after 30 minutes without activity" in page
    key = client.session.session_key
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + dt.timedelta(minutes=1))
    assert client.post("/form/keep-open/").json() == {"open": True}
    ends = Session.objects.get(pk=key).expire_date
    assert ends > timezone.now() + dt.timedelta(minutes=29)


def test_keeping_open_makes_no_session_for_a_browser_holding_no_form(db):
    browser = Client()
    assert browser.post("/form/keep-open/").json() == {"open": False}
    assert "sessionid" not in browser.cookies


def test_the_specs_bold_words_are_bold_on_the_patients_pages(client):
    """The spec sets a few words in bold (today, now, both, not; heels, toes, new in the
    questions): the pages showed them plain. Marked where the spec has them, and only there
    (the diabetic safety net's "call 999 now" is not bold in the spec)."""
    assert "It does <strong>not</strong> diagnose" in html(client.get("/"))
    answers = {**worked_case("V09"), "has_diabetes": True}
    complete(client, answers, upto="function_tests")
    page = html(client.get("/form/function_tests/"))
    assert "walk 5 steps on your <strong>heels</strong>, with the front" in page
    assert "walk 5 steps up on your <strong>toes</strong> (tiptoe)" in page
    complete(client, answers, upto="red_flags")
    page = html(client.get("/form/red_flags/"))
    assert "have you had any <strong>new</strong> problems with your bladder" in page
    data = step_data("red_flags", answers)
    del data["bladder_bowel_change"]
    page = html(refused(client, "red_flags", data))
    # The error summary's link cuts the label to 12 words: as text, or it would cut a tag.
    summary = page.split('id="error-summary"', 1)[1].split("</ul>", 1)[0]
    assert "have you had any new problems" in summary
    assert "<strong>" not in summary
    client.post("/form/red_flags/", step_data("red_flags", answers))
    client.post("/form/consent/", step_data("consent", answers))
    done = html(client.get("/form/done/"))
    assert "seen by a doctor <strong>today</strong>. Please call 999" in done
    assert "your nearest emergency department <strong>now</strong>. Do not wait" in done
    assert "spreading to <strong>both</strong> legs." in done
    assert "call 999 now. If a new wound" in done  # the diabetic safety net: plain
    assert "It does <strong>not</strong> diagnose" in done


@pytest.mark.parametrize("typed", ["17 May 1980", " 17 may 1980 ", "17/05/1980", "May 17, 1980"])
def test_a_birth_date_typed_as_the_hint_writes_it_is_accepted(client, typed):
    """Where a browser shows the date box as text, a patient types what the hint shows, "17 May
    1980": it was refused with "Please enter a real date, for example 17 May 1980"."""
    sent = client.post("/form/identity/", {**GRACE, "date_of_birth": typed})
    assert (sent.status_code, sent["Location"]) == (302, "/form/about_you/")
    assert saved_draft(client).data["patient"]["date_of_birth"] == "1980-05-17"


@pytest.mark.parametrize("typed", ["17 May 80", "30 February 1980", "Hughes"])
def test_a_birth_date_that_is_not_a_date_is_asked_again(client, typed):
    page = html(refused(client, "identity", {**GRACE, "date_of_birth": typed}))
    assert "Please enter a real date, for example 17 May 1980." in page


def test_the_next_person_to_start_a_form_in_the_browser_cannot_open_the_last_ones_result(client):
    """Grace sends her form at a shared computer and walks away; Omar starts his own there. The
    result page (Grace's reference, her urgency and safety advice) stayed open to him from
    /form/done/ (Back, the history) until he sent his, as long as the session lived."""
    complete(client, worked_case("V17"))
    assert client.get("/form/done/").status_code == 200
    assert client.post("/form/identity/", step_data("identity", {}, OMAR)).status_code == 302
    assert client.get("/form/done/")["Location"] == "/"


def test_opening_a_resume_link_forgets_the_result_page_of_the_form_sent_before(client):
    complete(client, worked_case("V17"))
    other = Client()
    complete(other, worked_case("V01"), OMAR, upto="about_you")
    link = re.search(
        r'id="resume-link">[^<]*/resume/([^/<]+)/', html(other.get("/form/about_you/"))
    )
    assert link
    assert client.get(f"/resume/{link[1]}/").status_code == 302
    assert client.get("/form/done/")["Location"] == "/"


def test_a_page_holding_a_form_or_its_result_closes_itself_with_the_session_without_script(client):
    """Left on a shared computer's screen, a step showed its answers and the private link that
    opens the whole form, and the result page the reference and advice, to whoever sat down
    next, however long after the session had closed (a review). Without JavaScript the page is
    refreshed to the closed page when the session would have ended, and says so beforehand."""
    complete(client, worked_case("V01"), upto="about_you")
    refresh = '<noscript><meta http-equiv="refresh" content="1800;url=/form/closed/"></noscript>'
    page = html(client.get("/form/about_you/"))
    assert refresh in page
    assert "this page closes 30 minutes after it opened" in page
    assert 'data-closed-url="/form/closed/"' in page
    complete_rest(client, worked_case("V01"), after="identity")
    done = html(client.get("/form/done/"))
    assert '<meta http-equiv="refresh" content="1800;url=/form/closed/?sent=1">' in done
    assert 'data-closed-url="/form/closed/?sent=1"' in done


def test_the_first_step_is_not_refreshed_away_before_anything_is_saved(client):
    """Nothing is held on the server yet, so a slow first step sent after 30 minutes is still
    saved: only the script takes it off the screen, after 30 minutes without activity."""
    page = html(client.get("/form/identity/"))
    assert "http-equiv" not in page
    assert 'id="idle-close"' in page


def test_the_closed_page_holds_nothing_of_the_patients_and_offers_a_new_form(client):
    complete(client, worked_case("V01"), upto="about_you")
    for path, heading in (
        ("/form/closed/", "Your form was closed for your privacy"),
        ("/form/closed/?sent=1", "This page was closed for your privacy"),
    ):
        response = client.get(path)
        assert "no-store" in response["Cache-Control"]
        page = html(response)
        assert heading in page
        assert "Grace" not in page
        assert "/resume/" not in page
        assert 'action="/form/new/"' in page


def test_keeping_open_says_the_form_is_closed_once_its_session_ended(client):
    """A phone locked past the limit: its page's "Keep my form open" was answered as kept
    while the form was gone from the browser, and the page stayed as it was."""
    complete(client, worked_case("V01"), upto="about_you")
    assert client.post("/form/keep-open/").json() == {"open": True}
    client.cookies.clear()  # the session ended
    assert client.post("/form/keep-open/").json() == {"open": False}


def closed_mark(page: str) -> str | None:
    found = re.search(r'data-closed-mark="([0-9a-f]+)"', page)
    return found[1] if found else None


def test_a_first_step_after_the_form_was_closed_or_put_aside_carries_a_new_mark(client):
    """Back after a form was closed here (or "Start a new form") brought the last person's
    first step back with their name, birth date and contact details in its boxes, put back by
    the browser over the empty page sent. The mark tells the page's script, and chromium, that
    what the browser kept for that page is not this patient's."""
    before = closed_mark(html(client.get("/form/identity/")))  # nothing was closed here
    complete(client, worked_case("V01"), upto="about_you")
    client.cookies.clear()  # the session ended
    assert client.post("/form/close/").status_code == 204  # the page's script, as it closes
    assert client.get("/form/closed/").status_code == 200
    page = html(client.get("/form/identity/"))
    first = closed_mark(page)
    assert first
    assert first != before
    assert f'<input type="hidden" name="closed-{first}" value="">' in page
    assert 'autocomplete="given-name"' in page  # the hints stay (WCAG 1.3.5)
    assert closed_mark(html(client.get("/form/identity/"))) == first  # the patient's own Back
    sent = client.post(
        "/form/identity/", {**step_data("identity", {}, OMAR), f"closed-{first}": ""}
    )
    assert sent["Location"] == "/form/about_you/"  # the mark's field is sent with the step

    complete(client, worked_case("V01"), upto="about_you")
    assert closed_mark(html(client.get("/form/identity/"))) is None  # their form in progress
    assert client.post("/form/new/").status_code == 302
    second = closed_mark(html(client.get("/form/identity/")))
    assert second
    assert second != first


def test_finish_forgets_the_result_page_and_shows_the_closed_page(client):
    """At a shared computer the patient could only walk away from the result page: their
    reference, urgency and advice stayed on the screen, and open from /form/done/, until the
    session closed (a review)."""
    complete(client, worked_case("V17"))
    assert 'action="/form/finish/"' in html(client.get("/form/done/"))
    assert client.get("/form/finish/").status_code == 405
    assert Client(enforce_csrf_checks=True).post("/form/finish/").status_code == 403
    response = client.post("/form/finish/")
    assert response.status_code == 303
    assert response["Location"] == "/form/closed/?finished=1"
    assert client.get("/form/done/")["Location"] == "/"
    closed = client.get(response["Location"])
    assert "no-store" in closed["Cache-Control"]
    page = html(closed)
    assert "This page was closed for your privacy" in page
    assert "The page that showed your reference has been cleared" in page
    assert Intake.objects.get().reference[4:] not in page
    assert closed_mark(html(client.get("/form/identity/")))


def test_stop_here_clears_the_screen_and_keeps_the_draft_behind_its_link(client):
    """At a shared computer a patient who had to stop could only walk away: their name,
    answers and private link stayed on the screen until the page closed itself."""
    complete(client, worked_case("V01"), upto="about_you")
    token = client.session[SESSION_KEY]
    page = html(client.get("/form/about_you/"))
    assert 'action="/form/put-aside/"' in page
    assert "Stop here and clear this screen" in page
    assert client.get("/form/put-aside/").status_code == 405
    assert Client(enforce_csrf_checks=True).post("/form/put-aside/").status_code == 403
    response = client.post("/form/put-aside/")
    assert response.status_code == 303
    assert response["Location"] == "/form/closed/?saved=1"
    assert SESSION_KEY not in client.session
    closed = html(client.get(response["Location"]))
    assert "You stopped, so your answers were taken off the screen" in closed
    assert "Nobody used the form" not in closed
    # This browser holds nothing: the first step is empty, and marked as another form.
    first = html(client.get("/form/identity/"))
    assert "Grace" not in first
    assert f"/resume/{token}/" not in first
    assert closed_mark(first)
    # The draft is kept: its link carries on where the patient stopped.
    assert client.get(f"/resume/{token}/").status_code == 302
    assert client.session[SESSION_KEY] == token


def test_a_first_step_with_no_mark_in_the_session_carries_one_that_turns_over_with_it(
    client, settings, monkeypatch
):
    """Without JavaScript a step closes by a refresh to the closed page after its session has
    ended, and that GET writes nothing. Back to the first step the last person typed on, in a
    browser where nothing had been closed before, brought their name, birth date and contact
    details back in its boxes. A first step shown without a mark in the session carries one
    that turns over with each SESSION_COOKIE_AGE: the same within it (the patient's own Back
    keeps what they typed), another after it, and no session is made for it."""
    settings.SESSION_COOKIE_AGE = 1800
    start = 1_800_000  # a multiple of 1800: the start of a period
    shown = []
    for offset in (0, 1799, 1800):
        monkeypatch.setattr(time, "time", lambda offset=offset: float(start + offset))
        shown.append(closed_mark(html(client.get("/form/identity/"))))
    assert shown[0]
    assert shown[1] == shown[0]
    assert shown[2] not in (None, shown[0])
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_the_closed_page_saves_nothing_to_the_session(client, settings):
    """A GET: a link checker, or a browser fetching the page ahead, would otherwise close a
    form in progress, or start a session in a browser that had none."""
    from django.contrib.sessions.models import Session

    complete(client, worked_case("V01"), upto="about_you")
    # The step's page: the session's once-a-minute refresh (IdleSessionMiddleware) is done.
    assert client.get("/form/about_you/").status_code == 200
    key = client.session.session_key
    stored = Session.objects.get(pk=key).session_data
    for path in ("/form/closed/", "/form/closed/?sent=1", "/form/closed/?finished=1"):
        response = client.get(path)
        assert response.status_code == 200
        assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.get(pk=key).session_data == stored
    assert client.get("/form/about_you/").status_code == 200  # still held here
    fresh = Client()
    assert fresh.get("/form/closed/").status_code == 200
    assert settings.SESSION_COOKIE_NAME not in fresh.cookies
    assert not Session.objects.exclude(pk=key).exists()


def test_a_page_closing_itself_ends_the_forms_hold_here_and_the_draft_stays(client, settings):
    """The page's script counts from the earliest its session may have been kept open, so it
    closed up to a minute before the session: in that minute Back showed the first step filled
    in from the form still held, with its private link (a review). The page now POSTs to
    /form/close/ first, as the script does: with the page's CSRF token in a header."""
    complete(client, worked_case("V01"), upto="about_you")
    token = client.session[SESSION_KEY]
    session = client.session
    session["kept"] = "a member of staff signed in here"
    session.save()
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = client.cookies
    assert browser.get("/form/close/").status_code == 405
    assert browser.post("/form/close/").status_code == 403  # no token
    assert browser.session[SESSION_KEY] == token
    html(browser.get("/form/about_you/"))  # the page, which sets the CSRF cookie
    key = browser.session.session_key
    csrf = {"X-CSRFToken": browser.cookies[settings.CSRF_COOKIE_NAME].value}
    for _ in range(2):  # the same after a second one
        response = browser.post("/form/close/", headers=csrf)
        assert response.status_code == 204
        assert SESSION_KEY not in browser.session
        assert browser.session["kept"] == "a member of staff signed in here"
        assert browser.session.session_key != key
    first = html(browser.get("/form/identity/"))
    assert closed_mark(first) == browser.session["intake_closed"]
    assert "Grace" not in first
    assert "/resume/" not in first
    assert browser.get("/form/about_you/")["Location"] == "/form/identity/"
    assert browser.get(f"/resume/{token}/")["Location"] == "/form/about_you/"  # nothing lost
    assert saved_draft(browser).data["patient"]["given_name"] == "Grace"


def close_url(page: str) -> str:
    found = re.search(r'data-close-url="([^"]+)"', page)
    assert found
    return found[1]


def test_a_page_of_another_form_closing_itself_leaves_the_form_held_here_alone(client):
    """Grace's step left idle in one tab (or shown again after the limit) while Omar had opened
    his private link in another: closing itself, it ended Omar's form in the browser, under him,
    and his next "Save and continue" found it closed. Each page's request names its form."""
    complete(client, worked_case("V01"), upto="pain_locations")
    graces = close_url(html(client.get("/form/pain_locations/")))
    assert graces == f"/form/close/?form={form_field(html(client.get('/form/identity/')))[5:]}"
    first = close_url(html(Client().get("/form/identity/")))  # a first step, no form held
    assert first == "/form/close/?form=new"
    phone = Client()
    complete(phone, worked_case("V17"), OMAR, upto="pain_locations")
    omar = phone.session[SESSION_KEY]
    assert client.get(f"/resume/{omar}/").status_code == 302
    omars = close_url(html(client.get("/form/pain_locations/")))
    assert omars != graces

    for url in (graces, first, "/form/close/?form=sent"):  # hers, a first step, a result page
        key = client.session.session_key
        assert client.post(url).status_code == 204
        assert client.session[SESSION_KEY] == omar
        assert client.session.session_key == key  # nothing changed here
    data = {**step_data("pain_locations", worked_case("V17")), f"form-{omars[18:]}": ""}
    assert client.post("/form/pain_locations/", data)["Location"] == "/form/pain_character/"
    # His own page closing ends his form's hold here, as before.
    assert client.post(omars).status_code == 204
    assert SESSION_KEY not in client.session
    assert client.get(f"/resume/{omar}/")["Location"] == "/form/pain_character/"  # kept


def test_a_result_page_closing_itself_forgets_the_result_here(client):
    complete(client, worked_case("V17"))
    assert client.get("/form/done/").status_code == 200
    assert client.post("/form/close/").status_code == 204
    assert client.get("/form/done/")["Location"] == "/"


def test_a_page_closing_itself_with_nothing_held_gets_only_a_new_mark(client, settings):
    """A first step typed and never saved, or a page whose session had ended: nothing is held
    here, and the first step shown next is another form to the browser than the one typed on."""
    before = closed_mark(html(client.get("/form/identity/")))
    response = client.post("/form/close/")
    assert response.status_code == 204
    assert response.content == b""
    assert dict(client.session.items()).keys() == {"intake_closed"}
    assert closed_mark(html(client.get("/form/identity/"))) not in (None, before)


def test_a_number_box_the_browser_could_not_read_is_refused_with_its_message(client):
    """Sent empty with its name under "unreadable" (intake-form.js): refused, not saved as
    nothing; a name that is not a number box of the step is ignored."""
    complete(client, worked_case("V01"), upto="about_you")
    data = {"height_cm": "180", "weight_stones": "11", "weight_pounds": "", "has_diabetes": "no"}
    response = client.post("/form/about_you/", {**data, "unreadable": ["weight_pounds", "x"]})
    assert response["Location"] == "/form/about_you/"  # refused, shown again
    page = html(client.get("/form/about_you/"))
    assert "Please enter the pounds as a number with at most one decimal place" in page
    assert saved_draft(client).current_step == "about_you"
    response = client.post("/form/about_you/", {**data, "unreadable": "has_diabetes"})
    assert response["Location"] == "/form/pain_locations/"
    assert saved_draft(client).data["answers"]["weight_kg"] == 70  # 11 st
