"""Webhooks: an outbox written with the change, delivered after commit, signed, retried.

A delivery row is written in the same transaction as the intake, the status change or the
change of urgency it reports, so a receiver never hears of a change that rolled back and never
misses one that committed. The task sends it after commit and retries with exponential
backoff. Payloads carry ids, the reference, the event type, statuses and urgencies (and each
referral's ``red_flag_elsewhere``, whether a red flag stands on another case), and with
them the §7 staff text (``staff_disclaimer``, naming the ruleset versions they come from): no
answers, names or free text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.tasks import task
from django.utils import timezone

from intake.messages import staff_disclaimer_for
from intake.models import RED_FLAG_UNCLEARED, Intake
from intake.triage import RULESET_VERSION
from referrals.models import (
    DeliveryStatus,
    Referral,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from referrals.selectors import NOT_FOR_RED_FLAGS, with_red_flag_elsewhere

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Clinic-Signature"
EVENT_ID_HEADER: Final = "X-Clinic-Event-Id"
EVENT_TYPE_HEADER: Final = "X-Clinic-Event-Type"
ERROR_TEXT_MAX: Final = 500


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``f"{timestamp}.{body}"``, hex."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/API.md): check the signature and that it is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    # Compared as bytes: compare_digest refuses a str that is not ASCII (a forged header's).
    given = parts.get("v1", "").encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), given)


# --- the outbox ---------------------------------------------------------------------------------


def _subscribed(event_type: str) -> list[WebhookEndpoint]:
    return [e for e in WebhookEndpoint.objects.filter(is_active=True) if event_type in e.events]


def webhooks_record(
    *,
    event_type: str,
    data: Callable[[], dict[str, Any]],
    endpoints: list[WebhookEndpoint] | None = None,
) -> int:
    """Write one delivery per subscribed endpoint; send each after the transaction commits.

    ``data`` is only built when someone subscribes. Must run inside the change's transaction.
    ``endpoints``: the subscribers when the caller has read them already (several events).
    """
    if endpoints is None:
        endpoints = _subscribed(event_type)
    if not endpoints:
        return 0
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "created_at": timezone.now().isoformat(),
        "data": data(),
    }
    for endpoint in endpoints:
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(partial(deliver_webhook.enqueue, delivery.pk))
    return len(endpoints)


def _referral_data(referral: Referral, *, red_flag_elsewhere: bool) -> dict[str, Any]:
    return {
        "id": str(referral.public_id),
        "queue": referral.queue,
        "status": referral.status,
        "urgency": referral.urgency,
        "red_flag_elsewhere": red_flag_elsewhere,
    }


def _may_stand(referral: Referral) -> bool:
    """Whether a red flag of the patient's concerns ``referral``: open, of §4.4's three queues
    (the condition of selectors.red_flag_elsewhere)."""
    return referral.queue in NOT_FOR_RED_FLAGS and referral.is_open


def _red_flags_elsewhere(referrals: Iterable[Referral]) -> dict[int, bool]:
    """Each referral's ``red_flag_elsewhere`` (by id) as the API reads it now
    (selectors.red_flag_elsewhere), for the status it is told with: one statement for the
    patients of those it concerns, none when it concerns none (a queue of another kind, a
    closed referral). Every referral a payload carries says it, so a referral opened while a
    red flag stands is told so with its creation (``referral.red_flag_elsewhere_changed``
    tells only those standing when a red flag comes or is cleared)."""
    told = list(referrals)
    patients = {r.patient_id for r in told if _may_stand(r)}
    standing = (
        set(
            Intake.objects.filter(RED_FLAG_UNCLEARED, patient_id__in=patients)
            .order_by()  # not the model's: DISTINCT would take its column too
            .values_list("patient_id", flat=True)
            .distinct()
        )
        if patients
        else set()
    )
    return {r.pk: _may_stand(r) and r.patient_id in standing for r in told}


# Each referral's red_flag_elsewhere (by id), read when an event is first built.
Standing = Callable[[], dict[int, bool]]


def red_flags_read_once(referrals: Iterable[Referral]) -> Standing:
    """``_red_flags_elsewhere`` of ``referrals``, read at the first call only: the events of
    one announcement (its intake.submitted, its creations) tell the same referrals of one
    patient in one transaction, from one statement, and none when nobody subscribes."""
    told = list(referrals)
    read: dict[int, bool] | None = None

    def standing() -> dict[int, bool]:
        nonlocal read
        if read is None:
            read = _red_flags_elsewhere(told)
        return read

    return standing


def _opening_case(referral: Referral, known: Intake | None = None) -> Intake:
    """The case that opened the referral: ``known`` when it is that case, the one read with the
    referral, else read here (with its ruleset version, for the staff text)."""
    if known is not None and referral.intake_id == known.pk:
        return known
    if Referral.intake.is_cached(referral):
        return referral.intake
    return Intake.objects.only("public_id", "reference", "ruleset_version").get(
        pk=referral.intake_id
    )


def staff_text(cases: Iterable[Intake]) -> str:
    """Spec §7's staff text, which goes wherever a case's urgencies and queues are handed to
    another system (docs/CLINICAL_DECISIONS.md, Patient texts 6), naming the ruleset versions
    of ``cases``: those whose triage the event's urgencies and queues come from (a referral's
    from the case that opened it). The staff emails end with it too (referrals.tasks)."""
    return staff_disclaimer_for((case.ruleset_version for case in cases), current=RULESET_VERSION)


def _case_data(intake: Intake) -> dict[str, Any]:
    return {"id": str(intake.public_id), "reference": intake.reference}


def on_intake_submitted(
    intake: Intake,
    referrals: Iterable[Referral],
    *,
    standing: Standing | None = None,
) -> None:
    """``referrals``: each with the case that opened it read (``select_related("intake")``)
    when that is another case (an open referral the submission joined). ``standing``: their
    ``red_flag_elsewhere`` when the caller reads it for several events
    (``red_flags_read_once``)."""
    fed = list(referrals)
    flags = standing or red_flags_read_once(fed)

    def data() -> dict[str, Any]:
        standing_now = flags()
        return {
            "intake": {
                "id": str(intake.public_id),
                "reference": intake.reference,
                "urgency": intake.urgency,
            },
            "referrals": [_referral_data(r, red_flag_elsewhere=standing_now[r.pk]) for r in fed],
            "staff_disclaimer": staff_text([intake, *(_opening_case(r, intake) for r in fed)]),
        }

    webhooks_record(event_type=WebhookEvent.INTAKE_SUBMITTED, data=data)


def on_referrals_created(
    referrals: Iterable[Referral], *, standing: Standing | None = None
) -> None:
    """``on_referral_status_changed(referral, "")`` for each, reading the subscribers and the
    red flags standing once (``standing``: as ``on_intake_submitted`` takes it)."""
    endpoints = _subscribed(WebhookEvent.REFERRAL_STATUS_CHANGED)
    if endpoints:
        created = list(referrals)
        flags = standing or red_flags_read_once(created)
        for referral in created:
            on_referral_status_changed(referral, "", endpoints=endpoints, standing=flags)


def on_referral_status_changed(
    referral: Referral,
    previous_status: str,
    *,
    endpoints: list[WebhookEndpoint] | None = None,
    standing: Standing | None = None,
) -> None:
    """``standing``: as ``on_intake_submitted`` takes it (several events)."""

    def data() -> dict[str, Any]:
        case = _opening_case(referral)
        flags = standing or red_flags_read_once([referral])
        return {
            "referral": {
                **_referral_data(referral, red_flag_elsewhere=flags()[referral.pk]),
                "previous_status": previous_status or None,
            },
            "intake": _case_data(case),
            "staff_disclaimer": staff_text([case]),
        }

    webhooks_record(event_type=WebhookEvent.REFERRAL_STATUS_CHANGED, data=data, endpoints=endpoints)


class UrgencyCause:
    """Why an open referral's urgency changed (``referral.urgency_changed``'s ``cause``)."""

    OVERRIDE: Final = "override"  # a clinician's override, up or down
    SUBMISSION: Final = "submission"  # a later submission of the patient joined and raised it
    REROUTE: Final = "reroute"  # a case rerouted into it raised it


def on_referral_urgency_changed(
    referral: Referral, previous_urgency: str, *, cause: str, intake: Intake | None = None
) -> None:
    """``intake``: the case that raised it (a submission, a reroute); by default the case that
    opened the referral, as ``referral.status_changed`` names it. Never the override's reason:
    free text. The staff text names the ruleset versions of both cases (the one that opened
    the referral is read only for a reroute into a referral another case opened)."""

    def data() -> dict[str, Any]:
        opening = _opening_case(referral, intake)
        case = intake or opening
        return {
            "referral": {
                **_referral_data(
                    referral, red_flag_elsewhere=_red_flags_elsewhere([referral])[referral.pk]
                ),
                "previous_urgency": previous_urgency,
            },
            "intake": _case_data(case),
            "cause": cause,
            "staff_disclaimer": staff_text([case, opening]),
        }

    webhooks_record(event_type=WebhookEvent.REFERRAL_URGENCY_CHANGED, data=data)


class RedFlagCause:
    """Why a referral's ``red_flag_elsewhere`` was stamped (its webhook's ``cause``)."""

    RED_FLAG: Final = "red_flag"  # a case of the patient with a red flag was announced
    CLEARANCE: Final = "clearance"  # a medical reviewer cleared a red flag


def on_red_flag_elsewhere_changed(
    stamped: QuerySet[Referral], *, case: Callable[[], Intake | None], cause: str
) -> int:
    """One ``referral.red_flag_elsewhere_changed`` for each of ``stamped``, the referrals a
    red-flag stamp (referrals.red_flag_marks) has just touched, in its transaction: a record
    system fed by webhooks, not polling the API's list, was never told that a patient's
    chiropractic referral now has a red flag standing on another case (a safety gap).

    Each carries ``red_flag_elsewhere`` as it is now, read after the stamp by the API's own
    expression (selectors.with_red_flag_elsewhere), so it is the current state, not a change:
    a second red flag while one stands sends it again, true. ``case``: the red-flag case, or
    the one cleared, read only when someone subscribes (None: nothing to name, nothing sent).
    The referrals are read back in one statement, with the cases that opened them (the staff
    text), and only when someone subscribes; one whose creation is still to be told (its case
    not announced) is left out. The number of referrals told."""
    endpoints = _subscribed(WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED)
    if not endpoints:
        return 0
    named = case()
    if named is None:
        return 0
    # Not a referral whose creation is still to be told (its case not announced yet: a
    # worker's backlog, a lost announcement): a subscriber hears of a referral's creation
    # before any change to it (a review found this event first). red_flag_elsewhere_changed
    # announces such cases before it stamps, so none is left here; kept as the guard.
    referrals = list(
        with_red_flag_elsewhere(stamped.filter(intake__announced_at__isnull=False))
        .select_related("intake")
        .only(
            "public_id",
            "queue",
            "status",
            "urgency",
            "intake__public_id",
            "intake__reference",
            "intake__ruleset_version",
        )
        .order_by("id")
    )
    for referral in referrals:
        webhooks_record(
            event_type=WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED,
            data=partial(_red_flag_elsewhere_data, referral, named, cause),
            endpoints=endpoints,
        )
    return len(referrals)


def _red_flag_elsewhere_data(referral: Referral, case: Intake, cause: str) -> dict[str, Any]:
    return {
        "referral": _referral_data(
            referral,
            red_flag_elsewhere=bool(referral.red_flag_elsewhere),  # type: ignore[attr-defined]
        ),
        "intake": _case_data(case),
        "cause": cause,
        "staff_disclaimer": staff_text([case, _opening_case(referral, case)]),
    }


# --- delivery -----------------------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """One POST; (status, error text). Any answer other than 2xx is an error, a redirect too
    (not followed: urllib followed a 301/302/303 as a GET without the body and the final 200
    was recorded as delivered). WEBHOOK_TIMEOUT_SECONDS bounds the whole attempt, not each
    read: a receiver answering a byte at a time held a worker as long as it liked (and with
    it the escalation job queued behind; a review found both)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "Only http and https URLs are delivered."
    limit = settings.WEBHOOK_TIMEOUT_SECONDS
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    try:
        port = parts.port
    except ValueError as exc:  # a port that is not a number
        return None, str(exc)[:ERROR_TEXT_MAX]
    # The port always given: without one, http.client reads a bare IPv6 address's last part
    # as the port ("[::1]" went to host ":" port 1; a review found it).
    port = port or connection_class.default_port
    connection = connection_class(parts.hostname, port, timeout=limit)
    late = threading.Event()

    def cut_off() -> None:
        late.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    deadline = threading.Timer(limit, cut_off)
    deadline.daemon = True
    deadline.start()
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        code = int(connection.getresponse().status)
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if late.is_set():
            return None, f"No complete answer within {limit} s."
        if isinstance(exc, http.client.HTTPException):
            # A malformed answer (a bad status line, too many headers) is a counted failed
            # attempt; it escaped here and the delivery was re-sent forever at attempt 0.
            return None, f"Malformed answer ({type(exc).__name__}): {exc}"[:ERROR_TEXT_MAX]
        return None, str(exc)[:ERROR_TEXT_MAX]
    finally:
        deadline.cancel()
        connection.close()
    if 200 <= code < 300:
        return code, ""
    redirect = " (redirects are not followed)" if 300 <= code < 400 else ""
    return code, f"HTTP {code}{redirect}"


