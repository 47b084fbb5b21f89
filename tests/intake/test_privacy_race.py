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
from tests.clinic_fixtures import details, submit, worked_case
from tests.form_data import IDENTITY
from tests.intake.test_drafts import section_answers
from tests.referrals.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_an_erasure_and_the_persons_form_being_sent_at_once_do_not_deadlock(monkeypatch):
    """The send holds the draft's row and then takes the person's lock; the erasure took the
    person's lock and then deleted the draft: a deadlock, one of them failed (a 500 for the
    patient, or the erasure undone)."""
    assert connection.vendor == "postgresql"
    answers = {**worked_case("V01"), "main_concern": "Back, Ada O."}
    public_id = submit("V01", patient=details()).intake.patient.public_id
    _draft, token = draft_start(values={}, patient=IDENTITY)
    for step in STEP_CODES[1 : STEP_CODES.index("consent")]:
        draft_save_step(token=token, step=step, values={}, answers=section_answers(step, answers))

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
            token=token, step="consent", values={}, answers=section_answers("consent", answers)
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


def test_an_export_read_while_the_patient_is_erased_is_all_before_or_all_after(monkeypatch):
    """The export read the identity, then the cases, then the forms in progress, each on its
    own: an erasure committing in between gave the person their name and birth date beside
    cases already erased, or an export of an erased person naming them."""
    from intake.privacy import patient_export

    assert connection.vendor == "postgresql"
    answers = {**worked_case("V01"), "main_concern": "Back, Ada O."}
    public_id = submit("V01", patient=details(), answers=answers).intake.patient.public_id
    identity_read, erased = threading.Event(), threading.Event()
    real_intakes = intake.privacy._intakes

    def intakes_once_erased(patient: Patient) -> Any:
        identity_read.set()
        # Until the erasure has committed; one that instead waits for the export never does,
        # and the export goes on.
        erased.wait(3)
        return real_intakes(patient)

    monkeypatch.setattr(intake.privacy, "_intakes", intakes_once_erased)

    def erase() -> Any:
        assert identity_read.wait(10)
        try:
            return patient_erase(public_id=public_id, actor=None, reason="Asked to be forgotten")
        finally:
            erased.set()

    outcomes = run_at_once(lambda: patient_export(public_id=public_id, actor=None), erase)
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    export = outcomes[0][1]
    (case,) = export["intakes"]
    if export["patient"]["anonymised_at"] is None:
        assert export["patient"]["family_name"] == "Okafor"
        assert case["answers"]["main_concern"] == "Back, Ada O."
    else:
        assert export["patient"]["family_name"] == "Erased"
        assert case["answers"]["main_concern"] == ERASED_TEXT
