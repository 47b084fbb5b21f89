"""A case's announcement (webhooks, staff alerts) is done at least once: a task that failed,
or whose worker died, leaves the intake unannounced, and the sweeper enqueues it again. Through
the real database queue and its worker (a review found such cases' alerts lost for good)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from referrals.services import intake_clear_red_flag, referral_claim, referral_override_urgency
from referrals.tasks import (
    announce_intake,
    announce_missed_now,
    announcement_of,
    notify_queue_staff,
)
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


def _partner() -> WebhookEndpoint:
    """A subscriber to every event (nothing listens at its address: deliveries are only read)."""
    return WebhookEndpoint.objects.create(
        name="Partner", url="http://127.0.0.1:9/hook", secret="s", events=WebhookEvent.values
    )


Told = tuple[str, str | None, str | None, str | None]


def _told(endpoint: WebhookEndpoint) -> list[Told]:
    """What the endpoint is sent, in the order recorded: (type, queue, previous, status)."""
    told: list[Told] = []
    for delivery in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id"):
        data = delivery.payload["data"]
        if delivery.event_type == WebhookEvent.INTAKE_SUBMITTED:
            statuses = {r["status"] for r in data["referrals"]}
            told.append((delivery.event_type, None, None, ",".join(sorted(statuses))))
        else:
            referral = data["referral"]
            told.append(
                (
                    delivery.event_type,
                    referral["queue"],
                    referral.get("previous_status"),  # a status change's
                    referral["status"],
                )
            )
    return told


@pytest.mark.django_db(transaction=True)  # the worker's run closes its connection
def test_a_referral_changed_before_the_worker_ran_is_told_created_first(settings, chiropractor):
    """A review found a case claimed while the worker had a backlog sent the claim first and
    the creation after it, already "claimed". The change now announces the case first."""
    settings.TASKS = DATABASE_QUEUE  # the announcement waits in the queue: no worker runs
    endpoint = _partner()
    case = submit("V01")  # one chiropractic referral
    (referral,) = case.referrals
    assert Intake.objects.get(pk=case.intake.pk).announced_at is None
    assert _told(endpoint) == []

    referral_claim(referral=referral, actor=chiropractor)

    changed = WebhookEvent.REFERRAL_STATUS_CHANGED
    assert _told(endpoint) == [
        (WebhookEvent.INTAKE_SUBMITTED, None, None, "new"),
        (changed, "chiropractic", None, "new"),
        (changed, "chiropractic", "new", "claimed"),
    ]
    assert Intake.objects.get(pk=case.intake.pk).announced_at is not None
    # The queued announcement, run later, finds the case told and tells nothing twice.
    run_worker()
    (task,) = DBTaskResult.objects.filter(task_path__endswith="announce_intake")
    assert task.status == "SUCCESSFUL"
    assert task.return_value == 0
    assert len(_told(endpoint)) == 3


@pytest.mark.django_db
def test_an_urgency_overridden_before_the_worker_ran_is_told_as_it_was_created(
    settings, chiropractor
):
    settings.TASKS = DATABASE_QUEUE
    endpoint = _partner()
    case = submit("V01")
    (referral,) = case.referrals
    created_as = referral.urgency
    referral_override_urgency(
        referral=referral, actor=chiropractor, urgency="emergency", reason="Phoned: worse."
    )
    (created,) = WebhookDelivery.objects.filter(
        endpoint=endpoint, event_type=WebhookEvent.REFERRAL_STATUS_CHANGED
    )
    assert created.payload["data"]["referral"]["urgency"] == created_as != "emergency"


@pytest.mark.django_db
def test_a_released_red_flag_tells_the_case_before_the_referrals_it_opens(
    settings, medical_reviewer
):
    settings.TASKS = DATABASE_QUEUE
    endpoint = _partner()
    case = submit("V09")  # a red flag: urgent medical review only
    intake_clear_red_flag(
        intake=case.intake,
        actor=medical_reviewer,
        reason="Seen: no emergency.",
        release_queues=["chiropractic"],
    )
    changed = WebhookEvent.REFERRAL_STATUS_CHANGED
    told = _told(endpoint)
    assert told[:2] == [
        (WebhookEvent.INTAKE_SUBMITTED, None, None, "new"),
        (changed, "urgent_medical_review", None, "new"),
    ]
    assert told[2][1:3] == ("urgent_medical_review", "new")
    assert told[3] == (changed, "chiropractic", None, "new")
    # Its red_flag_elsewhere (false: the flag is cleared) after its creation.
    assert told[4:] == [
        (WebhookEvent.REFERRAL_RED_FLAG_ELSEWHERE_CHANGED, "chiropractic", None, "new")
    ]


@pytest.mark.django_db
def test_a_claim_announces_a_reviews_cases_in_the_order_a_clearance_locks_them(
    settings, medical_reviewer
):
    """Both lock the cases one by one: the clearance by (submitted_at, id), the claim's
    announcements by (created_at, id) before, and two cases sent at once can stand in opposite
    orders by the two, which could deadlock a claim and a clearance of one review (a review)."""
    settings.TASKS = DATABASE_QUEUE  # the announcements wait: the claim makes them
    endpoint = _partner()
    first = submit("V09")
    second = submit("V09")  # the same patient: joins the open review
    (review,) = first.referrals
    assert second.referrals[0].pk == review.pk
    # Opposite orders: the case created first was submitted last.
    Intake.objects.filter(pk=first.intake.pk).update(
        submitted_at=second.intake.submitted_at + dt.timedelta(seconds=1)
    )
    referral_claim(referral=review, actor=medical_reviewer)
    told = [
        d.payload["data"]["intake"]["reference"]
        for d in WebhookDelivery.objects.filter(
            endpoint=endpoint, event_type=WebhookEvent.INTAKE_SUBMITTED
        ).order_by("id")
    ]
    locked = Intake.objects.filter(pk__in=[first.intake.pk, second.intake.pk]).order_by(
        "submitted_at", "id"
    )
    assert told == [intake.reference for intake in locked]
    assert told == [second.intake.reference, first.intake.reference]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "urgency"), [("V09", "emergency"), ("V17", "urgent")])
def test_the_queue_alert_reads_as_english(case, urgency, medical_reviewer, podiatrist):
    """It read "A urgent case is waiting", "A emergency case" (found running make run)."""
    (referral, *_) = submit(case, patient=details(family_name="Reyes")).referrals
    (message, *_) = mail.outbox
    assert referral.urgency == urgency
    assert message.subject == f"[{urgency.title()}] New case {referral.intake.reference}"
    assert message.body.startswith(
        f"A new {urgency} case is waiting in the {referral.get_queue_display()} queue.\n"
    )


@pytest.mark.django_db(transaction=True)
def test_an_emergency_alert_with_nobody_to_send_it_to_says_so_in_the_log(caplog):
    # No one in the urgent medical review team yet, as on a new installation.
    with caplog.at_level("WARNING", logger="referrals.tasks"):
        case = submit("V09")
    assert mail.outbox == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "referrals.tasks"]
    assert line == (
        "Alert not sent, no active member of 'Urgent medical review team' has an email "
        f"address: [Emergency] New case {case.intake.reference}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["V09", "V17"])  # an emergency, an urgent case
def test_the_queue_alert_ends_with_the_staff_text_of_the_ruleset_that_triaged_the_case(
    case, medical_reviewer
):
    """It tells staff a case's urgency and queue: spec §7's staff text goes with them
    (docs/CLINICAL_DECISIONS.md, Patient texts 6), naming the case's ruleset version."""
    (referral,) = submit(case).referrals
    (message,) = mail.outbox
    assert message.body.endswith("\n\n" + staff_disclaimer(ruleset_version="1.0.0"))
    mail.outbox.clear()
    Intake.objects.filter(pk=referral.intake.pk).update(ruleset_version="0.9.0")
    notify_queue_staff.call(referral.pk)
    (message,) = mail.outbox
    assert message.body.endswith(
        "Open the staff site to see it.\n\n" + staff_disclaimer(ruleset_version="0.9.0")
    )


