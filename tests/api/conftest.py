"""API personas: integration tokens with chosen scopes and queues, and a JSON client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from intake.services import PatientDetails
from referrals.models import Scope
from referrals.tokens import CreatedToken, api_token_create
from tests.clinic_fixtures import details, worked_case

ALL_SCOPES = tuple(Scope.values)


class Api:
    """A test client that sends JSON with a bearer token (or none)."""

    def __init__(self, raw: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {raw}"} if raw else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body or {})
        return self.client.post(
            path, data, content_type="application/json", headers={**self.headers, **(headers or {})}
        )


def intake_body(
    case: str = "V01", patient: PatientDetails | None = None, **answers: Any
) -> dict[str, Any]:
    who = patient or details()
    return {
        "given_name": who.given_name,
        "family_name": who.family_name,
        "date_of_birth": who.date_of_birth.isoformat(),
        "phone": who.phone,
        "email": who.email,
        "preferred_contact": who.preferred_contact,
        "answers": {**worked_case(case), **answers},
    }


MakeToken = Callable[..., CreatedToken]


@pytest.fixture
def make_token(db: None) -> MakeToken:
    def make(*scopes: str, queues: tuple[str, ...] = (), name: str = "Test system") -> CreatedToken:
        return api_token_create(name=name, scopes=scopes or ALL_SCOPES, queues=queues)

    return make


@pytest.fixture
def integration(make_token: MakeToken) -> CreatedToken:
    """The GP-portal integration: every scope, every queue."""
    return make_token(*ALL_SCOPES, name="GP portal")


@pytest.fixture
def api(integration: CreatedToken) -> Api:
    return Api(integration.raw)
