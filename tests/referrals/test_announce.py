"""A case's announcement (webhooks, staff alerts) is done at least once: a task that failed,
or whose worker died, leaves the intake unannounced, and the sweeper enqueues it again. Through
the real database queue and its worker (a review found such cases' alerts lost for good)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from intake.models import Intake
from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.tasks import announce_intake, announce_missed_now, announcement_of
from tests.clinic_fixtures import details, submit

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_an_announcement_that_failed_is_done_again_by_the_sweeper(
    settings, monkeypatch, medical_reviewer
):
    settings.TASKS = DATABASE_QUEUE
    settings.ANNOUNCE_STALE_SECONDS = 600
    WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )
    case = submit("V09")  # an emergency: its queue's staff are paged

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker fell over")

    monkeypatch.setattr("referrals.webhooks.on_intake_submitted", broken)
    run_worker()
    (task,) = DBTaskResult.objects.filter(task_path__endswith="announce_intake")
    assert task.status == "FAILED"
    intake = Intake.objects.get(pk=case.intake.pk)
    assert intake.announced_at is None
    assert not WebhookDelivery.objects.exists()
    assert mail.outbox == []

    monkeypatch.undo()
    assert announce_missed_now(now=timezone.now()) == 0  # not stale yet
    later = timezone.now() + dt.timedelta(minutes=11)
    assert announce_missed_now(now=later) == 1
    # Queued and not yet run: the next minutes' sweeps add no copy.
    assert announce_missed_now(now=later + dt.timedelta(minutes=1)) == 0
    run_worker()
    assert [m.to for m in mail.outbox] == [[medical_reviewer.email]]
    intake.refresh_from_db()
    assert intake.announced_at is not None
    events = sorted(WebhookDelivery.objects.values_list("event_type", flat=True))
    assert events.count(WebhookEvent.INTAKE_SUBMITTED) == 1
    assert announce_missed_now(now=later + dt.timedelta(minutes=2)) == 0


@pytest.mark.django_db(transaction=True)
def test_an_alert_the_mail_server_refused_is_tried_again_and_the_webhooks_do_not_wait(
    settings, monkeypatch, medical_reviewer
):
    settings.TASKS = DATABASE_QUEUE
    WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )
    case = submit("V09")

    def no_smtp(*args: object, **kwargs: object) -> None:
        raise OSError("the mail server is away")

    monkeypatch.setattr("referrals.tasks.send_mail", no_smtp)
    run_worker()
    assert Intake.objects.get(pk=case.intake.pk).announced_at is not None
    assert WebhookDelivery.objects.filter(event_type=WebhookEvent.INTAKE_SUBMITTED).exists()
    alerts = DBTaskResult.objects.filter(task_path__endswith="notify_queue_staff")
    assert sorted(alerts.values_list("status", flat=True)) == ["FAILED", "READY"]
    retry = alerts.get(status="READY")
    assert retry.args_kwargs["args"][1] == 2  # the second attempt
    assert retry.run_after > timezone.now()
    assert mail.outbox == []

    monkeypatch.undo()
    alerts.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()
    assert [m.to for m in mail.outbox] == [[medical_reviewer.email]]


@pytest.mark.django_db
def test_the_sweeper_reads_back_what_the_submission_gave_the_task(settings, medical_reviewer):
    """Opened, joined and raised: announcement_of gives the submission's own arguments."""
    settings.TASKS = DATABASE_QUEUE
    person = details(phone="07700 900123")
    submit("V22", patient=person)  # three routine referrals
    raised = submit("V17", patient=person)  # urgent medical review (opened)
    again = submit("V09", patient=person)  # raises the review to emergency
    for case in (raised, again):
        (task,) = [
            t
            for t in DBTaskResult.objects.filter(task_path__endswith="announce_intake")
            if t.args_kwargs["args"][0] == case.intake.pk
        ]
        assert list(announcement_of(case.intake)) == task.args_kwargs["args"][1:]
    assert announcement_of(again.intake)[2]  # the raised emergency pages its staff


@pytest.mark.django_db
def test_an_announced_case_is_not_announced_twice(medical_reviewer):
    case = submit("V09")  # the immediate backend announces it at once
    assert Intake.objects.get(pk=case.intake.pk).announced_at is not None
    mail.outbox.clear()
    assert announce_intake.call(case.intake.pk, *announcement_of(case.intake)) == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_generated_history_has_nothing_to_announce(settings):
    call_command("generate_cases", "--count", "20", "--no-progress", "--workers", "0")
    assert not Intake.objects.filter(announced_at=None).exists()
    assert announce_missed_now(now=timezone.now() + dt.timedelta(days=3)) == 0
