import datetime as dt

import pytest
from django.utils import timezone

from intake.models import Intake, Patient
from intake.services import (
    SubmissionInvalid,
    intake_errors,
    intake_prepare,
    validate_patient,
)
from intake.validation import MSG_AGE, MSG_REQUIRED, MSG_UNDER_16, MSG_UNKNOWN_FIELD
from referrals.models import EventKind, Referral, ReferralEvent, Status
from tests.clinic_fixtures import details, submit, worked_case
from tests.conftest import on_postgresql

pytestmark = pytest.mark.django_db


def test_a_valid_submission_stores_patient_intake_result_and_one_referral_per_queue():
    result = submit("V22")
    intake = result.intake
    assert intake.ruleset_version == "1.0.0"
    assert intake.questionnaire_version
    assert intake.triage_result["questionnaire_version"] == intake.questionnaire_version
    assert intake.age_years == timezone.localdate().year - 1980 - (
        (timezone.localdate().month, timezone.localdate().day) < (5, 17)
    )
    assert set(intake.flag_codes) >= {
        "SCIATIC_PATTERN",
        "METATARSALGIA_PATTERN",
        "FOOTWEAR_RELATED",
    }
    queues = sorted(r.queue for r in Referral.objects.filter(intake=intake))
    assert queues == sorted(intake.triage_result["queues"])
    assert all(r.status == Status.NEW for r in result.referrals)
    assert all(r.due_at > intake.submitted_at for r in result.referrals)
    assert ReferralEvent.objects.filter(kind=EventKind.CREATED).count() == len(queues)


def test_the_reference_is_unambiguous_and_the_messages_shown_are_recorded():
    intake = submit("V09").intake
    assert not set(intake.reference) & set("0O1I")
    assert intake.urgency == "emergency"
    assert intake.patient_messages["urgency_message"]
    assert intake.messages_shown_at is not None


def test_the_submission_date_is_the_clinics_date_whatever_zone_is_active():
    """The clinic's date (TIME_ZONE, the working calendar's zone), not that of a zone a request
    may have activated: 23:30 in London on 1 March is still 1 March in Los Angeles but already
    2 March in Tokyo."""
    at = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)  # London is on GMT in March before the 29th
    for zone in ("America/Los_Angeles", "Asia/Tokyo", "Europe/London"):
        with timezone.override(zone):
            prepared = intake_prepare(
                patient=details(), answers=worked_case("V01"), submitted_at=at
            )
        assert prepared.submission_date == dt.date(2026, 3, 1), zone


def test_the_form_decides_under_16_by_the_clinics_date_whatever_zone_is_active(monkeypatch):
    """The identity step and intake_prepare date the same moment alike: at 23:30 in London on
    1 March someone born on 2 March 2010 is still 15 there, though 16 in Tokyo."""
    from intake.forms import IdentityForm

    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC))
    data = {
        "given_name": "Ada",
        "family_name": "Okafor",
        "date_of_birth": "2010-03-02",
        "phone": "07700 900123",
        "email": "",
        "preferred_contact": "phone",
    }
    with timezone.override("Asia/Tokyo"):
        form = IdentityForm(data=data)
        form.is_valid()
    assert form.under_16


def test_invalid_answers_store_nothing_and_report_errors_per_field():
    answers = worked_case("V01")
    answers["tingling"] = None
    answers["pain_now_nrs"] = 11
    with pytest.raises(SubmissionInvalid) as caught:
        submit(answers=answers)
    assert {"tingling", "pain_now_nrs"} <= set(caught.value.errors)
    assert not Patient.objects.exists()
    assert not Intake.objects.exists()


def test_sending_age_years_is_refused_because_the_server_computes_it():
    answers = worked_case("V01")
    answers["age_years"] = 40
    with pytest.raises(SubmissionInvalid) as caught:
        submit(answers=answers)
    assert "age_years" in caught.value.errors


def test_a_patient_under_16_is_refused_with_the_refusal_flag_set():
    today = timezone.localdate()
    young = details(date_of_birth=dt.date(today.year - 15, 1, 1))
    with pytest.raises(SubmissionInvalid) as caught:
        submit(patient=young)
    assert caught.value.under_16
    assert not Intake.objects.exists()


def test_missing_contact_details_are_a_field_error():
    with pytest.raises(SubmissionInvalid) as caught:
        submit(patient=details(phone="", email=""))
    assert "phone" in caught.value.errors


