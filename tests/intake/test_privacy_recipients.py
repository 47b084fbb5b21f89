"""The subject access export's recipients (art. 15(1)(c) UK/EU GDPR): staff who looked at or
changed the patient's cases, API clients that read them, webhook endpoints notified of them."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from intake.privacy import (
    ADMINISTRATOR_ROLE,
    OPERATOR_ROLE,
    STAFF_ROLE,
    patient_erase,
    patient_export,
)
from referrals.access import QUEUE_GROUPS, TRIAGE_LEAD_GROUP
from referrals.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.services import intake_clear_red_flag, referral_claim, referral_override_urgency
from referrals.tokens import api_token_create
from tests.api.conftest import ALL_SCOPES, Api
from tests.clinic_fixtures import details, make_staff, submit

pytestmark = pytest.mark.django_db

HOOK_SECRET = "whsec-recipients-0123456789"
HOOK_URL = "https://hooks.example.org/clinic?key=url-secret-42"


def case_url(referral) -> str:
    return reverse("admin:referrals_referral_change", args=[referral.public_id])


def named(user: User, first: str, last: str) -> User:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


def view_case(user: User, referral) -> None:
    client = Client()
    client.force_login(user)
    assert client.get(case_url(referral)).status_code == 200


def recipients(patient) -> dict:
    return patient_export(public_id=patient.public_id, actor=None)["recipients"]


@pytest.fixture
def ada():
    """Ada's sciatica case (one chiropractic referral)."""
    return submit("V01", patient=details(email="ada@example.org"))


@pytest.fixture
def other():
    """Someone else's heel case (podiatry and orthotics), which Ada's export must not show."""
    return submit("V11", patient=details(family_name="Patel", phone="07700 900002"))


def test_staff_who_viewed_or_moved_the_case_are_listed_by_name_and_role_with_time_and_what(
    ada, chiropractor, triage_lead
):
    referral = ada.referrals[0]
    carla = named(chiropractor, "Carla", "Reyes")
    view_case(carla, referral)
    referral_claim(referral=referral, actor=carla)
    client = Client()
    client.force_login(carla)
    response = client.post(
        reverse("admin:referrals_referral_move", args=[referral.public_id]),
        {"move-action": "contact", "move-reason": "Phoned"},
    )
    assert response.status_code == 302
    view_case(triage_lead, referral)  # an account without a name
    admin = named(User.objects.create_superuser("root_ro", "ro@clinic.test", "x"), "Ro", "Ng")
    view_case(admin, referral)

    staff = recipients(ada.intake.patient)["staff"]
    rows = [(s["staff_member"], s["role"], s["action"], s["what"]) for s in staff]
    assert rows == [
        ("Carla Reyes", QUEUE_GROUPS["chiropractic"], "view", "View the case page"),
        ("Carla Reyes", QUEUE_GROUPS["chiropractic"], "contact", "Record patient contacted"),
        (None, TRIAGE_LEAD_GROUP, "view", "View the case page"),
        ("Ro Ng", ADMINISTRATOR_ROLE, "view", "View the case page"),
        (None, OPERATOR_ROLE, "patient_export", "Export a patient's data"),
    ]
    assert staff[0]["record"] == {"type": "referral", "id": str(referral.public_id)}
    assert all(s["at"] for s in staff)
    dump = json.dumps(recipients(ada.intake.patient))
    # Not the login names (what the sign-in lockout counts against), nor the staff's addresses.
    for secret in ("chiro_carla", "lead_lin", "root_ro", "127.0.0.1", "@clinic.test"):
        assert secret not in dump