@pytest.mark.django_db
def test_the_alert_for_a_raise_names_the_ruleset_of_the_case_that_raised_it_too(medical_reviewer):
    """A later case raising the referral to emergency is what the alert is for: its urgency
    came from that case's rules, whose version the text names beside the first case's."""
    person = details(phone="07700 900123")
    (review,) = submit("V17", patient=person).referrals  # urgent
    Intake.objects.filter(pk=review.intake.pk).update(ruleset_version="0.9.0")
    mail.outbox.clear()
    raised = submit("V09", patient=person)  # joins it and raises it to emergency
    assert raised.referrals[0].pk == review.pk
    (message,) = mail.outbox
    assert message.body.endswith("\n\n" + staff_disclaimer(ruleset_version="0.9.0, 1.0.0"))


def _specialty_stamps(patient_id: int) -> dict[str, dt.datetime]:
    from referrals.models import Referral

    return dict(
        Referral.objects.filter(
            patient_id=patient_id, queue__in=["chiropractic", "orthotic_fitting", "podiatry"]
        ).values_list("queue", "updated_at")
    )


@pytest.mark.django_db(transaction=True)
def test_a_red_flag_stamp_that_fails_is_tried_again(settings, monkeypatch):
    """The stamp of the patient's specialty referrals (their red_flag_elsewhere, for a poller
    of the API's list) is a task of its own: one that fails is enqueued again, later, as a
    staff alert is (a review found a lost stamp never made)."""
    from django.db import OperationalError

    from referrals.tasks import stamp_red_flag_elsewhere

    settings.TASKS = DATABASE_QUEUE
    person = details(phone="07700 900339")
    patient_id = submit("V22", patient=person).intake.patient_id
    run_worker()
    before = _specialty_stamps(patient_id)
    red = submit("V09", patient=person)

    def away(*args: object, **kwargs: object) -> int:
        raise OperationalError("the database went away")

    monkeypatch.setattr("referrals.tasks.red_flag_elsewhere_changed", away)
    run_worker()  # the announcement, then its stamp, which fails
    stamps = DBTaskResult.objects.filter(task_path=stamp_red_flag_elsewhere.module_path)
    failed, retry = stamps.order_by("enqueued_at")
    assert (failed.status, retry.status) == ("FAILED", "READY")
    assert retry.args_kwargs["args"] == [patient_id, 2]
    assert retry.args_kwargs["kwargs"] == {"intake_id": red.intake.pk}  # its webhooks name it
    assert retry.run_after is not None
    assert retry.run_after > timezone.now()
    assert _specialty_stamps(patient_id) == before

    monkeypatch.undo()
    stamps.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()
    after = _specialty_stamps(patient_id)
    assert all(after[queue] > before[queue] for queue in before)


