"""POST /intakes, POST /triage/preview, GET /intakes/{id}, GET /questionnaire."""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import gzip
import io
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from intake.api import TriagePreviewOut, TriageResultOut, disclaimers, triage_out
from intake.assessment import assess
from intake.messages import patient_disclaimer, staff_disclaimer
from intake.models import Intake, IntakeSource
from intake.questionnaire import FIELD_BY_CODE, FIELDS
from intake.services import PatientDetails, patient_messages_for
from intake.triage import SPINAL_REGIONS
from intake.validation import MSG_REQUIRED, MSG_UNDER_16, validate_answers
from referrals import selectors
from referrals.api import ReferralListItemSerializer
from referrals.api_auth import (
    UNSTORABLE_KEY,
    UNSTORABLE_VALUE,
    RequestTooLarge,
    SizeLimitedJSONParser,
)
from referrals.models import AuditEntry, Referral, Scope
from referrals.services import intake_clear_red_flag, referral_cancel, referral_claim
from tests.answers import LEG_SYMPTOMS, SYMPTOMS_REPORTED
from tests.api.conftest import Api, intake_body
from tests.clinic_fixtures import details, submit, worked_case, worked_cases

pytestmark = pytest.mark.django_db

V09_RESULT = {
    "ruleset_version": "1.0.0",
    "queues": ["urgent_medical_review"],
    "urgency": "emergency",
    "suggested_after_clearance": ["chiropractic"],
}


def test_submitting_stores_the_case_and_answers_with_the_reference_and_patient_message(api):
    response = api.post("/api/v1/intakes", intake_body("V09"))
    assert response.status_code == 201
    body = response.json()
    intake = Intake.objects.get()
    assert body["id"] == str(intake.public_id)
    assert body["reference"] == intake.reference
    assert body["urgency"] == "emergency"
    assert body["patient_message"]["urgency_message"].startswith("Based on your answers")
    assert "999" in body["patient_message"]["urgency_message"]
    assert body["patient_message"]["safety_net"].startswith("Get emergency help")
    assert body["patient_message"]["diabetic_safety_net"] is None
    # Spec §7: the patient text the form's result page shows, for a kiosk to show likewise.
    assert body["patient_disclaimer"] == patient_disclaimer(emergency_number="999")
    assert intake.source == IntakeSource.API
    assert intake.created_by is not None
    assert intake.created_by.username.startswith("api-")


def test_a_reader_token_gets_flags_explanations_and_referrals(api):
    body = api.post("/api/v1/intakes", intake_body("V09")).json()
    triage = body["triage"]
    assert {k: triage[k] for k in V09_RESULT} == V09_RESULT
    codes = [flag["code"] for flag in triage["flags"]]
    assert codes == ["BACK_PAIN", "RED_FLAG_CAUDA_EQUINA", "SCIATIC_PATTERN"]
    assert all(flag["explanation"] for flag in triage["flags"])
    (referral,) = body["referrals"]
    assert referral["queue"] == "urgent_medical_review"
    assert referral["id"] == str(Referral.objects.get().public_id)
    # Spec §7, "show on every triage view": the staff text goes with the flags.
    assert body["staff_disclaimer"] == staff_disclaimer(ruleset_version="1.0.0")
    assert "(version 1.0.0)" in body["staff_disclaimer"]


def test_the_api_routes_exactly_like_the_form(api):
    api.post("/api/v1/intakes", intake_body("V22"))
    assert sorted(Referral.objects.values_list("queue", flat=True)) == [
        "chiropractic",
        "orthotic_fitting",
        "podiatry",
    ]


def test_a_diabetic_patient_gets_the_diabetic_safety_net(api):
    body = api.post("/api/v1/intakes", intake_body("V17")).json()
    assert body["patient_message"]["diabetic_safety_net"].startswith("If your foot or toes")


def test_errors_come_per_field_in_one_shape_and_nothing_is_stored(api):
    payload = intake_body("V01")
    del payload["answers"]["tingling"]
    payload["answers"]["pain_now_nrs"] = 11
    payload["answers"]["made_up"] = True
    payload["given_name"] = ""
    payload["phone"] = ""
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["answers.tingling"] == [MSG_REQUIRED]
    assert errors["answers.pain_now_nrs"] == ["Please enter a number from 0 to 10."]
    assert errors["answers.made_up"] == ["This question is not part of the form."]
    assert errors["given_name"] == ["Please enter your given name."]
    assert "phone" in errors
    assert set(response.json()) == {"errors"}
    assert not Intake.objects.exists()


NRS_RANGE = "Please enter a number from 0 to 10."


def _body_with_answer_errors() -> dict:
    payload = intake_body()
    payload["answers"]["pain_now_nrs"] = 11
    del payload["answers"]["tingling"]
    return payload


ANSWER_ERRORS = {"answers.pain_now_nrs": [NRS_RANGE], "answers.tingling": [MSG_REQUIRED]}


def test_an_outer_type_error_and_the_answers_errors_come_in_one_400(api):
    """A review: a phone sent as a number got its own error only, and the answers' errors came
    on the next try; an integrator needed a round trip per layer to learn what was wrong."""
    payload = _body_with_answer_errors()
    payload["phone"] = 7700900123
    payload["given_name"] = ""
    response = api.post("/api/v1/intakes", payload, headers={"Idempotency-Key": "all-at-once"})
    assert response.status_code == 400
    # Nothing is said of the contact details from a phone that could not be read.
    assert response.json() == {
        "errors": {
            "phone": ["Not a valid string."],
            "given_name": ["Please enter your given name."],
            **ANSWER_ERRORS,
        }
    }
    assert not Intake.objects.exists()
    corrected = intake_body()
    assert (
        api.post(
            "/api/v1/intakes", corrected, headers={"Idempotency-Key": "all-at-once"}
        ).status_code
        == 201
    )


def test_an_unknown_field_and_the_answers_errors_come_in_one_400(api):
    payload = _body_with_answer_errors()
    payload["e_mail"] = payload.pop("email")
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    assert response.json() == {"errors": {"e_mail": [UNKNOWN], **ANSWER_ERRORS}}
    preview = api.post(
        "/api/v1/triage/preview", {"answers": {**payload["answers"], "age_years": 46}, "age": 46}
    )
    assert preview.status_code == 400
    assert preview.json() == {"errors": {"age": [UNKNOWN], **ANSWER_ERRORS}}
    assert not Intake.objects.exists()


@pytest.mark.parametrize("born", ["17/05/1980", "1980-02-30", 1980, "2999-01-01"])
def test_a_date_of_birth_that_is_not_valid_leaves_out_only_the_checks_of_the_age(api, born):
    """No age without a valid date of birth: its own error stands for the age's checks (under
    16, the age's range), and every other check of the answers still runs."""
    payload = _body_with_answer_errors()
    payload["date_of_birth"] = born
    payload["answers"]["made_up"] = True
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors.pop("date_of_birth")) == 1
    assert errors == {
        **ANSWER_ERRORS,
        "answers.made_up": ["This question is not part of the form."],
    }
    assert "refusal" not in response.json()