def test_a_null_byte_in_a_name_is_rejected_with_a_message():
    with pytest.raises(SubmissionInvalid) as caught:
        submit(patient=details(family_name="Okafor\x00"))
    assert "family_name" in caught.value.errors


def _accepted(*refused: str, **changes: object) -> dict[str, object]:
    """The patient's fields the API accepted, as it passes them to intake_errors."""
    fields = {**vars(details()), **changes}
    return {name: value for name, value in fields.items() if name not in refused}


def test_intake_errors_reports_the_patients_and_the_answers_errors_of_the_accepted_fields():
    answers = worked_case("V01")
    answers["pain_now_nrs"] = 11
    refused = intake_errors(patient=_accepted("phone", given_name=""), answers=answers)
    assert refused is not None
    assert refused.errors == {
        "given_name": ["Please enter your given name."],
        "pain_now_nrs": ["Please enter a number from 0 to 10."],
    }
    assert intake_errors(patient=_accepted(), answers=worked_case("V01")) is None


def test_intake_errors_without_a_date_of_birth_runs_every_answer_check_but_the_ages():
    """An unreadable date of birth gives no age: the checks that read it are left out (the
    date's own error stands), every other check of the answers runs."""
    answers = worked_case("V01")
    del answers["tingling"]
    answers["made_up"] = True
    refused = intake_errors(patient=_accepted("date_of_birth"), answers=answers)
    assert refused is not None
    assert refused.errors == {"tingling": [MSG_REQUIRED], "made_up": [MSG_UNKNOWN_FIELD]}
    assert not refused.under_16


def test_intake_errors_without_answers_still_checks_the_age():
    today = timezone.localdate()
    young = _accepted("phone", date_of_birth=dt.date(today.year - 15, 1, 1))
    refused = intake_errors(patient=young)
    assert refused is not None
    assert (refused.errors, refused.under_16) == ({"date_of_birth": [MSG_UNDER_16]}, True)
    ancient = _accepted(date_of_birth=dt.date(today.year - 119, 1, 1))
    too_old = intake_errors(patient=ancient)
    assert too_old is not None
    assert too_old.errors == {"date_of_birth": [MSG_AGE]}
    assert intake_errors(patient=_accepted()) is None


@pytest.mark.parametrize(
    ("refused", "changes", "expected"),
    [
        # An email sent as a number is not "no email": nothing is said of the phone.
        ({"email"}, {"phone": "", "preferred_contact": "email"}, {}),
        ({"phone"}, {"email": ""}, {}),
        (
            {"phone"},
            {"preferred_contact": "email", "email": ""},
            {"email": ["You asked us to email you: please give an email address."]},
        ),
        (
            {"preferred_contact"},
            {"phone": ""},
            {"phone": ["Please give a phone number or an email address so we can reach you."]},
        ),
        ({"given_name", "family_name", "date_of_birth"}, {"family_name": "..."}, {}),
    ],
)
def test_validate_patient_leaves_out_every_check_that_reads_a_refused_field(
    refused, changes, expected
):
    today = timezone.localdate()
    assert validate_patient(details(**changes), today=today, refused=refused) == expected


def test_the_same_person_is_matched_by_normalised_name_birth_date_and_phone():
    first = submit("V01", patient=details(family_name="O'Connor", phone="07700 900123"))
    second = submit("V11", patient=details(family_name="oconnor", phone="+44 7700 900123"))
    assert first.intake.patient_id == second.intake.patient_id
    assert Patient.objects.count() == 1


def test_the_same_person_is_matched_by_email_when_the_phone_differs():
    first = submit("V01", patient=details(email="ada@example.com", phone="07700 900123"))
    second = submit(
        "V11",
        patient=details(email="ADA@example.com ", phone="07700 900999", preferred_contact="email"),
    )
    assert first.intake.patient_id == second.intake.patient_id
    patient = Patient.objects.get()
    assert patient.phone_key == "07700900999"


def test_names_and_addresses_that_fold_longer_than_their_keys_are_stored_and_matched():
    """Folding lengthens "ß" to "ss": a 150-letter name made a 300-letter key, which PostgreSQL
    refused (a 500, and a patient stuck on the form's last step). The keys are cut to width."""
    name, email = "ß" * 150, "a@" + ".".join(["ß" * 63] * 3) + ".de"
    first = submit("V01", patient=details(family_name=name, email=email))
    patient = Patient.objects.get()
    assert patient.family_name == name
    assert patient.family_name_key == "s" * 150
    assert len(patient.email_key) == 254
    second = submit("V11", patient=details(family_name=name, email=email, phone="07700 900999"))
    assert second.intake.patient_id == first.intake.patient_id


