"""Who may see which queues: one group per queue, and a triage lead who sees them all."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from referrals.models import Queue

TRIAGE_LEAD_GROUP = "Triage lead"
QUEUE_GROUPS: dict[str, str] = {
    Queue.CHIROPRACTIC: "Chiropractic team",
    Queue.PODIATRY: "Podiatry team",
    Queue.ORTHOTIC_FITTING: "Orthotic fitting team",
    Queue.URGENT_MEDICAL_REVIEW: "Urgent medical review team",
    Queue.GENERAL_REVIEW: "General review team",
}
GROUP_QUEUES = {name: queue for queue, name in QUEUE_GROUPS.items()}
# Set by the API's token authentication on the service user it returns.
API_TOKEN_ATTRIBUTE = "_clinic_api_token"  # noqa: S105 - an attribute name

# Model permissions each staff group needs for the admin to show the queues at all;
# row-level scoping to the group's own queues is done by the selectors.
STAFF_PERMISSIONS = [
    ("referrals", "view_referral"),
    ("referrals", "change_referral"),
    ("referrals", "view_referralevent"),
    ("referrals", "view_staffnote"),
    ("referrals", "add_staffnote"),
    ("intake", "view_intake"),
    ("intake", "view_patient"),
]
LEAD_EXTRA_PERMISSIONS = [("referrals", "view_auditentry")]

# What a staff member must hold to be shown data, on the staff site and through the API
# alike (docs/SECURITY.md, "What each staff page needs"). Cases are reached through the
# queues, so every look at one needs "view referral"; and, besides, the view permission of
# each model whose data is shown. A referral is never shown without its submission's
# reference and flags, nor a submission without the referral that makes it visible: the two
# go together.
VIEW_REFERRALS: Final = ("referrals.view_referral", "intake.view_intake")
# The queue and the case page show the patient too: name, birth date, contact details. A case
# is shown whole or not at all: a clinician acting on part of a case (its flags without the
# patient, say) acts on what they cannot see.
VIEW_CASES: Final = (*VIEW_REFERRALS, "intake.view_patient")
# The audit trail is the triage lead's; its entries name the patient they concern.
VIEW_AUDIT: Final = ("referrals.view_auditentry", "intake.view_patient")
# Parts of a case, each shown beside it only with its own model's permission: the history
# (the case page's and the API's referral detail), the staff notes and their box.
VIEW_HISTORY: Final = "referrals.view_referralevent"
VIEW_NOTES: Final = "referrals.view_staffnote"
ADD_NOTE: Final = "referrals.add_staffnote"


def _group_names(user: Any) -> set[str]:
    cached = getattr(user, "_clinic_group_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._clinic_group_names = cached
    return cached


def group_names(user: Any) -> frozenset[str]:
    """The names of the user's groups (read once per request)."""
    return frozenset(_group_names(user))


def is_triage_lead(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser) or TRIAGE_LEAD_GROUP in _group_names(user)


def has_all(user: Any, permissions: Iterable[str]) -> bool:
    """Whether the user is an active member of staff holding every one of ``permissions``
    (a superuser holds them all)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_staff) and all(user.has_perm(perm) for perm in permissions)


def may_view_referrals(user: Any) -> bool:
    """The submissions list (the API's reads of referrals ask VIEW_REFERRALS too)."""
    return has_all(user, VIEW_REFERRALS)


def may_view_cases(user: Any) -> bool:
    """The queue, the case page (and every form that shows it again), and the dashboard,
    which counts the queue and links into it (the API's reads of a case ask VIEW_CASES too)."""
    return has_all(user, VIEW_CASES)


def may_view_audit(user: Any) -> bool:
    return is_triage_lead(user) and has_all(user, VIEW_AUDIT)


def queues_for(user: Any) -> frozenset[str]:
    """The queues whose referrals this user may see and act on.

    A request made with an API token acts as the token's service user; its queues are the
    token's (every queue when the token names none), never the service user's groups.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    token = getattr(user, API_TOKEN_ATTRIBUTE, None)
    if token is not None:
        if token.revoked_at is not None:
            return frozenset()
        return frozenset(token.queues or Queue.values) & frozenset(Queue.values)
    if is_triage_lead(user):
        return frozenset(Queue.values)
    return frozenset(GROUP_QUEUES[name] for name in _group_names(user) if name in GROUP_QUEUES)
