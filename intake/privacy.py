"""Subject access (export) and erasure of one patient (issue 8; docs/SECURITY.md).

Export gives the patient everything held about them, and who has seen or been sent it (art.
15(1)(c) UK/EU GDPR: the audit trail's staff and API clients, the webhook endpoints notified).
Erasure anonymises their identity but keeps the clinical record (intakes, answers, triage,
referrals, history, audit): a clinic must be able to show later what it was told and what it
did. Both write an audit entry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from intake import fhir, identity
from intake.locks import lock_patient
from intake.models import Intake, IntakeDraft, Patient
from intake.questionnaire import FIELDS
from intake.services import patient_matches
from referrals.audit import ACTIONS, audit_record
from referrals.models import AuditEntry, Referral, ReferralIntake, WebhookDelivery, WebhookEvent

ERASED_NAME: Final = "Erased"
ERASED_TEXT: Final = "[erased]"
# Free-text answers are the patient's own words and may name them, their family or employer.
TEXT_ANSWERS: Final = frozenset(field.code for field in FIELDS if field.kind == "text")


class PatientNotFound(Exception):
    pass


class AlreadyErased(Exception):
    pass


def _patient(public_id: str | uuid.UUID, *, lock: bool = False) -> Patient:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise PatientNotFound(public_id) from None
    queryset = Patient.objects.select_for_update() if lock else Patient.objects.all()
    try:
        return queryset.get(public_id=key)
    except (Patient.DoesNotExist, ValidationError):
        raise PatientNotFound(public_id) from None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _referral_json(referral: Referral, ids: Mapping[int, str]) -> dict[str, Any]:
    """One referral; ``ids``: the public ids of the person's referrals, which name the one
    each came from (a reroute's, or one closed by mistake and referred again) and the one a
    rerouted referral went on in."""
    return {
        "id": str(referral.public_id),
        "rerouted_from": ids.get(referral.rerouted_from_id or 0),
        "referred_again_from": ids.get(referral.referred_again_from_id or 0),
        # A reroute into the patient's open referral of a queue that had come from another
        # names it here only: that one's rerouted_from names the first.
        "rerouted_into": ids.get(referral.rerouted_into_id or 0),
        "queue": referral.queue,
        "status": referral.status,
        "urgency": referral.urgency,
        "due_at": _iso(referral.due_at),
        "created_at": _iso(referral.created_at),
        "closed_at": _iso(referral.closed_at),
        "note": referral.note,
        # Staff's clinical notes about the person (their authors left out, as in the history).
        "staff_notes": [
            {"text": note.text, "at": _iso(note.created_at)} for note in referral.staff_notes.all()
        ],
        "history": [
            {
                "kind": event.kind,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "from_urgency": event.from_urgency,
                "to_urgency": event.to_urgency,
                "reason": event.reason,
                "at": _iso(event.created_at),
            }
            for event in referral.events.all()
        ],
    }


def _intakes(patient: Patient) -> list[Intake]:
    return list(
        Intake.objects.filter(patient=patient)
        .order_by("submitted_at", "id")
        .prefetch_related("referrals__events", "referrals__staff_notes")
    )


def patient_export(
    *, public_id: str | uuid.UUID, actor: Any, fmt: str = "json", operator: str = ""
) -> dict[str, Any]:
    """Everything held about one patient: identity, every intake with its answers, triage
    result, referrals and their history, any form they have in progress and who has seen or
    been sent their data (JSON only). ``fmt="fhir"`` gives a FHIR Bundle per intake."""
    if fmt not in ("json", "fhir"):
        raise ValueError(f"Unknown export format {fmt!r}.")
    with transaction.atomic():
        # Read under the person's lock, which an erasure and a submission hold: read statement
        # by statement, an erasure committing between them gave the person their name and
        # birth date beside their cases already erased (a review found it).
        lock_patient(_patient(public_id).pk)
        patient = _patient(public_id)
        detail = {"format": fmt, **({"operator": operator} if operator else {})}
        audit_record(actor=actor, action="patient_export", obj=patient, detail=detail)
        return _export(patient, fmt)


def _export(patient: Patient, fmt: str) -> dict[str, Any]:
    intakes = _intakes(patient)
    if fmt == "fhir":
        now = timezone.now()
        # Every referral each case fed, as the API's bundle has it (a later case that joined
        # an open referral lost it here: a review found it), read in one statement.
        fed: dict[int, list[Referral]] = {intake.pk: [] for intake in intakes}
        for link in (
            ReferralIntake.objects.filter(intake__in=intakes)
            .select_related("referral")
            .order_by("referral_id")
        ):
            fed[link.intake_id].append(link.referral)
        return {
            "patient": str(patient.public_id),
            "bundles": [
                fhir.intake_bundle(
                    intake=intake, patient=patient, referrals=fed[intake.pk], now=now
                )
                for intake in intakes
            ],
        }
    ids = {r.pk: str(r.public_id) for intake in intakes for r in intake.referrals.all()}
    return {
        "patient": {
            "id": str(patient.public_id),
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "date_of_birth": _iso(patient.date_of_birth),
            "phone": patient.phone,
            "email": patient.email,
            "preferred_contact": patient.preferred_contact,
            "created_at": _iso(patient.created_at),
            "anonymised_at": _iso(patient.anonymised_at),
        },
        "intakes": [
            {
                "id": str(intake.public_id),
                "reference": intake.reference,
                "source": intake.source,
                "submitted_at": _iso(intake.submitted_at),
                "age_years": intake.age_years,
                "questionnaire_version": intake.questionnaire_version,
                "ruleset_version": intake.ruleset_version,
                "answers": intake.answers,
                "triage_result": intake.triage_result,
                "urgency": intake.urgency,
                "messages_shown": intake.patient_messages,
                "messages_shown_at": _iso(intake.messages_shown_at),
                "emergency_advice_shown_at": _iso(intake.interrupt_shown_at),
                "red_flag_cleared_at": _iso(intake.red_flag_cleared_at),
                "red_flag_clearance_reason": intake.red_flag_clearance_reason,
                "referrals": [_referral_json(r, ids) for r in intake.referrals.all()],
            }
            for intake in intakes
        ],
        # Forms the person has started and not sent: their identity and answers, held until
        # they expire, and erased with them (patient_erase).
        "forms_in_progress": [
            {
                "started_at": _iso(draft.created_at),
                "saved_at": _iso(draft.updated_at),
                "expires_at": _iso(draft.expires_at),
                "patient": draft.data.get("patient", {}),
                "answers": draft.data.get("answers", {}),
                "typed": draft.data.get("values", {}),
            }
            for draft in _drafts_of(patient)
        ],
        "recipients": _recipients(patient, intakes),
    }


# Art. 15(1)(c) UK/EU GDPR: the person is told who their data was disclosed to. Said in the
# export itself, as the patient reads it without this code at hand.
RECIPIENTS_NOTES: Final = (
    "Staff are named as the clinic's staff accounts name them, with their roles as they are "
    "on the day of this export; an account without a name is shown by its role alone.",
    "The service records each look at a case (the case page, the API, exports) and each "
    "change. Not recorded per patient, so not listed: lists of many cases at once (the staff "
    "queues, the API's list of referrals) and the email telling a team of an urgent case "
    "(its reference only).",
    "Webhook endpoints are other systems the clinic notifies of new cases and of changes to "
    "referrals. They were sent the case's ids and reference, the event, the statuses and "
    "whether a red flag stood on another case (naming it when one came or was cleared): no "
    "name, contact details, answers or free text.",
)
OPERATOR_ROLE: Final = "Clinic operator (command line)"
ADMINISTRATOR_ROLE: Final = "Administrator"
STAFF_ROLE: Final = "Staff"
# Every referral an event carries says whether a red flag not yet cleared stands on another of
# the patient's cases: clinical, so said (art. 15 asks what was sent).
WEBHOOK_SENT: Final = (
    "ids, reference, statuses and urgencies, and whether a red flag not yet cleared stood on "
    "another case; no name, contact details, answers or free text"
)
# A delivery written before the events carried it (kept WEBHOOK_RETENTION_DAYS).
WEBHOOK_SENT_WITHOUT_RED_FLAG: Final = (
    "ids, reference, statuses and urgencies; no name, contact details, answers or free text"
)
# What referral.red_flag_elsewhere_changed adds: the case whose red flag came or was cleared.
WEBHOOK_RED_FLAG_SENT: Final = (
    "ids, reference, statuses and urgencies, and whether a red flag not yet cleared stood on "
    "another case, naming the case whose red flag came or was cleared; no name, contact "
    "details, answers or free text"
)


def _recipients(patient: Patient, intakes: list[Intake]) -> dict[str, Any]:
    """Who has seen or been sent this patient's data, from the audit trail and the webhook
    deliveries still held: three statements however many entries there are.

    Never login names (an API client's is its token's prefix, and a member of staff's is
    what the sign-in lockout is counted against), token values, webhook secrets or URLs,
    addresses of any kind, or an entry's detail (it may name the operator's shell login)."""
    entries = list(
        AuditEntry.objects.filter(patient=patient)
        .order_by("created_at", "id")
        .values(
            "created_at",
            "action",
            "object_type",
            "object_id",
            "actor_id",
            "actor__first_name",
            "actor__last_name",
            "actor__is_superuser",
            "actor__api_token",
            "actor__api_token__name",
        )
    )
    groups: dict[int, list[str]] = {}
    actors = {entry["actor_id"] for entry in entries} - {None}
    for user_id, name in (
        Group.objects.filter(user__in=actors).order_by("name").values_list("user", "name")
    ):
        groups.setdefault(user_id, []).append(name)
    staff: list[dict[str, Any]] = []
    clients: list[dict[str, Any]] = []
    for entry in entries:
        seen = {
            "at": _iso(entry["created_at"]),
            "action": entry["action"],
            "what": ACTIONS.get(entry["action"], entry["action"]),
            "record": {"type": entry["object_type"], "id": entry["object_id"]},
        }
        # A token acts as its own service user (api_token_create), named by the token's name;
        # a member of staff reading through the API with their session is staff.
        if entry["actor__api_token"] is not None:
            clients.append({"client": entry["actor__api_token__name"], **seen})
            continue
        staff.append({**_staff_member(entry, groups), **seen})
    deliveries = (
        WebhookDelivery.objects.filter(
            payload__data__intake__id__in=[str(intake.public_id) for intake in intakes]
        )
        .order_by("created_at", "id")
        .values(
            "created_at",
            "event_type",
            "status",
            "delivered_at",
            "endpoint__name",
            "payload__data__intake__id",
            "payload__data__referral",
            "payload__data__referrals",
        )
    )
    labels = dict(WebhookEvent.choices)

    def what(delivery: Mapping[str, Any]) -> str:
        event = delivery["event_type"]
        if event == WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED:
            sent = WEBHOOK_RED_FLAG_SENT
        elif _carried_red_flag(delivery["payload__data__referral"]) or any(
            map(_carried_red_flag, delivery["payload__data__referrals"] or [])
        ):
            sent = WEBHOOK_SENT
        else:
            sent = WEBHOOK_SENT_WITHOUT_RED_FLAG
        return f"Notified: {labels[event]} ({sent})" if event in labels else event

    return {
        "staff": staff,
        "api_clients": clients,
        "webhook_endpoints": [
            {
                "at": _iso(delivery["created_at"]),
                "endpoint": delivery["endpoint__name"],
                "event": delivery["event_type"],
                "what": what(delivery),
                "status": delivery["status"],
                "delivered_at": _iso(delivery["delivered_at"]),
                "intake": delivery["payload__data__intake__id"],
            }
            for delivery in deliveries
        ],
        "notes": [
            *RECIPIENTS_NOTES,
            f"Webhook notifications are kept {settings.WEBHOOK_RETENTION_DAYS} days after they "
            "were sent: older ones are not listed.",
        ],
    }


def _carried_red_flag(referral: Any) -> bool:
    """Whether a referral of a delivery's payload said its ``red_flag_elsewhere``."""
    return isinstance(referral, dict) and "red_flag_elsewhere" in referral


