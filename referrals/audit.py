"""Append-only record of every look at a patient's data and every change."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from clinic.middleware import client_ip
from intake.models import Intake, Patient
from referrals.models import AuditEntry, Referral


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
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name or "",
        object_id=str(getattr(obj, "public_id", obj.pk)),
        patient_id=_patient_id(obj),
        ip_address=client_ip(request) if request is not None else None,
        detail=detail or {},
    )
