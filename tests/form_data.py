"""What a patient types into each step of the form, derived from a set of answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intake.drafts import IDENTITY_STEP, STEP_CODES
from intake.drafts import SESSION_KEY as DRAFT_SESSION_KEY
from intake.questionnaire import FIELD_BY_CODE, fields_in_section

PostValue = str | list[str]

IDENTITY: dict[str, PostValue] = {
    "given_name": "Ada",
    "family_name": "Okafor",
    "date_of_birth": "1980-05-17",
    "phone": "07700 900123",
    "email": "",
    "preferred_contact": "phone",
}


def typed(code: str, value: Any) -> PostValue | None:
    """The form value for one answer; None when nothing is sent (a hidden question)."""
    if value is None:
        return None
    kind = FIELD_BY_CODE[code].kind
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "multi":
        return list(value)
    return str(value)


def step_data(
    step: str, answers: dict[str, Any], identity: dict[str, PostValue] | None = None
) -> dict[str, PostValue]:
    if step == IDENTITY_STEP:
        return dict(identity or IDENTITY)
    data: dict[str, PostValue] = {}
    for spec in fields_in_section(step):
        if spec.computed:
            continue
        value = typed(spec.code, answers.get(spec.code))
        if value is not None:
            data[spec.code] = value
    return data


def all_steps(answers: dict[str, Any], identity: dict[str, PostValue] | None = None):
    for step in STEP_CODES:
        yield step, step_data(step, answers, identity)


def refused(client: Any, step: str, data: Mapping[str, PostValue]) -> Any:
    """Post a step the form refuses and return the page that shows why: the answer to the POST
    for the first step before there is a draft (nothing is kept then: intake.rejected), else
    the step's own page after the 303 it answers with."""
    before = client.session.get(DRAFT_SESSION_KEY)
    response = client.post(f"/form/{step}/", data)
    if step == "identity" and not before:
        assert response.status_code == 200, response.status_code
        return response
    assert response.status_code == 303, response.content.decode()[:2000]
    assert response["Location"] == f"/form/{step}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page
