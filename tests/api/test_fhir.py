"""FHIR export: every resource validates against fhir.resources R4B; every answer, flag and
referral appears; the bundle and the questionnaire declare FHIR 4.0.1."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from intake import fhir
from intake.messages import staff_disclaimer
from intake.questionnaire import FIELD_BY_CODE, FIELDS
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def r4b_model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def validate(resource: dict[str, Any]) -> Any:
    return r4b_model(resource["resourceType"]).model_validate(resource)


def bundle_for(api, case: str) -> dict[str, Any]:
    submission = submit(case)
    response = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def by_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


@pytest.mark.parametrize("case", ["V09", "V11", "V17", "V22", "V24"])
def test_the_bundle_and_every_resource_validate_as_r4b(api, case):
    bundle = bundle_for(api, case)
    validate(bundle)
    for entry in bundle["entry"]:
        validate(entry["resource"])
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    assert {"system": "http://hl7.org/fhir/FHIR-version", "code": "4.0.1"} in bundle["meta"]["tag"]


def test_every_answer_appears_in_the_questionnaire_response(api):
    submission = submit("V22")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    (response,) = by_type(bundle, "QuestionnaireResponse")
    assert response["questionnaire"] == f"{fhir.QUESTIONNAIRE_URL}|1.0.0"
    items = {i["linkId"]: i["answer"] for g in response["item"] for i in g["item"]}
    for code, value in submission.intake.answers.items():
        field = FIELD_BY_CODE[code]
        if value is None or value == [] or value == "":
            assert code not in items
            continue
        answers = items[code]
        if field.kind == "bool":
            assert answers == [{"valueBoolean": value}]
        elif field.kind == "int":
            assert answers == [{"valueInteger": value}]
        elif field.kind == "single":
            assert [a["valueCoding"]["code"] for a in answers] == [value]
        elif field.kind == "multi":
            assert [a["valueCoding"]["code"] for a in answers] == value
        else:
            assert answers == [{"valueString": value}]


def test_a_flag_per_flag_with_code_and_explanation(api):
    submission = submit("V09")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    flags = {f["code"]["coding"][0]["code"]: f["code"]["text"] for f in by_type(bundle, "Flag")}
    expected = {f["code"]: f["explanation"] for f in submission.intake.triage_result["flags"]}
    assert flags == expected
    assert all(f["status"] == "active" for f in by_type(bundle, "Flag"))


@pytest.mark.parametrize(
    ("case", "priorities"),
    [
        ("V09", {"urgent_medical_review": "stat"}),
        ("V17", {"urgent_medical_review": "urgent"}),
        ("V22", {"chiropractic": "routine", "orthotic_fitting": "routine", "podiatry": "routine"}),
    ],
)
def test_a_service_request_per_referral_with_priority_and_performer(api, case, priorities):
    bundle = bundle_for(api, case)
    requests = by_type(bundle, "ServiceRequest")
    got = {r["performerType"]["coding"][0]["code"]: r["priority"] for r in requests}
    assert got == priorities
    (patient,) = by_type(bundle, "Patient")
    for request in requests:
        assert request["subject"] == {"reference": f"urn:uuid:{patient['id']}"}
        assert request["status"] == "active"
        # The referral's note where it has one, then the §7 staff text of a triage result.
        assert request["note"][-1] == {"text": staff_disclaimer(ruleset_version="1.0.0")}


def test_the_patient_resource_carries_identity_and_contact(api):
    (patient,) = by_type(bundle_for(api, "V01"), "Patient")
    assert patient["name"] == [{"family": "Okafor", "given": ["Ada"]}]
    assert patient["birthDate"] == "1980-05-17"
    assert patient["telecom"] == [{"system": "phone", "value": "07700 900123", "rank": 1}]


def test_a_cleared_red_flag_is_inactive_and_the_closed_review_completed(api):
    submission = submit("V09")
    api.post(
        f"/api/v1/intakes/{submission.intake.public_id}/clear-red-flag", {"reason": "Examined"}
    )
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    validate(bundle)
    red = [f for f in by_type(bundle, "Flag") if f["code"]["coding"][0]["code"].startswith("RED")]
    assert [f["status"] for f in red] == ["inactive"]
    statuses = {
        r["performerType"]["coding"][0]["code"]: r["status"]
        for r in by_type(bundle, "ServiceRequest")
    }
    assert statuses == {"urgent_medical_review": "completed", "chiropractic": "active"}


def test_the_questionnaire_validates_and_holds_every_question():
    questionnaire = fhir.questionnaire()
    validate(questionnaire)
    assert {"system": "http://hl7.org/fhir/FHIR-version", "code": "4.0.1"} in questionnaire["meta"][
        "tag"
    ]
    link_ids = [
        i["linkId"] for g in questionnaire["item"] for i in g["item"] if i["type"] != "display"
    ]
    assert link_ids == [f.code for f in FIELDS]
    pain_now = next(
        i for g in questionnaire["item"] for i in g["item"] if i["linkId"] == "pain_now_nrs"
    )
    assert pain_now["extension"] == [
        {"url": fhir.MIN_VALUE, "valueInteger": 0},
        {"url": fhir.MAX_VALUE, "valueInteger": 10},
    ]


def test_the_bundle_is_stable_for_the_same_case(api):
    submission = submit("V11")
    path = f"/api/v1/intakes/{submission.intake.public_id}/fhir"
    first, second = api.get(path).json(), api.get(path).json()
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
