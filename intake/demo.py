"""Demonstration data for `make run`, created through the real code paths."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.utils import timezone

from intake.models import Intake, IntakeSource
from intake.services import PatientDetails, intake_submit
from referrals.access import QUEUE_GROUPS, TRIAGE_LEAD_GROUP

CASES = Path(__file__).parent / "fixtures" / "demo_cases.json"

# Development only (load_demo refuses in production): known passwords so a person can log in.
DEMO_STAFF = [
    ("chiro", "Chiropractic team", QUEUE_GROUPS["chiropractic"]),
    ("podiatry", "Podiatry team", QUEUE_GROUPS["podiatry"]),
    ("orthotics", "Orthotic fitting team", QUEUE_GROUPS["orthotic_fitting"]),
    ("medical", "Urgent medical review team", QUEUE_GROUPS["urgent_medical_review"]),
    ("general", "General review team", QUEUE_GROUPS["general_review"]),
    ("lead", "Triage lead", TRIAGE_LEAD_GROUP),
]


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


def load_staff() -> str:
    lines = []
    for username, description, group in DEMO_STAFF:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "email": f"{username}@clinic.example"},
        )
        if created:
            user.set_password(demo_password(username))
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group))
        lines.append(f"{username} / {demo_password(username)} ({description})")
    return "staff logins at /admin/: " + "; ".join(lines)


def birth_date_for(age: int, today: dt.date) -> dt.date:
    """A birth date that gives `age` completed years today (mid-year, so never a birthday)."""
    month = 1 if today.month > 6 else 12
    year = today.year - age if month == 1 else today.year - age - 1
    return dt.date(year, month, 15)


def load_cases() -> str:
    if Intake.objects.filter(source=IntakeSource.DEMO).exists():
        return "demo cases already loaded."
    today = timezone.localdate()
    cases = json.loads(CASES.read_text())
    for case in cases:
        intake_submit(
            patient=PatientDetails(
                given_name=case["given_name"],
                family_name=case["family_name"],
                date_of_birth=birth_date_for(case["age_years"], today),
                phone=case["phone"],
                email=case["email"],
                preferred_contact=case["preferred_contact"],
            ),
            answers=case["answers"],
            source=IntakeSource.DEMO,
        )
    return f"{len(cases)} cases submitted through intake_submit."
