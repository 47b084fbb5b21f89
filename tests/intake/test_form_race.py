"""A second click on "Send" while the first is being stored: both answers lead to the same
result page, and one case is stored. On real PostgreSQL connections, the draft's row lock
ordering the two (a review found the second click shown "no longer available")."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

import intake.drafts
from intake.models import Intake
from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY, all_steps, step_data

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

GRACE = {**IDENTITY, "given_name": "Grace", "family_name": "Hopper", "phone": "07700 900777"}


def test_a_second_send_while_the_first_is_stored_shows_the_same_result(monkeypatch):
    assert connection.vendor == "postgresql"
    answers = worked_case("V01")
    first = Client()
    for step, data in all_steps(answers, GRACE):
        if step == "consent":
            break
        assert first.post(f"/form/{step}/", data).status_code == 302, step
    second = Client()
    second.cookies = first.cookies  # the same browser, the same session

    storing = threading.Event()
    real_submit = intake.drafts.intake_submit

    def slow_submit(**kwargs: Any) -> Any:
        storing.set()
        time.sleep(1.0)  # the first click holds the draft's lock while the second arrives
        return real_submit(**kwargs)

    monkeypatch.setattr(intake.drafts, "intake_submit", slow_submit)
    answers_of: dict[str, Any] = {}

    def send(name: str, client: Client, wait: threading.Event | None) -> None:
        try:
            if wait is not None:
                assert wait.wait(10)
            answers_of[name] = client.post("/form/consent/", step_data("consent", answers))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=("first", first, None)),
        threading.Thread(target=send, args=("second", second, storing)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert answers_of["first"].status_code == 302
    assert answers_of["second"].status_code == 302
    assert answers_of["first"]["Location"] == answers_of["second"]["Location"] == "/form/done/"
    (case,) = Intake.objects.all()
    page = second.get("/form/done/").content.decode()
    assert f"{case.reference[:4]}-{case.reference[4:]}" in page
