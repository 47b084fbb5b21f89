"""Background work: notifications and escalation, run by the database task worker."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.tasks import TaskResultStatus, task
from django.utils import timezone

from intake.locks import lock_patient
from intake.models import RED_FLAG_UNCLEARED, Intake, Urgency
from referrals import webhooks
from referrals.access import QUEUE_GROUPS, TRIAGE_LEAD_GROUP
from referrals.models import (
    OPEN_STATUSES,
    EventKind,
    Referral,
    ReferralEvent,
    ReferralIntake,
    Status,
    status_is,
)
from referrals.red_flag_marks import red_flag_elsewhere_changed

log = logging.getLogger(__name__)

EMERGENCY_REALERT = dt.timedelta(minutes=15)


def _staff_emails(group_name: str) -> list[str]:
    users = get_user_model().objects.filter(groups__name=group_name, is_active=True)
    return sorted({email for email in users.values_list("email", flat=True) if email})


def _with_staff_text(body: str, cases: Iterable[Intake]) -> str:
    """``body`` and, at its end, spec §7's staff text naming the ruleset versions of ``cases``
    (those that opened the referrals told of): an email telling staff a case's urgency or
    queue is a triage view too (docs/CLINICAL_DECISIONS.md, Patient texts 6)."""
    return f"{body}\n\n{webhooks.staff_text(cases)}"


def _send(recipients: list[str], subject: str, body: str, *, group: str) -> None:
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    else:
        # An emergency told to nobody must show in the log: a new installation's queues have no
        # staff yet, and staff without an email address are skipped.
        log.warning(
            "Alert not sent, no active member of %r has an email address: %s", group, subject
        )


@task()
def announce_intake(
    intake_id: int, referral_ids: list[int], created_ids: list[int], notify_ids: list[int]
) -> int:
    """After a submission commits, in one transaction: record its webhooks (intake.submitted,
    and referral.status_changed for each new referral), enqueue an alert to the staff of each
    emergency or urgent referral it opened or raised (``notify_queue_staff``, which retries a
    mail that fails), and mark the intake announced. Returns the number of alerts enqueued.

    A task that failed or whose worker died leaves the intake unannounced, and
    ``announce_missed`` enqueues it again (a review found such cases' webhooks and alerts lost
    for good); one already announced is left alone, so each is recorded once. The mail server
    being away delays the alerts only, not the webhooks.

    The open referrals it joined and raised are told as ``referral.urgency_changed`` (cause
    "submission"), after the announcement of any earlier case feeding them that the worker has
    not reached yet (this task may run before an earlier one's): a subscriber hears of a
    referral's creation before its raise."""
    intake = Intake.objects.only(
        "public_id",
        "reference",
        "urgency",
        "ruleset_version",
        "announced_at",
        "submitted_at",
        "patient_id",
        "red_flag_count",
        "red_flag_cleared_at",
    ).get(pk=intake_id)
    if intake.announced_at is not None:
        return 0
    found = Referral.objects.select_related("intake").filter(pk__in=referral_ids)
    referrals = {r.pk: r for r in found}
    with transaction.atomic():
        raises, left_at = _as_left_by(intake, set(referral_ids) - set(created_ids))
        _announce_earlier(intake, {event.referral_id for event in raises})
        if not Intake.objects.select_for_update().filter(pk=intake_id, announced_at=None):
            return 0  # another run of this task got there first
        # Told as this case left them: a later case may have raised them since, and its own
        # announcement tells that (a move, an override or a reroute announces this case first).
        for pk in created_ids:
            referrals[pk].urgency = intake.urgency  # a submission opens them at its urgency
        for pk, urgency in left_at.items():
            referrals[pk].urgency = urgency
        fed = [referrals[pk] for pk in referral_ids]  # those it opened are among them
        # The red flags standing, read once for both events (none when nobody subscribes).
        standing = webhooks.red_flags_read_once(fed)
        webhooks.on_intake_submitted(intake, fed, standing=standing)
        webhooks.on_referrals_created([referrals[pk] for pk in created_ids], standing=standing)
        for event in raises:
            webhooks.on_referral_urgency_changed(
                referrals[event.referral_id],
                event.from_urgency,
                cause=webhooks.UrgencyCause.SUBMISSION,
                intake=intake,
            )
        for pk in notify_ids:
            notify_queue_staff.enqueue(pk)  # a task row of this transaction
        if intake.red_flag_uncleared:
            # The patient's open specialty referrals now say so in the API's list: stamped by
            # a task of its own, not in the submission (whose statements are the same whatever
            # the flags) nor here, where a reroute's announce_pending runs this inside its
            # own transaction, and a stamp of the referral it moves failed its If-Match.
            stamp_red_flag_elsewhere.enqueue(  # a task row of this one
                intake.patient_id, intake_id=intake.pk
            )
        Intake.objects.filter(pk=intake_id).update(announced_at=timezone.now())
    return len(notify_ids)


STAMP_ATTEMPTS = 6
STAMP_RETRY = dt.timedelta(seconds=30)
# The longest a stamp waits for a lock (the patient's, a referral's row) before it fails and
# is tried again: far under TASK_STALE_SECONDS, so a stamp still running then is lost (its
# worker dead), not waiting, and the lost-task sweeper does not enqueue again, every round, a
# stamp stuck behind a transaction that holds the patient's lock (a review found them pile up).
STAMP_LOCK_TIMEOUT = dt.timedelta(seconds=30)


@task()
def stamp_red_flag_elsewhere(
    patient_id: int, attempt: int = 1, *, intake_id: int | None = None
) -> int:
    """``red_flag_elsewhere_changed`` for a patient a red flag came for, under the patient's
    lock, now; the number of referrals stamped. ``intake_id``: the case that brought it, named
    by the stamped referrals' webhooks (a task enqueued before it was passed names the
    patient's latest case whose red flag stands, if any).

    A stamp that fails (the database away, a deadlock's victim) is tried again after 30 s,
    1, 2, 4 and 8 minutes, as a staff alert is (the task fails each time, for the record, and
    enqueues the next try first): a lost stamp left a poller of the API's list never told.
    One that waited STAMP_LOCK_TIMEOUT for a lock in vain is tried again every 8 minutes
    after those, until it has the lock.
    Run inside a transaction (the immediate backend runs a task inside the one that enqueued
    it: an announcement's, itself inside a move's when ``announce_pending`` runs it), the
    stamp waits for its commit: it would take the patient's lock after that transaction's
    row locks, and change the version of a referral a move is checking."""
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _stamp_after_commit(patient_id, intake_id))
        return 0
    try:
        return _stamp(patient_id, intake_id)
    except DatabaseError as error:
        # A lock waited for in vain is not the stamp's failure: tried again every 8 minutes
        # for as long as the lock is held (the tries counted, it was given up for good behind
        # a lock held longer than all of them, a review found).
        made = min(attempt, STAMP_ATTEMPTS - 1) if _lock_not_had(error) else attempt
        _try_again_later(
            stamp_red_flag_elsewhere,
            patient_id,
            made,
            STAMP_ATTEMPTS,
            STAMP_RETRY,
            intake_id=intake_id,
        )
        raise


