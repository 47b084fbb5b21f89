"""The pure parts of proposing referrals, shared by ``referrals_propose`` and the bulk writer.

Nothing here reads or writes the database: each function builds unsaved rows or changes an
in-memory referral, so one submission (``referrals_propose``) and a batch of thousands
(``intake.bulk``) follow the same rules: one referral per queue, an open referral for the same
patient and queue is reused, and a later submission may raise its urgency but never lower it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clinic.instances import unsaved
from intake.models import URGENCY_RANK, Intake, Urgency
from referrals.models import (
    EventKind,
    Queue,
    Referral,
    ReferralEvent,
    Status,
    referral_priority,
)
from referrals.notes import referral_note

# What a link to an open referral may change (saved with update_fields or bulk_update).
LINK_FIELDS = ("urgency", "due_at", "overdue_at", "red_flag_count", "priority", "updated_at")


@dataclass(frozen=True)
class Proposal:
    """What one case proposes for one queue."""

    queue: str
    urgency: str
    due_at: dt.datetime
    note: str
    suggested_after_clearance: list[str]
    # The red flags it brings: none once they are cleared (a released referral ranked above
    # others of its urgency by red flags already cleared: a review found it).
    red_flag_count: int = 0


# The note of an urgent medical review that staff asked for (a reroute), not a red flag.
ESCALATED_NOTE = (
    "Sent to urgent medical review by staff, not by a red flag in the answers: read the "
    "reason in the history and review the answers."
)


def proposals_for(
    *, intake: Intake, queues: Iterable[str], urgency: str, due: dt.datetime, cleared: bool = False
) -> list[Proposal]:
    """One proposal per queue (a queue named twice is one), in queue order, each with the note
    its clinician reads."""
    result = intake.triage_result
    all_queues = sorted(set(queues))
    flag_codes = intake.flag_codes
    suggested = result["suggested_after_clearance"]
    red_flags = intake.red_flag_count
    if cleared:
        # Released after clearance: the specialty note reads the case as its non-red flags.
        flag_codes = [code for code in flag_codes if not code.startswith("RED_FLAG_")]
        suggested = []
        red_flags = 0
    return [
        Proposal(
            queue=queue,
            urgency=urgency,
            due_at=due,
            note=_note(intake, queue, all_queues, flag_codes, suggested),
            suggested_after_clearance=result["suggested_after_clearance"]
            if queue == Queue.URGENT_MEDICAL_REVIEW and red_flags
            else [],
            red_flag_count=red_flags,
        )
        for queue in all_queues
    ]


def _note(
    intake: Intake, queue: str, queues: list[str], flag_codes: list[str], suggested: list[str]
) -> str:
    if queue == Queue.URGENT_MEDICAL_REVIEW and not any(
        code.startswith("RED_FLAG_") for code in flag_codes
    ):
        # Only a reroute by staff sends a case without a red flag here (triage never does).
        return ESCALATED_NOTE
    return referral_note(
        queue=queue,
        flag_codes=flag_codes,
        derived=intake.triage_result["derived"],
        queues=queues,
        suggested_after_clearance=suggested,
        answers=intake.answers,
    )


def referral_build(proposal: Proposal, *, intake: Intake, actor: Any) -> Referral:
    """The unsaved new referral for a proposal that found no open one to join."""
    return unsaved(
        Referral,
        patient_id=intake.patient_id,
        intake=intake,
        link_kind=intake.link_kind,
        queue=proposal.queue,
        urgency=proposal.urgency,
        red_flag_count=proposal.red_flag_count,
        priority=referral_priority(proposal.urgency, proposal.red_flag_count),
        due_at=proposal.due_at,
        note=proposal.note,
        suggested_after_clearance=proposal.suggested_after_clearance,
        created_by=actor,
    )


def created_event(referral: Referral, *, intake: Intake, actor: Any, reason: str) -> ReferralEvent:
    return unsaved(
        ReferralEvent,
        referral=referral,
        kind=EventKind.CREATED,
        actor=actor,
        to_status=Status.NEW,
        to_urgency=referral.urgency,
        reason=reason,
        data={"intake": intake.reference},
    )


def referral_join(
    existing: Referral, proposal: Proposal, *, intake: Intake, actor: Any
) -> tuple[list[ReferralEvent], bool]:
    """Join a new submission to an open referral: raise its urgency if higher, never lower it.

    Changes ``existing`` in memory (the caller saves LINK_FIELDS) and returns the unsaved history
    events and whether the urgency was raised (the caller then notifies).
    """
    events = [
        unsaved(
            ReferralEvent,
            referral=existing,
            kind=EventKind.LINKED,
            actor=actor,
            data={"intake": intake.reference, "urgency": proposal.urgency},
        )
    ]
    raised = URGENCY_RANK[Urgency(proposal.urgency)] > URGENCY_RANK[Urgency(existing.urgency)]
    if raised:
        old = existing.urgency
        existing.urgency = proposal.urgency
        # Only ever earlier: a referral already marked overdue stays overdue, and keeps its
        # mark (clearing it had the next run mark it and tell the triage lead again).
        existing.due_at = min(existing.due_at, proposal.due_at)
        events.append(
            unsaved(
                ReferralEvent,
                referral=existing,
                kind=EventKind.URGENCY_RAISED,
                actor=actor,
                from_urgency=old,
                to_urgency=proposal.urgency,
                data={"intake": intake.reference},
            )
        )
    existing.red_flag_count = max(existing.red_flag_count, proposal.red_flag_count)
    existing.priority = referral_priority(existing.urgency, existing.red_flag_count)
    return events, raised