def test_roles_are_every_group_of_the_account_or_staff_when_it_has_none(ada):
    both = make_staff("chiro_and_lead", QUEUE_GROUPS["chiropractic"], TRIAGE_LEAD_GROUP)
    view_case(both, ada.referrals[0])
    plain = make_staff("no_group")
    plain.is_superuser = True
    plain.save()
    view_case(plain, ada.referrals[0])
    plain.is_superuser = False
    plain.save()
    roles = [s["role"] for s in recipients(ada.intake.patient)["staff"]][:2]
    assert roles == [f"{QUEUE_GROUPS['chiropractic']}, {TRIAGE_LEAD_GROUP}", STAFF_ROLE]


def test_the_command_lines_exports_and_erasure_name_no_operator(ada):
    patient = ada.intake.patient
    patient_export(public_id=patient.public_id, actor=None, operator="login:dpo.jones")
    staff = recipients(patient)["staff"]
    assert [(s["staff_member"], s["role"], s["action"]) for s in staff] == [
        (None, OPERATOR_ROLE, "patient_export"),
        (None, OPERATOR_ROLE, "patient_export"),
    ]
    assert "dpo.jones" not in json.dumps(staff)


def test_api_clients_that_read_the_case_are_listed_by_the_tokens_name_never_its_secret(ada):
    portal = api_token_create(name="GP portal", scopes=ALL_SCOPES)
    api = Api(portal.raw)
    intake_id = ada.intake.public_id
    assert api.get(f"/api/v1/intakes/{intake_id}").status_code == 200
    assert api.get(f"/api/v1/intakes/{intake_id}/fhir").status_code == 200
    assert api.get(f"/api/v1/referrals/{ada.referrals[0].public_id}").status_code == 200
    found = recipients(ada.intake.patient)
    clients = [(c["client"], c["action"], c["record"]["type"]) for c in found["api_clients"]]
    assert clients == [
        ("GP portal", "api_view", "intake"),
        ("GP portal", "api_fhir_export", "intake"),
        ("GP portal", "api_view", "referral"),
    ]
    assert found["api_clients"][1]["what"] == "Export as FHIR through the API"
    # The service user is no member of staff: only the operator's export is listed as such.
    assert [s["role"] for s in found["staff"]] == [OPERATOR_ROLE]
    dump = json.dumps(found)
    for secret in (portal.raw, portal.token.prefix, portal.token.user.username, "127.0.0.1"):
        assert secret not in dump


def test_an_urgency_change_an_endpoint_was_told_of_is_listed_as_such(chiropractor):
    WebhookEndpoint.objects.create(
        name="Paging", url=HOOK_URL, secret=HOOK_SECRET, events=["referral.urgency_changed"]
    )
    case = submit("V01")
    referral_override_urgency(
        referral=case.referrals[0], actor=chiropractor, urgency="urgent", reason="Phoned."
    )
    (told,) = recipients(case.intake.patient)["webhook_endpoints"]
    assert (told["endpoint"], told["event"]) == ("Paging", "referral.urgency_changed")
    assert told["intake"] == str(case.intake.public_id)
    assert told["what"] == (
        "Notified: Referral urgency changed (ids, reference, statuses and urgencies, and "
        "whether a red flag not yet cleared stood on another case; no name, contact details, "
        "answers or free text)"
    )


