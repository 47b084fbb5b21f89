"""The Django side of bench/load.py: fixtures for one database, printed as JSON.

Usage (environment as the server's: DATABASE_URL, SECRET_KEY, DJANGO_ENV ...):
    python bench/load_setup.py --drafts N --password P

Run after ``migrate`` and ``generate_cases``. Creates an API token with every scope, a clinician
in the chiropractic queue (password P) for the staff pages, N form drafts that have every step
but the last done, each with its own session (the form's final step is then one POST per
draft), and picks a case page and a deep cursor (half-way down the referral list). Prints
what bench/load.py needs; nothing here is timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

IDENTITY = {
    "given_name": "Ada",
    "family_name": "Benchmark",
    "date_of_birth": "1980-05-17",
    "phone": "07700 900123",
    "email": "",
    "preferred_contact": "phone",
}
FORM_CASE = "V01"


def worked_answers(prefix: str) -> dict[str, Any]:
    cases = json.loads((ROOT / "tests" / "data" / "examples.json").read_text())
    answers = dict(next(c for c in cases if c["id"].startswith(prefix))["answers"])
    answers.pop("age_years")
    return answers


def step_post(step: str, answers: dict[str, Any]) -> dict[str, Any]:
    """What a patient types into one step (the inverse of the step form's cleaning)."""
    from intake.drafts import IDENTITY_STEP
    from intake.questionnaire import FIELD_BY_CODE, fields_in_section

    if step == IDENTITY_STEP:
        return dict(IDENTITY)
    data: dict[str, Any] = {}
    for spec in fields_in_section(step):
        value = answers.get(spec.code)
        if spec.computed or value is None:
            continue
        kind = FIELD_BY_CODE[spec.code].kind
        data[spec.code] = (
            ("yes" if value else "no")
            if kind == "bool"
            else list(value)
            if kind == "multi"
            else str(value)
        )
    return data


def make_drafts(count: int) -> tuple[list[str], dict[str, Any]]:
    """``count`` drafts waiting for their last step, each behind its own session key."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from intake.drafts import (
        SESSION_KEY,
        STEP_CODES,
        draft_save_step,
        draft_start,
        hash_token,
    )
    from intake.forms import STEP_FORMS
    from intake.models import IntakeDraft

    answers = worked_answers(FORM_CASE)
    known: dict[str, Any] = {}
    token = ""
    for step in STEP_CODES[:-1]:
        form = STEP_FORMS[step](step_post(step, answers), answers=known)
        if not form.is_valid():
            raise SystemExit(f"step {step} does not validate: {form.errors.as_json()}")
        patient = form.patient() if step == STEP_CODES[0] else None  # type: ignore[attr-defined]
        if not token:
            _draft, token = draft_start(values=form.values(), patient=patient or {})
        else:
            draft_save_step(
                token=token, step=step, values=form.values(), answers=form.answers(), patient=None
            )
        known.update(form.answers())
    template = IntakeDraft.objects.get(token_hash=hash_token(token))
    now = timezone.now()
    drafts, sessions, keys = [], [], []
    store = SessionStore()
    for _ in range(count):
        raw = secrets.token_urlsafe(32)
        drafts.append(
            IntakeDraft(
                token_hash=hash_token(raw),
                data=template.data,
                current_step=template.current_step,
                expires_at=template.expires_at,
            )
        )
        key = secrets.token_hex(16)
        keys.append(key)
        sessions.append(
            Session(
                session_key=key,
                session_data=store.encode({SESSION_KEY: raw}),
                expire_date=now + dt.timedelta(hours=6),
            )
        )
    IntakeDraft.objects.bulk_create(drafts, batch_size=2000)
    Session.objects.bulk_create(sessions, batch_size=2000)
    return keys, step_post(STEP_CODES[-1], answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drafts", type=int, default=5000)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from intake.drafts import STEP_CODES
    from intake.models import IntakeDraft
    from referrals import selectors
    from referrals.access import QUEUE_GROUPS
    from referrals.models import Queue, Referral, Scope
    from referrals.pagination import encode_cursor
    from referrals.tokens import api_token_authenticate, api_token_create

    # Fresh statistics after bulk generation, as bench/explain.py does: the planner otherwise
    # guesses row counts for the just-written tables.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    created = api_token_create(name="Load bench", scopes=Scope.values)
    # As the API sees it: authenticated, the service user carries its token (and so its queues).
    service_user = api_token_authenticate(created.raw).user  # type: ignore[union-attr]
    staff, _ = User.objects.get_or_create(username="bench-clinician", defaults={"is_staff": True})
    staff.is_staff = True
    staff.set_password(args.password)
    staff.save()
    staff.groups.add(Group.objects.get(name=QUEUE_GROUPS[Queue.CHIROPRACTIC]))

    listed = selectors.referral_list(user=service_user).order_by("-priority", "due_at", "id")
    total = listed.count()
    middle = listed[total // 2] if total else None
    case = Referral.objects.filter(queue=Queue.CHIROPRACTIC).order_by("-id").first()
    IntakeDraft.objects.all().delete()
    sessions, last_step = make_drafts(args.drafts)
    json.dump(
        {
            "token": created.raw,
            "staff_username": staff.username,
            "referrals_visible": total,
            "deep_cursor": encode_cursor(middle) if middle else None,
            "case_id": str(case.public_id) if case else None,
            "form_sessions": sessions,
            "form_last_step": last_step,
            "form_step_code": STEP_CODES[-1],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
