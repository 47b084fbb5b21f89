"""Shared fixtures: worked cases, patients and named staff personas."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User

from intake.models import ContactMethod, IntakeSource
from intake.services import PatientDetails, Submission, intake_submit
from referrals.access import (
    LEAD_EXTRA_PERMISSIONS,
    QUEUE_GROUPS,
    STAFF_PERMISSIONS,
    TRIAGE_LEAD_GROUP,
)

DATA = Path(__file__).parent / "data"


def worked_cases() -> list[dict[str, Any]]:
    return json.loads((DATA / "examples.json").read_text())


def worked_case(prefix: str) -> dict[str, Any]:
    """The answers of a worked case by its id prefix ("V09"), with age_years taken out."""
    for case in worked_cases():
        if case["id"].startswith(prefix):
            answers = dict(case["answers"])
            answers.pop("age_years")
            return answers
    raise KeyError(prefix)


def details(
    family_name: str = "Okafor",
    given_name: str = "Ada",
    date_of_birth: dt.date = dt.date(1980, 5, 17),
    phone: str = "07700 900123",
    email: str = "",
    preferred_contact: str = ContactMethod.PHONE,
) -> PatientDetails:
    return PatientDetails(
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        phone=phone,
        email=email,
        preferred_contact=preferred_contact,
    )


def submit(
    case: str = "V01", *, answers: dict[str, Any] | None = None, **kwargs: Any
) -> Submission:
    patient = kwargs.pop("patient", None) or details()
    return intake_submit(
        patient=patient,
        answers=answers if answers is not None else worked_case(case),
        source=kwargs.pop("source", IntakeSource.FORM),
        **kwargs,
    )


def ensure_staff_groups() -> None:
    """The staff groups a data migration creates, again if a transactional test flushed them.

    Browser tests run with transaction=True; their flush deletes migration data, and any later
    test that needs the groups (the PostgreSQL race tests) would find none.
    """
    if Group.objects.filter(name=TRIAGE_LEAD_GROUP).exists():
        return

    def perms(pairs: list[tuple[str, str]]) -> list[Permission]:
        return [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in pairs
        ]

    for name in QUEUE_GROUPS.values():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*perms(STAFF_PERMISSIONS))
    lead, _ = Group.objects.get_or_create(name=TRIAGE_LEAD_GROUP)
    lead.permissions.add(*perms(STAFF_PERMISSIONS + LEAD_EXTRA_PERMISSIONS))


def make_staff(username: str, *groups: str, email: str | None = None) -> User:
    ensure_staff_groups()
    user = User.objects.create_user(
        username=username,
        password="correct horse battery staple",
        email=email or f"{username}@clinic.test",
        is_staff=True,
    )
    # get_or_create: a transactional test's flush removes the groups the migration made.
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in groups))
    return user


@pytest.fixture
def chiropractor(db: None) -> User:
    return make_staff("chiro_carla", QUEUE_GROUPS["chiropractic"])


@pytest.fixture
def podiatrist(db: None) -> User:
    return make_staff("podiatry_pat", QUEUE_GROUPS["podiatry"])


@pytest.fixture
def second_chiropractor(db: None) -> User:
    return make_staff("chiro_chen", QUEUE_GROUPS["chiropractic"])


@pytest.fixture
def medical_reviewer(db: None) -> User:
    return make_staff("dr_umar", QUEUE_GROUPS["urgent_medical_review"])


@pytest.fixture
def triage_lead(db: None) -> User:
    return make_staff("lead_lin", TRIAGE_LEAD_GROUP)
