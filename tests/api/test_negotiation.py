"""Accept's weights on the API (RFC 9110, 12.5.1): the type a client prefers, never one it
weighted 0. DRF's own negotiation read no weights: it served the first type named at all."""

import json

import pytest

from intake import fhir
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db

FHIR = fhir.MEDIA_TYPE
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def get(api, path: str, accept: str | None, **params: str):
    headers = dict(api.headers)
    if accept is not None:
        headers["Accept"] = accept
    return api.client.get(path, params, headers=headers)


def media_type(response) -> str:
    return response["Content-Type"].split(";")[0]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f"{FHIR};q=0.1, application/json;q=0.9", "application/json"),
        (f"{FHIR};q=0, */*", "application/json"),
        ("application/json, */*;q=0.5", "application/json"),
        (f"application/json;q=0.4, {FHIR};q=0.6", FHIR),
        (None, FHIR),
        ("*/*", FHIR),
        (BROWSER, FHIR),
        ("text/csv", FHIR),  # naming nothing of ours: the operation's own type, as before
    ],
)
def test_a_cases_fhir_export_is_in_the_type_the_client_prefers(api, accept, expected):
    intake = submit("V01").intake
    response = get(api, f"/api/v1/intakes/{intake.public_id}/fhir", accept)
    assert response.status_code == 200
    assert media_type(response) == expected
    assert response.json()["resourceType"] == "Bundle"


@pytest.mark.parametrize(
    ("path", "accept", "expected"),
    [
        ("/api/v1/questionnaire", f"application/json;q=0.5, {FHIR}", "Questionnaire"),
        ("/api/v1/questionnaire", f"{FHIR};q=0, application/*", "definition"),
        ("/api/v1/questionnaire", None, "definition"),
        ("/api/v1/questionnaire/fhir", f"{FHIR};q=0.1, application/json", "Questionnaire"),
    ],
)
def test_the_questionnaire_is_in_the_type_the_client_prefers(api, path, accept, expected):
    response = get(api, path, accept)
    assert response.status_code == 200
    body = response.json()
    assert body.get("resourceType", "definition") == expected


def test_the_format_parameter_names_the_type_whatever_accept_prefers(api):
    """``?format=fhir`` is the client saying which: a JSON-first Accept got the JSON."""
    response = get(api, "/api/v1/questionnaire", "application/json", format="fhir")
    assert media_type(response) == FHIR
    assert response.json()["resourceType"] == "Questionnaire"


@pytest.mark.parametrize(
    "accept", ["application/json;q=0", "*/*;q=0", "application/json;q=0, text/html"]
)
def test_an_operation_whose_every_type_is_refused_answers_406(api, accept):
    response = get(api, "/api/v1/referrals", accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"  # errors are JSON, as ever
    assert response.json() == {
        "errors": {
            "non_field_errors": [
                "Accept names no type this operation answers in: it answers in application/json."
            ]
        }
    }


@pytest.mark.parametrize("accept", [f"{FHIR};q=0, application/json;q=0", f"{FHIR};q=0, */*;q=0"])
def test_the_fhir_export_refused_in_both_its_types_answers_406(api, accept):
    intake = submit("V01").intake
    response = get(api, f"/api/v1/intakes/{intake.public_id}/fhir", accept)
    assert response.status_code == 406
    (said,) = response.json()["errors"]["non_field_errors"]
    assert said.endswith(f"it answers in {FHIR} or application/json.")


@pytest.mark.parametrize("accept", ["text/html;q=0", "text/html;q=0, application/json;q=0.1"])
def test_refusing_another_type_is_no_refusal_of_json(api, accept):
    response = get(api, "/api/v1/referrals", accept)
    assert response.status_code == 200
    assert media_type(response) == "application/json"


def test_an_indent_asked_for_is_still_given_with_a_weight(api):
    response = get(api, "/api/v1/questionnaire", "application/json; indent=2; q=0.9")
    assert response.status_code == 200
    assert response.content.decode().startswith('{\n  "')
    assert json.loads(response.content)


def test_the_body_map_is_svg_whatever_json_is_weighted(api):
    """Its answer is an SVG that DRF does not render; its renderer is for its errors."""
    intake = submit("V01").intake
    path = f"/api/v1/intakes/{intake.public_id}/body-map.svg"
    response = get(api, path, "image/svg+xml, application/json;q=0")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    missing = get(api, path.replace(str(intake.public_id), "0" * 32), "application/json;q=0")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
