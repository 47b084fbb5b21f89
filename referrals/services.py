"""Every write to a referral goes through here: one transition service and the named moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from clinic.compiled import CompiledInstances, compiled_instances
from clinic.prepared import preparing
from intake.locks import lock_patient
from intake.models import RED_FLAG_UNCLEARED, URGENCY_RANK, Intake, Patient, Urgency
from referrals import access, webhooks
from referrals.calendar import WorkingCalendar, due_at
from referrals.dashboard import link_days_forget
from referrals.errors import (
    ChangedSinceShown,
    ChoiceRequired,
    QueueNotAllowed,
    ReasonRequired,
    TransitionNotAllowed,
)
from referrals.links import LINKED_KINDS
from referrals.models import (
    OPEN_STATUSES,
    REFER_AGAIN_SOURCES,
    TRANSITIONS,
    Action,
    EventKind,
    Queue,
    Referral,
    ReferralEvent,
    ReferralIntake,
    StaffNote,
    Status,
    not_before_set,
    referral_priority,
)
from referrals.proposals import (
    LINK_FIELDS,
    Proposal,
    created_event,
    proposals_for,
    referral_build,
    referral_join,
)
from referrals.red_flag_marks import red_flag_elsewhere_changed
from referrals.tasks import announce_pending, announce_pending_of

# Called with a referral under its lock, before a move's own checks: raises to refuse the move
# (the API's If-Match compares the referral's tag there, not before the lock: a move between
# the comparison and the lock went through on a stale tag).
Precondition = Callable[[Referral], None]

ASSIGNEE_ONLY = frozenset({Action.CONTACT, Action.SCHEDULE, Action.COMPLETE, Action.RELEASE})


def claimants_alone(action: str, referral: Referral, actor: Any, *, is_lead: bool) -> bool:
    """The move is its claimant's and ``actor`` is another, not a triage lead: refused
    (``referral_transition``; the queue's release confirmation says so before it is asked)."""
    return (
        action in ASSIGNEE_ONLY and referral.assigned_to_id not in (None, actor.pk) and not is_lead
    )


def clinic_calendar() -> WorkingCalendar:
    calendar: WorkingCalendar = settings.CLINIC_CALENDAR
    return calendar


# What a move left without its reason is told (the case page says it beside a choice left out).
REASON_REQUIRED: Final = "Please give a reason."
URGENCY_REASON_REQUIRED: Final = "Please give a reason for changing the urgency."


def referral_due_at(urgency: str, start: dt.datetime) -> dt.datetime:
    return due_at(urgency, start, clinic_calendar())


NOTIFIED_URGENCIES = frozenset({Urgency.EMERGENCY, Urgency.URGENT})


def _notify_on_commit(referral: Referral) -> None:
    """Alert the queue's staff once the caller's transaction commits (``Proposed.to_notify``
    chose the referrals that page)."""
    from referrals.tasks import notify_queue_staff

    pk = referral.pk
    transaction.on_commit(lambda: notify_queue_staff.enqueue(pk))


def _check_queue(actor: Any, queue: str) -> None:
    if queue not in access.queues_for(actor):
        raise QueueNotAllowed("You do not work this queue.")


@dataclass(frozen=True)
class Proposed:
    """What ``referrals_record`` wrote: every referral the case feeds (queue order), the new ones,
    and those whose urgency a joining submission raised."""

    referrals: list[Referral]
    created: list[Referral]
    raised: list[Referral]
    # The urgency each raised referral had before (by pk).
    raised_from: dict[int, str] = field(default_factory=dict)
    # The history event of each open referral joined ("New submission linked"), by its pk.
    linked: dict[int, ReferralEvent] = field(default_factory=dict)

    @property
    def to_notify(self) -> list[Referral]:
        """New or raised referrals whose urgency pages the queue's staff."""
        return [r for r in [*self.created, *self.raised] if r.urgency in NOTIFIED_URGENCIES]


def referrals_propose(
    *,
    intake: Intake,
    queues: Iterable[str],
    urgency: str,
    actor: Any = None,
    now: dt.datetime | None = None,
    reason: str = "",
    cleared: bool = False,
) -> list[Referral]:
    """One referral per queue; an open one for the same patient and queue is reused.

    A later submission may raise the urgency of the open referral, never lower it.
    Must run inside the caller's transaction. Subscribers and staff are told after it commits.
    """
    proposed = referrals_record(
        intake=intake,
        queues=queues,
        urgency=urgency,
        actor=actor,
        now=now,
        reason=reason,
        cleared=cleared,
    )
    # A release proposes at routine, and a join never lowers an urgency: it raises none, and
    # has no change of urgency to tell.
    _tell(proposed)
    return proposed.referrals


def _tell(proposed: Proposed, *, raised_by: Intake | None = None, cause: str = "") -> None:
    """Tell of new referrals (and those a case raised): subscribers, in this transaction,
    and the queue's staff, after it commits, for an emergency or urgent one. Whatever opens a
    referral in the caller's transaction tells of it here (``referrals_propose``,
    ``referral_refer_again``, ``referral_reroute``); a submission's worker does it in
    ``tasks.announce_intake``. ``raised_by`` and ``cause``: the case whose proposals raised
    ``proposed.raised``, and why it came (``webhooks.UrgencyCause``), to tell the raises."""
    webhooks.on_referrals_created(proposed.created)
    if raised_by is not None:
        for referral in proposed.raised:
            webhooks.on_referral_urgency_changed(
                referral, proposed.raised_from[referral.pk], cause=cause, intake=raised_by
            )
    for referral in proposed.to_notify:
        _notify_on_commit(referral)


def _open_of(patient_id: int, queues: Collection[str]) -> QuerySet[Referral]:
    """The patient's open referrals in ``queues``, newest first, locked for this transaction."""
    return (
        Referral.objects.select_for_update()
        .filter(
            patient_id=patient_id,
            queue__in_constants=queues,
            status__in_constants=OPEN_STATUSES,
        )
        .order_by("-id")
    )


# Patient ids no patient has: their place among the compiled lookup's parameters is the
# patient's.
_ANY_PATIENT, _ANY_PATIENT_AGAIN = -1, -2


@cache
def _open_lookup(alias: str, queues: tuple[str, ...]) -> CompiledInstances:
    """``_open_of`` compiled once per database and queue set (the queues and statuses are
    written into its SQL): building it cost about 400 µs a submission, inside the write
    transaction (on SQLite, with the database's one write lock held)."""
    return compiled_instances(
        _open_of(_ANY_PATIENT, queues).using(alias),
        {"patient": _ANY_PATIENT},
        (_open_of(_ANY_PATIENT_AGAIN, queues).using(alias), {"patient": _ANY_PATIENT_AGAIN}),
    )


def _open_referrals(patient_id: int, queues: Collection[str]) -> list[Referral]:
    """``_open_of(patient_id, queues)``'s referrals, without compiling it."""
    if not queues:
        return []
    alias = router.db_for_write(Referral)  # a locking read, as select_for_update() routes it
    lookup = _open_lookup(alias, tuple(sorted(set(queues))))
    # PostgreSQL took longer to plan it (the referrals' partial indexes) than to run it.
    with preparing(alias):
        return lookup.instances(connections[alias], patient=patient_id)


def referrals_record(
    *,
    intake: Intake,
    queues: Iterable[str],
    urgency: str,
    actor: Any = None,
    now: dt.datetime | None = None,
    reason: str = "",
    cleared: bool = False,
) -> Proposed:
    """The writes of ``referrals_propose`` without telling anyone (the caller does).

    A fixed number of statements whatever the queues: one locking read of the patient's open
    referrals, then one insert of the new referrals, one update of the joined ones (each only
    when there are any), one insert of the links and one of the events.
    """
    now = now or intake.submitted_at
    proposals = proposals_for(
        intake=intake,
        queues=queues,
        urgency=urgency,
        due=referral_due_at(urgency, now),
        cleared=cleared,
    )
    open_by_queue = {
        # The oldest wins, as .first() did.
        referral.queue: referral
        for referral in _open_referrals(intake.patient_id, [p.queue for p in proposals])
    }
    out: list[Referral] = []
    created: list[Referral] = []
    joined: list[Referral] = []
    raised: list[Referral] = []
    raised_from: dict[int, str] = {}
    alerted: list[str] = []  # last_alert_at, once a raise to emergency has set it
    join_events: list[ReferralEvent] = []
    for proposal in proposals:
        existing = open_by_queue.get(proposal.queue)
        if existing is None:
            referral = referral_build(proposal, intake=intake, actor=actor)
            created.append(referral)
            out.append(referral)
            continue
        before = existing.urgency
        events, was_raised = referral_join(existing, proposal, intake=intake, actor=actor)
        join_events.extend(events)
        # bulk_update below skips UpdatedAtField.pre_save: its floor is applied here (a clock
        # behind the one that created or claimed the referral must not fail the submission).
        existing.updated_at = not_before_set(existing, timezone.now())
        joined.append(existing)
        if was_raised:
            raised.append(existing)
            raised_from[existing.pk] = before
            if existing.urgency == Urgency.EMERGENCY:
                # The raise pages the queue (to_notify): the unclaimed-emergency re-alert
                # counts its 15 minutes from here, not from the referral's opening at a lower
                # urgency (it paged everyone again at the next minute's run).
                existing.last_alert_at = existing.updated_at
                alerted = ["last_alert_at"]
        out.append(existing)
    if created:
        Referral.objects.bulk_create(created)
    if joined:
        Referral.objects.bulk_update(joined, [*LINK_FIELDS, *alerted])
    # A submission's intake is new, so none of its links exist yet; a reroute or a release
    # proposes for a stored case, which may already feed the open referral it joins (a
    # reroute to a queue the case also went to was a 500: a review found it).
    ReferralIntake.objects.bulk_create(
        [ReferralIntake(referral=referral, intake=intake) for referral in out],
        ignore_conflicts=True,
    )
    ReferralEvent.objects.bulk_create(
        [
            *(created_event(r, intake=intake, actor=actor, reason=reason) for r in created),
            *join_events,
        ]
    )
    return Proposed(
        referrals=out,
        created=created,
        raised=raised,
        raised_from=raised_from,
        linked={e.referral_id: e for e in join_events if e.kind == EventKind.LINKED},
    )


def _check_shown(
    locked: Referral,
    *,
    actor: Any,
    shown_status: str | None,
    shown_assignee: str | None = None,
    shown_again: str | None = None,
) -> None:
    """Refuse a move chosen on a page that showed the referral in another status, or with
    another assignee ("" for none), than it has now (``locked``, under its lock). The status
    table alone let a move chosen against a stale page through whenever it was legal from the
    new status: a page still showing a referral new cancelled it once a colleague had scheduled
    an appointment, or declined it once the patient had been contacted (found in a QA round
    with two staff on one case). None: not given (the API and pages from before act on the
    referral as it is). ``shown_again``: the public id of the referral made again from this
    closed one that the page showed ("" for none): a closed referral's status does not move
    when a colleague refers it again, and "entered in error" chosen on a page from before went
    through, the new referral made from a record called wrong left open in the queue."""
    if shown_status is None and shown_assignee is None and shown_again is None:
        return  # no extra read of the assignee for the API's moves
    if shown_again is not None:
        _check_shown_again(locked, actor=actor, shown_again=shown_again)
    assignee = locked.assigned_to.get_username() if locked.assigned_to else ""
    if (shown_status is None or locked.status == shown_status) and (
        shown_assignee is None or assignee == shown_assignee
    ):
        return
    now = locked.get_status_display() + (f", assigned to {assignee}" if assignee else "")
    # A move clicked twice is answered by its second request: "a colleague" named someone who
    # was not there.
    last = (
        ReferralEvent.objects.filter(referral=locked, kind=EventKind.TRANSITION)
        .order_by("-created_at", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )
    by = (
        "you changed this referral since the page was shown (from another window, or with a "
        "second click)"
        if last is not None and last == actor.pk
        else "a colleague changed this referral since the page was shown"
    )
    raise ChangedSinceShown(
        f"Nothing was saved: {by}. It is now {now} (see the history). Check the case and "
        "choose again.",
        now=now,
    )


def _check_shown_again(locked: Referral, *, actor: Any, shown_again: str) -> None:
    later = (
        Referral.objects.filter(referred_again_from=locked)
        .select_related("intake")
        .only("public_id", "status", "created_by", "intake__reference")
        .first()
    )
    if (str(later.public_id) if later else "") == shown_again or later is None:
        return
    by = "you" if later.created_by_id == actor.pk else "a colleague"
    raise TransitionNotAllowed(
        f"Nothing was saved: {by} referred this referral again since the page was shown, as "
        f"a new referral ({later.intake.reference}, {later.get_status_display()}). Check both "
        "and choose again: if this record is wrong, the new referral may be too."
    )


def referral_transition(
    *,
    referral: Referral,
    action: str,
    actor: Any,
    reason: str = "",
    data: dict[str, Any] | None = None,
    shown_status: str | None = None,
    shown_assignee: str | None = None,
    shown_again: str | None = None,
    precondition: Precondition | None = None,
) -> Referral:
    """The one place a referral's status moves: lock, check the table, record, save.

    ``shown_status``, ``shown_assignee`` ("" for none) and ``shown_again`` (a closed
    referral's page: the referral made again from it, "" for none): the referral as the page
    the move was chosen on showed it (the case page sends them); the move is refused when it
    has changed since (``_check_shown``). ``precondition``: called with the referral under
    its lock before any other check of the move, to refuse it by raising (the API's
    If-Match)."""
    move = TRANSITIONS.get(action)
    if move is None:
        raise TransitionNotAllowed(f"Unknown action {action!r}.")
    reason = (reason or "").strip()
    with transaction.atomic():
        announce_pending(referral.pk)  # its creation is told before its first change
        locked = Referral.objects.select_for_update().get(pk=referral.pk)
        _check_queue(actor, locked.queue)
        if precondition is not None:
            precondition(locked)
        _check_shown(
            locked,
            actor=actor,
            shown_status=shown_status,
            shown_assignee=shown_assignee,
            shown_again=shown_again,
        )
        if action == Action.CLEAR_RED_FLAG and locked.queue != Queue.URGENT_MEDICAL_REVIEW:
            raise TransitionNotAllowed("Only an urgent medical review clears a red flag.")
        if locked.status not in move.sources:
            if action == Action.CLAIM and locked.status == Status.CLAIMED:
                who = locked.assigned_to.get_username() if locked.assigned_to else "someone else"
                raise TransitionNotAllowed(f"This referral has already been claimed by {who}.")
            raise TransitionNotAllowed(
                f"A referral that is {locked.get_status_display().lower()} cannot be moved by "
                f"“{Action(action).label.lower()}”."
            )
        if move.needs_reason and not reason:
            raise ReasonRequired(REASON_REQUIRED)
        if claimants_alone(action, locked, actor, is_lead=access.is_triage_lead(actor)):
            raise TransitionNotAllowed("Only the clinician who claimed this referral can do that.")
        now = timezone.now()
        from_status = locked.status
        locked.status = move.target
        fields = ["status", "updated_at"]
        if action == Action.CLAIM:
            locked.assigned_to = actor
            locked.claimed_at = now
            fields += ["assigned_to", "claimed_at"]
        elif action == Action.RELEASE:
            locked.assigned_to = None
            fields += ["assigned_to"]
        if move.target not in OPEN_STATUSES:
            locked.closed_at = now
            fields.append("closed_at")
        locked.save(update_fields=fields)
        if action == Action.ENTERED_IN_ERROR and locked.link_kind in LINKED_KINDS:
            # It leaves the dashboard's foot-and-back counts, kept per closed day.
            link_days_forget(since=locked.created_at)
        ReferralEvent.objects.create(
            referral=locked,
            kind=EventKind.TRANSITION,
            actor=actor,
            from_status=from_status,
            to_status=move.target,
            reason=reason,
            data=data or {},
        )
        webhooks.on_referral_status_changed(locked, from_status)
    return locked


def _move(action: str) -> Callable[..., Referral]:
    def service(*, referral: Referral, actor: Any, reason: str = "") -> Referral:
        return referral_transition(referral=referral, action=action, actor=actor, reason=reason)

    service.__name__ = f"referral_{action}"
    return service


referral_claim = _move(Action.CLAIM)
referral_release = _move(Action.RELEASE)
referral_contact = _move(Action.CONTACT)
referral_schedule = _move(Action.SCHEDULE)
referral_complete = _move(Action.COMPLETE)
referral_decline = _move(Action.DECLINE)
referral_cancel = _move(Action.CANCEL)
referral_mark_entered_in_error = _move(Action.ENTERED_IN_ERROR)


def referral_reroute(
    *,
    referral: Referral,
    actor: Any,
    queue: str,
    reason: str,
    shown_status: str | None = None,
    shown_assignee: str | None = None,
    precondition: Precondition | None = None,
) -> Referral:
    """Close this referral as rerouted and propose one in another queue, linked to it.

    ``shown_status``, ``shown_assignee``, ``precondition``: as ``referral_transition`` takes
    them."""
    if queue not in Queue.values:
        raise ChoiceRequired("Choose one of the clinic's queues.")
    if queue == referral.queue:
        raise TransitionNotAllowed("The referral is already in that queue.")
    with transaction.atomic():
        lock_patient(referral.patient_id)
        # The cases of this referral and of the open one the case may join, announced together
        # (in one order) before anything locks a referral, as a move announces its own: the
        # joined one's creation is told before the raise the reroute may make.
        joining = Referral.objects.filter(
            patient_id=referral.patient_id, queue=queue, status__in=OPEN_STATUSES
        ).values_list("pk", flat=True)
        announce_pending(referral.pk, *joining)
        if precondition is not None:
            # Before the refusals below, as referral_transition checks it before its own; the
            # cases were announced above, then the referral is locked, as there.
            precondition(Referral.objects.select_for_update().get(pk=referral.pk))
        current = Referral.objects.only("queue", "red_flag_count").get(pk=referral.pk)
        if current.leaves_by_clearance:
            # A red flag leaves this queue only through its clearance, with its reason (a
            # reroute skipped that, and was a 500: a review found it).
            raise TransitionNotAllowed(
                "A case with a red flag leaves urgent medical review when its red flag is "
                "cleared: clear it, with your reason, and choose the queues to release it to."
            )
        old = referral_transition(
            referral=referral,
            action=Action.REROUTE,
            actor=actor,
            reason=reason,
            data={"to": queue},
            shown_status=shown_status,
            shown_assignee=shown_assignee,
        )
        intake = old.intake
        proposed = referrals_record(
            intake=intake,
            queues=[queue],
            urgency=old.urgency,
            actor=actor,
            reason=reason,
            # A case released after clearance is rerouted as released: its red flags are done.
            cleared=intake.red_flag_cleared_at is not None,
        )
        _tell(proposed, raised_by=intake, cause=webhooks.UrgencyCause.REROUTE)
        (new,) = proposed.referrals
        old.rerouted_into = new
        old.save(update_fields=["rerouted_into"])
        # The case must not wait longer for joining the patient's open referral of the queue,
        # whatever that one came from: it was carried over only when that one had come from no
        # other queue (its rerouted_from free), and a case rerouted into one that had lost its
        # earlier due time and waiting start (docs/CLINICAL_DECISIONS.md, reroutes 5).
        new.due_at = min(new.due_at, old.due_at)
        new.waiting_since = min(new.waits_since, old.waits_since)
        fields = ["due_at", "waiting_since", "updated_at"]
        if new.rerouted_from_id is None:
            new.rerouted_from = old
            fields.append("rerouted_from")
        new.save(update_fields=fields)
        if not proposed.created:
            # Its history names the referral that came in, as the closed one's names the queue
            # it went to: the join's own event, which said "New submission linked" where the
            # patient had sent nothing new (a QA round found both lines).
            joined = proposed.linked[new.pk]
            joined.kind = EventKind.REROUTED_IN
            joined.reason = reason
            joined.data = {**joined.data, "from": old.queue, "referral": str(old.public_id)}
            joined.save(update_fields=["kind", "reason", "data"])
    return new


def referral_refer_again(
    *, referral: Referral, actor: Any, reason: str, precondition: Precondition | None = None
) -> Referral:
    """A new referral for the case of a referral completed, declined or cancelled by mistake,
    in the same queue, linked to it (``referred_again_from``). Closed statuses stay terminal:
    the closed referral is left as it was but for a history event naming the new one.

    The new referral keeps the closed one's urgency (never below a red flag standing on a case
    that fed it), due time (the earlier of the closed one's and its urgency's counted from when
    the case first waited), note and cases, and waits from when the case first waited. Refused
    while the patient has an open referral in that queue (it is named), once the closed one
    has been referred again, for a specialty queue while a red flag of the patient stands,
    and for a review whose red flags were cleared since (referring again does not undo a
    clearance). See docs/CLINICAL_DECISIONS.md (Referring again). ``precondition``: as
    ``referral_transition`` takes it."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(REASON_REQUIRED)
    with transaction.atomic():
        # The patient's lock first, as a submission, a reroute and a release take it: whichever
        # comes second finds the referral the first opened (the partial unique index holds
        # it too).
        lock_patient(referral.patient_id)
        closed = Referral.objects.select_for_update().get(pk=referral.pk)
        _check_queue(actor, closed.queue)
        if precondition is not None:
            precondition(closed)
        _check_may_refer_again(closed, actor=actor)
        open_now = _open_referrals(closed.patient_id, [closed.queue])
        if open_now:
            raise TransitionNotAllowed(_open_already(open_now[0]))
        cases = list(
            ReferralIntake.objects.filter(referral=closed).values_list("intake_id", flat=True)
        )
        standing = list(
            Intake.objects.filter(RED_FLAG_UNCLEARED, patient_id=closed.patient_id)
            .order_by("submitted_at", "id")
            .only("reference", "urgency", "red_flag_count")
        )
        if standing and closed.queue != Queue.URGENT_MEDICAL_REVIEW:
            raise TransitionNotAllowed(
                f"A red flag of this patient is not cleared "
                f"({', '.join(case.reference for case in standing)}): while it stands the case "
                "goes to urgent medical review only. Nothing was saved: the medical reviewer "
                "clears it there and releases the case to this queue."
            )
        # A review keeps the red flags of its cases still standing: it leaves its queue only
        # through their clearance, and ranks and is due as they are.
        flagged = [case for case in standing if case.pk in set(cases)]
        if closed.queue == Queue.URGENT_MEDICAL_REVIEW and closed.red_flag_count and not flagged:
            # Its red flags are cleared (the review closed by the clearance, or cleared on
            # their own after it was completed): made again, it was an emergency review with no
            # red flag, its note asking to clear flags already cleared, its staff paged.
            raise TransitionNotAllowed(
                "The red flags this review was for were cleared since: referring it again "
                "would not undo the clearance. Nothing was saved: to have the case reviewed "
                "again, reroute its open referral to urgent medical review, with your reason."
            )
        urgency = max(
            [closed.urgency, *(case.urgency for case in flagged)],
            key=lambda u: URGENCY_RANK[Urgency(u)],
        )
        red_flags = max([0, *(case.red_flag_count for case in flagged)])
        since = closed.waits_since
        # Built and recorded as any new referral is (referrals.proposals), from the closed
        # one's values rather than the case's triage.
        intake = closed.intake
        proposal = Proposal(
            queue=closed.queue,
            urgency=urgency,
            due_at=min(closed.due_at, referral_due_at(urgency, since)),
            note=closed.note,
            suggested_after_clearance=closed.suggested_after_clearance if red_flags else [],
            red_flag_count=red_flags,
        )
        new = referral_build(proposal, intake=intake, actor=actor)
        new.waiting_since = since
        new.referred_again_from = closed
        # The case's first claim in this queue stays the one counted (dashboard.claim_waits).
        new.case_claimed_at = closed.case_claimed_at or closed.claimed_at
        new.save(force_insert=True)
        ReferralIntake.objects.bulk_create(
            [ReferralIntake(referral=new, intake_id=intake_id) for intake_id in cases]
        )
        created = created_event(new, intake=intake, actor=actor, reason=reason)
        created.data = {
            **created.data,
            "again_from": str(closed.public_id),
            "closed_as": closed.status,
        }
        ReferralEvent.objects.bulk_create(
            [
                ReferralEvent(
                    referral=closed,
                    kind=EventKind.REFERRED_AGAIN,
                    actor=actor,
                    reason=reason,
                    data={"as": str(new.public_id)},
                ),
                created,
            ]
        )
        _tell(Proposed(referrals=[new], created=[new], raised=[]))
    return new


def _check_may_refer_again(closed: Referral, *, actor: Any) -> None:
    if closed.status == Status.REROUTED:
        # Where it went on (rerouted_into): the referral a reroute joined may name another
        # as its rerouted_from, and the refusal named no queue.
        went = (
            Referral.objects.filter(pk=closed.rerouted_into_id)
            .values_list("queue", flat=True)
            .first()
            if closed.rerouted_into_id is not None
            else None
        )
        where = f" to {Queue(went).label}" if went else ""
        raise TransitionNotAllowed(
            f"This referral was rerouted{where}: the case went on there. Act on the referral "
            "in that queue (a reroute back brings it here)."
        )
    if closed.status == Status.ENTERED_IN_ERROR:
        raise TransitionNotAllowed(
            "This referral was entered in error: it is not the patient's referral to make "
            "again. Nothing was saved."
        )
    if closed.status not in REFER_AGAIN_SOURCES:
        raise TransitionNotAllowed(
            "Only a completed, declined or cancelled referral is referred again: this one is "
            f"{closed.get_status_display().lower()}."
        )
    later = (
        Referral.objects.filter(referred_again_from=closed)
        .select_related("intake")
        .only("status", "created_at", "created_by", "intake__reference")
        .first()
    )
    if later is not None:
        # "Refer again" clicked twice is answered by its second request: it names the first's
        # referral as the actor's own, not as someone else's.
        by = (
            "You referred this referral again already (from another window, or with a second click)"
            if later.created_by_id == actor.pk
            else "This referral was already referred again"
        )
        raise TransitionNotAllowed(
            f"{by}: the case goes on from the new referral ({later.intake.reference}, "
            f"{later.get_status_display()}, from "
            f"{timezone.localtime(later.created_at):%-d %b %Y})."
        )
    anonymised = Patient.objects.filter(pk=closed.patient_id).values_list(
        "anonymised_at", flat=True
    )
    if anonymised.get() is not None:
        raise TransitionNotAllowed(
            "This patient's details were erased at their request: no new referral is made."
        )


def _open_already(referral: Referral) -> str:
    """The refusal naming the patient's open referral in the queue."""
    reference = Intake.objects.values_list("reference", flat=True).get(pk=referral.intake_id)
    return (
        f"Nothing was saved: this patient already has an open referral in "
        f"{referral.get_queue_display()} ({reference}, {referral.get_status_display()}, "
        f"from {timezone.localtime(referral.created_at):%-d %b %Y}). Work on that one."
    )


def _waiting_since(referral: Referral) -> dt.datetime:
    """When the case began to wait for this referral: a rerouted referral's first queue took
    it then. A reroute keeps the earlier due time, and so does a change of urgency after it
    (counted from the reroute, routine -> urgent -> routine gave the case five more working
    days than it had: a review found it; docs/CLINICAL_DECISIONS.md). The earliest created_at
    of its chain of reroutes, which ``referral_reroute`` stores (``Referral.waits_since``)."""
    return referral.waits_since


def referral_override_urgency(
    *,
    referral: Referral,
    actor: Any,
    urgency: str,
    reason: str,
    shown: str | None = None,
    precondition: Precondition | None = None,
) -> Referral:
    """A clinician's override, up or down, always with a recorded reason.

    ``shown``: the urgency the clinician saw when choosing (the case page sends it). The
    choice is refused when the urgency has changed since (a colleague's override, a new
    submission raising it): a page showing routine chose "urgent" as a raise, and lowered an
    emergency set meanwhile. ``precondition``: as ``referral_transition`` takes it."""
    if urgency not in Urgency.values:
        # The urgencies it can take: the case page offers no other (the message named all three).
        others = [value for value in Urgency.values if value != referral.urgency]
        raise ChoiceRequired(f"Choose {' or '.join(others)}.")
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(URGENCY_REASON_REQUIRED)
    with transaction.atomic():
        announce_pending(referral.pk)  # the creation is told with the urgency it had
        locked = Referral.objects.select_for_update().get(pk=referral.pk)
        _check_queue(actor, locked.queue)
        if precondition is not None:
            precondition(locked)
        if locked.status not in OPEN_STATUSES:
            raise TransitionNotAllowed("Only an open referral's urgency can be changed.")
        if shown is not None and locked.urgency != shown:
            raise TransitionNotAllowed(
                f"Nothing was saved: the urgency changed to {locked.get_urgency_display()} "
                "since the page was shown (see the history). Check the case and choose again."
            )
        if locked.urgency == urgency:
            raise TransitionNotAllowed("The referral already has that urgency.")
        old = locked.urgency
        locked.urgency = urgency
        locked.priority = referral_priority(urgency, locked.red_flag_count)
        locked.due_at = referral_due_at(urgency, _waiting_since(locked))
        locked.overdue_at = None
        locked.save(update_fields=["urgency", "priority", "due_at", "overdue_at", "updated_at"])
        ReferralEvent.objects.create(
            referral=locked,
            kind=EventKind.URGENCY_OVERRIDDEN,
            actor=actor,
            from_urgency=old,
            to_urgency=urgency,
            reason=reason,
        )
        webhooks.on_referral_urgency_changed(locked, old, cause=webhooks.UrgencyCause.OVERRIDE)
    return locked


def suggested_after_clearance(cases: Iterable[Intake]) -> list[str]:
    """The queues triage suggested after clearance for any of ``cases``: what a clearance
    releases unless the reviewer chooses (the case page ticks them)."""
    return sorted(
        {q for case in cases for q in case.triage_result.get("suggested_after_clearance", [])}
    )


def _already_cleared(intake: Intake) -> str:
    """Two reviewers clearing at once: the second is told who cleared it first, and when (a
    staff username, as the history shows it)."""
    who = intake.red_flag_cleared_by
    # With its zone ("GMT", "BST"): the API hands the same words to systems elsewhere.
    at = date_format(timezone.localtime(intake.red_flag_cleared_at), "D j M Y H:i T")
    by = f" by {who.get_username()}" if who is not None else ""
    return f"The red flag on this case has already been cleared{by} at {at}."


def intake_clear_red_flag(
    *,
    intake: Intake,
    actor: Any,
    reason: str,
    release_queues: Collection[str] | None = None,
    seen: Collection[str] | None = None,
    shown_status: str | None = None,
    shown_review: str | None = None,
) -> list[Referral]:
    """The medical reviewer clears the red flag and, in the same step, releases referrals.

    One open urgent medical review serves every submission of the patient that fed it (a later
    one joins it): clearing it clears the red flags of each of those cases still uncleared,
    all of which the reviewer must have seen: ``seen`` names the cases (by reference) whose
    flags the reviewer read (the case page sends those it showed; by default the case named).
    A case with red flags not among them refuses the clearance, naming it (a review found a
    red flag that joined after the page was loaded cleared unseen). Each chosen queue is
    released for the cases that suggested it, or for this case when none did. A review found a
    later case's red flag left active for good once the first case was cleared, its review
    closed by that clearance: such a case, left from before, is cleared on its own. See
    docs/CLINICAL_DECISIONS.md (Red-flag clearance and reroutes). ``shown_status``: the
    review's status as the page showed it (the case page sends it); the clearance is refused
    when a colleague has moved the review since (a page showing it scheduled cleared it, and
    released queues, as a case whose review was completed, once a colleague completed it).
    ``shown_review``: the public id of the review the page showed (the case page sends it);
    ``shown_status`` is that review's. Without it the status was compared with whichever review
    the clearance found: an older completed one once the page's review had been closed
    otherwise (a review made again from it, then entered in error), which named that one's
    status, and passed when the page showed "completed".
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("Please give a reason for clearing the red flag.")
    _check_queue(actor, Queue.URGENT_MEDICAL_REVIEW)
    chosen = None if release_queues is None else sorted(set(release_queues))
    # A queue named twice is released once (it made two proposals and a 500 before).
    if chosen is not None and set(chosen) - (set(Queue.values) - {Queue.URGENT_MEDICAL_REVIEW}):
        raise TransitionNotAllowed("Release only to the specialty and general review queues.")
    with transaction.atomic():
        lock_patient(intake.patient_id)
        # The cases still to announce of the patient's open referrals a release may join or
        # the stamp below touches, before any case or referral is locked: a status move locks
        # its case (announce_pending), then its referral; announced by the stamp after the
        # release had locked (joined) that referral, the two deadlocked. Not the review's:
        # announced after the clearance (below), their red flags no longer stand.
        announce_pending_of(
            Referral.objects.filter(patient_id=intake.patient_id, status__in=OPEN_STATUSES).exclude(
                queue=Queue.URGENT_MEDICAL_REVIEW
            )
        )
        fed = Referral.objects.filter(intakes=intake, queue=Queue.URGENT_MEDICAL_REVIEW)
        open_review = fed.filter(status__in=OPEN_STATUSES).order_by("id").first()
        # The cases first, then the review: the order a status move takes them in.
        covered = (
            ReferralIntake.objects.filter(referral=open_review).values_list("intake_id", flat=True)
            if open_review is not None
            else [intake.pk]
        )
        cases = list(
            Intake.objects.select_for_update()
            .filter(RED_FLAG_UNCLEARED, pk__in=covered)
            .order_by("submitted_at", "id")
        )
        if not cases:
            current = (
                Intake.objects.select_related("red_flag_cleared_by")
                .only("red_flag_count", "red_flag_cleared_at", "red_flag_cleared_by__username")
                .get(pk=intake.pk)
            )
            if not current.red_flag_count:
                raise TransitionNotAllowed("This case has no red flag to clear.")
            if current.red_flag_cleared_at is not None:
                raise TransitionNotAllowed(_already_cleared(current))
            raise TransitionNotAllowed("There is no open urgent medical review for this case.")
        read = set(seen or [intake.reference])
        unseen = [case.reference for case in cases if case.reference not in read]
        if unseen:
            raise TransitionNotAllowed(
                f"Another submission with a red flag feeds this review ({', '.join(unseen)}): "
                "read its flags on the review's page, then clear them together."
            )
        if open_review is not None:
            review = Referral.objects.select_for_update().get(pk=open_review.pk)
            if not review.is_open:
                raise TransitionNotAllowed("There is no open urgent medical review for this case.")
        else:
            # A case whose review was completed (by another case's clearance, before every
            # case of a review was cleared together, or by the review's own work) is cleared
            # on its own; a review cancelled, declined or entered in error is not reopened by a
            # release (a review found it).
            # Nor is one referred again: its completion was a mistake, and the case's review is
            # the one made from it (cancelled, it released the case as the first one "completed
            # by its work"), unless that one was itself entered in error.
            superseded = Exists(
                Referral.objects.filter(referred_again_from=OuterRef("pk")).exclude(
                    status=Status.ENTERED_IN_ERROR
                )
            )
            # Locked, as the open review is: marking it entered in error (referral_transition
            # locks the referral alone) between this read and the commit left the clearance
            # acting on a review called wrong. PostgreSQL reads the row again once its lock is
            # given, and passes it over if it is no longer completed.
            closed = (
                fed.filter(status=Status.COMPLETED)
                .exclude(superseded)
                .order_by("-id")
                .select_for_update(of=("self",))
                .first()
            )
            if closed is None:
                _check_shown_review(fed, None, actor=actor, shown=shown_review, status=shown_status)
                raise TransitionNotAllowed("There is no open urgent medical review for this case.")
            review = closed
        _check_shown_review(fed, review, actor=actor, shown=shown_review, status=shown_status)
        _check_shown(review, actor=actor, shown_status=shown_status)
        suggested = suggested_after_clearance(cases)
        queues = suggested if chosen is None else chosen
        # Each queue for the cases that suggested it; one no case suggested, for this case
        # (or the first): a release opened on a case that did not suggest it read wrong.
        named = next((case for case in cases if case.pk == intake.pk), cases[0])
        release: dict[int, list[str]] = {case.pk: [] for case in cases}
        for queue in queues:
            takers = [case for case in cases if queue in suggested_after_clearance([case])]
            takers = takers or [named]
            for case in takers:
                release[case.pk].append(queue)
        now = timezone.now()
        # One statement for every case (a review may have hundreds).
        Intake.objects.filter(pk__in=[case.pk for case in cases]).update(
            red_flag_cleared_at=now,
            red_flag_cleared_by=actor,
            red_flag_clearance_reason=reason,
            updated_at=now,
        )
        ReferralEvent.objects.create(
            referral=review,
            kind=EventKind.RED_FLAG_CLEARED,
            actor=actor,
            reason=reason,
            data={
                "released": queues,
                "suggested": suggested,
                "intakes": [case.reference for case in cases],
            },
        )
        if review.is_open:
            referral_transition(
                referral=review,
                action=Action.CLEAR_RED_FLAG,
                actor=actor,
                reason=reason,
                data={"released": queues},
            )
        released: dict[int, Referral] = {}
        for case in cases:
            if not release[case.pk]:
                continue
            for referral in referrals_propose(
                intake=case,
                queues=release[case.pk],
                urgency=Urgency.ROUTINE,
                actor=actor,
                now=now,
                reason=f"Released after red-flag clearance: {reason}",
                cleared=True,
            ):
                released.setdefault(referral.pk, referral)
        # Their red_flag_elsewhere may now be false: the API's list polled by updated_since
        # reads them again (the cases, then the review, then these: a status move's order).
        # Webhook subscribers hear of each, naming the case cleared (``named``).
        red_flag_elsewhere_changed(
            intake.patient_id,
            now=now,
            cause=webhooks.RedFlagCause.CLEARANCE,
            case=lambda: named,
        )
    return list(released.values())


def _check_shown_review(
    fed: QuerySet[Referral],
    review: Referral | None,
    *,
    actor: Any,
    shown: str | None,
    status: str | None,
) -> None:
    """Refuse a clearance chosen on a page that showed another review of the case than
    ``review``, the one it would act on (None: none): named as that page's review is now."""
    if shown is None or (review is not None and str(review.public_id) == shown):
        return
    page_review = fed.filter(public_id=shown).first()
    if page_review is None:
        raise TransitionNotAllowed(
            "Nothing was saved: the review you chose to clear does not review this case. "
            "Check the case and choose again."
        )
    _check_shown(page_review, actor=actor, shown_status=status)
    now = (
        f"another review of this case ({review.get_status_display()})"
        if review is not None
        else "no open urgent medical review for this case"
    )
    raise TransitionNotAllowed(
        f"Nothing was saved: the clearance would act on {now}, not the review you chose to "
        f"clear ({page_review.get_status_display()}). Check the case and choose again."
    )


NOTE_REPEAT_WINDOW = dt.timedelta(minutes=2)


def referral_add_note(*, referral: Referral, actor: Any, text: str) -> StaffNote:
    text = (text or "").strip()
    if not text:
        raise ReasonRequired("The note is empty.")
    _check_queue(actor, referral.queue)
    with transaction.atomic():
        # The referral's lock orders two sends of one form (a double click saved the note
        # twice: a review found it); the same text by the same author just now is that note.
        list(Referral.objects.select_for_update().filter(pk=referral.pk).values_list("pk"))
        repeat = (
            StaffNote.objects.filter(
                referral=referral,
                author=actor,
                text=text,
                created_at__gte=timezone.now() - NOTE_REPEAT_WINDOW,
            )
            .order_by("-id")
            .first()
        )
        if repeat is not None:
            return repeat
        return StaffNote.objects.create(referral=referral, author=actor, text=text)