def _staff_member(entry: Mapping[str, Any], groups: dict[int, list[str]]) -> dict[str, Any]:
    if entry["actor_id"] is None:
        # Only the command line records no account (export_patient, erase_patient).
        return {"staff_member": None, "role": OPERATOR_ROLE}
    name = f"{entry['actor__first_name']} {entry['actor__last_name']}".strip()
    roles = list(groups.get(entry["actor_id"], []))
    if entry["actor__is_superuser"]:
        roles.append(ADMINISTRATOR_ROLE)
    return {"staff_member": name or None, "role": ", ".join(roles) or STAFF_ROLE}


def _scrub_text(data: Any) -> Any:
    """A copy of answers (or a triage result) with every free-text answer replaced."""
    if isinstance(data, dict):
        return {
            key: (ERASED_TEXT if key in TEXT_ANSWERS and value else _scrub_text(value))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_scrub_text(item) for item in data]
    return data


def patient_erase(
    *, public_id: str | uuid.UUID, actor: Any, reason: str, operator: str = ""
) -> Patient:
    """Anonymise one patient's identity and free text; keep the clinical record.

    Kept: the year of birth (as 1 January of that year; each intake keeps the age at
    submission, which triage used), answers other than free text, triage results, referrals,
    their history and the audit trail. Cleared: names, phone, email, matching and search keys,
    the patient's own words, and any form the person has in progress (a draft holds their identity
    and answers: a review found it outliving the erasure). Not reversible. ``operator`` names
    who ran it when ``actor`` is not a staff account (the command line).
    """
    if not reason.strip():
        raise ValueError("A reason is required for an erasure.")
    with transaction.atomic():
        # The person's forms in progress first: a form being sent holds its draft's row, then
        # takes the person's lock (intake.drafts.draft_submit); the erasure took them the other
        # way round and the two deadlocked, failing one (a review found it). The drafts are
        # found again under the locks below: a send that finished left only its marker.
        found = _patient(public_id)
        list(
            IntakeDraft.objects.select_for_update()
            .filter(pk__in=[draft.pk for draft in _drafts_of(found)])
            .order_by("pk")
            .values_list("pk")
        )
        # Then the person's lock, as a submission takes it: a submission matching this
        # patient either finishes before (and its intake is erased too) or starts after (and
        # finds no one to match). Without it, one that had read the patient before the erasure
        # wrote identity back onto it afterwards (a review found it).
        lock_patient(found.pk)
        patient = _patient(public_id, lock=True)
        if patient.anonymised_at is not None:
            raise AlreadyErased(public_id)
        now = timezone.now()
        drafts = _drafts_of(patient)
        year_only = dt.date(patient.date_of_birth.year, 1, 1)
        patient.given_name = ERASED_NAME
        patient.given_name_key = ""
        patient.family_name = ERASED_NAME
        patient.family_name_key = ""
        patient.phone = patient.phone_key = ""
        patient.email = patient.email_key = ""
        patient.date_of_birth = year_only
        patient.anonymised_at = now
        patient.save()
        intakes = list(Intake.objects.select_for_update().filter(patient=patient))
        for intake in intakes:
            intake.answers = _scrub_text(intake.answers)
            intake.triage_result = _scrub_text(intake.triage_result)
            intake.date_of_birth = year_only
            intake.save(update_fields=["answers", "triage_result", "date_of_birth", "updated_at"])
        IntakeDraft.objects.filter(pk__in=[draft.pk for draft in drafts]).delete()
        unsent = _forget_unsent_mail(drafts)
        audit_record(
            actor=actor,
            action="patient_erase",
            obj=patient,
            detail={
                "reason": reason.strip(),
                "intakes": len(intakes),
                "drafts": len(drafts),
                **({"unsent_mail": unsent} if unsent else {}),
                **({"operator": operator} if operator else {}),
            },
        )
    return patient


