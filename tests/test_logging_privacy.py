"""No patient identity, answers or resume token in any log record (docs/SECURITY.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from clinic.logfilters import MaskSecretsFilter, mask
from intake.drafts import SESSION_KEY
from intake.models import Intake
from referrals.tokens import CreatedToken, api_token_create
from tests.api.conftest import ALL_SCOPES, Api, intake_body
from tests.clinic_fixtures import details, worked_case
from tests.form_data import IDENTITY, all_steps, refused

pytestmark = pytest.mark.django_db

CONCERN = "Aching left heel since the Zanzibar marathon"
PATIENT = details(
    given_name="Philippa",
    family_name="Quennell-Vantongeren",
    phone="07700 988321",
    email="philippa.q@example.org",
)
FORM_IDENTITY = {
    **IDENTITY,
    "given_name": "Philippa",
    "family_name": "Quennell-Vantongeren",
    "date_of_birth": "1980-05-17",
    "phone": "07700 988321",
    "email": "philippa.q@example.org",
}
SECRETS = (
    "Philippa",
    "Quennell",
    "988321",
    "07700",
    "philippa.q@example.org",
    "1980-05-17",
    "17/05/1980",
    "Zanzibar",
)


@pytest.fixture
def integration(db: None) -> CreatedToken:
    return api_token_create(name="Logging test", scopes=ALL_SCOPES, queues=())


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG, the root logger's and the (non-propagating) "django" tree's."""
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="django"):
        yield caplog
    django_logger.removeHandler(caplog.handler)


def rendered(records: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in records.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def assert_clean(records: pytest.LogCaptureFixture) -> None:
    text = rendered(records)
    for secret in SECRETS:
        assert secret not in text, secret


def test_a_form_submission_logs_no_identity_or_answers(client, records):
    answers = {**worked_case("V11"), "main_concern": CONCERN}
    for step, data in all_steps(answers, FORM_IDENTITY):
        response = client.post(f"/form/{step}/", data)
        assert response.status_code == 302
    assert client.get("/form/done/").status_code == 200
    assert Intake.objects.get().answers["main_concern"] == CONCERN
    assert_clean(records)


def test_a_form_validation_error_logs_no_identity(client, records):
    # The refusal and the page that shows it again, from the session.
    page = refused(client, "identity", {**FORM_IDENTITY, "email": "philippa.q@", "phone": ""})
    assert "philippa.q@" in page.content.decode()
    assert_clean(records)


def test_an_api_submission_and_its_validation_error_log_no_identity(integration, records):
    api = Api(integration.raw)
    body = intake_body("V11", PATIENT, main_concern=CONCERN)
    assert api.post("/api/v1/intakes", body).status_code == 201
    bad = {**body, "date_of_birth": "2999-01-01", "email": "philippa.q@"}
    assert api.post("/api/v1/intakes", bad).status_code == 400
    assert api.post("/api/v1/intakes", "{not json").status_code == 400
    assert_clean(records)


def test_a_server_error_logs_the_error_but_no_identity(integration, records, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the routing table could not be read")

    monkeypatch.setattr("intake.api.intake_submit", broken)
    api = Api(integration.raw, Client(raise_request_exception=False))
    response = api.post("/api/v1/intakes", intake_body("V11", PATIENT, main_concern=CONCERN))
    assert response.status_code == 500
    assert "routing table" in rendered(records)
    assert_clean(records)


def test_a_resume_token_in_a_logged_path_is_masked(client, records):
    for step, data in all_steps(worked_case("V01"), FORM_IDENTITY):
        client.post(f"/form/{step}/", data)
        if step == "pain_locations":
            break
    token = client.session[SESSION_KEY]
    assert client.get(f"/resume/{token}x/").status_code == 404
    text = rendered(records)
    assert "/resume/[masked]/" in text
    assert token not in text
    assert_clean(records)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Not Found: /resume/abc-DEF_123/", "Not Found: /resume/[masked]/"),
        ("GET /resume/abc?x=1 HTTP/1.1", "GET /resume/[masked]?x=1 HTTP/1.1"),
        ("/form/identity/", "/form/identity/"),
        ("refused: {'ada.okafor@example.org': (550, b'no')}", "refused: {'[email]': (550, b'no')}"),
        ("<Ada.O+x@mail.example.co.uk>", "<[email]>"),
        ("user@localhost and 07:30 @ noon", "user@localhost and 07:30 @ noon"),
    ],
)
def test_mask_hides_resume_tokens_and_email_addresses(text, expected):
    assert mask(text) == expected


def test_an_exception_naming_an_address_is_logged_without_it():
    """As the worker logs a failed task: the exception's text goes through the filter too."""
    import io
    import logging.config
    import smtplib

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskSecretsFilter())
    handler.setFormatter(logging.Formatter("{levelname} {message}", style="{"))
    logger = logging.getLogger("tests.mask")
    logger.addHandler(handler)
    try:
        try:
            raise smtplib.SMTPRecipientsRefused({"philippa.q@example.org": (550, b"unknown")})
        except smtplib.SMTPRecipientsRefused:
            logger.exception("Task id=%s failed", "t-1")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "SMTPRecipientsRefused" in text
    assert "[email]" in text
    assert "philippa.q@example.org" not in text
