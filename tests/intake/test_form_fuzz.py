"""No POST of any content to any step of the patient form answers 500, nor does the page that
shows a refused step again (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from intake.drafts import SESSION_KEY, STEP_CODES, draft_save_step, draft_start
from intake.forms import HONEYPOT, STEP_FORMS
from intake.questionnaire import fields_in_section
from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY

FIELD_NAMES = sorted({name for form in STEP_FORMS.values() for name in form.base_fields})
NASTY = [
    "",
    "yes",
    "no",
    "true",
    "0",
    "-1",
    "1e400",
    "9" * 5000,
    "NaN",
    "1985-02-30",
    "\x00",
    "a\x00b",
    "\ud7ff\ue000",
    "<script>alert(1)</script>",
    "left",
    "none",
    "both",
]
values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=12)), max_size=4),
)
keys = st.one_of(
    st.sampled_from([name for name in FIELD_NAMES if name != HONEYPOT]), st.text(max_size=12)
)


def client_with_full_draft() -> Client:
    """Every step is open: the draft has all steps but the last saved."""
    answers = worked_case("V01")
    _draft, token = draft_start(values={}, patient={**IDENTITY, "email": ""})
    for step in STEP_CODES[1:-1]:
        section = {spec.code: answers.get(spec.code) for spec in fields_in_section(step)}
        draft_save_step(token=token, step=step, values={}, answers=section)
    client = Client()
    session = client.session
    session[SESSION_KEY] = token
    session.save()
    return client


@pytest.mark.django_db
@given(
    step=st.sampled_from(STEP_CODES),
    data=st.dictionaries(keys, values, max_size=12),
    fresh=st.booleans(),
)
def test_no_post_to_any_step_answers_500(step: str, data: dict[str, Any], fresh: bool):
    client = Client() if fresh else client_with_full_draft()
    response = client.post(f"/form/{step}/", data)
    assert response.status_code in {200, 302, 303, 400, 404, 413, 429}, response.status_code
    if response.status_code == 303:
        # Refused: the step's page binds the form again to what was kept of it.
        assert client.get(response["Location"]).status_code == 200
    assert client.post("/form/interrupt-shown/", data).status_code == 204