def _forget_unsent_mail(drafts: list[IntakeDraft]) -> int:
    """Delete the resume-link emails to these drafts' addresses not yet sent: their task rows
    hold the address and the private link, and the worker would still mail the erased person
    once (a review). One a worker has already begun is sent (the link no longer works) and its
    arguments are then emptied (intake.apps.forget_personal_arguments)."""
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from intake.apps import PERSONAL_TASKS

    emails = {str((draft.data.get("patient") or {}).get("email") or "") for draft in drafts}
    emails.discard("")
    if not emails:
        return 0
    deleted, _ = DBTaskResult.objects.filter(
        task_path__in=PERSONAL_TASKS,
        status=TaskResultStatus.READY,
        args_kwargs__kwargs__email__in=sorted(emails),
    ).delete()
    return deleted


def _drafts_of(patient: Patient) -> list[IntakeDraft]:
    """Forms in progress by the same person, as a submission would match them: the folded
    family name, the birth date and a phone or an email shared with the patient (a namesake
    born the same day, a twin, is someone else: a review found their draft deleted too).
    Drafts live DRAFT_TTL_DAYS: the table is read whole."""
    found = []
    for draft in IntakeDraft.objects.all():
        details = draft.data.get("patient") or {}
        if (
            details.get("date_of_birth") == patient.date_of_birth.isoformat()
            and identity.normalise_family_name(str(details.get("family_name", "")))
            == patient.family_name_key
            and patient_matches(
                patient,
                identity.normalise_phone(str(details.get("phone") or "")),
                identity.normalise_email(str(details.get("email") or "")),
            )
        ):
            found.append(draft)
    return found