@pytest.mark.skipif(on_postgresql(), reason="PostgreSQL never held a key past its width")
@pytest.mark.django_db(transaction=True)
def test_keys_stored_past_their_width_are_cut_so_their_patients_still_match():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    name = "ß" * 150
    first = submit("V01", patient=details(family_name=name))
    Patient.objects.update(family_name_key="s" * 300, email_key="e" * 300)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([("intake", "0007_link_kind_unindexed")])
    MigrationExecutor(connection).migrate(latest)
    patient = Patient.objects.get()
    assert (patient.family_name_key, patient.email_key) == ("s" * 150, "e" * 254)
    assert submit("V11", patient=details(family_name=name)).intake.patient_id == (
        first.intake.patient_id
    )


@pytest.mark.django_db(transaction=True)
def test_the_given_name_key_migration_fills_the_patients_stored_before(monkeypatch):
    """Read in slices of the primary key (two here); an erased patient keeps no key, and a name
    with no Latin letters has none."""
    import importlib

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from intake.privacy import patient_erase

    migration = importlib.import_module("intake.migrations.0010_patient_given_name_key")
    monkeypatch.setattr(migration, "SLICE", 2)
    names = ["Zoë", "José", "Ada", "שלום", "Jean-Luc"]
    for n, name in enumerate(names):
        submit("V01", patient=details(given_name=name, phone=f"07700 90000{n}"))
    erased = Patient.objects.get(given_name="Ada")
    patient_erase(public_id=erased.public_id, actor=None, reason="Asked to be forgotten")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([("intake", "0009_announced_at")])
    MigrationExecutor(connection).migrate(latest)
    assert dict(Patient.objects.values_list("pk", "given_name_key")) == {
        Patient.objects.get(given_name="Zoë").pk: "zoe",
        Patient.objects.get(given_name="José").pk: "jose",
        erased.pk: "",
        Patient.objects.get(given_name="שלום").pk: "",
        Patient.objects.get(given_name="Jean-Luc").pk: "jeanluc",
    }


def test_same_name_and_birth_date_but_no_shared_contact_is_another_patient():
    submit("V01", patient=details(phone="07700 900123"))
    submit("V01", patient=details(phone="07700 900456"))
    assert Patient.objects.count() == 2


def test_a_later_submission_joins_the_open_referral_of_the_same_queue():
    first = submit("V01")
    second = submit("V01")
    assert Referral.objects.count() == 1
    referral = Referral.objects.get()
    assert set(referral.intakes.all()) == {first.intake, second.intake}
    assert referral.events.filter(kind=EventKind.LINKED).count() == 1


def test_a_later_submission_raises_urgency_but_never_lowers_it():
    submit("V01")  # routine chiropractic
    sciatica = Referral.objects.get()
    answers = worked_case("V01")
    answers["weakness_worsening"] = True  # RED_FLAG_PROGRESSIVE_NEURO: urgent review
    urgent = submit(answers=answers)
    assert [r.queue for r in urgent.referrals] == ["urgent_medical_review"]
    sciatica.refresh_from_db()
    assert sciatica.urgency == "routine"

    submit("V09")  # emergency, same patient
    review = Referral.objects.get(queue="urgent_medical_review")
    assert review.urgency == "emergency"
    assert review.events.filter(kind=EventKind.URGENCY_RAISED).count() == 1
    raised_due = review.due_at

    submit(answers=answers)  # urgent again: must not lower
    review.refresh_from_db()
    assert review.urgency == "emergency"
    assert review.due_at == raised_due


def test_a_failure_while_routing_leaves_nothing_stored(monkeypatch):
    from intake import services

    def explode(**kwargs):
        raise RuntimeError("referral store failed")

    monkeypatch.setattr(services, "referrals_record", explode)
    with pytest.raises(RuntimeError):
        submit("V01")
    assert not Intake.objects.exists()
    assert not Patient.objects.exists()


