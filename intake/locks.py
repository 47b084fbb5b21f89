"""The per-person lock of the writes that match patients or open their referrals."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from intake.models import Patient


def lock_name(family_key: str, date_of_birth: dt.date) -> str:
    """The advisory lock's name for one identity (the bulk writer takes the same ones)."""
    return f"patient:{family_key}:{date_of_birth.isoformat()}"


def lock_identity(family_key: str, date_of_birth: dt.date) -> None:
    """Serialise submissions for the same person so two races cannot create two patients."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [lock_name(family_key, date_of_birth)]
            )


def lock_patient(patient_id: int) -> None:
    """The lock a submission takes for this patient's identity (``lock_identity``), for
    another write that opens referrals for the patient (a reroute, a release after a red flag
    is cleared): taken first, before any row lock, in the order a submission takes them, so
    the later of the two joins the referral the first opened."""
    if connection.vendor != "postgresql":
        return  # SQLite's one write lock orders them already
    # The identity is read again once its lock is held: an erasure (intake.privacy), holding
    # the lock of the identity it rewrites, may have committed while this waited, and a write
    # that came after it locks the new identity only. Holding the old lock alone, the two ran
    # at once (a known gap, listed since the red-flag stamp shared it). An identity changes
    # once (erased names and birth dates are not rewritten), so this ends.
    held: set[tuple[str, dt.date]] = set()
    while (key := _identity(patient_id)) not in held:
        lock_identity(*key)
        held.add(key)


def _identity(patient_id: int) -> tuple[str, dt.date]:
    family_key, date_of_birth = Patient.objects.values_list("family_name_key", "date_of_birth").get(
        pk=patient_id
    )
    return family_key, date_of_birth