@pytest.mark.parametrize(
    "born", ["1980-02-30", "1981-02-29", "1980-13-01", "1980-04-31", "0000-05-17"]
)
def test_a_date_of_birth_that_names_no_day_says_so_not_that_its_format_is_wrong(api, born):
    """It was told "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.", the
    format it was sent in (an API QA round)."""
    payload = intake_body()
    payload["date_of_birth"] = born
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "date_of_birth": ["There is no such date: check the day, the month and the year."]
    }
    payload["date_of_birth"] = "17/05/1980"
    errors = api.post("/api/v1/intakes", payload).json()["errors"]
    assert errors["date_of_birth"][0].startswith("Date has wrong format.")
    assert not Intake.objects.exists()


def test_a_patient_under_16_learns_it_beside_an_outer_type_error(api):
    payload = intake_body(patient=details(date_of_birth=dt.date(2015, 1, 1)))
    payload["email"] = 0
    body = api.post("/api/v1/intakes", payload).json()
    assert body["errors"] == {"email": ["Not a valid string."], "date_of_birth": [MSG_UNDER_16]}
    assert body["refusal"][0].startswith("Sorry, this form is only for people aged 16 and over")


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("[1, 2]", "an array"),
        ('"x"', "a string"),
        ("5", "a number"),
        ("1.5", "a number"),
        ("true", "true or false"),
        ("null", "null"),
    ],
)
def test_a_body_that_is_not_an_object_still_gets_its_one_error(api, raw, sent):
    """In JSON's words: DRF said "Invalid data. Expected a dictionary, but got list." ("str",
    "int", "No data provided" for null), Python's names (an API QA round)."""
    (referral,) = submit("V01").referrals
    paths = (
        "/api/v1/intakes",
        "/api/v1/triage/preview",
        f"/api/v1/referrals/{referral.public_id}/claim",
    )
    for path in paths:
        response = api.post(path, raw)
        assert response.status_code == 400
        assert response.json() == {
            "errors": {"non_field_errors": [f"Send a JSON object as the body, not {sent}."]}
        }


WRONG_TYPES: st.SearchStrategy[object] = st.sampled_from([5, 1.5, True, [], {}, None])
OUTER = ("given_name", "family_name", "date_of_birth", "phone", "email", "preferred_contact")


@hypothesis_settings(
    max_examples=max(10, hypothesis_settings().max_examples // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    wrong=st.dictionaries(st.sampled_from(OUTER), WRONG_TYPES, max_size=3),
    unknown=st.booleans(),
    answers=st.dictionaries(
        st.sampled_from([*sorted(worked_case("V01")), "made_up"]),
        # Text a parser refuses before any field is read (NUL) is another test's.
        WRONG_TYPES | st.integers(-5, 200) | st.text(alphabet="ab 1", max_size=3),
        max_size=4,
    ),
)
def test_the_outer_errors_never_hide_the_answers_errors(api, settings, wrong, unknown, answers):
    """Whatever is wrong outside the answers (types, unknown names), the answers' errors in the
    one 400 are those the same answers get with the outer fields put right; for an adult the
    age's checks say nothing either way."""
    # Two requests an example on one token, and the examples share the database: the deep
    # profile's 200 examples passed the token's 120 a minute (429). The limit is another test's.
    settings.API_RATE_LIMIT = 1_000_000
    payload = intake_body()
    payload["answers"].update(answers)
    alone = api.post("/api/v1/intakes", payload).json()
    payload.update(wrong)
    if unknown:
        payload["e_mail"] = "ada@example.com"
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400 or not (wrong or unknown or "errors" in alone)
    if response.status_code != 400:
        return
    mixed = response.json()["errors"]
    for name in [*wrong, *(["e_mail"] if unknown else [])]:
        assert name in mixed
    expected = {k: v for k, v in alone.get("errors", {}).items() if k.startswith("answers.")}
    assert {k: v for k, v in mixed.items() if k.startswith("answers.")} == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("{not json", "non_field_errors"),
        ("[1, 2]", "non_field_errors"),
        ('"just a string"', "non_field_errors"),
        ("NaN", "non_field_errors"),
        (b"\xff\xfe", "non_field_errors"),
        ("", "given_name"),
    ],
)
def test_malformed_bodies_get_400_in_the_same_shape(api, raw, key):
    response = api.post("/api/v1/intakes", raw)
    assert response.status_code == 400
    assert key in response.json()["errors"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"answers": {"height_cm": ' + "1" * 5000 + "}}", "a number has more than 4300 digits."),
        ("[" * 20_000 + "]" * 20_000, "arrays and objects are nested too deeply."),
        (
            codecs.BOM_UTF8 + b'{"answers": {}}',
            "the body starts with a byte order mark (BOM): send UTF-8 without one.",
        ),
        ('{"answers": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001, "arrays and objects are nested"),
        (" \r\n\t", "the body is only white space: send a JSON object."),
    ],
)
def test_a_body_json_cannot_read_says_why_in_an_integrators_words(api, raw, message):
    """Python's own words were passed on: "... use sys.set_int_max_str_digits() to increase
    the limit" for a long number, "maximum recursion depth exceeded while decoding a JSON array
    from a unicode string" for deep nesting, "Unexpected UTF-8 BOM (decode using utf-8-sig)"
    for a byte order mark (an API QA round)."""
    for path in ("/api/v1/intakes", "/api/v1/triage/preview"):
        response = api.post(path, raw)
        assert response.status_code == 400
        (said,) = response.json()["errors"]["non_field_errors"]
        assert said.startswith(f"JSON parse error - {message}")
        assert "sys." not in said
        assert "recursion" not in said
        assert "utf-8-sig" not in said


@pytest.mark.parametrize(
    ("where", "path", "message"),
    [
        ("answers key", "answers", UNSTORABLE_KEY),
        ("preferred_contact", "preferred_contact", UNSTORABLE_VALUE),
        ("main_concern", "answers.main_concern", UNSTORABLE_VALUE),
        ("pain_regions", "answers.pain_regions.0", UNSTORABLE_VALUE),
    ],
)
@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "a\u0000b"])
def test_text_that_cannot_be_stored_or_written_back_gets_400_where_it_is(
    api, where, path, message, bad
):
    """An unpaired surrogate was echoed in the 400's body, which then failed to encode: a 500,
    replayed to every retry of an Idempotency-Key; NUL, refused by PostgreSQL's jsonb, the
    same there. A review found both. Now a 400 names where the text is; nothing is stored."""
    payload = intake_body()
    if where == "answers key":
        payload["answers"][bad] = 1
    elif where == "preferred_contact":
        payload["preferred_contact"] = bad
    elif where == "main_concern":
        payload["answers"]["main_concern"] = bad
    else:
        payload["answers"]["pain_regions"] = [bad]
    for _attempt in range(2):
        response = api.post("/api/v1/intakes", payload, headers={"Idempotency-Key": "nul-1"})
        assert response.status_code == 400
        assert response.json() == {"errors": {path: [message]}}
    preview = api.post("/api/v1/triage/preview", {"answers": {bad: 1}})
    assert preview.status_code == 400
    assert preview.json() == {"errors": {"answers": [UNSTORABLE_KEY]}}
    assert not Intake.objects.exists()


