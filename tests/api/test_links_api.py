"""The foot/back link summary in the API and GET /intakes/{id}/body-map.svg (issue 9)."""

from __future__ import annotations

import pytest

from referrals.links import CONTRIBUTING_SENTENCE, SENTENCES
from referrals.models import AuditEntry, Scope
from tests.api.conftest import Api, intake_body

pytestmark = pytest.mark.django_db

V22_LINK = {
    "kind": "back_to_foot",
    "label": "Back → foot",
    "sentence": SENTENCES["back_to_foot"],
    "contributing_factors": ["FOOTWEAR_RELATED"],
    "contributing_sentence": CONTRIBUTING_SENTENCE,
}


def test_reading_a_case_gives_its_link_summary(api):
    created = api.post("/api/v1/intakes", intake_body("V22")).json()
    body = api.get(f"/api/v1/intakes/{created['id']}").json()
    assert body["link_summary"] == V22_LINK
    assert all(r["link_summary"] == V22_LINK for r in body["referrals"])


def test_the_referral_list_and_detail_give_the_link_summary(api):
    api.post("/api/v1/intakes", intake_body("V15"))
    listed = api.get("/api/v1/referrals").json()["results"]
    assert listed
    assert {r["link_summary"]["kind"] for r in listed} == {"foot_to_back"}
    detail = api.get(f"/api/v1/referrals/{listed[0]['id']}").json()
    assert detail["link_summary"]["label"] == "Foot → back"
    assert detail["link_summary"]["contributing_factors"] == []
    assert detail["link_summary"]["contributing_sentence"] == ""


def test_the_body_map_is_the_staff_svg_and_the_look_is_audited(api):
    created = api.post("/api/v1/intakes", intake_body("V22")).json()
    response = api.get(f"/api/v1/intakes/{created['id']}/body-map.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    assert "L5" in svg or "S1" in svg  # staff see the nerve-root zones
    entry = AuditEntry.objects.get(object_id=created["id"], action="api_view")
    assert entry.detail == {"what": "body_map"}


def test_the_body_map_needs_the_intake_read_scope(api, make_token):
    created = api.post("/api/v1/intakes", intake_body("V22")).json()
    submitter = Api(make_token(Scope.INTAKE_SUBMIT).raw)
    response = submitter.get(f"/api/v1/intakes/{created['id']}/body-map.svg")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert Api().get(f"/api/v1/intakes/{created['id']}/body-map.svg").status_code == 401


def test_the_body_map_of_another_queues_case_is_a_404(api, make_token):
    created = api.post("/api/v1/intakes", intake_body("V22")).json()  # chiropractic and podiatry
    medical = Api(make_token(Scope.INTAKE_READ, queues=("urgent_medical_review",)).raw)
    response = medical.get(f"/api/v1/intakes/{created['id']}/body-map.svg")
    assert response.status_code == 404
    assert response.json() == {"errors": {"non_field_errors": ["Not found."]}}
    assert not AuditEntry.objects.filter(action="api_view").exists()


def test_an_svg_accept_header_still_gets_json_errors(make_token):
    medical = Api(make_token(Scope.INTAKE_READ, queues=("urgent_medical_review",)).raw)
    response = medical.client.get(
        "/api/v1/intakes/00000000-0000-0000-0000-000000000000/body-map.svg",
        headers={**medical.headers, "Accept": "image/svg+xml"},
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
