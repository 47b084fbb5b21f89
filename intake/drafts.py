"""The patient form's drafts: start, save a step, resume, submit, purge (issue 4).

A draft holds what the patient has typed so far, step by step, so that they can come back from a
private link, on this or another device, until it expires (settings.DRAFT_TTL_DAYS after the
last save). The link's token is never stored: only its SHA-256 hash. Submitting goes through
``intake_submit`` like every other case, and deletes the draft in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intake.models import Intake, IntakeDraft
from intake.questionnaire import (
    CORE_FIELDS,
    FIELD_BY_CODE,
    INTERRUPT_FIELDS,
    SECTIONS,
    fields_in_section,
    is_shown,
)
from intake.services import PatientDetails, Submission, SubmissionInvalid, intake_submit

IDENTITY_STEP: Final = "identity"
# Who the patient is comes first; then one step per questionnaire section, in order.
STEP_CODES: Final[tuple[str, ...]] = (
    IDENTITY_STEP,
    *(section.code for section in SECTIONS if fields_in_section(section.code)),
)
PATIENT_KEYS: Final = (
    "given_name",
    "family_name",
    "date_of_birth",
    "phone",
    "email",
    "preferred_contact",
)
_ANSWER_CODES: Final = frozenset(f.code for f in CORE_FIELDS if not f.computed)
_CONDITIONAL: Final = tuple(f for f in CORE_FIELDS if f.show_when is not None)
SESSION_KEY: Final = "intake_draft_token"


class DraftNotFound(Exception):
    """The link is unknown, has expired, or its form has been sent already."""


class DraftSubmitted(DraftNotFound):
    """The form was sent moments ago (a second click on "Send"): ``intake`` is what it made."""

    def __init__(self, intake: str) -> None:
        super().__init__(intake)
        self.intake = intake


# A sent draft is kept this long, holding only the intake it made (no answers, no identity),
# so that a second "Send" racing the first shows the patient the same result page instead of
# "no longer available": the browser shows the answer to the last click.
SENT_KEPT: Final = dt.timedelta(minutes=10)
_SENT: Final = "sent_intake"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _expiry(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(days=settings.DRAFT_TTL_DAYS)


def step_for_field(key: str) -> str:
    """The step that asks ``key`` (a questionnaire code or a patient detail)."""
    spec = FIELD_BY_CODE.get(key)
    if spec is not None and spec.section in STEP_CODES:
        return spec.section
    return IDENTITY_STEP


# --- Reading a draft ----------------------------------------------------------------------------


def draft_for_token(token: str | None, *, now: dt.datetime | None = None) -> IntakeDraft | None:
    """The live draft for a resume token, or None (unknown, expired or submitted)."""
    if not token or not isinstance(token, str):
        return None
    draft = IntakeDraft.objects.filter(
        token_hash=hash_token(token), expires_at__gt=now or timezone.now()
    ).first()
    return None if draft is None or _SENT in draft.data else draft


def draft_answers(draft: IntakeDraft | None) -> dict[str, Any]:
    return dict(draft.data.get("answers", {})) if draft else {}


def draft_values(draft: IntakeDraft | None, step: str) -> dict[str, Any]:
    """What the patient typed on ``step``, to show it again."""
    return dict(draft.data.get("values", {}).get(step, {})) if draft else {}


def draft_steps_done(draft: IntakeDraft | None) -> list[str]:
    return list(draft.data.get("done", [])) if draft else []


def step_reachable(draft: IntakeDraft | None, step: str) -> bool:
    """A step can be opened once every step before it is done."""
    done = draft_steps_done(draft)
    return all(code in done for code in STEP_CODES[: STEP_CODES.index(step)])


def interrupt_due(answers: Mapping[str, Any]) -> bool:
    """A Yes to a question that needs the emergency advice at once (§1 I)."""
    return any(answers.get(code) is True for code in INTERRUPT_FIELDS)


def submitted_intake(public_id: str | None) -> Intake | None:
    if not public_id:
        return None
    try:
        return Intake.objects.filter(public_id=public_id).first()
    except ValueError:
        return None


# --- Writing ------------------------------------------------------------------------------------


def _locked(token: str, now: dt.datetime) -> IntakeDraft:
    draft = (
        IntakeDraft.objects.select_for_update()
        .filter(token_hash=hash_token(token), expires_at__gt=now)
        .first()
    )
    if draft is None:
        raise DraftNotFound
    if _SENT in draft.data:
        raise DraftSubmitted(draft.data[_SENT])
    return draft


def _merge(
    draft: IntakeDraft,
    *,
    step: str,
    values: Mapping[str, Any],
    answers: Mapping[str, Any] | None,
    patient: Mapping[str, Any] | None,
    now: dt.datetime,
) -> None:
    if step not in STEP_CODES:
        raise ValueError(f"unknown step {step!r}")
    data = draft.data
    data.setdefault("values", {})[step] = dict(values)
    if patient is not None:
        data["patient"] = {key: patient[key] for key in PATIENT_KEYS}
    merged = data.setdefault("answers", {})
    merged.update({code: value for code, value in (answers or {}).items() if code in _ANSWER_CODES})
    # A question hidden by a later change of answer is sent as null, as the spec requires (§1 D2).
    for spec in _CONDITIONAL:
        if not is_shown(spec, merged):
            merged[spec.code] = None
            # And what was typed for it goes too: shown again later it would read as answered
            # while the answer is null (a review found the form refusing to send with no
            # error on the page it pointed to).
            data["values"].get(spec.section, {}).pop(spec.code, None)
    # Without JavaScript the advice appears on the page that answers this step: record it now.
    if interrupt_due(merged) and not data.get("interrupt_shown_at"):
        data["interrupt_shown_at"] = now.isoformat()
    done = data.setdefault("done", [])
    if step not in done:
        done.append(step)
    draft.current_step = next((code for code in STEP_CODES if code not in done), STEP_CODES[-1])
    draft.expires_at = _expiry(now)


def draft_start(
    *,
    values: Mapping[str, Any],
    patient: Mapping[str, Any],
    resume_url: Callable[[str], str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[IntakeDraft, str]:
    """Save the first step as a new draft; return it and its (unstored) resume token.

    If the patient gave an email address, the resume link is mailed after commit.
    """
    from intake.tasks import send_resume_link

    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        draft = IntakeDraft(token_hash=hash_token(token), data={}, expires_at=_expiry(now))
        _merge(draft, step=IDENTITY_STEP, values=values, answers=None, patient=patient, now=now)
        draft.save()
        email = str(patient.get("email") or "").strip()
        if email and resume_url is not None:
            url, expires_at = resume_url(token), draft.expires_at.isoformat()
            transaction.on_commit(
                lambda: send_resume_link.enqueue(email=email, url=url, expires_at=expires_at)
            )
    return draft, token


def draft_save_step(
    *,
    token: str,
    step: str,
    values: Mapping[str, Any],
    answers: Mapping[str, Any] | None = None,
    patient: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> IntakeDraft:
    """Save one completed step. Raises DraftNotFound when the draft has gone."""
    now = now or timezone.now()
    with transaction.atomic():
        draft = _locked(token, now)
        _merge(draft, step=step, values=values, answers=answers, patient=patient, now=now)
        draft.save()
    return draft


def draft_record_interrupt(*, token: str, now: dt.datetime | None = None) -> bool:
    """Record when the browser showed the emergency advice; the first time counts."""
    now = now or timezone.now()
    with transaction.atomic():
        draft = _locked(token, now)
        if draft.data.get("interrupt_shown_at"):
            return False
        draft.data["interrupt_shown_at"] = now.isoformat()
        draft.save(update_fields=["data", "updated_at"])
    return True


def draft_resume(*, token: str, now: dt.datetime | None = None) -> IntakeDraft:
    """The draft behind a resume link. Raises DraftNotFound when it has gone."""
    now = now or timezone.now()
    with transaction.atomic():
        return _locked(token, now)


def _patient_details(patient: Mapping[str, Any]) -> PatientDetails:
    return PatientDetails(
        given_name=patient["given_name"],
        family_name=patient["family_name"],
        date_of_birth=dt.date.fromisoformat(patient["date_of_birth"]),
        phone=patient["phone"],
        email=patient["email"],
        preferred_contact=patient["preferred_contact"],
    )


def draft_submit(
    *,
    token: str,
    step: str,
    values: Mapping[str, Any],
    answers: Mapping[str, Any],
    now: dt.datetime | None = None,
) -> Submission:
    """Save the last step and submit the whole form through ``intake_submit``.

    On success the draft is deleted in the same transaction and, if the patient gave an email
    address, the confirmation is mailed after commit. On SubmissionInvalid the draft keeps the
    step and points at the first step with an error, and the error is raised.
    """
    from intake.tasks import send_intake_confirmation

    now = now or timezone.now()
    with transaction.atomic():
        draft = _locked(token, now)
        _merge(draft, step=step, values=values, answers=answers, patient=None, now=now)
        shown_at = draft.data.get("interrupt_shown_at")
        try:
            submission = intake_submit(
                patient=_patient_details(draft.data["patient"]),
                answers=draft.data["answers"],
                source="form",
                submitted_at=now,
                interrupt_shown_at=dt.datetime.fromisoformat(shown_at) if shown_at else None,
            )
        except SubmissionInvalid as error:
            invalid = error
            steps_with_errors = {step_for_field(key) for key in error.errors}
            draft.current_step = next(
                (code for code in STEP_CODES if code in steps_with_errors), IDENTITY_STEP
            )
            draft.save()
        else:
            # Kept a few minutes as a marker of what was sent, everything else dropped.
            draft.data = {_SENT: str(submission.intake.public_id)}
            draft.expires_at = now + SENT_KEPT
            draft.save(update_fields=["data", "expires_at", "updated_at"])
            if submission.intake.patient.email:
                intake_id = str(submission.intake.public_id)
                transaction.on_commit(lambda: send_intake_confirmation.enqueue(intake_id=intake_id))
            return submission
    raise invalid


def drafts_purge(*, now: dt.datetime | None = None) -> int:
    """Delete drafts past their expiry; return how many."""
    with transaction.atomic():
        deleted, _ = IntakeDraft.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
