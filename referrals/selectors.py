"""Reads, always scoped to the acting user: what is not theirs does not exist (404)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from intake.models import Intake
from referrals.access import queues_for
from referrals.models import Referral, ReferralIntake


def referral_list(*, user: Any) -> QuerySet[Referral]:
    # The queues written into the statement (referrals.lookups): it is built per queue set.
    return (
        Referral.objects.filter(queue__in_constants=queues_for(user))
        .select_related("intake", "patient", "assigned_to")
        .order_by("-priority", "due_at", "id")
    )


def referral_list_key(*, user: Any) -> tuple[str, ...]:
    """What ``referral_list``'s statement depends on, for a compiled page statement
    (referrals.pagination.keyset_rows): the user's queues. Kept beside the query it describes:
    a condition added there that depends on anything else must be added here too."""
    return ("referral_list", *sorted(queues_for(user)))


def referral_get(*, user: Any, public_id: UUID | str) -> Referral:
    try:
        return referral_list(user=user).get(public_id=public_id)
    except (Referral.DoesNotExist, ValueError) as exc:
        raise Http404("No such referral.") from exc


def intake_list(*, user: Any) -> QuerySet[Intake]:
    """Intakes with at least one referral, current or past, in the user's queues.

    Asked per intake (EXISTS: its links by their intake index, each referral by key), so
    that a page in the intakes' own order reads about as many intakes as it shows. As
    ``pk IN (every linked intake of those queues)`` it collected all of them first on
    SQLite, and PostgreSQL hashed them all to count the list: a cost that grew with the
    history."""
    visible = ReferralIntake.objects.filter(
        intake=OuterRef("pk"), referral__queue__in=queues_for(user)
    )
    return Intake.objects.filter(Exists(visible)).select_related("patient")


def intake_get(*, user: Any, public_id: UUID | str) -> Intake:
    try:
        return intake_list(user=user).get(public_id=public_id)
    except (Intake.DoesNotExist, ValueError) as exc:
        raise Http404("No such intake.") from exc