def retry_delay(attempts: int) -> dt.timedelta:
    """WEBHOOK_RETRY_BASE_SECONDS doubled after each failed attempt: 1x, 2x, 4x…"""
    return dt.timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1))


# A retry's task may start a little before its due time (clocks of two hosts).
CLOCK_SLACK: Final = dt.timedelta(seconds=5)


def webhook_deliver(*, delivery_id: int) -> str:
    """One attempt. On failure, schedule the next one (or give up after the last).

    The attempt is claimed first: its due time moves to the end of the attempt's time limit,
    on condition that nothing changed since it was read, so a second run for the same
    delivery (the sweeper's, a duplicate retry) finds it not due and leaves it. Without the
    claim two attempts overwrote each other's outcome (a 503 after a 200 left it pending with
    a new retry chain, attempts undercounted: a review found it). The outcome is written on
    the same condition."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    now = timezone.now()
    due = delivery.next_attempt_at
    if due is not None and due > now + CLOCK_SLACK:
        return delivery.status  # another run holds it, or its retry is not due yet
    attempts = delivery.attempts
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + CLOCK_SLACK
    mine = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=attempts, next_attempt_at=due
    )
    if not mine.update(next_attempt_at=lease, updated_at=now):
        return DeliveryStatus.PENDING  # another run claimed it first
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "clinic-webhooks/1",
        EVENT_ID_HEADER: str(delivery.event_id),
        EVENT_TYPE_HEADER: delivery.event_type,
        SIGNATURE_HEADER: f"t={timestamp},v1={sign(endpoint.secret, timestamp, body)}",
    }
    code, error = _post(endpoint.url, body, headers) if endpoint.is_active else (None, "inactive")
    now = timezone.now()
    delivery.attempts = attempts + 1
    delivery.last_status_code = code
    delivery.last_error = error
    if code is not None and 200 <= code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS or not endpoint.is_active:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    written = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=attempts
    ).update(
        attempts=delivery.attempts,
        last_status_code=code,
        last_error=error,
        status=delivery.status,
        delivered_at=delivery.delivered_at,
        next_attempt_at=delivery.next_attempt_at,
        updated_at=now,
    )
    if not written:
        # The claim ran out (an attempt past its time limit and the sweeper's period) and
        # another attempt's outcome is recorded: that one stands.
        return WebhookDelivery.objects.get(pk=delivery.pk).status
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None:
        _schedule_retry(delivery.pk, delivery.next_attempt_at)
    return delivery.status


def _schedule_retry(delivery_id: int, when: dt.datetime) -> None:
    if deliver_webhook.get_backend().supports_defer:
        deliver_webhook.using(run_after=when).enqueue(delivery_id)
    else:
        # The immediate backend (development, tests) cannot wait; the row stays pending.
        log.warning("webhook delivery %s not retried: the task backend cannot defer", delivery_id)


@task()
def deliver_webhook(delivery_id: int) -> str:
    return webhook_deliver(delivery_id=delivery_id)


# --- housekeeping -------------------------------------------------------------------------------


def webhooks_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Enqueue again the pending deliveries whose attempt is long overdue.

    A worker killed while sending leaves its delivery pending with a task nobody will run again.
    Past WEBHOOK_STALE_SECONDS the delivery is enqueued again and its due time moved to now, so
    it is swept at most once per period. A receiver may then hear an event twice (at least once):
    the event id lets it drop the duplicate.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.WEBHOOK_STALE_SECONDS)
    with transaction.atomic():
        stale = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=stale).update(next_attempt_at=now, updated_at=now)
        for delivery_id in stale:
            transaction.on_commit(partial(deliver_webhook.enqueue, delivery_id))
    if stale:
        log.warning("webhooks: %d stale pending deliveries enqueued again", len(stale))
    return len(stale)


def webhook_deliveries_purge(*, now: dt.datetime | None = None) -> int:
    """Delete delivered and failed rows older than WEBHOOK_RETENTION_DAYS; pending ones stay."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.exclude(status=DeliveryStatus.PENDING)
        .filter(created_at__lt=cutoff)
        .delete()
    )
    return deleted
