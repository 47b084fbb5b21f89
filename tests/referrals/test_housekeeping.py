"""Scheduled purges and the sweeper of lost webhook deliveries."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from referrals.idempotency import idempotency_purge
from referrals.models import (
    DeliveryStatus,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from referrals.tokens import api_token_create
from referrals.webhooks import webhook_deliveries_purge, webhooks_requeue_stale
from tests.api.test_webhooks import Receiver, endpoint_for, receiver  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_every_purge_and_the_sweeper_are_scheduled():
    for path in (
        "intake.tasks.purge_expired_drafts",
        "clinic.tasks.purge_rate_counters",
        "clinic.tasks.purge_expired_sessions",
        "clinic.tasks.prune_task_results",
        "referrals.tasks.purge_idempotency_records",
        "referrals.tasks.purge_webhook_deliveries",
        "referrals.tasks.purge_link_days",
        "referrals.tasks.requeue_stale_webhooks",
    ):
        assert path in django_settings.PERIODIC_TASKS
        module, name = path.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name)


def aged(model, pk: int, created_at: dt.datetime) -> None:
    model.objects.filter(pk=pk).update(created_at=created_at)


def test_idempotency_records_older_than_a_day_are_purged():
    token = api_token_create(name="Portal", scopes=["intake:submit"], queues=())
    old = IdempotencyRecord.objects.create(
        token=token.token, key="old", request_hash="x", response_status=201, response_body={}
    )
    new = IdempotencyRecord.objects.create(
        token=token.token, key="new", request_hash="x", response_status=201, response_body={}
    )
    aged(IdempotencyRecord, old.pk, NOW - dt.timedelta(hours=25))
    aged(IdempotencyRecord, new.pk, NOW - dt.timedelta(hours=23))
    assert idempotency_purge(now=NOW) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def delivery(endpoint: WebhookEndpoint, status: str, **fields) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type=WebhookEvent.INTAKE_SUBMITTED,
        payload={"id": "x"},
        status=status,
        **fields,
    )


def test_finished_webhook_rows_are_purged_after_the_retention_but_pending_ones_stay():
    endpoint = WebhookEndpoint.objects.create(
        name="R", url="http://127.0.0.1:9/", secret="s", events=[WebhookEvent.INTAKE_SUBMITTED]
    )
    old = NOW - dt.timedelta(days=31)
    rows = {
        status: delivery(endpoint, status)
        for status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.PENDING)
    }
    for row in rows.values():
        aged(WebhookDelivery, row.pk, old)
    recent = delivery(endpoint, DeliveryStatus.DELIVERED)
    assert webhook_deliveries_purge(now=NOW) == 2
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {
        rows[DeliveryStatus.PENDING].pk,
        recent.pk,
    }


def test_a_stale_pending_delivery_is_sent_again_and_a_fresh_one_is_left(
    receiver,  # noqa: F811 - the fixture
    django_capture_on_commit_callbacks,
):
    endpoint = endpoint_for(receiver, WebhookEvent.INTAKE_SUBMITTED)
    now = timezone.now()
    lost = delivery(
        endpoint, DeliveryStatus.PENDING, attempts=0, next_attempt_at=now - dt.timedelta(hours=1)
    )
    waiting = delivery(
        endpoint, DeliveryStatus.PENDING, next_attempt_at=now - dt.timedelta(seconds=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_requeue_stale(now=now) == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.status == DeliveryStatus.DELIVERED
    assert waiting.status == DeliveryStatus.PENDING
    assert [p["id"] for p in receiver.payloads()] == ["x"]
    # Swept once: a second pass right away finds nothing stale.
    assert webhooks_requeue_stale(now=now) == 0


def test_the_stale_period_must_outlast_the_receiver_timeout():
    from tests.helpers import run_python

    result = run_python(
        "import django; django.setup()",
        {"WEBHOOK_STALE_SECONDS": "5", "WEBHOOK_TIMEOUT_SECONDS": "10"},
    )
    assert result.returncode != 0
    assert "WEBHOOK_STALE_SECONDS must be longer" in result.stderr


def test_expired_sessions_are_purged_and_live_ones_kept():
    """A patient's session holds the resume link of a form in progress until it expires."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from clinic.tasks import purge_expired_sessions

    live, old = SessionStore(), SessionStore()
    for store in (live, old):
        store["intake_draft_token"] = "a-token"
        store.create()
    Session.objects.filter(session_key=old.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    assert purge_expired_sessions.call() == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_a_task_left_running_by_a_dead_worker_is_pruned_with_the_address_it_held(settings):
    # django-tasks-db never runs again, nor finishes, the task of a worker killed mid-run
    # (docs/RELIABILITY.md), and the prune read finished rows only: a resume email's row kept
    # the patient's address and private link for good, out of reach of the erasure too.
    from django_tasks_db.models import DBTaskResult

    from clinic.tasks import prune_task_results
    from intake.tasks import send_resume_link

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    link = {"email": "ada@example.org", "url": "https://x/resume/t/", "expires_at": "2026-03-01"}
    dead = send_resume_link.enqueue(**link).id
    alive = send_resume_link.enqueue(**link).id
    waiting = send_resume_link.enqueue(**link).id
    long_ago = timezone.now() - dt.timedelta(days=settings.TASK_RESULT_RETENTION_DAYS + 1)
    DBTaskResult.objects.filter(id__in=[dead, waiting]).update(enqueued_at=long_ago)
    DBTaskResult.objects.filter(id=dead).update(status="RUNNING", started_at=long_ago)
    DBTaskResult.objects.filter(id=alive).update(status="RUNNING", started_at=timezone.now())
    prune_task_results.call()
    assert {str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)} == {alive, waiting}
