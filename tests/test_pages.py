"""The start page, the admin and the API docs answer, under the Content-Security-Policy."""

import re

import pytest


@pytest.mark.django_db
def test_start_page_shows_the_clinic_name_and_emergency_numbers(client, settings):
    settings.CLINIC_NAME = "Riverside Podiatry"
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Riverside Podiatry" in html
    assert "999" in html
    assert "111" in html
    assert '<main id="main"' in html
    assert 'href="#main"' in html


@pytest.mark.django_db
def test_every_page_carries_the_content_security_policy(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    # The nonce joins script-src only on pages that use it (see the API docs test).
    assert "script-src 'self'" in policy


@pytest.mark.django_db
def test_api_docs_start_up_script_carries_the_nonce_of_its_response(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match is not None
    nonce = match.group(1)
    html = response.content.decode()
    assert f'<script nonce="{nonce}">' in html
    assert "<style" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


@pytest.mark.django_db
def test_api_schema_is_openapi(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Clinic intake and referral API"


@pytest.mark.django_db
def test_admin_login_page_answers(client):
    assert client.get("/admin/login/").status_code == 200
