"""Subject access export and erasure: services and the two management commands."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from fhir.resources.R4B.bundle import Bundle

from intake.drafts import draft_start
from intake.models import Intake, IntakeDraft, Patient
from intake.privacy import ERASED_NAME, ERASED_TEXT, AlreadyErased, patient_erase, patient_export
from referrals.models import AuditEntry, EventKind, Referral
from referrals.services import (
    referral_add_note,
    referral_cancel,
    referral_claim,
    referral_refer_again,
    referral_reroute,
)
from tests.clinic_fixtures import details, submit
from tests.form_data import IDENTITY

pytestmark = pytest.mark.django_db

CONCERN = "Shooting pain down my left leg since I bent to pick up a box."
PATIENT_FORM = IDENTITY  # the fixture's patient, as the form's first step saves them


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def case(chiropractor):
    first = submit("V01", patient=details(email="ada@example.org"))
    second = submit("V11", patient=details(email="ada@example.org"))
    assert first.referrals[0].queue == "chiropractic"
    referral_claim(referral=first.referrals[0], actor=chiropractor)
    return first.intake.patient, [first, second]


def test_json_export_holds_identity_every_intake_answers_triage_and_referral_history(
    case, chiropractor
):
    patient, submissions = case
    referral = submissions[0].referrals[0]
    referral_add_note(referral=referral, actor=chiropractor, text="Phoned: pain easing.")
    data = json.loads(command("export_patient", str(patient.public_id), "--format", "json"))
    assert data["patient"]["family_name"] == "Okafor"
    assert data["patient"]["email"] == "ada@example.org"
    assert data["patient"]["date_of_birth"] == "1980-05-17"
    assert [i["reference"] for i in data["intakes"]] == [s.intake.reference for s in submissions]
    first = data["intakes"][0]
    assert first["answers"]["main_concern"] == CONCERN
    assert first["triage_result"]["urgency"] == submissions[0].intake.urgency
    assert {r["id"] for r in first["referrals"]} == {
        str(r.public_id) for r in submissions[0].referrals
    }
    kinds = [e["kind"] for r in first["referrals"] for e in r["history"]]
    assert EventKind.CREATED in kinds
    # Also what staff wrote and when the patient was shown what (a review found them left out).
    (exported,) = first["referrals"]
    assert [n["text"] for n in exported["staff_notes"]] == ["Phoned: pain easing."]
    assert exported["note"] == Referral.objects.get(pk=referral.pk).note != ""
    assert first["messages_shown_at"] == submissions[0].intake.submitted_at.isoformat()
    assert {"emergency_advice_shown_at", "red_flag_cleared_at", "red_flag_clearance_reason"} <= set(
        first
    )
    (exported,) = AuditEntry.objects.filter(action="patient_export", patient=patient)
    assert exported.detail["operator"].startswith("login:")  # who ran it, by default


def test_json_export_says_which_referral_each_came_from(case, chiropractor, triage_lead):
    """A reroute and a referral made again from one closed by mistake: the export listed the
    referrals side by side with nothing to say which followed which (a review)."""
    patient, submissions = case
    chiropractic = submissions[0].referrals[0]
    podiatry = referral_reroute(
        referral=chiropractic, actor=chiropractor, queue="podiatry", reason="Heel first"
    )
    referral_cancel(referral=podiatry, actor=triage_lead, reason="Wrong patient, I thought")
    again = referral_refer_again(
        referral=podiatry, actor=triage_lead, reason="Cancelled by mistake"
    )
    data = json.loads(command("export_patient", str(patient.public_id), "--format", "json"))
    exported = {r["id"]: r for i in data["intakes"] for r in i["referrals"]}
    ids = [str(r.public_id) for r in (chiropractic, podiatry, again)]
    assert exported[ids[0]]["rerouted_from"] is None
    assert exported[ids[1]]["rerouted_from"] == ids[0]
    assert exported[ids[2]]["referred_again_from"] == ids[1]
    assert exported[ids[2]]["rerouted_from"] is None


def test_json_export_names_the_referral_a_reroute_joined(case, chiropractor, triage_lead):
    """Rerouted into the patient's open general review, which had come from podiatry: its
    rerouted_from names podiatry, and the export had nothing to say where chiropractic went."""
    patient, submissions = case
    chiropractic = submissions[0].referrals[0]
    (podiatry,) = [r for r in submissions[1].referrals if r.queue == "podiatry"]
    review = referral_reroute(
        referral=podiatry, actor=triage_lead, queue="general_review", reason="Odd pattern"
    )
    referral_reroute(
        referral=chiropractic, actor=chiropractor, queue="general_review", reason="Same"
    )
    data = json.loads(command("export_patient", str(patient.public_id), "--format", "json"))
    exported = {r["id"]: r for i in data["intakes"] for r in i["referrals"]}
    assert exported[str(chiropractic.public_id)]["rerouted_into"] == str(review.public_id)
    assert exported[str(podiatry.public_id)]["rerouted_into"] == str(review.public_id)
    assert exported[str(review.public_id)]["rerouted_from"] == str(podiatry.public_id)
    assert exported[str(review.public_id)]["rerouted_into"] is None


def test_fhir_export_is_one_valid_bundle_per_intake(case):
    patient, submissions = case
    data = json.loads(command("export_patient", str(patient.public_id), "--format", "fhir"))
    assert len(data["bundles"]) == len(submissions)
    for bundle in data["bundles"]:
        Bundle.model_validate(bundle)
        assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Okafor"


def test_export_of_an_unknown_patient_is_a_command_error():
    with pytest.raises(CommandError, match="No patient"):
        command("export_patient", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="No patient"):
        command("export_patient", "not-a-uuid")


def test_erasure_anonymises_identity_and_free_text_but_keeps_the_clinical_record(case):
    patient, submissions = case
    assert patient.given_name_key == "ada"
    referrals_before = Referral.objects.filter(patient=patient).count()
    # A second form in progress, hers (the same family name and birth date), and someone else's.
    hers, _ = draft_start(
        values={}, patient={**PATIENT_FORM, "family_name": "OKAFOR", "email": "ada@example.org"}
    )
    other, _ = draft_start(values={}, patient={**PATIENT_FORM, "family_name": "Okoro"})
    # Her twin: the same family name and birth date, her own phone and email (not a match).
    twin, _ = draft_start(
        values={},
        patient={**PATIENT_FORM, "given_name": "Bola", "phone": "07700 900999", "email": "b@x.org"},
    )
    out = command(
        "erase_patient",
        str(patient.public_id),
        "--reason",
        "Request SAR-17",
        "--yes",
        "--operator",
        "dpo.jones",
    )
    assert "Erased patient" in out
    patient.refresh_from_db()
    assert (patient.given_name, patient.family_name) == (ERASED_NAME, ERASED_NAME)
    assert patient.phone == patient.phone_key == patient.email == patient.email_key == ""
    # No key derived from her name is left (nor one of "Erased": no one is searched for by it).
    assert patient.family_name_key == patient.given_name_key == ""
    assert patient.date_of_birth == dt.date(1980, 1, 1)
    assert patient.anonymised_at is not None
    for submission in submissions:
        intake = Intake.objects.get(pk=submission.intake.pk)
        assert intake.answers["main_concern"] == ERASED_TEXT
        assert intake.answers["pain_now_nrs"] == submission.intake.answers["pain_now_nrs"]
        assert intake.triage_result["urgency"] == submission.intake.urgency
        assert intake.age_years == submission.intake.age_years
        assert intake.date_of_birth == dt.date(1980, 1, 1)
    assert Referral.objects.filter(patient=patient).count() == referrals_before
    entry = AuditEntry.objects.get(action="patient_erase", patient=patient)
    assert entry.detail == {
        "reason": "Request SAR-17",
        "intakes": 2,
        "drafts": 1,
        "operator": "dpo.jones",
    }
    assert sorted(IntakeDraft.objects.values_list("pk", flat=True)) == sorted([other.pk, twin.pk])
    assert hers.pk != other.pk
    dump = json.dumps(patient_export(public_id=patient.public_id, actor=None))
    for secret in ("Okafor", "Ada", "ada@example.org", "900123", "1980-05-17", CONCERN):
        assert secret not in dump


def test_an_erased_patient_is_not_matched_by_a_new_submission(case):
    patient, _ = case
    patient_erase(public_id=patient.public_id, actor=None, reason="request")
    again = submit("V01", patient=details(email="ada@example.org"))
    assert again.intake.patient_id != patient.pk
    assert Patient.objects.count() == 2


def test_erasure_twice_is_refused_and_needs_a_reason(case):
    patient, _ = case
    with pytest.raises(ValueError, match="reason"):
        patient_erase(public_id=patient.public_id, actor=None, reason="  ")
    patient_erase(public_id=patient.public_id, actor=None, reason="request")
    with pytest.raises(AlreadyErased):
        patient_erase(public_id=patient.public_id, actor=None, reason="request")
    with pytest.raises(CommandError, match="erased already"):
        command("erase_patient", str(patient.public_id), "--reason", "x", "--yes")


def test_erase_command_asks_for_confirmation_without_yes(case, monkeypatch):
    patient, _ = case
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Not erased"):
        command("erase_patient", str(patient.public_id), "--reason", "request")
    patient.refresh_from_db()
    assert patient.anonymised_at is None


def test_erase_command_without_a_terminal_to_confirm_on_is_not_erased_and_says_so(
    case, monkeypatch
):
    # Run from a script or cron without --yes, input() meets the end of stdin at once: the
    # command ended in an EOFError traceback instead of its own refusal.
    patient, _ = case

    def no_stdin(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_stdin)
    with pytest.raises(CommandError, match="Not erased"):
        command("erase_patient", str(patient.public_id), "--reason", "request")
    patient.refresh_from_db()
    assert patient.anonymised_at is None


def test_json_export_holds_the_forms_the_person_has_in_progress_and_no_one_elses(case):
    # The erasure deletes a form in progress as the person's (their identity and answers);
    # the export, "everything held about them", left it out.
    patient, _ = case
    draft_start(
        values={}, patient={**PATIENT_FORM, "family_name": "OKAFOR", "email": "ada@example.org"}
    )
    draft_start(values={}, patient={**PATIENT_FORM, "family_name": "Okoro"})
    data = patient_export(public_id=patient.public_id, actor=None)
    (draft,) = data["forms_in_progress"]
    assert draft["patient"]["family_name"] == "OKAFOR"
    assert draft["patient"]["email"] == "ada@example.org"
    assert {"answers", "started_at", "saved_at", "expires_at"} <= set(draft)
    assert "token_hash" not in json.dumps(data)


@pytest.mark.django_db(transaction=True)
def test_erasure_stops_a_resume_email_not_yet_sent(case, settings):
    """The queued email's task row held the address and the private link, and the worker still
    mailed the erased person once (a review). Another person's queued email is sent."""
    from django.core import mail
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    patient, _ = case
    draft_start(
        values={},
        patient={**PATIENT_FORM, "email": "ada@example.org", "preferred_contact": "email"},
        resume_url=lambda t: f"/r/{t}/",
    )
    draft_start(
        values={},
        patient={**PATIENT_FORM, "family_name": "Okoro", "email": "obi@example.org"},
        resume_url=lambda t: f"/r/{t}/",
    )
    queued = DBTaskResult.objects.filter(task_path="intake.tasks.send_resume_link")
    assert queued.count() == 2
    patient_erase(public_id=patient.public_id, actor=None, reason="Asked to be forgotten")
    assert "ada@example.org" not in json.dumps(list(queued.values_list("args_kwargs", flat=True)))
    erased = AuditEntry.objects.get(action="patient_erase")
    assert erased.detail["unsent_mail"] == 1
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert [m.to for m in mail.outbox] == [["obi@example.org"]]
