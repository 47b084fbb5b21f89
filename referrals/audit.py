"""Append-only record of every look at a patient's data and every change."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from clinic.middleware import client_ip
from intake.models import Intake, Patient
from referrals.models import Action, AuditEntry, Referral

# Every action an entry may record, with the audit trail's filter label: the referral moves
# and these. audit_record refuses any other, so the filter lists them all without reading the
# table (a DISTINCT over every entry grew with the history).
ACTIONS: dict[str, str] = {
    **{action.value: str(action.label) for action in Action},
    "override_urgency": "Override urgency",
    "refer_again": "Refer a closed referral again",
    "add_note": "Add a staff note",
    "view": "View the case page",
    "api_view": "Read through the API",
    "api_fhir_export": "Export as FHIR through the API",
    "patient_export": "Export a patient's data",
    "patient_erase": "Erase a patient",
}
OBJECT_TYPES: dict[str, str] = {
    model._meta.model_name or "": str(model._meta.verbose_name)
    for model in (Intake, Patient, Referral)
}


def _patient_id(obj: models.Model) -> int | None:
    if isinstance(obj, Patient):
        return obj.pk
    if isinstance(obj, Intake | Referral):
        return obj.patient_id
    return None


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    request: HttpRequest | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to referrals.audit.ACTIONS.")
    if obj._meta.model_name not in OBJECT_TYPES:
        raise ValueError(f"Audit entries are for {', '.join(OBJECT_TYPES)}, not {obj!r}.")
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name or "",
        object_id=str(getattr(obj, "public_id", obj.pk)),
        patient_id=_patient_id(obj),
        ip_address=client_ip(request) if request is not None else None,
        detail=detail or {},
    )
