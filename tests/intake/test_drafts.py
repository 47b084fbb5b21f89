"""Drafts of the patient form: hashed tokens, saving steps, resuming, submitting, purging."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from intake.drafts import (
    IDENTITY_STEP,
    SENT_KEPT,
    STEP_CODES,
    DraftNotFound,
    DraftSubmitted,
    draft_answers,
    draft_for_token,
    draft_record_interrupt,
    draft_resume,
    draft_save_step,
    draft_start,
    draft_submit,
    drafts_purge,
)
from intake.messages import patient_disclaimer
from intake.models import Intake, IntakeDraft
from intake.questionnaire import fields_in_section
from intake.services import SubmissionInvalid
from intake.tasks import purge_expired_drafts
from tests.answers import make_answers
from tests.clinic_fixtures import worked_case

pytestmark = pytest.mark.django_db

PATIENT = {
    "given_name": "Bea",
    "family_name": "Nakamura",
    "date_of_birth": "1971-02-03",
    "phone": "07700 900456",
    "email": "",
    "preferred_contact": "phone",
}


def section_answers(step: str, answers: dict[str, Any]) -> dict[str, Any]:
    return {spec.code: answers.get(spec.code) for spec in fields_in_section(step)}


def fill(answers: dict[str, Any], *, patient: dict[str, Any] | None = None, upto: str = "consent"):
    """A draft with every step up to (not including) ``upto`` saved; returns (draft, token)."""
    draft, token = draft_start(values={"given_name": "Bea"}, patient=patient or PATIENT)
    for step in STEP_CODES[1 : STEP_CODES.index(upto)]:
        draft = draft_save_step(
            token=token, step=step, values={}, answers=section_answers(step, answers)
        )
    return draft, token


def submit(answers: dict[str, Any], token: str):
    return draft_submit(
        token=token,
        step="consent",
        values={},
        answers=section_answers("consent", answers),
    )


def test_the_resume_token_is_long_random_and_stored_only_as_its_hash():
    draft, token = draft_start(values={}, patient=PATIENT)
    assert len(token) >= 43
    stored = IntakeDraft.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.data)
    assert token not in stored.token_hash
    assert draft_for_token(token) == draft
    assert draft_for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_a_new_draft_expires_after_the_configured_days_and_starts_at_step_two(settings):
    settings.DRAFT_TTL_DAYS = 3
    now = timezone.now()
    draft, _token = draft_start(values={}, patient=PATIENT, now=now)
    assert draft.expires_at == now + dt.timedelta(days=3)
    assert draft.current_step == STEP_CODES[1]
    assert draft.data["done"] == [IDENTITY_STEP]


def test_an_expired_draft_cannot_be_resumed_or_saved():
    past = timezone.now() - dt.timedelta(days=settings.DRAFT_TTL_DAYS + 1)
    _draft, token = draft_start(values={}, patient=PATIENT, now=past)
    assert draft_for_token(token) is None
    with pytest.raises(DraftNotFound):
        draft_resume(token=token)
    with pytest.raises(DraftNotFound):
        draft_save_step(token=token, step="about_you", values={}, answers={})


def test_saving_a_step_keeps_what_was_typed_and_moves_on():
    _draft, token = draft_start(values={}, patient=PATIENT)
    draft = draft_save_step(
        token=token,
        step="about_you",
        values={"height_feet": "6", "height_inches": "3"},
        answers={"height_cm": 191, "weight_kg": 80, "has_diabetes": False},
    )
    assert draft.data["values"]["about_you"] == {"height_feet": "6", "height_inches": "3"}
    assert draft_answers(draft)["height_cm"] == 191
    assert draft.current_step == "pain_locations"


def test_an_unknown_answer_code_is_not_stored():
    _draft, token = draft_start(values={}, patient=PATIENT)
    draft = draft_save_step(
        token=token, step="about_you", values={}, answers={"age_years": 12, "sbst_total": 9}
    )
    assert "age_years" not in draft_answers(draft)
    assert "sbst_total" not in draft_answers(draft)


def test_timing_answers_become_null_when_a_later_change_hides_them():
    answers = make_answers(pain_regions=["heel"])
    draft, token = fill(answers, upto="footwear")
    assert draft_answers(draft)["symptom_duration"] == "over_12_weeks"
    assert draft_answers(draft)["onset_type"] == "gradual"
    no_pain = {**section_answers("pain_locations", answers), "pain_regions": []}
    draft = draft_save_step(token=token, step="pain_locations", values={}, answers=no_pain)
    assert draft_answers(draft)["symptom_duration"] is None
    assert draft_answers(draft)["onset_type"] is None


def test_a_yes_to_an_interrupt_question_records_when_the_advice_was_shown():
    answers = worked_case("V09")
    now = timezone.now()
    draft, token = fill(answers, upto="red_flags")
    assert draft.data.get("interrupt_shown_at") is None
    draft = draft_save_step(
        token=token,
        step="red_flags",
        values={},
        answers=section_answers("red_flags", answers),
        now=now,
    )
    assert draft.data["interrupt_shown_at"] == now.isoformat()


def test_the_first_report_of_the_advice_counts():
    _draft, token = draft_start(values={}, patient=PATIENT)
    first = timezone.now()
    assert draft_record_interrupt(token=token, now=first) is True
    assert draft_record_interrupt(token=token, now=first + dt.timedelta(minutes=5)) is False
    draft = draft_for_token(token)
    assert draft is not None
    assert draft.data["interrupt_shown_at"] == first.isoformat()


def test_submitting_stores_the_case_with_its_referrals_and_keeps_only_what_it_made():
    answers = worked_case("V22")
    _draft, token = fill(answers)
    submission = submit(answers, token)
    intake = Intake.objects.get()
    assert submission.intake == intake
    assert intake.source == "form"
    assert intake.interrupt_shown_at is None
    assert sorted(r.queue for r in submission.referrals) == [
        "chiropractic",
        "orthotic_fitting",
        "podiatry",
    ]
    # For a few minutes the draft holds only the intake it made (no answers, no identity):
    # a second "Send" racing the first is shown the same result.
    (sent,) = IntakeDraft.objects.all()
    assert sent.data == {"sent_intake": str(intake.public_id)}
    assert sent.expires_at <= timezone.now() + SENT_KEPT
    with pytest.raises(DraftSubmitted) as again:
        submit(answers, token)
    assert again.value.intake == str(intake.public_id)
    assert Intake.objects.count() == 1
    # To everything else it is gone, as before.
    assert draft_for_token(token) is None
    for gone in (
        lambda: draft_resume(token=token),
        lambda: draft_save_step(token=token, step="consent", values={}),
        lambda: draft_record_interrupt(token=token),
    ):
        with pytest.raises(DraftNotFound):
            gone()
    assert drafts_purge(now=timezone.now() + SENT_KEPT) == 1


def test_an_emergency_case_carries_the_time_the_advice_was_shown():
    answers = worked_case("V09")
    _draft, token = fill(answers)
    draft = draft_for_token(token)
    assert draft is not None
    shown = draft.data["interrupt_shown_at"]
    submission = submit(answers, token)
    assert submission.intake.urgency == "emergency"
    assert submission.intake.interrupt_shown_at == dt.datetime.fromisoformat(shown)


def test_a_failed_submission_keeps_the_draft_and_points_at_the_first_step_with_an_error():
    answers = worked_case("V01")
    draft, token = fill(answers)
    data = draft.data
    data["answers"]["pain_now_nrs"] = 42
    IntakeDraft.objects.filter(pk=draft.pk).update(data=data)
    with pytest.raises(SubmissionInvalid) as raised:
        submit(answers, token)
    assert "pain_now_nrs" in raised.value.errors
    kept = draft_for_token(token)
    assert kept is not None
    assert kept.current_step == "pain_character"
    assert "consent" in kept.data["done"]
    assert not Intake.objects.exists()


def test_purge_deletes_only_drafts_past_their_expiry():
    now = timezone.now()
    draft_start(values={}, patient=PATIENT, now=now - dt.timedelta(days=30))
    _live, token = draft_start(values={}, patient=PATIENT, now=now)
    assert drafts_purge(now=now) == 1
    assert draft_for_token(token) is not None


def test_purge_drafts_command_and_periodic_task():
    old = timezone.now() - dt.timedelta(days=30)
    draft_start(values={}, patient=PATIENT, now=old)
    draft_start(values={}, patient=PATIENT, now=old)
    out = StringIO()
    call_command("purge_drafts", stdout=out)
    assert "Deleted 2 expired draft(s)." in out.getvalue()
    draft_start(values={}, patient=PATIENT, now=old)
    assert purge_expired_drafts.call() == 1
    assert "intake.tasks.purge_expired_drafts" in settings.PERIODIC_TASKS


def test_the_resume_link_is_emailed_after_commit_when_an_address_was_given(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        _draft, token = draft_start(
            values={},
            patient={**PATIENT, "email": "bea@example.org", "preferred_contact": "email"},
            resume_url=lambda t: f"https://clinic.example/resume/{t}/",
        )
    [message] = mail.outbox
    assert message.to == ["bea@example.org"]
    assert f"https://clinic.example/resume/{token}/" in message.body
    # When to call for help now in the spec's words (§7), not a shorter line of ours (a review).
    disclaimer = patient_disclaimer(emergency_number=settings.CLINIC_EMERGENCY_NUMBER)
    assert disclaimer in message.body
    assert "This form is not for emergencies" not in message.body


def test_no_email_is_sent_without_an_address(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        draft_start(values={}, patient=PATIENT, resume_url=lambda t: t)
    assert mail.outbox == []


def test_the_confirmation_email_repeats_the_reference_and_messages_and_nothing_clinical(
    django_capture_on_commit_callbacks,
):
    answers = worked_case("V09")
    patient = {**PATIENT, "email": "bea@example.org"}
    _draft, token = fill(answers, patient=patient)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submit(answers, token)
    [message] = mail.outbox
    intake = submission.intake
    assert intake.reference[:4] in message.subject
    assert f"{intake.reference[:4]}-{intake.reference[4:]}" in message.body
    assert intake.patient_messages["urgency_message"] in message.body
    assert intake.patient_messages["safety_net"] in message.body
    assert patient_disclaimer(emergency_number=settings.CLINIC_EMERGENCY_NUMBER) in message.body
    for code in intake.flag_codes:
        assert code not in message.body
    for flag in intake.triage_result["flags"]:
        assert flag["explanation"] not in message.body
    assert "saddle" not in message.body.lower()
    assert "cauda" not in message.body.lower()


def test_the_routine_confirmation_email_thanks_the_patient_once(
    django_capture_on_commit_callbacks,
):
    """It opened "Thank you. <clinic> has received your form." and the routine message (§4.3)
    opens "Thank you." again (a review)."""
    answers = worked_case("V01")
    _draft, token = fill(answers, patient={**PATIENT, "email": "bea@example.org"})
    with django_capture_on_commit_callbacks(execute=True):
        submission = submit(answers, token)
    [message] = mail.outbox
    assert submission.intake.urgency == "routine"
    assert message.body.startswith(f"{settings.CLINIC_NAME} has received your form.")
    assert message.body.count("Thank you.") == 1
    assert submission.intake.patient_messages["urgency_message"] in message.body


@pytest.mark.django_db(transaction=True)
def test_a_sent_resume_link_leaves_no_address_or_link_in_the_task_table(settings):
    """The worker sends it from the task's arguments; once it has, they are emptied, where the
    table kept the address and the private link for the results' retention (a review)."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    _draft, token = draft_start(
        values={}, patient={**PATIENT, "email": "bea@example.org"}, resume_url=lambda t: f"/r/{t}/"
    )
    (queued,) = DBTaskResult.objects.filter(task_path="intake.tasks.send_resume_link")
    assert token in json.dumps(queued.args_kwargs)  # needed until it is sent
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert [m.to for m in mail.outbox] == [["bea@example.org"]]
    assert token in mail.outbox[0].body
    sent = DBTaskResult.objects.get(pk=queued.pk)
    assert sent.status == "SUCCESSFUL"
    assert sent.args_kwargs == {"args": [], "kwargs": {}}


@pytest.mark.django_db(transaction=True)
def test_a_failed_email_tasks_traceback_keeps_no_address(settings, monkeypatch):
    """A mail server refusing the patient's address names it in the exception; the task
    table's copy of the traceback is masked as the logs are."""
    import smtplib

    from django_tasks_db.models import DBTaskResult

    from intake.tasks import send_intake_confirmation

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise smtplib.SMTPRecipientsRefused({"bea@example.org": (550, b"no such user")})

    monkeypatch.setattr("intake.tasks.send_mail", refuse)
    answers = worked_case("V01")
    _draft, token = fill(answers, patient={**PATIENT, "email": "bea@example.org"})
    submit(answers, token)
    DBTaskResult.objects.filter(task_path="intake.tasks.send_resume_link").delete()
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    (failed,) = DBTaskResult.objects.filter(task_path=send_intake_confirmation.module_path)
    assert failed.status == "FAILED"
    assert "SMTPRecipientsRefused" in failed.traceback
    assert "bea@example.org" not in failed.traceback
