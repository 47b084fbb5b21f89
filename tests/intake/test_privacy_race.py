"""An erasure racing the person's own form being sent, on real PostgreSQL connections."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

import intake.drafts
import intake.privacy
from intake.drafts import STEP_CODES, DraftNotFound, draft_save_step, draft_start, draft_submit
from intake.models import Intake, IntakeDraft, Patient
from intake.privacy import ERASED_TEXT, patient_erase
from intake.questionnaire import fields_in_section
from tests.clinic_fixtures import details, submit, worked_case
from tests.referrals.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ADA = {
    "given_name": "Ada",
    "family_name": "Okafor",
    "date_of_birth": "1980-05-17",
    "phone": "07700 900123",
    "email": "",
    "preferred_contact": "phone",
}


def _section(step: str, answers: dict[str, Any]) -> dict[str, Any]:
    return {spec.code: answers.get(spec.code) for spec in fields_in_section(step)}


def test_an_erasure_and_the_persons_form_being_sent_at_once_do_not_deadlock(monkeypatch):
    """The send holds the draft's row and then takes the person's lock; the erasure took the
    person's lock and then deleted the draft: a deadlock, one of them failed (a 500 for the
    patient, or the erasure undone)."""
    assert connection.vendor == "postgresql"
    answers = {**worked_case("V01"), "main_concern": "Back, Ada O."}
    public_id = submit("V01", patient=details()).intake.patient.public_id
    _draft, token = draft_start(values={}, patient=ADA)
    for step in STEP_CODES[1 : STEP_CODES.index("consent")]:
        draft_save_step(token=token, step=step, values={}, answers=_section(step, answers))

    draft_held, erasure_locked = threading.Event(), threading.Event()
    real_submit, real_lock = intake.drafts.intake_submit, intake.privacy.lock_patient

    def submit_once_erasure_locked(**kwargs: Any) -> Any:
        draft_held.set()  # the draft's row is locked by now
        # Until the erasure holds the person's lock; an erasure that instead waits for this
        # draft (as it must not deadlock) never gets there, and the send goes on.
        erasure_locked.wait(3)
        return real_submit(**kwargs)

    def lock_then_tell(patient_id: int) -> None:
        real_lock(patient_id)
        erasure_locked.set()

    monkeypatch.setattr(intake.drafts, "intake_submit", submit_once_erasure_locked)
    monkeypatch.setattr(intake.privacy, "lock_patient", lock_then_tell)

    def send() -> Any:
        return draft_submit(
            token=token, step="consent", values={}, answers=_section("consent", answers)
        )

    def erase() -> Any:
        assert draft_held.wait(10)
        return patient_erase(public_id=public_id, actor=None, reason="Asked to be forgotten")

    outcomes = run_at_once(send, erase)
    sent, erased = outcomes
    assert erased is not None, outcomes
    assert erased[0] == "ok", outcomes
    assert sent is not None, outcomes
    assert sent[0] == "ok" or isinstance(sent[1], DraftNotFound), outcomes
    patient = Patient.objects.get(public_id=public_id)
    assert patient.anonymised_at is not None
    assert not Patient.objects.filter(family_name_key="okafor").exists()
    for case in Intake.objects.filter(patient=patient):
        assert case.answers["main_concern"] == ERASED_TEXT
    assert not [d for d in IntakeDraft.objects.all() if "patient" in d.data]
