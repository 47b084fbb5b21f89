"""Request guards shared by the pages and the API: body size, client address."""

import io
import json
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from clinic.middleware import client_address, client_ip
from referrals.models import Scope
from referrals.tokens import api_token_create
from tests.clinic_fixtures import submit, worked_case


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.2"),  # no proxy trusted: the header is the client's word
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # a spoofed entry on the left
        (2, "198.51.100.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),
        (1, "", "10.0.0.2"),  # the proxy sent nothing: fall back to the connection
        (2, "203.0.113.9", "10.0.0.2"),  # fewer entries than proxies
    ],
)
def test_client_address_trusts_only_the_configured_proxies(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_a_body_at_the_limit_is_let_through(client, settings):
    settings.MAX_REQUEST_BYTES = 4096
    body = "x" * 4096
    response = client.post("/form/identity/", body, content_type="text/plain")
    assert response.status_code != 413


@pytest.mark.django_db
def test_a_get_with_a_bogus_content_length_is_not_refused(client):
    assert client.get("/", CONTENT_LENGTH="banana").status_code == 200


@pytest.mark.parametrize(
    ("remote", "expected"), [("203.0.113.9", "203.0.113.9"), ("", None), ("junk", None)]
)
def test_the_address_for_ip_columns_is_an_ip_or_none(rf, remote, expected):
    request = rf.get("/")
    request.META["REMOTE_ADDR"] = remote
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_api_answers_holding_patient_data_are_never_stored_by_a_cache(client, chiropractor):
    # A staff session's answer is not covered by HTTP's rule that shared caches keep nothing
    # asked with an Authorization header: without these headers a proxy or a CDN could keep a
    # patient's case and serve it again, and the browser wrote it to its disk cache.
    case = submit("V01")
    client.force_login(chiropractor)
    paths = [
        f"/api/v1/intakes/{case.intake.public_id}",
        f"/api/v1/intakes/{case.intake.public_id}/fhir",
        f"/api/v1/referrals/{case.referrals[0].public_id}",
        "/api/v1/referrals",
        "/api/v1/no-such-thing",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        cache_control = response.headers.get("Cache-Control", "")
        assert "no-store" in cache_control, path
        assert "private" in cache_control, path


# --- bodies sent chunked, through the WSGI application gunicorn runs ---------------------------


@pytest.fixture
def wsgi_app() -> Iterator[Callable[..., tuple[str, bytes]]]:
    """clinic.wsgi.application called as gunicorn calls it: a body sent with Transfer-Encoding:
    chunked arrives with no CONTENT_LENGTH and ``wsgi.input_terminated`` set."""
    from clinic.wsgi import application

    def call(path: str, body: bytes, token: str) -> tuple[str, bytes]:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": path,
                "CONTENT_TYPE": "application/json",
                "HTTP_TRANSFER_ENCODING": "chunked",
                "HTTP_AUTHORIZATION": f"Bearer {token}",
                "wsgi.input": io.BytesIO(body),
                "wsgi.input_terminated": True,
            }
        )
        environ.pop("CONTENT_LENGTH", None)
        started: list[str] = []
        chunks = application(environ, lambda status, headers, *_: started.append(status))
        return started[0], b"".join(chunks)

    # The test's transaction owns the connection: the handler must not close it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield call
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_a_chunked_api_body_is_read_not_taken_for_an_empty_one(wsgi_app):
    # Django reads as much body as CONTENT_LENGTH says, none without it: a client streaming
    # its JSON (chunked) straight to gunicorn got "answers: This field is required." for a
    # preview it had sent in full, and a move's optional reason was dropped without a word.
    token = api_token_create(name="Kiosk", scopes=(Scope.TRIAGE_PREVIEW,), queues=())
    body = json.dumps({"answers": {**worked_case("V09"), "age_years": 46}}).encode()
    status, content = wsgi_app("/api/v1/triage/preview", body, token.raw)
    assert status.startswith("200"), content
    assert json.loads(content)["urgency"] == "emergency"


@pytest.mark.django_db
def test_a_chunked_body_over_the_limit_is_refused_with_413(wsgi_app, settings):
    settings.API_MAX_REQUEST_BYTES = 2048
    token = api_token_create(name="Kiosk", scopes=(Scope.TRIAGE_PREVIEW,), queues=())
    body = json.dumps({"answers": {"main_concern": "x" * 5000}}).encode()
    status, content = wsgi_app("/api/v1/triage/preview", body, token.raw)
    assert status.startswith("413"), content
    assert json.loads(content) == {
        "errors": {"non_field_errors": ["The request body is too large."]}
    }