def test_the_direction_wrappers_a_pasted_value_comes_in_are_dropped(api):
    """Messaging apps wrap a copied phone number in an embedding ("\u202a...\u202c"), and a
    right-to-left name comes pasted inside an isolate: refused, the same paste was refused
    again (a review). They are dropped; what is stored is the value itself."""
    body = {
        **intake_body(),
        "given_name": "\u2068محمد\u2069",
        "family_name": "\u2067Haddad\u2069",
        "phone": "\u202a+44 7700 900123\u202c",
        "email": "\u2066ada@example.org\u2069",
    }
    response = api.post("/api/v1/intakes", body)
    assert response.status_code == 201, response.json()
    patient = Intake.objects.get(public_id=response.json()["id"]).patient
    assert (patient.given_name, patient.family_name, patient.phone, patient.email) == (
        "محمد",
        "Haddad",
        "+44 7700 900123",
        "ada@example.org",
    )


@pytest.mark.parametrize("given", ["\u200b", "\u2060\u200d", "42", "-"])
def test_a_given_name_without_a_letter_is_refused(api, given):
    """A given name of invisible characters alone was stored and showed staff nothing (an API
    QA round); one letter of any script is enough ("J.", "李")."""
    response = api.post("/api/v1/intakes", {**intake_body(), "given_name": given})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"given_name": ["Please enter your given name using letters."]}
    }
    for accepted in ("J.", "李", "Zoë"):
        assert (
            api.post("/api/v1/intakes", {**intake_body(), "given_name": accepted}).status_code
            == 201
        )
    assert Intake.objects.count() == 3


def test_a_family_name_in_another_script_is_accepted_and_matched_as_any_other(api):
    # Refused with "Please enter your family name using letters." (the matching key kept
    # Latin letters only, and an empty key reads as no name).
    body = intake_body()
    first = api.post("/api/v1/intakes", {**body, "given_name": "Мария", "family_name": "Иванова"})
    assert first.status_code == 201, first.json()
    again = api.post("/api/v1/intakes", {**body, "given_name": "Мария", "family_name": "ИВАНОВА"})
    sister = api.post("/api/v1/intakes", {**body, "given_name": "Анна", "family_name": "Петрова"})
    assert (again.status_code, sister.status_code) == (201, 201)
    patients = {
        Intake.objects.get(public_id=r.json()["id"]).patient_id for r in (first, again, sister)
    }
    # Same family name, birth date and phone: the same patient. Another family name with
    # the same birth date and phone is another patient, not merged into her.
    assert len(patients) == 2
    case = api.get(f"/api/v1/intakes/{first.json()['id']}").json()
    assert (case["patient"]["given_name"], case["patient"]["family_name"]) == ("Мария", "Иванова")


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("family_name", "Hughes\nSmith", "family name"),
        ("given_name", "Ada\tMay", "given name"),
        ("family_name", "Hug\rhes", "family name"),
        ("phone", "07700\x1b900123", "phone number"),
        ("given_name", "Ada\x85May", "given name"),
    ],
)
def test_a_name_or_number_with_a_control_character_is_refused(api, field, value, label):
    """A line break, a tab or another control character in a name or a phone number went into
    the patient's record as sent (an API QA round): one line each, as the form's boxes give."""
    response = api.post("/api/v1/intakes", {**intake_body(), field: value})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            field: [f"Please remove line breaks and other control characters from the {label}."]
        }
    }
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("family_name", "\u202enosnhoJ", "family name"),
        ("given_name", "\u202e", "given name"),
        ("given_name", "Ada\u202dMay", "given name"),
        ("phone", "07700 \u202d900123", "phone number"),
        ("email", "ada@\u202eexample.org", "email address"),
    ],
)
def test_a_name_or_contact_detail_with_a_bidirectional_override_is_refused(
    api, field, value, label
):
    """ "\u202enosnhoJ" read "Johnson" on the staff pages while it was stored, searched and
    matched as "nosnhoJ", and "\u202e" alone was a given name that shows as nothing (an API QA
    round)."""
    response = api.post("/api/v1/intakes", {**intake_body(), field: value})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        field: [
            f"Please type the {label} again: it holds invisible characters that change the "
            "direction of text."
        ]
    }
    assert not Intake.objects.exists()


def test_a_right_to_left_name_needs_no_direction_control_and_keeps_its_marks(api):
    name = "\u05db\u05d4\u05df\u200f"  # Hebrew, with a right-to-left mark
    response = api.post("/api/v1/intakes", {**intake_body(), "family_name": name})
    assert response.status_code == 201


def test_a_name_keeps_the_joiners_its_script_writes_with(api):
    """Not a control character: the zero-width non-joiner of Persian spelling."""
    name = "\u0645\u06cc\u200c\u0631\u0632\u0627\u06cc\u06cc"
    assert api.post("/api/v1/intakes", {**intake_body(), "family_name": name}).status_code == 201


def test_a_character_outside_the_basic_plane_is_text_like_any_other(api):
    """A surrogate pair is one character (here an emoji): stored and echoed as it came."""
    payload = intake_body()
    payload["answers"]["main_concern"] = "Heel pain \U0001f97e"
    raw = json.dumps(payload)  # ensure_ascii: written as the pair \ud83e\udd7e
    assert "\\ud83e\\udd7e" in raw
    assert api.post("/api/v1/intakes", raw).status_code == 201
    assert Intake.objects.get().answers["main_concern"] == "Heel pain \U0001f97e"


def test_wrong_types_get_400_not_500(api):
    payload = intake_body()
    payload["date_of_birth"] = "17/05/1980"
    payload["answers"] = ["not", "an", "object"]
    payload["given_name"] = {"nested": True}
    errors = api.post("/api/v1/intakes", payload).json()["errors"]
    assert set(errors) >= {"date_of_birth", "given_name"}


@pytest.mark.parametrize("answers", [[1], "x", 5, True])
def test_answers_that_are_not_an_object_are_refused(api, answers):
    """The preview said it under "answers.non_field_errors", a key docs/API.md does not name
    (an API QA round): both operations name the field, in the same words."""
    payload = intake_body()
    payload["answers"] = answers
    errors = api.post("/api/v1/intakes", payload).json()["errors"]
    assert errors == {"answers": ["Expected an object of answers."]}
    preview = api.post("/api/v1/triage/preview", {"answers": answers})
    assert preview.status_code == 400
    assert preview.json() == {"errors": {"answers": ["Expected an object of answers."]}}


