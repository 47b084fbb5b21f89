"""Reads, always scoped to the acting user: what is not theirs does not exist (404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from intake.models import RED_FLAG_UNCLEARED, Intake
from referrals.access import VIEW_CASES, VIEW_NOTES, has_all, queues_for
from referrals.models import OPEN_STATUSES, Queue, Referral, ReferralIntake, StaffNote, Status

AUTHOR_NAME: Final = f"author__{get_user_model().USERNAME_FIELD}"


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


def came_from_chain(referral: Referral) -> list[tuple[int, bool]]:
    """The referrals this one came from, the latest first, back to the case's first queue:
    each by a reroute, or (True) made again from one closed by mistake
    (services.referral_refer_again). One statement however long the chain. Each was the same
    patient's (a reroute and a refer-again make the case's own patient's), so they are read
    among the patient's referrals that came from another (a few), not followed one by one.

    A referral may have come from several: made again, or rerouted from another queue, then
    joined by reroutes into its queue (referral_reroute links the open referral it joins); each
    is followed, the reroutes into it by the referrals rerouted (``rerouted_into``), as its own
    ``rerouted_from`` names only the first (the notes of a case rerouted into a referral that
    had come from elsewhere were not shown). A referral rerouted into has its ``rerouted_from``
    set, so one with neither link came from none."""
    if referral.rerouted_from_id is None and referral.referred_again_from_id is None:
        return []
    came_from: dict[int, list[tuple[int, bool]]] = {}
    for pk, rerouted, again, into in (
        Referral.objects.filter(patient_id=referral.patient_id)
        .filter(
            Q(rerouted_from__isnull=False)
            | Q(referred_again_from__isnull=False)
            | Q(rerouted_into__isnull=False)
        )
        .values_list("pk", "rerouted_from_id", "referred_again_from_id", "rerouted_into_id")
    ):
        if rerouted is not None:
            came_from.setdefault(pk, []).append((rerouted, False))
        if again is not None:
            came_from.setdefault(pk, []).append((again, True))
        if into is not None:
            came_from.setdefault(into, []).append((pk, False))
    chain: list[tuple[int, bool]] = []
    seen = {referral.pk}
    waiting = list(came_from.get(referral.pk, []))
    while waiting:
        previous = waiting.pop(0)
        if previous[0] in seen:
            continue
        chain.append(previous)
        seen.add(previous[0])
        waiting.extend(came_from.get(previous[0], []))
    return chain


def rerouted_from_queues(referral: Referral) -> list[str]:
    """The queues of the referrals rerouted into this one, the first first: the case page's
    "Rerouted from", in the one statement that read the first alone (its ``rerouted_from``,
    which names only the first: one that joined it later was not named)."""
    if referral.rerouted_from_id is None:
        return []
    queues = dict(Queue.choices)
    came_in = rerouted_in(referral).values_list("queue", flat=True)
    return [str(queues.get(queue, queue)) for queue in dict.fromkeys(came_in)]


def rerouted_in(referral: Referral) -> QuerySet[Referral]:
    """The referrals rerouted into this one, the first first (its rerouted_from, and each whose
    rerouted_into names it): the case page's "Rerouted from" and the API's ``rerouted_in``.
    Ask only of a referral with a rerouted_from: one rerouted into has it set."""
    return Referral.objects.filter(
        Q(pk=referral.rerouted_from_id) | Q(rerouted_into=referral)
    ).order_by("closed_at", "id")


@dataclass(frozen=True)
class CaseNote:
    """A staff note as the case page shows it: ``came_from``, the queue of the earlier referral
    it was written on (None for the referral's own), whether that referral has been marked
    entered in error since, and whether it was the one closed by mistake that this case was
    referred again from (``again``; else a reroute's)."""

    author: str
    text: str
    created_at: dt.datetime
    came_from: str | None
    in_error: bool
    again: bool = False


def referral_notes(*, user: Any, referral: Referral) -> list[CaseNote]:
    """The staff notes of ``referral`` (one ``referral_get`` gave ``user``) and of the referrals
    it was rerouted or referred again from, oldest first: 2 statements at most, however many.

    An earlier referral's notes are shown as this case's to whoever may read this referral's,
    though that referral is in a queue the user may not see (its page stays a 404): they were
    written about this patient's case for whoever takes it next ("prefers mornings"), and the
    queue the case went to is the one taking it now (docs/SECURITY.md, "What each staff page
    needs"). Notes written on a later referral, after the case left, are not shown on the
    earlier one."""
    if not has_all(user, (*VIEW_CASES, VIEW_NOTES)):
        return []
    chain = dict(came_from_chain(referral))
    notes = (
        StaffNote.objects.filter(referral_id__in=[referral.pk, *chain])
        .order_by("created_at", "id")
        .values_list(
            "referral_id", AUTHOR_NAME, "text", "created_at", "referral__queue", "referral__status"
        )
    )
    queues = dict(Queue.choices)
    return [
        CaseNote(
            author=author,
            text=text,
            created_at=created_at,
            came_from=None if written_on == referral.pk else str(queues.get(queue, queue)),
            in_error=written_on != referral.pk and status == Status.ENTERED_IN_ERROR,
            again=chain.get(written_on, False),
        )
        for written_on, author, text, created_at, queue, status in notes
    ]


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


RED_FLAGS_ELSEWHERE_SHOWN: Final = 10  # references named; the first is the one to ask about
# §4.4's queues that are not for a patient with a red flag (general review may see one).
NOT_FOR_RED_FLAGS: Final = frozenset({Queue.CHIROPRACTIC, Queue.PODIATRY, Queue.ORTHOTIC_FITTING})


def red_flags_elsewhere(referral: Referral) -> list[str]:
    """For a referral of §4.4's three queues, the references of the patient's cases whose red
    flag no medical reviewer has cleared (oldest first); none for another queue.

    §0.3 makes urgent medical review a red-flag case's only queue, and §4.4 keeps the specialty
    queues for patients without one; a referral opened by an earlier case stays open in its
    queue when a later case raises a red flag, and neither its page nor the API said so
    (docs/CLINICAL_DECISIONS.md, "Red-flag clearance and reroutes" 7). The case page and the
    API's detail read it whatever the referral's status (their statements do not change with
    it) and show it while the referral is open; the queue page and the API's list read whether
    there is one in their page's statement (``red_flag_elsewhere``)."""
    if referral.queue not in NOT_FOR_RED_FLAGS:
        return []
    return list(
        Intake.objects.filter(RED_FLAG_UNCLEARED, patient_id=referral.patient_id)
        .order_by("submitted_at", "pk")
        .values_list("reference", flat=True)[:RED_FLAGS_ELSEWHERE_SHOWN]
    )


def red_flag_elsewhere() -> Case:
    """Whether ``red_flags_elsewhere`` names a case and the referral is open, as one column
    of a list's page statement (``with_red_flag_elsewhere``): the queue page and the API's
    list show what the case page and the API's detail show, without a statement more.

    Asked only of an open referral of §4.4's three queues (the CASE's condition), each time
    one probe of the intake table's patient index: the patient's few cases. A scalar subquery
    (the first such case, or none), not EXISTS: PostgreSQL may run an EXISTS as one hashed
    subplan, reading every uncleared red-flag case in the database to build it, and did, for
    the API's first page at 10,000 cases (it planned for every row the list holds, not the
    page's 51); a scalar subquery is run per row. The queues and statuses are written into
    the statement (referrals.lookups), as the list's own are: the page statements are kept
    per queue set and prepared.

    Built for each query, not shared: resolving one can rebind the subquery's OuterRef in
    place (Django relabels it only under its own alias prefix), and the lists that cost it on
    every request add it only when they compile their page statement."""
    standing = (
        Intake.objects.filter(RED_FLAG_UNCLEARED, patient_id=OuterRef("patient_id"))
        .order_by()
        .annotate(standing=Value(True))
        .values("standing")[:1]
    )
    return Case(
        When(
            Q(queue__in_constants=NOT_FOR_RED_FLAGS, status__in_constants=OPEN_STATUSES),
            then=Coalesce(Subquery(standing, output_field=BooleanField()), Value(False)),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )


def with_red_flag_elsewhere(referrals: QuerySet[Referral]) -> QuerySet[Referral]:
    """``referrals`` with each one's ``red_flag_elsewhere`` (the queue page's and the API
    list's rows, and the referrals of the API's answers that carry a case's: intake.api)."""
    return referrals.annotate(red_flag_elsewhere=red_flag_elsewhere())