def test_red_flag_cases_go_to_urgent_medical_review_alone_with_suggestions_kept():
    result = submit("V09")
    (referral,) = result.referrals
    assert referral.queue == "urgent_medical_review"
    assert referral.suggested_after_clearance == ["chiropractic"]
    assert (
        referral.priority
        > submit("V01", patient=details(phone="07700 900777")).referrals[0].priority
    )


def test_a_taken_reference_is_replaced_and_the_whole_case_stored_once(monkeypatch):
    """The insert has no savepoint of its own (issue 7): a reference another case holds fails
    the transaction, which is run again with a new reference."""
    from intake import identity

    taken = submit("V01").intake.reference
    fresh = iter([taken, "TESTREF2"])
    monkeypatch.setattr(identity, "new_reference", lambda: next(fresh))
    result = submit("V22", patient=details(family_name="Second"))
    assert result.intake.reference == "TESTREF2"
    assert Intake.objects.count() == 2
    assert Patient.objects.count() == 2
    assert Referral.objects.filter(intake=result.intake).count() == len(result.referrals) == 3
    assert ReferralEvent.objects.filter(referral__intake=result.intake).count() == 3


def test_five_taken_references_in_a_row_store_nothing(monkeypatch):
    from intake import identity

    taken = submit("V01").intake.reference
    monkeypatch.setattr(identity, "new_reference", lambda: taken)
    with pytest.raises(RuntimeError, match="unique reference"):
        submit("V22", patient=details(family_name="Second"))
    assert Intake.objects.count() == 1
    assert Patient.objects.count() == 1


@pytest.mark.django_db
def test_the_lookups_inside_the_write_are_the_orms_statements_compiled_once(monkeypatch):
    # The patient match and the patient's open referrals are compiled once (per database, and
    # per queue set for the referrals) and sent with each submission's values: the same SQL,
    # parameters and instances as the ORM's querysets.
    from clinic.compiled import statements_sent
    from intake import services as intake_services
    from referrals import services as referral_services

    intake_services._candidates_lookup.cache_clear()
    referral_services._open_lookup.cache_clear()
    first = submit("V22")  # three queues
    submit("V22", patient=details(date_of_birth=dt.date(1991, 2, 3)))  # another person
    submit("V22", patient=details(given_name="Ade"))  # the first, returning
    assert intake_services._candidates_lookup.cache_info().misses == 1
    assert referral_services._open_lookup.cache_info().misses == 1

    born = dt.date(1980, 5, 17)
    queues = sorted({r.queue for r in first.referrals})
    with statements_sent("default") as sent:
        candidates = intake_services._candidates("okafor", born)
        open_referrals = referral_services._open_referrals(first.intake.patient_id, queues)
    patients = intake_services._same_person("okafor", born)
    referrals = referral_services._open_of(first.intake.patient_id, queues)
    expected = [
        (sql, tuple(params))
        for sql, params in (
            patients.values(
                *[f.attname for f in Patient._meta.concrete_fields]
            ).query.sql_with_params(),
            referrals.values(
                *[f.attname for f in Referral._meta.concrete_fields]
            ).query.sql_with_params(),
        )
    ]
    assert sent == expected
    assert candidates == list(patients) == [first.intake.patient]
    assert open_referrals == list(referrals)
    assert len(open_referrals) == 3
    assert [r.__dict__ | {"_state": None} for r in open_referrals] == [
        r.__dict__ | {"_state": None} for r in referrals
    ]
    assert referral_services._open_referrals(first.intake.patient_id, []) == []


@pytest.mark.django_db
def test_the_compiled_patient_lookup_reads_every_candidate_as_the_orm_does():
    from intake import services as intake_services

    born = dt.date(1980, 5, 17)
    first = submit("V01").intake.patient
    other = submit("V01", patient=details(phone="07700 900999")).intake.patient  # no shared contact
    gone = submit("V01", patient=details(phone="07700 900888")).intake.patient
    Patient.objects.filter(pk=gone.pk).update(anonymised_at=timezone.now())
    submit("V01", patient=details(family_name="Okafor-Smith"))  # another family name

    made = intake_services._candidates("okafor", born)
    read = list(intake_services._same_person("okafor", born))
    assert [p.pk for p in made] == [p.pk for p in read] == [first.pk, other.pk]
    for mine, orms in zip(made, read, strict=True):
        assert mine.__dict__ | {"_state": None} == orms.__dict__ | {"_state": None}
        assert (mine._state.db, mine._state.adding) == ("default", False)