def test_sending_age_years_is_refused_because_it_comes_from_the_date_of_birth(api):
    payload = intake_body()
    payload["answers"]["age_years"] = 44
    errors = api.post("/api/v1/intakes", payload).json()["errors"]
    assert "answers.age_years" in errors


def test_under_16_gets_a_clear_error_and_the_refusal_text(api):
    payload = intake_body(patient=details(date_of_birth=dt.date(2015, 1, 1)))
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]["date_of_birth"] == [MSG_UNDER_16]
    assert body["refusal"][0].startswith("Sorry, this form is only for people aged 16 and over")
    assert not Intake.objects.exists()


def test_a_body_over_the_limit_gets_413(api, settings):
    settings.API_MAX_REQUEST_BYTES = 2048
    payload = intake_body()
    payload["answers"]["main_concern"] = "x" * 3000
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 413
    assert response.json() == {"errors": {"non_field_errors": ["The request body is too large."]}}
    assert not Intake.objects.exists()


def test_the_parser_stops_reading_a_body_without_length_at_the_limit(settings):
    settings.API_MAX_REQUEST_BYTES = 2048
    stream = io.BytesIO(json.dumps({"answers": {"main_concern": "x" * 5000}}).encode())
    with pytest.raises(RequestTooLarge):
        SizeLimitedJSONParser().parse(stream)
    assert stream.tell() == 2049


# --- triage preview --------------------------------------------------------------------------


def test_preview_returns_the_spec_result_and_patient_message_and_stores_nothing(api):
    answers = {**worked_case("V09"), "age_years": 46}
    response = api.post("/api/v1/triage/preview", {"answers": answers})
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in V09_RESULT} == V09_RESULT
    assert set(body) == {
        "ruleset_version",
        "derived",
        "flags",
        "queues",
        "urgency",
        "suggested_after_clearance",
        "patient_message",
        "patient_disclaimer",
        "staff_disclaimer",
    }
    assert body["staff_disclaimer"] == staff_disclaimer(ruleset_version="1.0.0")
    assert body["patient_disclaimer"] == patient_disclaimer(emergency_number="999")
    assert body["derived"]["bmi"] == pytest.approx(24.221453287197235)
    assert body["flags"][1]["clauses"] == ["RED_FLAG_CAUDA_EQUINA.a", "RED_FLAG_CAUDA_EQUINA.b"]
    assert body["patient_message"]["urgency_message"].startswith("Based on your answers")
    assert not Intake.objects.exists()
    assert not Referral.objects.exists()


def test_preview_under_16_is_refused_with_the_refusal_text(api):
    answers = {**worked_case("V01"), "age_years": 15}
    body = api.post("/api/v1/triage/preview", {"answers": answers}).json()
    assert body["errors"]["answers.age_years"] == [MSG_UNDER_16]
    assert body["refusal"]


@pytest.mark.parametrize("age", ["46", 46.0, True, 111])
def test_preview_refuses_an_age_in_the_words_of_an_age_not_a_date_of_birth(api, age):
    """It said "Please check your date of birth.", the form's words, to an operation that is
    given the age itself and no date (an API QA round)."""
    answers = {**worked_case("V01"), "age_years": age}
    response = api.post("/api/v1/triage/preview", {"answers": answers})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"answers.age_years": ["Give the age in whole years, from 16 to 110."]}
    }


def test_preview_needs_answers(api):
    response = api.post("/api/v1/triage/preview", {})
    assert response.status_code == 400
    assert response.json() == {"errors": {"answers": ["This field is required."]}}


UNKNOWN = "This field is not part of this operation."


def test_an_unknown_field_is_refused_by_name_beside_the_other_errors(api):
    """A misspelt "e_mail" was dropped and the case saved without the address (a review)."""
    body = intake_body()
    body["e_mail"] = body.pop("email")
    response = api.post("/api/v1/intakes", body)
    assert response.status_code == 400
    assert response.json() == {"errors": {"e_mail": [UNKNOWN]}}
    del body["preferred_contact"]
    errors = api.post("/api/v1/intakes", body).json()["errors"]
    assert errors == {"preferred_contact": ["This field is required."], "e_mail": [UNKNOWN]}
    preview = api.post("/api/v1/triage/preview", {"answers": {}, "age": 46}).json()["errors"]
    assert preview["age"] == [UNKNOWN]
    assert not Intake.objects.exists()


def test_a_move_with_a_field_of_another_move_is_refused(api):
    (referral,) = submit("V01").referrals
    path = f"/api/v1/referrals/{referral.public_id}/claim"
    response = api.post(path, {"reason": "Mine", "queue": "podiatry"})
    assert (response.status_code, response.json()) == (400, {"errors": {"queue": [UNKNOWN]}})
    referral.refresh_from_db()
    assert referral.status == "new"
    assert api.post(path, {"reason": "Mine"}).status_code == 200


# --- reading a case --------------------------------------------------------------------------


