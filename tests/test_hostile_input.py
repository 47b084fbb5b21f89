"""Hostile and unusual input: script payloads stay inert, NUL and oversized text are refused
with a message, and emoji and right-to-left text come back exactly as typed."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from intake.models import Intake
from referrals.access import TRIAGE_LEAD_GROUP
from referrals.tokens import api_token_create
from tests.api.conftest import ALL_SCOPES, Api, intake_body
from tests.clinic_fixtures import details, make_staff, worked_case
from tests.form_data import IDENTITY, all_steps, refused, step_data

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
UNICODE = "שלום 😀 O'Brien-Núñez"


def html(response) -> str:
    return response.content.decode()


def submit_form(client: Client, identity: dict, concern: str) -> Intake:
    answers = {**worked_case("V01"), "main_concern": concern}
    for step, data in all_steps(answers, identity):
        response = client.post(f"/form/{step}/", data)
        assert response.status_code == 302, (step, html(response)[:1500])
    return Intake.objects.get()


def assert_inert(page: str, *payloads: str) -> None:
    for payload in payloads:
        assert payload not in page
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page


def staff_case_page(intake: Intake) -> str:
    lead = make_staff("lead", TRIAGE_LEAD_GROUP)
    staff = Client()
    staff.force_login(lead)
    referral = intake.referrals.order_by("id")[0]
    response = staff.get(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    assert response.status_code == 200
    return html(response)


@pytest.fixture
def api() -> Api:
    return Api(api_token_create(name="Hostile", scopes=ALL_SCOPES).raw)


def test_script_payloads_through_the_form_are_escaped_on_every_page_and_in_the_api(client, api):
    identity = {**IDENTITY, "given_name": SCRIPT, "family_name": f"Smith{IMG}"}
    intake = submit_form(client, identity, f"{SCRIPT} {IMG}")
    assert intake.patient.given_name == SCRIPT
    assert intake.answers["main_concern"] == f"{SCRIPT} {IMG}"

    done = html(client.get("/form/done/"))
    assert_inert(done, SCRIPT, IMG)

    case = staff_case_page(intake)
    assert_inert(case, SCRIPT, IMG)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case

    response = api.get(f"/api/v1/intakes/{intake.public_id}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.json()
    assert body["patient"]["given_name"] == SCRIPT
    assert body["answers"]["main_concern"] == f"{SCRIPT} {IMG}"


def test_emoji_and_right_to_left_text_are_stored_and_shown_exactly(client, api):
    identity = {**IDENTITY, "given_name": "שלום 😀", "family_name": "O'Brien-Núñez"}
    intake = submit_form(client, identity, UNICODE)
    assert (intake.patient.given_name, intake.patient.family_name) == ("שלום 😀", "O'Brien-Núñez")
    assert intake.answers["main_concern"] == UNICODE
    case = staff_case_page(intake)
    assert "שלום 😀" in case
    assert "O&#x27;Brien-Núñez" in case
    assert "שלום 😀 O&#x27;Brien-Núñez" in case
    body = api.get(f"/api/v1/intakes/{intake.public_id}").json()
    assert body["answers"]["main_concern"] == UNICODE
    assert body["patient"]["family_name"] == "O'Brien-Núñez"


def test_the_api_stores_unicode_exactly(api):
    who = details(given_name="שלום 😀", family_name="O'Brien-Núñez")
    created = api.post("/api/v1/intakes", intake_body("V01", who, main_concern=UNICODE))
    assert created.status_code == 201
    intake = Intake.objects.get(public_id=created.json()["id"])
    assert intake.patient.given_name == "שלום 😀"
    assert intake.answers["main_concern"] == UNICODE


@pytest.mark.parametrize("field", ["given_name", "family_name", "phone", "email"])
def test_a_null_byte_in_api_identity_is_a_400_with_a_message(api, field):
    body = intake_body("V01", details(email="a@example.org"))
    body[field] = body[field][:3] + "\x00" + body[field][3:]
    response = api.post("/api/v1/intakes", body)
    assert response.status_code == 400
    assert response.json()["errors"][field]
    assert not Intake.objects.exists()


def test_a_null_byte_in_an_api_answer_is_a_400_with_a_message(api):
    response = api.post("/api/v1/intakes", intake_body("V01", main_concern="pain\x00"))
    assert response.status_code == 400
    errors = json.dumps(response.json()["errors"])
    assert "main_concern" in errors
    assert not Intake.objects.exists()


def test_very_long_text_is_refused_with_a_message_by_the_api(api):
    long_name = details(given_name="A" * 151)
    response = api.post("/api/v1/intakes", intake_body("V01", long_name))
    assert response.status_code == 400
    assert response.json()["errors"]["given_name"]
    response = api.post("/api/v1/intakes", intake_body("V01", main_concern="x" * 1001))
    assert response.status_code == 400
    assert "main_concern" in json.dumps(response.json()["errors"])
    assert not Intake.objects.exists()


def test_very_long_text_is_refused_with_a_message_by_the_form(client):
    response = refused(client, "identity", {**IDENTITY, "given_name": "A" * 151})
    assert 'href="#id_given_name"' in html(response)
    answers = worked_case("V01")
    for step, data in all_steps(answers, IDENTITY):
        if step == "pain_character":
            break
        client.post(f"/form/{step}/", data)
    data = step_data("pain_character", answers)
    response = refused(client, "pain_character", {**data, "main_concern": "x" * 1001})
    assert 'href="#id_main_concern"' in html(response)
    assert not Intake.objects.exists()
