"""FHIR export: every resource validates against fhir.resources R4B; every answer, flag and
referral appears; the bundle and the questionnaire declare FHIR 4.0.1."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from intake import fhir
from intake.messages import staff_disclaimer
from intake.questionnaire import FIELD_BY_CODE, FIELDS
from tests.answers import SYMPTOMS_REPORTED
from tests.clinic_fixtures import submit, worked_cases

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


def _enabled(item: dict[str, Any], answers: dict[str, Any]) -> bool:
    """An item's enableWhen (enableBehavior any) over stored answers, as R4 reads it: a list
    with nothing ticked has no answer item."""
    assert item["enableBehavior"] == "any"

    def holds(condition: dict[str, Any]) -> bool:
        code, operator = condition["question"], condition["operator"]
        value = answers.get(code)
        if operator == "exists":
            return bool(value) == condition["answerBoolean"]
        if "answerCoding" in condition:
            assert condition["answerCoding"]["system"] == fhir.answer_system(code)
            expected = condition["answerCoding"]["code"]
        else:
            expected = condition["answerBoolean"]
        return value is not None and (value == expected) == (operator == "=")

    return any(holds(condition) for condition in item["enableWhen"])


def test_a_conditional_question_is_enabled_and_required_exactly_when_the_api_asks_it():
    # Without enableWhen a FHIR form showed "How long have you had your symptoms?" to every
    # patient, optional: a patient with no symptom who answered it, or one with symptoms who
    # skipped it, made a submission the API refuses (must be null / please answer).
    from intake.questionnaire import is_shown
    from tests.clinic_fixtures import worked_case

    questionnaire = fhir.questionnaire()
    validate(questionnaire)
    items = {i["linkId"]: i for g in questionnaire["item"] for i in g["item"]}
    conditional = [f for f in FIELDS if f.show_when is not None]
    assert conditional
    for field in FIELDS:
        assert ("enableWhen" in items[field.code]) == (field.show_when is not None), field.code
    for field in conditional:
        assert items[field.code]["required"] is True
    answer_sets = [case["answers"] for case in worked_cases()]
    answer_sets += [{**worked_case("V24"), code: value} for code, value in SYMPTOMS_REPORTED]
    for answers in answer_sets:
        for field in conditional:
            assert _enabled(items[field.code], answers) == is_shown(field, answers), field.code


def test_the_bundle_is_stable_for_the_same_case(api):
    submission = submit("V11")
    path = f"/api/v1/intakes/{submission.intake.public_id}/fhir"
    first, second = api.get(path).json(), api.get(path).json()
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


ALL_CASES = ["V01", "V09", "V11", "V17", "V22", "V24"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_a_service_request_gives_its_flags_as_reason_codes_and_supporting_flags(api, case):
    """R4's ServiceRequest.reasonReference may only point at a Condition, Observation,
    DiagnosticReport or DocumentReference; the Flags were there (the R4B models do not check
    reference targets, so a review found it by reading the specification)."""
    bundle = bundle_for(api, case)
    types = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
    flags = {f["code"]["coding"][0]["code"] for f in by_type(bundle, "Flag")}
    for request in by_type(bundle, "ServiceRequest"):
        assert "reasonReference" not in request
        reasons = {c["coding"][0]["code"] for c in request.get("reasonCode", [])}
        assert reasons == flags
        supporting = [types[ref["reference"]] for ref in request["supportingInfo"]]
        assert supporting == ["QuestionnaireResponse", *["Flag"] * len(flags)]


@pytest.mark.parametrize("case", ALL_CASES)
def test_every_required_question_is_answered_in_a_completed_response(api, case):
    """A `required` item must be present in a completed QuestionnaireResponse (R4); a list
    with nothing ticked has no answer item, so those questions are not marked required."""
    bundle = bundle_for(api, case)
    (response,) = by_type(bundle, "QuestionnaireResponse")
    assert response["status"] == "completed"
    answered = {i["linkId"] for g in response["item"] for i in g["item"]}
    answers = next(c["answers"] for c in worked_cases() if c["id"].startswith(case))
    # A question that enableWhen leaves off is not asked, and must not be answered.
    required = [
        i["linkId"]
        for g in fhir.questionnaire()["item"]
        for i in g["item"]
        if i.get("required") and ("enableWhen" not in i or _enabled(i, answers))
    ]
    assert [code for code in required if code not in answered] == []
    assert all(FIELD_BY_CODE[code].kind != "multi" for code in required)


def test_the_computed_age_is_not_labelled_as_the_date_of_birth(api):
    bundle = bundle_for(api, "V01")
    (response,) = by_type(bundle, "QuestionnaireResponse")
    (age,) = [i for g in response["item"] for i in g["item"] if i["linkId"] == "age_years"]
    assert age["text"].startswith("Age in years")
    assert "valueInteger" in age["answer"][0]


def test_an_erased_patient_keeps_only_the_year_of_birth_and_is_marked_redacted(api):
    from intake.privacy import patient_erase

    submission = submit("V01")
    patient_erase(public_id=submission.intake.patient.public_id, actor=None, reason="Asked to")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    validate(bundle)
    (patient,) = by_type(bundle, "Patient")
    validate(patient)
    assert patient["birthDate"] == "1980"
    assert "name" not in patient
    assert "telecom" not in patient
    assert patient["meta"]["security"][0]["code"] == "REDACTED"


def test_the_subject_access_bundle_has_the_referrals_a_later_case_joined(api):
    from intake.privacy import patient_export

    submit("V22")
    joined = submit("V01")  # the same patient: joins the open chiropractic referral
    exported = patient_export(public_id=joined.intake.patient.public_id, actor=None, fmt="fhir")
    (bundle,) = [
        b for b in exported["bundles"] if b["identifier"]["value"] == joined.intake.reference
    ]
    from_api = api.get(f"/api/v1/intakes/{joined.intake.public_id}/fhir").json()
    queues = {r["performerType"]["coding"][0]["code"] for r in by_type(bundle, "ServiceRequest")}
    assert queues == {
        r["performerType"]["coding"][0]["code"] for r in by_type(from_api, "ServiceRequest")
    }
    assert queues == {"chiropractic"}


def test_a_rerouted_referrals_new_request_replaces_the_old(api, triage_lead):
    from referrals.services import referral_reroute

    submission = submit("V01")
    (old,) = submission.referrals
    new = referral_reroute(referral=old, actor=triage_lead, queue="podiatry", reason="Foot first")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    validate(bundle)
    requests = {r["id"]: r for r in by_type(bundle, "ServiceRequest")}
    assert requests[str(old.public_id)]["status"] == "revoked"
    assert requests[str(new.public_id)]["replaces"] == [{"reference": f"urn:uuid:{old.public_id}"}]
    assert "replaces" not in requests[str(old.public_id)]


def test_a_referral_made_again_replaces_the_one_closed_by_mistake(api, triage_lead):
    from referrals.services import referral_decline, referral_refer_again

    submission = submit("V01")
    (old,) = submission.referrals
    old = referral_decline(referral=old, actor=triage_lead, reason="Seen elsewhere")
    new = referral_refer_again(referral=old, actor=triage_lead, reason="Declined by mistake")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    validate(bundle)
    requests = {r["id"]: r for r in by_type(bundle, "ServiceRequest")}
    assert requests[str(old.public_id)]["status"] == "revoked"
    assert requests[str(new.public_id)]["status"] == "active"
    assert requests[str(new.public_id)]["replaces"] == [{"reference": f"urn:uuid:{old.public_id}"}]
    assert "replaces" not in requests[str(old.public_id)]


def test_a_referral_made_again_that_a_reroute_joined_replaces_both(api, chiropractor, podiatrist):
    """Made again from one closed by mistake, then joined by a reroute into its queue: it came
    from each, and the reroute's link alone was written (the closed one's was lost when the
    rerouted referral was another case's, outside this bundle)."""
    from referrals.services import referral_decline, referral_refer_again, referral_reroute

    submission = submit("V01")
    (old,) = submission.referrals
    old = referral_decline(referral=old, actor=chiropractor, reason="Seen elsewhere")
    again = referral_refer_again(referral=old, actor=chiropractor, reason="Declined by mistake")
    feet = submit("V21")  # the same patient, in podiatry
    (podiatry,) = feet.referrals
    referral_reroute(referral=podiatry, actor=podiatrist, queue="chiropractic", reason="Back")
    bundle = api.get(f"/api/v1/intakes/{submission.intake.public_id}/fhir").json()
    validate(bundle)
    requests = {r["id"]: r for r in by_type(bundle, "ServiceRequest")}
    assert requests[str(again.public_id)]["replaces"] == [
        {"reference": f"urn:uuid:{old.public_id}"}
    ]
    bundle = api.get(f"/api/v1/intakes/{feet.intake.public_id}/fhir").json()
    validate(bundle)
    requests = {r["id"]: r for r in by_type(bundle, "ServiceRequest")}
    assert requests[str(again.public_id)]["replaces"] == [
        {"reference": f"urn:uuid:{podiatry.public_id}"}
    ]


def test_a_referral_a_reroute_joined_after_it_came_from_another_queue_replaces_both(
    api, triage_lead
):
    """The patient's open podiatry referral had come from general review; a reroute of the
    chiropractic case into it left it replacing nothing in that case's bundle: its
    rerouted_from names the first, of another case (the closed one's rerouted_into names it)."""
    from referrals.services import referral_reroute

    back = submit("V01")
    (chiropractic,) = back.referrals
    (feet,) = submit("V21").referrals  # the same patient, in podiatry
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    podiatry = referral_reroute(referral=review, actor=triage_lead, queue="podiatry", reason="Feet")
    referral_reroute(referral=chiropractic, actor=triage_lead, queue="podiatry", reason="Heel")
    bundle = api.get(f"/api/v1/intakes/{back.intake.public_id}/fhir").json()
    validate(bundle)
    requests = {r["id"]: r for r in by_type(bundle, "ServiceRequest")}
    assert requests[str(podiatry.public_id)]["replaces"] == [
        {"reference": f"urn:uuid:{chiropractic.public_id}"}
    ]
    assert "replaces" not in requests[str(chiropractic.public_id)]