def test_reading_a_case_shows_identity_answers_triage_and_referrals_and_is_audited(api):
    created = api.post("/api/v1/intakes", intake_body("V11")).json()
    response = api.get(f"/api/v1/intakes/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == created["reference"]
    assert body["patient"]["family_name"] == "Okafor"
    assert body["answers"]["pain_regions"] == worked_case("V11")["pain_regions"]
    assert sorted(r["queue"] for r in body["referrals"]) == ["orthotic_fitting", "podiatry"]
    assert body["triage"]["urgency"] == "routine"
    assert body["staff_disclaimer"] == staff_disclaimer(ruleset_version="1.0.0")
    assert AuditEntry.objects.filter(action="api_view", object_id=created["id"]).exists()


def test_an_erased_patient_reads_without_names_or_a_day_of_birth_and_says_when(api):
    """Erasure stores "Erased" as both names and 1 January of the year of birth: sent as they
    were, a record system filed a patient "Erased Erased" born on 1 January."""
    from intake.privacy import patient_erase

    created = api.post("/api/v1/intakes", intake_body("V01")).json()
    patient = api.get(f"/api/v1/intakes/{created['id']}").json()["patient"]
    assert (patient["date_of_birth"], patient["year_of_birth"]) == ("1980-05-17", 1980)
    assert patient["erased_at"] is None
    patient_erase(public_id=patient["id"], actor=None, reason="Asked to")
    erased = api.get(f"/api/v1/intakes/{created['id']}").json()["patient"]
    assert erased["erased_at"] is not None
    assert erased == {
        "id": patient["id"],
        "given_name": None,
        "family_name": None,
        "date_of_birth": None,
        "year_of_birth": 1980,
        "phone": "",
        "email": "",
        "preferred_contact": None,
        "erased_at": erased["erased_at"],
    }


def test_a_case_reads_with_the_staff_text_of_the_ruleset_that_triaged_it(api):
    created = api.post("/api/v1/intakes", intake_body("V11")).json()
    Intake.objects.filter(public_id=created["id"]).update(ruleset_version="0.9.0")
    body = api.get(f"/api/v1/intakes/{created['id']}").json()
    assert "(version 0.9.0)" in body["staff_disclaimer"]


def test_a_queue_limited_reader_sees_only_its_queues_referrals(make_token, api):
    created = api.post("/api/v1/intakes", intake_body("V11")).json()
    podiatry = Api(make_token(Scope.INTAKE_READ, queues=("podiatry",)).raw)
    body = podiatry.get(f"/api/v1/intakes/{created['id']}").json()
    assert [r["queue"] for r in body["referrals"]] == ["podiatry"]


def test_an_unknown_or_malformed_id_is_a_json_404(api):
    for path in ("/api/v1/intakes/00000000-0000-0000-0000-000000000000", "/api/v1/intakes/nope"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json() == {"errors": {"non_field_errors": ["Not found."]}}


def test_an_id_in_capitals_finds_the_same_case_and_referral(api):
    """RFC 9562 reads a UUID in either case, and the schema says format uuid; Django's path
    converter took lower case only, and an id kept in capitals was a 404."""
    created = api.post("/api/v1/intakes", intake_body("V01")).json()
    (referral,) = created["referrals"]
    upper, referral_upper = created["id"].upper(), referral["id"].upper()
    assert api.get(f"/api/v1/intakes/{upper}").json()["id"] == created["id"]
    assert api.get(f"/api/v1/intakes/{upper}/fhir").status_code == 200
    assert api.get(f"/api/v1/referrals/{referral_upper}").json()["id"] == referral["id"]
    claimed = api.post(f"/api/v1/referrals/{referral_upper}/claim", {})
    assert claimed.json()["status"] == "claimed"
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    parameters = schema["paths"]["/api/v1/referrals/{public_id}"]["get"]["parameters"]
    (parameter,) = [p for p in parameters if p["in"] == "path"]
    assert parameter["schema"] == {"type": "string", "format": "uuid"}


# --- questionnaire and schema ----------------------------------------------------------------


def test_the_questionnaire_definition_lists_every_question_once(api):
    body = api.get("/api/v1/questionnaire").json()
    codes = [q["code"] for s in body["sections"] for q in s["questions"]]
    assert codes == [f.code for f in FIELDS]
    numbness = next(
        q for s in body["sections"] for q in s["questions"] if q["code"] == "numbness_areas"
    )
    assert "L5" not in json.dumps(numbness)


@pytest.mark.parametrize(
    "path", ["/api/v1/questionnaire?format=fhir", "/api/v1/questionnaire/fhir"]
)
def test_the_questionnaire_comes_as_fhir_too(api, path):
    response = api.client.get(path, headers=api.headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "Questionnaire"


def test_the_schema_documents_every_answer_with_its_constraints(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    submitted = schema["components"]["schemas"]["IntakeSubmitIn"]["properties"]["answers"]
    props = submitted["properties"]
    assert "age_years" not in props
    assert submitted["additionalProperties"] is False
    for field in FIELDS:
        if field.computed:
            continue
        prop = props[field.code]
        if field.kind == "int":
            assert (prop["minimum"], prop["maximum"]) == (field.min_value, field.max_value)
        if field.kind == "single":
            assert {c.code for c in field.choices} <= set(prop["enum"])
        if field.kind == "multi":
            assert prop["items"]["enum"] == [c.code for c in field.choices]
        if field.kind == "bool":
            assert prop.get("enum") == ([True] if field.must_be_true else None), field.code
        assert prop.get("nullable", False) == field.nullable
    assert set(submitted["required"]) == {f.code for f in FIELDS if not f.computed and not f.module}


def test_the_schema_says_when_each_conditional_question_applies(db):
    # show_when gave only a name ("any_symptoms"): a kiosk could not tell when to ask how long
    # the symptoms had lasted, and learnt it from 400s ("Please answer this question.", or
    # "must be null") one patient at a time.
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    text = schema["components"]["schemas"]["QuestionOut"]["properties"]["show_when"]["description"]
    assert {f.show_when for f in FIELDS if f.show_when} <= set(text.split("`")[1::2])
    for code, _value in SYMPTOMS_REPORTED:
        assert f"`{code}`" in text, code
    base = worked_case("V24")
    assert validate_answers({**base, "age_years": 46}).answers is not None
    timing = [f.code for f in FIELDS if f.show_when is not None]
    for code, value in SYMPTOMS_REPORTED:
        checked = validate_answers({**base, "age_years": 46, code: value})
        legs = code in LEG_SYMPTOMS
        expected = {c for c in timing if legs or FIELD_BY_CODE[c].show_when == "any_symptoms"}
        assert {c for c in timing if checked.errors.get(c) == [MSG_REQUIRED]} == expected, code


def test_the_schema_says_which_scopes_each_operation_needs(db):
    # Only two kinds of operation said it (the clearance and eight of the ten moves; not the
    # reroute or the urgency override): a client generated from the schema learnt the rest
    # from a 403.
    from django.urls import URLResolver, get_resolver

    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    (api_urls,) = [
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/"
    ]
    checked = 0
    for pattern in api_urls.url_patterns:
        view = getattr(pattern.callback, "view_class", None)
        if view is None:
            continue
        path = "/api/v1/" + re.sub(r"<public_id:(\w+)>", r"{\1}", str(pattern.pattern))
        scopes = [s for s in (view.required_scope, *view.also_required_scopes) if s]
        for operation in schema["paths"][path].values():
            text = operation["description"]
            if scopes:
                assert all(f"`{scope}`" in text for scope in scopes), (path, text)
            else:
                assert "any scope" in text, (path, text)
            checked += 1
    assert checked == len(schema["paths"]) == 21


@pytest.mark.parametrize(
    ("case", "scores", "refused"),
    [
        ("V01", {"sbst_total": 5, "sbst_distress": 2}, set()),
        ("V01", {"sbst_total": 2, "sbst_distress": 3}, {"sbst_distress"}),
        ("V01", {"sbst_total": 7, "sbst_distress": 2}, {"sbst_total"}),
        ("V11", {"sbst_total": 5, "sbst_distress": 2}, {"sbst_total", "sbst_distress"}),
    ],
)
def test_the_schema_states_every_rule_of_the_start_back_scores(api, case, scores, refused):
    # It said "both or neither" only: a partner scoring every patient sent the scores of a
    # foot-only case, or a distress score above the total, and met rules it had not been told.
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    text = schema["components"]["schemas"]["IntakeSubmitIn"]["properties"]["answers"]["description"]
    for rule in ("both or neither", "at most sbst_total", "at most 4 more than sbst_distress"):
        assert rule in text
    assert all(f"`{region}`" in text for region in SPINAL_REGIONS)
    response = api.post("/api/v1/intakes", intake_body(case, **scores))
    errors = response.json().get("errors", {})
    assert {k.removeprefix("answers.") for k in errors} == refused, errors


def test_the_schema_describes_its_objects_for_integrators_not_our_history(db):
    # Every request body read "a misspelt "e_mail" was dropped and the case saved without the
    # address (a review)", the docstring of the class that now refuses such fields: in the
    # published reference it read as if the API dropped fields.
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    components = schema["components"]["schemas"]
    for name, component in components.items():
        text = component.get("description", "")
        assert "a review" not in text, (name, text)
        assert "issue " not in text, (name, text)
        assert "``" not in text, (name, text)  # reStructuredText; the reference reads Markdown
    for name in ("IntakeSubmitIn", "TriagePreviewIn", "ClearRedFlagIn", "ReasonIn", "RerouteIn"):
        assert "not listed here is refused" in components[name]["description"], name


# The schema's objects as v1 published them. A client generated from the schema names its types
# after them, so within v1 one may be added but none renamed or removed: the referral list's
# item had become "ReferralListItem" when it gained red_flag_elsewhere.
V1_COMPONENTS = frozenset(
    [
        "ChoiceOut",
        "ClearRedFlagIn",
        "ContactMethodEnum",
        "ContributingFactorsEnum",
        "Error",
        "Event",
        "FlagOut",
        "IntakeCreatedOut",
        "IntakeOut",
        "IntakeSubmitIn",
        "LinkSummaryOut",
        "LinkSummaryOutKindEnum",
        "NullEnum",
        "OverrideUrgencyIn",
        "PaginatedReferralList",
        "PatientMessageOut",
        "PatientOut",
        "PreconditionFailed",
        "QuestionOut",
        "QuestionOutKindEnum",
        "QuestionnaireOut",
        "QueueEnum",
        "ReasonIn",
        "Referral",
        "ReferralCase",
        "ReferralDetail",
        "ReferralStatusEnum",
        "ReleaseQueuesEnum",
        "RequiredReasonIn",
        "RerouteIn",
        "SectionOut",
        "SourceEnum",
        "TriagePreviewIn",
        "TriagePreviewOut",
        "TriageResultOut",
        "UrgencyEnum",
    ]
)


def test_the_schema_keeps_the_names_v1_published_its_objects_under(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    components = schema["components"]["schemas"]
    assert components.keys() >= V1_COMPONENTS, sorted(V1_COMPONENTS - components.keys())
    # The list's items, and the referrals of a case in the answers that carry them, are that
    # Referral, with the field it gained.
    assert "red_flag_elsewhere" in components["Referral"]["required"]
    page = components["PaginatedReferralList"]["properties"]["results"]["items"]
    assert page == {"$ref": "#/components/schemas/Referral"}
    created = components["IntakeCreatedOut"]["properties"]["referrals"]["items"]
    assert created == {"$ref": "#/components/schemas/Referral"}


@pytest.mark.parametrize(
    ("contact", "rule", "refused"),
    [
        ({"phone": "", "email": ""}, "a phone number or an email address", "phone"),
        ({"phone": "12345", "preferred_contact": "phone"}, "7 to 15 digits", "phone"),
        ({"email": "", "preferred_contact": "email"}, "it names must be given", "email"),
        ({"family_name": "1234"}, "letter", "family_name"),
    ],
)
def test_the_schema_states_the_rules_of_the_patients_details(api, contact, rule, refused):
    # The schema gave types and lengths only; these were learnt from 400s.
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    props = schema["components"]["schemas"]["IntakeSubmitIn"]["properties"]
    field = "preferred_contact" if "names" in rule else refused
    assert rule in props[field]["description"]
    response = api.post("/api/v1/intakes", {**intake_body(), **contact})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {refused}


def test_the_schema_says_the_request_bodies_refuse_unknown_fields(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    components = schema["components"]["schemas"]
    for name in (
        "IntakeSubmitIn",
        "TriagePreviewIn",
        "ClearRedFlagIn",
        "ReasonIn",
        "RequiredReasonIn",
        "RerouteIn",
        "OverrideUrgencyIn",
    ):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["Error"]


def test_the_schema_declares_every_error_status_with_the_error_shape(db):
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    submit_op = schema["paths"]["/api/v1/intakes"]["post"]["responses"]
    for code in ("400", "401", "403", "409", "413", "429"):
        ref = submit_op[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    moves = schema["paths"]["/api/v1/referrals/{public_id}/claim"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "429"} <= set(moves)


def test_the_schema_lists_406_and_503_on_every_operation_that_may_answer_them(api):
    """docs/API.md says every error status is in the schema; 406 (Accept refusing every type)
    and 503 (the database away, with Retry-After) were in the guide only (an API QA round)."""
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "Retry-After" in responses["503"]["headers"], (method, path)
            shape = responses["503"]["content"]["application/json"]["schema"]["$ref"]
            assert shape == "#/components/schemas/Error"
            assert ("406" in responses) == (not path.endswith("/body-map.svg")), (method, path)
    refused = api.client.post(
        "/api/v1/intakes",
        "{}",
        content_type="application/json",
        headers={**api.headers, "Accept": "application/json;q=0"},
    )
    assert refused.status_code == 406
    assert not Intake.objects.exists()


def test_the_schema_states_the_response_headers_the_guide_promises(db):
    """Retry-After, WWW-Authenticate and Idempotent-Replayed were in docs/API.md only: a client
    generated from the schema read none of them."""
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "Retry-After" in responses["429"]["headers"], (method, path)
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
    submitted = schema["paths"]["/api/v1/intakes"]["post"]["responses"]["201"]
    assert "Idempotent-Replayed" in submitted["headers"]


def test_the_interactive_docs_still_load(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content


@pytest.mark.parametrize("path", ["/api/v1/referrals", "/api/v1/intakes", "/api/v2/referrals"])
def test_a_host_the_server_does_not_answer_to_is_a_json_400_under_the_api(integration, path):
    """It was Django's "<h1>Bad Request (400)</h1>" page (an API QA round, a proxy that did not
    pass the client's Host on): every error under /api/ has the one shape."""
    api = Api(integration.raw, Client(HTTP_HOST="clinic.example.org"))
    response = api.get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "errors": {
            "non_field_errors": [
                "The Host header names a host this server does not answer to: send the "
                "clinic's own host name."
            ]
        }
    }
    page = Client(HTTP_HOST="clinic.example.org").get("/")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_an_address_with_too_many_query_parameters_is_a_json_400_that_says_so(api):
    """Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS before any view: it was its HTML
    "Bad Request (400)" page under /api/ (an API QA round)."""
    query = "&".join(f"p{n}=1" for n in range(1_001))
    for response in (
        api.client.get(f"/api/v1/referrals?{query}", headers=api.headers),
        api.client.post(
            f"/api/v1/intakes?{query}", "{}", content_type="application/json", headers=api.headers
        ),
    ):
        assert response.status_code == 400
        assert response.json() == {
            "errors": {
                "non_field_errors": [
                    "The address holds more than 1000 query parameters: send only those the "
                    "operation reads."
                ]
            }
        }
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/referrals/%0A/claim", "/api/v1/intakes/a%2Fb/fhir", "/api/v1/nothing/here%0A"],
)
def test_any_other_path_under_the_api_is_a_json_404(api, path):
    response = api.post(path, {})
    assert response.status_code == 404
    assert response.json() == {"errors": {"non_field_errors": ["Not found."]}}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/intakes/",
        "/api/v1/triage/preview/",
        "/api/v1/referrals/00000000-0000-0000-0000-000000000000/claim/",
    ],
)
def test_a_path_with_a_trailing_slash_is_a_404_that_says_so(api, path):
    # Clients used to DRF's default routes add a slash; a bare "Not found." for POST /intakes/
    # read as "there is no such operation" (found in an API QA round).
    response = api.post(path, intake_body())
    assert response.status_code == 404
    assert response.json() == {
        "errors": {
            "non_field_errors": [f"Not found. Paths here have no trailing slash: {path[:-1]}"]
        }
    }


def test_a_submission_runs_the_same_number_of_queries_whatever_its_flags_and_queues(
    api, settings, monkeypatch
):
    """Issue 7: at most 20 statements per API submission, everything counted (token, throttle,
    transaction, patient match, intake, referrals, links, events, the announcement task row),
    and the same number for 1 or 3 queues, routine or emergency, new or joining patients.

    The clock stands still (early in a minute): the first request of a rate-limit window
    inserts its counter and the token's last use is recorded once a minute, so a run that
    crossed a minute would count those once (a flaky failure before the clock was fixed)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    still = timezone.now().replace(second=5, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: still)
    api.post("/api/v1/intakes", intake_body("V01", details(family_name="Warmup")))

    def count(case: str, who: PatientDetails) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api.post("/api/v1/intakes", intake_body(case, who))
        assert response.status_code == 201, response.content
        return len(queries)

    counts = {
        "routine, 1 queue": count("V01", details(family_name="One")),
        "routine, 3 queues": count("V22", details(family_name="Three")),
        "emergency": count("V09", details(family_name="Red")),
        "urgent": count("V17", details(family_name="Soon")),
        # The same patients again: they join their open referrals instead of opening new ones.
        "joining, 1 queue": count("V01", details(family_name="One")),
        "joining, 3 queues": count("V22", details(family_name="Three")),
        "joining, raised to emergency": count("V09", details(family_name="Soon")),
    }
    assert len(set(counts.values())) == 1, counts
    assert next(iter(counts.values())) <= 20


@pytest.mark.parametrize("case", worked_cases(), ids=lambda case: case["id"][:3])
def test_the_fast_triage_projection_equals_the_documented_serializer(case):
    """The submission and preview responses skip the serializer (issue 7, speed); they must
    still give exactly what the schema's TriageResultOut / TriagePreviewOut give."""
    answers = validate_answers(case["answers"]).answers
    assert answers is not None
    result = assess(answers)
    assert triage_out(result) == TriageResultOut(result).data
    messages = dataclasses.asdict(patient_messages_for(result, answers))
    texts = disclaimers(result["ruleset_version"])
    preview = {**triage_out(result), "patient_message": messages, **texts}
    assert preview == TriagePreviewOut({**result, "patient_message": messages, **texts}).data
    assert json.dumps(preview, sort_keys=True) == json.dumps(
        TriagePreviewOut({**result, "patient_message": messages, **texts}).data, sort_keys=True
    )


def test_the_submission_lists_its_referrals_as_the_referral_serializer_writes_them(
    api, triage_lead
):
    """The response's referrals are read like the list's rows (values(), no serializer); for a
    joined referral that a clinician claimed they must still be exactly the list item's
    (ReferralListItemSerializer: red_flag_elsewhere too)."""
    who = details(family_name="Joiner")
    first = api.post("/api/v1/intakes", intake_body("V22", who)).json()
    claimed = Referral.objects.get(public_id=first["referrals"][0]["id"])
    referral_claim(referral=claimed, actor=triage_lead)
    second = api.post("/api/v1/intakes", intake_body("V22", who)).json()
    stored = selectors.with_red_flag_elsewhere(
        Referral.objects.filter(public_id__in=[r["id"] for r in second["referrals"]])
    )
    expected = json.loads(
        JSONRenderer().render(
            ReferralListItemSerializer(stored.order_by("-priority", "due_at", "id"), many=True).data
        )
    )
    assert len(expected) == 3
    assert second["referrals"] == expected
    assert any(r["assigned_to"] for r in second["referrals"])


def test_the_submissions_referrals_are_read_by_the_orms_statement_compiled_once(make_token, api):
    """The answer's referrals are read by the ORM's own statement, compiled once per number of
    referrals and queue set (building it was a fifth of a submission's CPU) and sent with the
    case's ids; a token limited to some queues is shown only theirs, in queue order."""
    from clinic.compiled import statements_sent
    from intake import api as intake_api
    from referrals.api import LIST_ITEM_COLUMNS

    intake_api._visible_statement.cache_clear()
    for family in ("Once", "Twice"):
        api.post("/api/v1/intakes", intake_body("V22", details(family_name=family)))
    assert intake_api._visible_statement.cache_info().misses == 1  # three referrals, all queues

    limited = Api(make_token(queues=("podiatry", "chiropractic")).raw)
    with statements_sent("default") as sent:
        body = limited.post("/api/v1/intakes", intake_body("V22", details(family_name="Part")))
    assert body.status_code == 201
    shown = body.json()["referrals"]
    assert [r["queue"] for r in shown] == [
        r.queue
        for r in Referral.objects.filter(public_id__in=[r["id"] for r in shown]).order_by(
            "-priority", "due_at", "id"
        )
    ]
    assert {r["queue"] for r in shown} == {"podiatry", "chiropractic"}
    assert intake_api._visible_statement.cache_info().misses == 2
    case = Intake.objects.get(public_id=body.json()["id"])
    ids = list(Referral.objects.filter(intake=case).values_list("pk", flat=True))
    assert len(ids) == 3
    orm = (
        selectors.with_red_flag_elsewhere(
            Referral.objects.filter(pk__in=ids, queue__in_constants=("chiropractic", "podiatry"))
        )
        .order_by("-priority", "due_at", "id")
        .values(*LIST_ITEM_COLUMNS)
        .query.sql_with_params()
    )
    assert sent[-1] == (orm[0], tuple(orm[1]))


def test_the_submission_says_which_of_its_referrals_have_a_red_flag_standing_elsewhere(
    api, medical_reviewer, monkeypatch
):
    """A case without a red flag, sent while another case of the patient has one no reviewer
    has cleared, still opens its specialty referrals (CLINICAL_DECISIONS, Red-flag clearance
    and reroutes 7): the integrator reading the submission's answer was not told. Each of its
    referrals carries red_flag_elsewhere, as the list's items do: true on the chiropractic,
    podiatry and orthotic fitting referrals, false on general review, for another patient and
    once the red flag is cleared; in the statements a submission runs whatever the flags (the
    clock stands still, as for their count); a replay under the same Idempotency-Key says the
    same."""
    still = timezone.now().replace(second=5, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: still)
    person = details(family_name="Elsewhere", phone="07700 900441")
    emergency = submit("V09", patient=person)  # urgent medical review, not cleared
    api.post("/api/v1/intakes", intake_body("V01", details(family_name="Warmup")))

    def sent(body: dict) -> tuple[dict[str, bool], int]:
        with CaptureQueriesContext(connection) as queries:
            response = api.post("/api/v1/intakes", body)
        assert response.status_code == 201
        return flagged(response.json()), len(queries)

    def flagged(body: dict) -> dict[str, bool]:
        return {r["queue"]: r["red_flag_elsewhere"] for r in body["referrals"]}

    expected = {"chiropractic": True, "orthotic_fitting": True, "podiatry": True}
    first, statements = sent(intake_body("V22", person))
    assert first == expected
    other = details(family_name="Nowhere", phone="07700 900442")
    assert sent(intake_body("V22", other)) == (dict.fromkeys(expected, False), statements)
    assert sent(intake_body("V24", person))[0] == {"general_review": False}

    key = {"Idempotency-Key": "elsewhere-1"}
    joining = api.post("/api/v1/intakes", intake_body("V22", person), headers=key)
    assert flagged(joining.json()) == expected
    replayed = api.post("/api/v1/intakes", intake_body("V22", person), headers=key)
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == joining.json()

    intake_clear_red_flag(
        intake=emergency.intake,
        actor=medical_reviewer,
        reason="Examined: no emergency.",
        release_queues=[],
        seen=[emergency.intake.reference],
    )
    assert sent(intake_body("V22", person))[0] == dict.fromkeys(expected, False)


def test_reading_a_case_says_which_of_its_referrals_have_a_red_flag_standing_elsewhere(
    api, triage_lead, monkeypatch
):
    """GET /intakes/{id} and the clearance's answer carry each referral's red_flag_elsewhere,
    as the submission's answer and the list do, in the statement that reads the referrals (as
    many statements with the red flag as without); the clearance's is false once it is
    cleared. The clock stands still, as for the submission's count: a request that crossed a
    minute would record the token's use and a new rate-limit window."""
    still = timezone.now().replace(second=5, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: still)
    person = details(family_name="Monday", phone="07700 900443")
    three = submit("V22", patient=person)
    (podiatry,) = [r for r in three.referrals if r.queue == "podiatry"]
    referral_cancel(referral=podiatry, actor=triage_lead, reason="Seen elsewhere")
    case = f"/api/v1/intakes/{three.intake.public_id}"
    api.get(case)  # the token's first use stamps it

    def read(path: str) -> tuple[dict[str, bool], int]:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(path)
        assert response.status_code == 200
        return {r["queue"]: r["red_flag_elsewhere"] for r in response.json()["referrals"]}, len(
            queries
        )

    before, statements = read(case)
    assert statements == 5  # as before the column: token, throttle, case, audit, referrals
    assert before == {"chiropractic": False, "orthotic_fitting": False, "podiatry": False}

    emergency = submit("V09", patient=person)  # Wednesday: a red flag
    assert read(case) == (
        {"chiropractic": True, "orthotic_fitting": True, "podiatry": False},  # cancelled
        statements,
    )
    review = f"/api/v1/intakes/{emergency.intake.public_id}"
    assert read(review)[0] == {"urgent_medical_review": False}

    cleared = api.post(f"{review}/clear-red-flag", {"reason": "Examined: no emergency."})
    assert cleared.status_code == 200
    released = {r["queue"]: r["red_flag_elsewhere"] for r in cleared.json()["referrals"]}
    assert released == {"urgent_medical_review": False, "chiropractic": False}
    assert read(case)[0] == dict.fromkeys(before, False)


def test_a_second_submission_that_joins_an_open_referral_shows_that_referral(api):
    """The response lists the referrals the case fed, the joined ones too (with their own
    opening intake), in queue order."""
    who = details(family_name="Again")
    first = api.post("/api/v1/intakes", intake_body("V01", who)).json()
    second = api.post("/api/v1/intakes", intake_body("V01", who)).json()
    assert [r["id"] for r in second["referrals"]] == [r["id"] for r in first["referrals"]]
    assert second["referrals"][0]["reference"] == first["reference"]
    assert second["reference"] != first["reference"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415_in_the_error_shape_and_documented(api, content_type):
    response = api.client.post(
        "/api/v1/intakes",
        json.dumps(intake_body()),
        content_type=content_type,
        headers=api.headers,
    )
    assert response.status_code == 415
    assert response.json() == {
        "errors": {
            "non_field_errors": [
                f'Unsupported media type "{content_type}" in request. Send the body as JSON, '
                "with Content-Type: application/json."
            ]
        }
    }
    assert not Intake.objects.exists()
    schema = Client().get("/api/schema/", headers={"Accept": "application/json"}).json()
    for path, operations in schema["paths"].items():
        if "post" in operations:
            assert "415" in operations["post"]["responses"], path


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
def test_a_compressed_body_is_415_that_says_so(api, encoding):
    # It was read as it came: "JSON parse error - the body is not UTF-8.", which sent an
    # integrator looking for a character set problem.
    response = api.client.post(
        "/api/v1/intakes",
        gzip.compress(json.dumps(intake_body()).encode()),
        content_type="application/json",
        headers={**api.headers, "Content-Encoding": encoding},
    )
    assert response.status_code == 415
    assert response.json() == {
        "errors": {
            "non_field_errors": [
                f'The body is sent with Content-Encoding "{encoding}": send it uncompressed.'
            ]
        }
    }
    assert not Intake.objects.exists()


def test_a_body_sent_with_the_identity_encoding_is_read(api):
    response = api.client.post(
        "/api/v1/intakes",
        json.dumps(intake_body()),
        content_type="application/json",
        headers={**api.headers, "Content-Encoding": "identity"},
    )
    assert response.status_code == 201


def test_a_method_the_path_does_not_take_is_405_in_the_error_shape_with_allow(api):
    response = api.client.put("/api/v1/intakes", "{}", headers=api.headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert set(response.json()) == {"errors"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", 7700900123), ("given_name", 1.5), ("family_name", True), ("email", 0)],
)
def test_a_number_or_boolean_for_a_text_field_is_400_not_stored_as_text(api, field, value):
    # A phone sent as a JSON number has already lost its leading 0 (07700 900123 -> 7700900123):
    # stored as text, it was a wrong number the clinic would call.
    payload = intake_body()
    payload[field] = value
    response = api.post("/api/v1/intakes", payload)
    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["Not a valid string."]}
    assert not Intake.objects.exists()