def _try_again_later(
    task: Any, key: int, attempt: int, attempts: int, first_wait: dt.timedelta, **kwargs: Any
) -> None:
    """Enqueue try ``attempt + 1`` of ``task`` for ``key`` (and ``kwargs``), after
    ``first_wait`` doubled for each try made, unless ``attempts`` have been made or the
    backend cannot defer (the immediate one)."""
    if attempt < attempts and task.get_backend().supports_defer:
        later = timezone.now() + first_wait * 2 ** (attempt - 1)
        task.using(run_after=later).enqueue(key, attempt + 1, **kwargs)


def _stamp(patient_id: int, intake_id: int | None) -> int:
    with transaction.atomic():
        _wait_for_a_lock_at_most(STAMP_LOCK_TIMEOUT)
        lock_patient(patient_id)
        return red_flag_elsewhere_changed(
            patient_id,
            now=timezone.now(),
            cause=webhooks.RedFlagCause.RED_FLAG,
            case=partial(_red_flag_case, patient_id, intake_id),
        )


def _red_flag_case(patient_id: int, intake_id: int | None) -> Intake | None:
    """The case a stamp's webhooks name: ``intake_id``'s, else (a task enqueued before it was
    passed) the patient's latest case whose red flag stands, if one does (one cleared since
    was told by its clearance)."""
    cases = Intake.objects.only("public_id", "reference", "ruleset_version")
    if intake_id is not None:
        return cases.filter(pk=intake_id).first()
    standing = cases.filter(RED_FLAG_UNCLEARED, patient_id=patient_id)
    return standing.order_by("-submitted_at", "-pk").first()