def test_a_delivery_written_before_events_said_the_red_flag_is_listed_without_it(
    chiropractor, django_capture_on_commit_callbacks
):
    """Every referral an event carries has said its red_flag_elsewhere since 2026-12-06; a
    delivery written before (kept WEBHOOK_RETENTION_DAYS) did not carry it, and the export
    says what each one carried (a review found them all described with it)."""
    WebhookEndpoint.objects.create(
        name="Practice system",
        url=HOOK_URL,
        secret=HOOK_SECRET,
        events=["intake.submitted", "referral.status_changed"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = submit("V01")
    referral_claim(referral=case.referrals[0], actor=chiropractor)
    claimed = WebhookDelivery.objects.get(payload__data__referral__status="claimed")
    older = WebhookDelivery.objects.exclude(pk=claimed.pk)
    assert older.count() == 2  # the case's intake.submitted and its referral's creation
    for delivery in older:  # as a delivery written before the change has them
        data = delivery.payload["data"]
        for referral in [data.get("referral") or {}, *data.get("referrals", [])]:
            referral.pop("red_flag_elsewhere", None)
        delivery.save(update_fields=["payload"])
    told = {
        (entry["event"], entry["what"].split(" (", 1)[1])
        for entry in recipients(case.intake.patient)["webhook_endpoints"]
    }
    without = (
        "ids, reference, statuses and urgencies; no name, contact details, answers or free text)"
    )
    assert told == {
        ("intake.submitted", without),
        ("referral.status_changed", without),
        (
            "referral.status_changed",
            "ids, reference, statuses and urgencies, and whether a red flag not yet cleared "
            "stood on another case; no name, contact details, answers or free text)",
        ),
    }


def test_a_red_flag_an_endpoint_was_told_of_is_listed_saying_so(medical_reviewer):
    """referral.red_flag_elsewhere_changed tells whether a red flag stands: clinical, so the
    export says it was sent."""
    WebhookEndpoint.objects.create(
        name="Practice system",
        url=HOOK_URL,
        secret=HOOK_SECRET,
        events=[WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED],
    )
    person = details(phone="07700 900410")
    submit("V01", patient=person)  # a chiropractic referral
    red = submit("V09", patient=person)
    intake_clear_red_flag(
        intake=red.intake, actor=medical_reviewer, reason="Seen.", release_queues=[]
    )
    (told,) = recipients(red.intake.patient)["webhook_endpoints"]
    assert (told["endpoint"], told["event"]) == (
        "Practice system",
        "referral.red_flag_elsewhere_changed",
    )
    assert told["intake"] == str(red.intake.public_id)
    assert told["what"] == (
        "Notified: Referral red flag elsewhere changed (ids, reference, statuses and urgencies, "
        "and whether a red flag not yet cleared stood on another case, naming the case whose "
        "red flag came or was cleared; no name, contact details, answers or free text)"
    )


def test_a_member_of_staff_reading_through_the_api_is_listed_as_staff(ada, chiropractor):
    client = Client()
    client.force_login(named(chiropractor, "Carla", "Reyes"))
    api = Api(client=client)
    assert api.get(f"/api/v1/referrals/{ada.referrals[0].public_id}").status_code == 200
    found = recipients(ada.intake.patient)
    assert found["api_clients"] == []
    (read, _export) = found["staff"]
    assert (read["staff_member"], read["what"]) == ("Carla Reyes", "Read through the API")


def test_webhook_endpoints_notified_of_the_cases_are_listed_without_url_or_secret(
    chiropractor, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpoint.objects.create(
        name="Practice system", url=HOOK_URL, secret=HOOK_SECRET, events=WebhookEvent.values
    )
    with django_capture_on_commit_callbacks():  # the deliveries are recorded, not sent
        case = submit("V01")
        referral_claim(referral=case.referrals[0], actor=chiropractor)
    WebhookDelivery.objects.filter(endpoint=endpoint, event_type="intake.submitted").update(
        status=DeliveryStatus.DELIVERED
    )
    found = recipients(case.intake.patient)["webhook_endpoints"]
    assert [(w["endpoint"], w["event"], w["status"]) for w in found] == [
        ("Practice system", "intake.submitted", "delivered"),
        # The referral's creation, then its claim.
        ("Practice system", "referral.status_changed", "pending"),
        ("Practice system", "referral.status_changed", "pending"),
    ]
    assert {w["intake"] for w in found} == {str(case.intake.public_id)}
    assert found[0]["what"].startswith("Notified: Intake submitted (")
    assert "no name" in found[0]["what"]
    dump = json.dumps(recipients(case.intake.patient))
    for secret in (HOOK_SECRET, HOOK_URL, "hooks.example.org", "url-secret-42"):
        assert secret not in dump


def test_an_erased_patients_export_still_lists_who_saw_their_data(ada, chiropractor):
    view_case(named(chiropractor, "Carla", "Reyes"), ada.referrals[0])
    portal = api_token_create(name="GP portal", scopes=ALL_SCOPES)
    Api(portal.raw).get(f"/api/v1/intakes/{ada.intake.public_id}")
    patient = ada.intake.patient
    patient_erase(public_id=patient.public_id, actor=None, reason="Request ER-1")
    data = patient_export(public_id=patient.public_id, actor=None)
    found = data["recipients"]
    assert [(s["staff_member"], s["action"]) for s in found["staff"]] == [
        ("Carla Reyes", "view"),
        (None, "patient_erase"),
        (None, "patient_export"),
    ]
    assert [c["client"] for c in found["api_clients"]] == ["GP portal"]
    for secret in ("Okafor", "Ada", "ada@example.org", "Request ER-1"):
        assert secret not in json.dumps(data)


def test_nothing_about_another_patient_is_listed(
    ada, other, chiropractor, podiatrist, django_capture_on_commit_callbacks
):
    view_case(named(chiropractor, "Carla", "Reyes"), ada.referrals[0])
    (theirs,) = [r for r in other.referrals if r.queue == "podiatry"]
    view_case(named(podiatrist, "Pat", "Quinn"), theirs)
    other_client = api_token_create(name="Orthotics lab", scopes=ALL_SCOPES)
    Api(other_client.raw).get(f"/api/v1/intakes/{other.intake.public_id}")
    WebhookEndpoint.objects.create(
        name="Orthotics lab hook", url=HOOK_URL, secret=HOOK_SECRET, events=WebhookEvent.values
    )
    with django_capture_on_commit_callbacks():
        referral_claim(referral=theirs, actor=podiatrist)
    assert WebhookDelivery.objects.exists()
    found = recipients(ada.intake.patient)
    assert [s["staff_member"] for s in found["staff"]] == ["Carla Reyes", None]
    assert found["api_clients"] == found["webhook_endpoints"] == []
    dump = json.dumps(found)
    for theirs in (
        "Pat",
        "Quinn",
        "Orthotics lab",
        str(other.intake.public_id),
        *(str(r.public_id) for r in other.referrals),
        str(other.intake.patient.public_id),
    ):
        assert theirs not in dump


def test_the_exports_statements_do_not_grow_with_the_entries(
    chiropractor, triage_lead, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(
        name="Practice system", url=HOOK_URL, secret=HOOK_SECRET, events=WebhookEvent.values
    )
    with django_capture_on_commit_callbacks():
        first = submit("V01")
    patient = first.intake.patient
    portal = Api(api_token_create(name="GP portal", scopes=ALL_SCOPES).raw)
    view_case(chiropractor, first.referrals[0])
    portal.get(f"/api/v1/intakes/{first.intake.public_id}")

    def statements() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            data = patient_export(public_id=patient.public_id, actor=None)
        return len(queries.captured_queries), data["recipients"]

    few, before = statements()
    # More of everything: staff of other roles, another client, a later case and its webhooks.
    with django_capture_on_commit_callbacks():
        later = submit("V01")
        referral_claim(referral=first.referrals[0], actor=chiropractor)
    assert later.intake.patient_id == patient.pk
    for user in (chiropractor, triage_lead, make_staff("chiro_chen", QUEUE_GROUPS["chiropractic"])):
        view_case(user, first.referrals[0])
    lab = Api(api_token_create(name="Orthotics lab", scopes=ALL_SCOPES).raw)
    for api in (portal, lab, lab):
        api.get(f"/api/v1/intakes/{later.intake.public_id}")
    many, after = statements()
    assert len(after["staff"]) > len(before["staff"]) + 3
    assert len(after["api_clients"]) == len(before["api_clients"]) + 3
    assert len(after["webhook_endpoints"]) > len(before["webhook_endpoints"]) + 1
    assert many == few