def _stamp_queued_behind_a_red_flag(settings: Any, monkeypatch: Any, phone: str) -> int:
    """A patient with specialty referrals and a red flag announced and stamped, its stamp's
    rows gone, a stamp queued again (as the announcement queues it) whose tries wait 0.2 s for
    a lock; the patient's id."""
    from referrals.tasks import stamp_red_flag_elsewhere

    settings.TASKS = DATABASE_QUEUE
    monkeypatch.setattr("referrals.tasks.STAMP_LOCK_TIMEOUT", dt.timedelta(milliseconds=200))
    person = details(phone=phone)
    patient_id = submit("V22", patient=person).intake.patient_id
    submit("V09", patient=person)
    run_worker()  # the announcements, and the red flag's stamp
    DBTaskResult.objects.filter(task_path=stamp_red_flag_elsewhere.module_path).delete()
    stamp_red_flag_elsewhere.enqueue(patient_id)
    return patient_id


@contextmanager
def _patients_lock_held(patient_id: int) -> Iterator[None]:
    """The patient's lock held by a colleague's connection, let go on leaving, or after 30 s
    whatever happens: a stamp that waits for ever fails the test rather than hanging it."""
    import psycopg

    from intake.locks import lock_name
    from intake.models import Patient
    from tests.helpers import own_dsn

    family_key, born = Patient.objects.values_list("family_name_key", "date_of_birth").get(
        pk=patient_id
    )
    with psycopg.connect(own_dsn(), autocommit=True) as colleague:
        colleague.execute("SELECT pg_advisory_lock(hashtext(%s))", [lock_name(family_key, born)])
        letting_go = threading.Timer(30, colleague.close)
        letting_go.start()
        try:
            yield
        finally:
            letting_go.cancel()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_stamp_waits_for_the_patients_lock_a_while_then_fails_and_is_tried_again(
    settings, monkeypatch
):
    """A stamp stuck behind a transaction holding the patient's lock stayed running for as
    long, and the lost-task sweeper, unable to tell it from a dead worker's, enqueued another
    every TASK_STALE_SECONDS, each stuck the same (a review found them pile up). It waits
    STAMP_LOCK_TIMEOUT at most, then fails and is tried again later, as any failed stamp."""
    from referrals.tasks import stamp_red_flag_elsewhere

    patient_id = _stamp_queued_behind_a_red_flag(settings, monkeypatch, "07700 900341")
    before = _specialty_stamps(patient_id)
    with _patients_lock_held(patient_id):
        started = timezone.now()
        run_worker()  # the stamp waits 0.2 s for the lock, fails, and is enqueued again
        assert timezone.now() - started < dt.timedelta(seconds=10), "it waited for the lock"
    stamps = DBTaskResult.objects.filter(task_path=stamp_red_flag_elsewhere.module_path)
    failed, retry = stamps.order_by("enqueued_at")
    assert failed.status == "FAILED"
    assert "lock timeout" in failed.traceback
    assert retry.status == "READY"
    assert retry.args_kwargs["args"] == [patient_id, 2]
    assert _specialty_stamps(patient_id) == before
    stamps.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()  # the lock free now
    after = _specialty_stamps(patient_id)
    assert all(after[queue] > before[queue] for queue in before)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_stamp_behind_a_lock_held_longer_than_its_tries_is_made_once_it_is_let_go(
    settings, monkeypatch
):
    """Each try waits STAMP_LOCK_TIMEOUT for the patient's lock; counted as failures, the six
    tries (about 18 minutes) ran out behind a lock held longer (a session left open until TCP
    keepalive, hours), and the stamp was given up for good: the referrals never stamped, no
    webhook (a review). A try that only waited goes on every 8 minutes until it has the lock."""
    from referrals.tasks import STAMP_ATTEMPTS, stamp_red_flag_elsewhere

    patient_id = _stamp_queued_behind_a_red_flag(settings, monkeypatch, "07700 900342")
    stamps = DBTaskResult.objects.filter(task_path=stamp_red_flag_elsewhere.module_path)
    before = _specialty_stamps(patient_id)
    with _patients_lock_held(patient_id):
        for _ in range(STAMP_ATTEMPTS + 2):  # each try as its time comes, brought forward
            waiting = stamps.filter(status="READY")
            assert waiting.count() == 1, "the stamp was given up"
            waiting.update(run_after=timezone.now())
            run_worker()
        # Past the six, every 8 minutes.
        (after_the_six,) = stamps.filter(status="READY").values_list("run_after", flat=True)
        assert after_the_six - timezone.now() > dt.timedelta(minutes=7)
    stamps.filter(status="READY").update(run_after=timezone.now())
    run_worker()  # the lock let go
    after = _specialty_stamps(patient_id)
    assert all(after[queue] > before[queue] for queue in before)
    assert not stamps.filter(status="READY").exists()


@pytest.mark.django_db
def test_inside_a_transaction_the_stamp_waits_for_its_commit(django_capture_on_commit_callbacks):
    """The immediate backend runs a task inside the transaction that enqueued it: the stamp
    would take the patient's lock after that transaction's row locks, and change a referral a
    move is checking; it runs once that transaction commits."""
    from django.db import transaction

    from referrals.tasks import stamp_red_flag_elsewhere

    patient_id = submit("V22", patient=details(phone="07700 900340")).intake.patient_id
    before = _specialty_stamps(patient_id)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        stamp_red_flag_elsewhere.enqueue(patient_id)
        assert _specialty_stamps(patient_id) == before
    after = _specialty_stamps(patient_id)
    assert all(after[queue] > before[queue] for queue in before)