def _lock_not_had(error: DatabaseError) -> bool:
    """Whether ``error`` is PostgreSQL's lock_timeout (SQLSTATE 55P03, lock_not_available)."""
    return getattr(error.__cause__, "sqlstate", None) == "55P03"


def _wait_for_a_lock_at_most(limit: dt.timedelta) -> None:
    """PostgreSQL's ``lock_timeout`` for the rest of this transaction (SQLite's writers wait
    for its one lock by the connection's own timeout)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            milliseconds = max(1, round(limit.total_seconds() * 1000))
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])


def _stamp_after_commit(patient_id: int, intake_id: int | None) -> None:
    """After a commit the request has answered for: a failure is logged, not raised."""
    try:
        _stamp(patient_id, intake_id)
    except DatabaseError:
        log.exception("red-flag stamp of patient %s not made", patient_id)


def _as_left_by(intake: Intake, joined: set[int]) -> tuple[list[ReferralEvent], dict[int, str]]:
    """The raises of urgency the case made on the open referrals it joined, and the urgency it
    left each of them at (``joined``: none read for a case that only opened referrals, most of
    them).

    The urgency it left is the urgency before the first change after its own join (another
    case's raise, an override), else the urgency now. A later case raising a referral this one
    joined commits before the worker announces either, so the referral as read now could show
    the later case's urgency in this one's intake.submitted, before the raise was told."""
    if not joined:
        return [], {}
    events = (
        ReferralEvent.objects.filter(
            referral_id__in=joined,
            kind__in=[EventKind.LINKED, EventKind.URGENCY_RAISED, EventKind.URGENCY_OVERRIDDEN],
        )
        .only("referral_id", "kind", "from_urgency", "to_urgency", "data")
        .order_by("referral_id", "created_at", "id")
    )
    raises: list[ReferralEvent] = []
    left_at: dict[int, str] = {}
    since: set[int] = set()  # referrals this case has joined, in the events read so far
    for event in events:
        own = event.data.get("intake") == intake.reference
        if event.referral_id in left_at:
            continue
        if event.kind == EventKind.LINKED:
            if own:
                since.add(event.referral_id)
        elif event.referral_id in since:
            if own and event.kind == EventKind.URGENCY_RAISED:
                raises.append(event)
            else:
                left_at[event.referral_id] = event.from_urgency
    return raises, left_at


def _announce_earlier(intake: Intake, referral_ids: set[int]) -> None:
    """Announce each case submitted before ``intake`` that feeds ``referral_ids`` and is not
    announced yet, in ``announce_pending``'s order (submitted_at, id), ``intake`` coming after
    them as it does there: the two never lock cases in opposite orders."""
    if not referral_ids:
        return
    earlier = _unannounced(referral_ids).filter(
        Q(submitted_at__lt=intake.submitted_at)
        | Q(submitted_at=intake.submitted_at, pk__lt=intake.pk)
    )
    for case in earlier:
        announce_intake.call(case.pk, *announcement_of(case))


def _unannounced(referrals: Collection[int] | QuerySet[Referral]) -> QuerySet[Intake]:
    """The cases feeding ``referrals`` (ids, or a query) that the worker has not announced, in
    the order they are announced (and locked)."""
    return (
        Intake.objects.filter(
            pk__in=ReferralIntake.objects.filter(referral__in=referrals).values("intake_id"),
            announced_at=None,
        )
        .only("id", "reference")
        # The clearance's order (submitted_at, id): created_at can run the other way for two
        # cases sent at once, and the two would then lock each other's cases (a review).
        .order_by("submitted_at", "id")
    )


def announcement_of(intake: Intake) -> tuple[list[int], list[int], list[int]]:
    """``announce_intake``'s arguments as the submission gave them, read back from what it
    stored: the referrals it feeds (queue order), those it opened, and those it opened or
    raised to an urgency that pages the queue's staff."""
    from referrals.services import NOTIFIED_URGENCIES

    fed = sorted(
        Referral.objects.filter(intakes=intake).only("id", "queue", "urgency", "intake_id"),
        key=lambda referral: referral.queue,
    )
    raised = set(
        ReferralEvent.objects.filter(
            referral__in=fed, kind=EventKind.URGENCY_RAISED, data__intake=intake.reference
        ).values_list("referral_id", flat=True)
    )
    created = [r.pk for r in fed if r.intake_id == intake.pk]
    notify = [
        r.pk
        for r in fed
        if (r.intake_id == intake.pk or r.pk in raised) and r.urgency in NOTIFIED_URGENCIES
    ]
    return [r.pk for r in fed], created, notify


def announce_pending(referral_id: int, *others: int) -> int:
    """Announce now, in the caller's transaction, each case feeding the referral (and
    ``others``) that the worker has not announced yet (oldest first); the number announced.

    Called before a referral changes (a status move, an urgency override), so a subscriber
    hears of a referral's creation before its first change, and with the state it was created
    in: a review found that a case claimed while the worker had a backlog sent its
    ``referral.status_changed`` to "claimed" first and the creation afterwards, already
    "claimed". Taken before the referral's row lock, in the order a red-flag clearance takes
    them (the case, then its referral). The queued task then finds the case announced.
    """
    return _announce(_unannounced([referral_id, *others]))


def announce_pending_of(referrals: QuerySet[Referral]) -> int:
    """``announce_pending`` for the referrals of a query (read with the cases, one statement)."""
    return _announce(_unannounced(referrals))


def _announce(pending: QuerySet[Intake]) -> int:
    announced = 0
    for intake in pending:
        announced += 1
        announce_intake.call(intake.pk, *announcement_of(intake))
    return announced


ANNOUNCE_BATCH = 200


@task()
def announce_missed() -> int:
    """Periodic: enqueue again the announcement of each case submitted more than
    ANNOUNCE_STALE_SECONDS ago and not yet announced (by the index of those only)."""
    return announce_missed_now(now=timezone.now())


def announce_missed_now(*, now: dt.datetime) -> int:
    stale = now - dt.timedelta(seconds=settings.ANNOUNCE_STALE_SECONDS)
    missed = list(
        Intake.objects.filter(announced_at=None, created_at__lt=stale)
        .only("id", "reference")
        .order_by("created_at")[:ANNOUNCE_BATCH]
    )
    waiting = _announcements_waiting([intake.pk for intake in missed])
    enqueued = 0
    for intake in missed:
        if intake.pk in waiting:
            continue  # enqueued already (by the submission or a sweep) and not yet run
        log.warning("intake %s was not announced: enqueued again", intake.pk)
        announce_intake.enqueue(intake.pk, *announcement_of(intake))
        enqueued += 1
    return enqueued


def _announcements_waiting(intake_ids: list[int]) -> set[int]:
    """Those of ``intake_ids`` whose announcement is queued and has not run (the database
    backend's table, in one read; other backends keep no queue). Without the check a worker
    that was away came back to one more copy per case for every minute of its absence."""
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    if not intake_ids or not isinstance(announce_intake.get_backend(), DatabaseBackend):
        return set()
    return set(
        DBTaskResult.objects.filter(
            task_path=announce_intake.module_path,
            status=TaskResultStatus.READY,
            args_kwargs__args__0__in=intake_ids,
        ).values_list("args_kwargs__args__0", flat=True)
    )


NOTIFY_ATTEMPTS = 6
NOTIFY_RETRY = dt.timedelta(minutes=1)


@task()
def notify_queue_staff(referral_id: int, attempt: int = 1) -> int:
    """Tell a queue's staff an emergency or urgent case arrived; no clinical detail in email.

    A mail that cannot be sent is tried again after 1, 2, 4, 8 and 16 minutes (the task fails
    each time, for the record, and enqueues the next try first)."""
    referral = Referral.objects.select_related("intake").get(pk=referral_id)
    try:
        return _notify(referral)
    except Exception:
        _try_again_later(notify_queue_staff, referral_id, attempt, NOTIFY_ATTEMPTS, NOTIFY_RETRY)
        raise


def _notify(referral: Referral) -> int:
    group = QUEUE_GROUPS[referral.queue]
    recipients = _staff_emails(group)
    subject = f"[{referral.get_urgency_display()}] New case {referral.intake.reference}"
    body = (
        # "A new": "A urgent case", "A emergency case" read wrongly (found running make run).
        f"A new {referral.get_urgency_display().lower()} case is waiting in the "
        f"{referral.get_queue_display()} queue.\n"
        f"Reference: {referral.intake.reference}\n"
        f"Due: {timezone.localtime(referral.due_at):%a %d %b %Y %H:%M}\n"
        "Open the staff site to see it."
    )
    # Every case that fed it: a later case may have raised it (the alert is for that raise),
    # and its urgency came from that case's rules (a review found only the first named).
    cases = referral.intakes.only("ruleset_version").order_by()
    _send(recipients, subject, _with_staff_text(body, cases), group=group)
    return len(recipients)


@task()
def escalate_overdue() -> dict[str, int]:
    """Periodic job, enqueued every minute by the scheduler."""
    return escalate(now=timezone.now())


def escalate(*, now: dt.datetime) -> dict[str, int]:
    """Mark open referrals past due once, and re-alert emergencies left unclaimed for 15 minutes."""
    overdue_ids: list[int] = []
    event_ids: list[int] = []
    with transaction.atomic():
        for referral in (
            Referral.objects.select_for_update(skip_locked=True)
            # The open statuses written in (referrals.lookups): by the open work's due index
            # on SQLite too, rather than every referral ever due, in the write transaction.
            .filter(status__in_constants=OPEN_STATUSES, due_at__lt=now, overdue_at=None)
            .order_by("due_at")[:500]
        ):
            referral.overdue_at = now
            referral.save(update_fields=["overdue_at", "updated_at"])
            event_ids.append(
                ReferralEvent.objects.create(referral=referral, kind=EventKind.OVERDUE).pk
            )
            overdue_ids.append(referral.pk)
    alert_ids: list[int] = []
    previous_alerts: dict[int, dt.datetime | None] = {}
    with transaction.atomic():
        for referral in Referral.objects.select_for_update(skip_locked=True).filter(
            # With its group (status_is), for SQLite to read open work only.
            status_is(Status.NEW),
            urgency=Urgency.EMERGENCY,
            created_at__lte=now - EMERGENCY_REALERT,
        ):
            if referral.last_alert_at and referral.last_alert_at > now - EMERGENCY_REALERT:
                continue
            previous_alerts[referral.pk] = referral.last_alert_at
            referral.last_alert_at = now
            referral.save(update_fields=["last_alert_at", "updated_at"])
            event_ids.append(
                ReferralEvent.objects.create(referral=referral, kind=EventKind.ALERT).pk
            )
            alert_ids.append(referral.pk)
    if overdue_ids or alert_ids:
        refs = list(
            Referral.objects.filter(pk__in=overdue_ids + alert_ids).select_related("intake")
        )
        lines = [
            f"{'UNCLAIMED EMERGENCY' if r.pk in alert_ids else 'Overdue'}: "
            f"{r.intake.reference} in {r.get_queue_display()}, due "
            f"{timezone.localtime(r.due_at):%a %d %b %H:%M}, {r.get_status_display().lower()}"
            # The status: a referral is due until it is closed (docs/CLINICAL_DECISIONS.md),
            # so the lead tells one already contacted or scheduled from one nobody has touched.
            for r in refs
        ]
        try:
            _send(
                _staff_emails(TRIAGE_LEAD_GROUP),
                f"{len(overdue_ids)} overdue, {len(alert_ids)} unclaimed emergency referral(s)",
                _with_staff_text("\n".join(lines), (r.intake for r in refs)),
                group=TRIAGE_LEAD_GROUP,
            )
        except Exception:
            # Not told, so not marked: the next minute's run finds them again (a review found
            # a mail failure after the marks had committed losing the alert for good).
            _unmark(now, overdue_ids, previous_alerts, event_ids)
            raise
        for pk in alert_ids:
            notify_queue_staff.enqueue(pk)
    log.info("escalation: %d overdue, %d emergency alerts", len(overdue_ids), len(alert_ids))
    return {"overdue": len(overdue_ids), "alerts": len(alert_ids)}


def _unmark(
    now: dt.datetime,
    overdue_ids: list[int],
    previous_alerts: dict[int, dt.datetime | None],
    event_ids: list[int],
) -> None:
    """Undo what an escalation run marked when its email could not be sent."""
    with transaction.atomic():
        Referral.objects.filter(pk__in=overdue_ids, overdue_at=now).update(overdue_at=None)
        for pk, previous in previous_alerts.items():
            Referral.objects.filter(pk=pk, last_alert_at=now).update(last_alert_at=previous)
        ReferralEvent.objects.filter(pk__in=event_ids).delete()


@task
def purge_idempotency_records() -> int:
    from referrals.idempotency import idempotency_purge

    return idempotency_purge()


@task
def purge_webhook_deliveries() -> int:
    from referrals.webhooks import webhook_deliveries_purge

    return webhook_deliveries_purge()


@task
def purge_link_days() -> int:
    from referrals.dashboard import link_days_purge

    return link_days_purge()


@task
def requeue_stale_webhooks() -> int:
    from referrals.webhooks import webhooks_requeue_stale

    return webhooks_requeue_stale()
