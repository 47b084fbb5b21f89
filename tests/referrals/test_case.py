"""What the staff case page shows beside each answer and in each flag's evidence."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from intake.triage import evaluate
from referrals.case import case_answers, case_flags
from tests.clinic_fixtures import details, submit, worked_case

DATE_OF_BIRTH_QUESTION = "What is your date of birth?"
AGE_LABEL = "Age in years at submission (from the date of birth)"


def inflammatory_answers() -> dict:
    """A sciatica case of a 30-year-old whose stiff back eases with movement, for over 12 weeks:
    INFLAMMATORY_BACK_PAIN_PATTERN, which reads the age."""
    answers = worked_case("V01")
    answers.update(
        age_years=30,
        morning_stiffness_eases_with_movement=True,
        symptom_duration="over_12_weeks",
    )
    return answers


def test_a_flags_evidence_names_the_age_as_an_age_not_as_the_date_of_birth_question():
    _derived, flags = evaluate(inflammatory_answers())
    (flag,) = [row for row in case_flags(flags) if row.code == "INFLAMMATORY_BACK_PAIN_PATTERN"]
    questions = dict(flag.answers)
    assert questions[AGE_LABEL] == "30"
    assert DATE_OF_BIRTH_QUESTION not in questions


def test_the_answers_name_the_age_as_an_age():
    answers = inflammatory_answers()
    _derived, flags = evaluate(answers)
    rows = {
        row.question: row.answer for section in case_answers(answers, flags) for row in section.rows
    }
    assert rows[AGE_LABEL] == "30"
    assert DATE_OF_BIRTH_QUESTION not in rows


@pytest.mark.django_db
def test_the_case_page_never_shows_an_age_as_the_answer_to_the_date_of_birth(client, chiropractor):
    (referral,) = submit("V01", patient=details(family_name="Hughes")).referrals
    client.force_login(chiropractor)
    page = client.get(
        reverse("admin:referrals_referral_change", args=[referral.public_id])
    ).content.decode()
    assert DATE_OF_BIRTH_QUESTION not in page
    assert AGE_LABEL in page


@pytest.mark.django_db
def test_an_erased_patients_case_page_shows_no_birth_date_name_or_contact_preference(
    client, chiropractor
):
    """Erasure keeps "Erased" as both names and 1 January of the year of birth; the case page
    showed them as the patient's (a date of birth of 1 Jan 1980, a name, "Prefers: Phone"), as
    the API and the FHIR export did before they were put right."""
    from intake.privacy import patient_erase

    case = submit("V01", patient=details(family_name="Hughes", date_of_birth=dt.date(1980, 5, 17)))
    (referral,) = case.referrals
    patient_erase(public_id=case.intake.patient.public_id, actor=None, reason="ER-2026-017")
    client.force_login(chiropractor)
    page = client.get(
        reverse("admin:referrals_referral_change", args=[referral.public_id])
    ).content.decode()
    patient = page[page.index('id="patient-h"') : page.index('id="link-h"')]
    assert "1 Jan 1980" not in patient
    assert "Erased Erased" not in patient
    assert "Prefers" not in patient
    assert "Year of birth" in patient
    assert "1980 (age 46 at submission)" in patient
    assert "Erased on" in patient
