"""Tokens: hashed, shown once, revocable, scoped and queue-limited; staff sessions; refusals.

Every endpoint is refused to a principal without its scope (403) and to one without the case's
queue (404), and neither refusal carries any of the case's data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from intake.models import Intake
from referrals.models import ApiToken, Scope
from referrals.tokens import (
    _live_token,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
)
from tests.api.conftest import ALL_SCOPES, Api, intake_body
from tests.clinic_fixtures import details, submit

pytestmark = pytest.mark.django_db

# (method, path template, scope it needs); {i} is an intake id, {r} a referral id.
ENDPOINTS = [
    ("post", "/api/v1/intakes", Scope.INTAKE_SUBMIT),
    ("post", "/api/v1/triage/preview", Scope.TRIAGE_PREVIEW),
    ("get", "/api/v1/intakes/{i}", Scope.INTAKE_READ),
    ("get", "/api/v1/intakes/{i}/fhir", Scope.INTAKE_READ),
    ("post", "/api/v1/intakes/{i}/clear-red-flag", Scope.REFERRALS_WRITE),
    ("get", "/api/v1/referrals", Scope.REFERRALS_READ),
    ("get", "/api/v1/referrals/{r}", Scope.REFERRALS_READ),
    *(
        ("post", f"/api/v1/referrals/{{r}}/{move}", Scope.REFERRALS_WRITE)
        for move in (
            "claim",
            "release",
            "contact",
            "schedule",
            "complete",
            "reroute",
            "decline",
            "cancel",
            "entered-in-error",
            "override-urgency",
        )
    ),
]
CASE_ENDPOINTS = [e for e in ENDPOINTS if "{" in e[1]]


def call(api: Api, method: str, path: str):
    return api.get(path) if method == "get" else api.post(path, {"reason": "x"})


def assert_learns_nothing(response, *secrets: str) -> None:
    assert set(response.json()) == {"errors"}
    text = response.content.decode()
    for secret in secrets:
        assert secret not in text


@pytest.fixture
def case():
    """V09: an emergency in urgent medical review, red flag uncleared."""
    submission = submit("V09")
    return submission.intake, submission.referrals[0]


def test_the_secret_is_stored_only_as_its_sha256(integration):
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(integration.raw.encode()).hexdigest()
    assert integration.raw.startswith(f"clk_{token.prefix}_")
    assert integration.raw not in str(list(ApiToken.objects.values()))


def test_a_valid_token_authenticates_and_a_forged_one_does_not(integration, api):
    assert api.get("/api/v1/questionnaire").status_code == 200
    forged = integration.raw[:-4] + ("AAAA" if not integration.raw.endswith("AAAA") else "BBBB")
    response = Api(forged).get("/api/v1/questionnaire")
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"non_field_errors": ["The token is not valid or has been revoked."]}
    }


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer ", "Basic abc", "Bearer clk_x", "Bearer ÿÿ", "Token abc"]
)
def test_missing_or_malformed_credentials_get_401_with_a_bearer_challenge(db, header):
    client = Client()
    response = client.get("/api/v1/referrals", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(response.json()) == ["errors"]


def test_a_revoked_token_is_refused(integration, api):
    api_token_revoke(token=integration.token)
    assert api.get("/api/v1/questionnaire").status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(integration):
    first = api_token_authenticate(integration.raw)
    assert first is not None
    stamped = ApiToken.objects.get().last_used_at
    assert stamped is not None
    api_token_authenticate(integration.raw, now=stamped + dt.timedelta(seconds=30))
    assert ApiToken.objects.get().last_used_at == stamped
    later = stamped + dt.timedelta(minutes=2)
    api_token_authenticate(integration.raw, now=later)
    assert ApiToken.objects.get().last_used_at == later


def _fields(instance) -> dict:
    """Every stored value with its type (1 == True, so a missed converter would pass)."""
    return {
        f.attname: (type(value), value)
        for f in instance._meta.concrete_fields
        for value in [getattr(instance, f.attname)]
    }


def test_the_compiled_lookup_gives_the_orms_token_and_user(integration, make_token):
    other = make_token(Scope.REFERRALS_READ)
    ApiToken.objects.filter(pk=other.token.pk).update(last_used_at=dt.datetime.now(dt.UTC))
    for created in (integration, other):
        prefix = created.token.prefix
        orm = ApiToken.objects.select_related("user").get(prefix=prefix, revoked_at=None)
        token = _live_token(prefix)
        assert token is not None
        assert _fields(token) == _fields(orm)
        assert isinstance(token.scopes, list)  # the JSON converter ran
        assert token._state.db == "default"
        assert not token._state.adding
        assert _fields(token.user) == _fields(orm.user)
        assert token.user.api_token is token
    api_token_revoke(token=other.token)
    assert _live_token(other.token.prefix) is None
    assert _live_token("nosuchprefix") is None


def test_authenticating_is_one_statement(integration, django_assert_num_queries):
    api_token_authenticate(integration.raw)  # records the first use
    with django_assert_num_queries(1):
        token = api_token_authenticate(integration.raw)
        assert token is not None
        assert token.user.is_active


def test_the_token_acts_as_its_own_service_user(integration, api, case):
    _, referral = case
    api.post(f"/api/v1/referrals/{referral.public_id}/claim")
    referral.refresh_from_db()
    assert referral.assigned_to == integration.token.user
    assert integration.token.user.username == f"api-{integration.token.prefix}"
    assert not integration.token.user.has_usable_password()


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_token_without_its_scope(make_token, case, method, path, scope):
    intake, referral = case
    others = [s for s in ALL_SCOPES if s != scope]
    api = Api(make_token(*others).raw)
    before = Intake.objects.count()
    response = call(api, method, path.format(i=intake.public_id, r=referral.public_id))
    assert response.status_code == 403
    assert_learns_nothing(response, intake.reference, str(referral.public_id), "Okafor")
    assert Intake.objects.count() == before
    referral.refresh_from_db()
    assert referral.status == "new"


@pytest.mark.parametrize(("method", "path", "scope"), CASE_ENDPOINTS)
def test_every_case_endpoint_is_404_for_a_token_without_the_queue(
    make_token, case, method, path, scope
):
    intake, referral = case
    api = Api(make_token(*ALL_SCOPES, queues=("podiatry", "chiropractic")).raw)
    response = call(api, method, path.format(i=intake.public_id, r=referral.public_id))
    assert response.status_code == 404
    assert_learns_nothing(response, intake.reference, "Okafor")
    referral.refresh_from_db()
    assert referral.status == "new"


def test_a_token_without_the_queue_does_not_see_the_referral_in_the_list(make_token, case):
    api = Api(make_token(Scope.REFERRALS_READ, queues=("podiatry",)).raw)
    assert api.get("/api/v1/referrals").json()["results"] == []


@pytest.mark.parametrize(
    "path",
    ["/api/v1/questionnaire", "/api/v1/questionnaire?format=fhir", "/api/v1/questionnaire/fhir"],
)
def test_a_token_with_no_scope_cannot_even_read_the_questionnaire(db, path):
    bare = api_token_create(name="Nothing", scopes=[])
    response = Api(bare.raw).client.get(path, headers={"Authorization": f"Bearer {bare.raw}"})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert_learns_nothing(response, "resourceType", "pain_regions")


def test_a_submit_only_token_gets_no_triage_back(make_token):
    api = Api(make_token(Scope.INTAKE_SUBMIT).raw)
    body = api.post("/api/v1/intakes", intake_body("V09")).json()
    assert set(body) == {"id", "reference", "urgency", "patient_message", "patient_disclaimer"}


def test_a_reader_outside_the_cases_queues_gets_no_triage_back(make_token):
    api = Api(make_token(Scope.INTAKE_SUBMIT, Scope.INTAKE_READ, queues=("podiatry",)).raw)
    body = api.post("/api/v1/intakes", intake_body("V09")).json()
    assert "triage" not in body
    assert "referrals" not in body


# --- the admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db):
    admin = User.objects.create_superuser("root", "root@clinic.test", "pw-long-enough-123")
    client = Client()
    client.force_login(admin)
    return client


def test_an_administrator_creates_a_token_that_is_shown_once(admin_client):
    response = admin_client.post(
        "/admin/referrals/apitoken/add/",
        {"name": "GP portal", "scopes": ["intake:submit", "intake:read"], "queues": ["podiatry"]},
        follow=True,
    )
    assert response.status_code == 200
    shown = re.findall(r"clk_[0-9a-f]+_[A-Za-z0-9_-]+", response.content.decode())
    assert len(shown) == 1
    raw = shown[0]
    token = ApiToken.objects.get()
    assert token.scopes == ["intake:read", "intake:submit"]
    assert token.queues == ["podiatry"]
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    again = admin_client.get(f"/admin/referrals/apitoken/{token.pk}/change/")
    assert raw not in again.content.decode()
    assert Api(raw).get("/api/v1/questionnaire").status_code == 200


def test_an_administrator_revokes_tokens_from_the_list(admin_client, integration, api):
    admin_client.post(
        "/admin/referrals/apitoken/",
        {"action": "revoke_selected", "_selected_action": [integration.token.pk]},
    )
    assert ApiToken.objects.get().revoked_at is not None
    assert api.get("/api/v1/questionnaire").status_code == 401


def test_a_revoked_token_stays_revoked_whatever_the_change_form_sends(
    admin_client, integration, api
):
    api_token_revoke(token=integration.token)
    url = f"/admin/referrals/apitoken/{integration.token.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="revoked_at' not in page  # shown, not editable
    admin_client.post(url, {"name": "Back again", "revoked_at_0": "", "revoked_at_1": ""})
    token = ApiToken.objects.get()
    assert token.revoked_at is not None
    assert token.name == integration.token.name
    assert api.get("/api/v1/questionnaire").status_code == 401


def test_staff_cannot_see_the_token_admin(chiropractor):
    client = Client()
    client.force_login(chiropractor)
    assert client.get("/admin/referrals/apitoken/").status_code == 403


# --- staff sessions --------------------------------------------------------------------------


def test_staff_sessions_read_what_their_groups_allow(chiropractor):
    submit("V01")
    submit("V09", patient=details(family_name="Other", phone="07700 900999"))
    client = Client()
    client.force_login(chiropractor)
    results = client.get("/api/v1/referrals").json()["results"]
    assert [r["queue"] for r in results] == ["chiropractic"]


def test_staff_session_writes_need_the_csrf_token(chiropractor):
    (referral,) = submit("V01").referrals
    client = Client(enforce_csrf_checks=True)
    client.force_login(chiropractor)
    path = f"/api/v1/referrals/{referral.public_id}/claim"
    refused = client.post(path, "{}", content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["errors"]["non_field_errors"][0]
    client.get("/admin/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    done = client.post(path, "{}", content_type="application/json", headers={"X-CSRFToken": csrf})
    assert done.status_code == 200
    assert done.json()["assigned_to"] == chiropractor.username


def test_staff_sessions_cannot_submit_intakes(chiropractor):
    client = Client()
    client.force_login(chiropractor)
    response = client.post("/api/v1/intakes", intake_body(), content_type="application/json")
    assert response.status_code == 403
    # It said "This token does not have the scope this operation needs." to a member of staff,
    # who holds no token (an API QA round).
    assert response.json()["errors"]["non_field_errors"] == [
        "Submitting intakes is for integrations, with an API token."
    ]


def test_a_staff_session_refused_an_operation_is_told_of_its_groups_not_a_token(db):
    reader = User.objects.create_user("rae_no_team", is_staff=True)  # in no group yet
    client = Client()
    client.force_login(reader)
    response = client.get("/api/v1/referrals")
    assert response.status_code == 403
    assert response.json()["errors"]["non_field_errors"] == [
        "Your staff groups' permissions do not allow this operation."
    ]
