"""A task safe to run twice (settings.RERUNNABLE_TASKS: the red-flag stamp) that a dead worker
left "running" is enqueued again by the sweeper (clinic.tasks.requeue_lost_tasks): django-tasks-db
never runs such a task again. Through the real database queue and its worker."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from clinic.tasks import lost_tasks, lost_tasks_requeue, requeue_lost_tasks
from referrals.models import Referral
from referrals.tasks import notify_queue_staff, stamp_red_flag_elsewhere
from tests.clinic_fixtures import details, submit
from tests.helpers import run_python

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
STAMP = "referrals.tasks.stamp_red_flag_elsewhere"


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


def left_running(task: Task, *args: object, started: dt.datetime) -> str:
    """A task row as a worker killed while running it leaves it; its id."""
    result = task.enqueue(*args)
    DBTaskResult.objects.filter(id=result.id).update(
        status="RUNNING", started_at=started, worker_ids=["a-dead-worker"]
    )
    return str(result.id)


def specialty_stamps(patient_id: int) -> dict[str, dt.datetime]:
    return dict(
        Referral.objects.filter(
            patient_id=patient_id, queue__in=["chiropractic", "orthotic_fitting", "podiatry"]
        ).values_list("queue", "updated_at")
    )


def test_only_the_stamp_is_listed_and_each_listed_path_is_a_task(settings):
    # Idempotent tasks only: a mail, a webhook or an event done twice is a duplicate.
    assert settings.RERUNNABLE_TASKS == (STAMP,)
    assert "clinic.tasks.requeue_lost_tasks" in settings.PERIODIC_TASKS
    for path in settings.RERUNNABLE_TASKS:
        assert isinstance(import_string(path), Task)
        assert import_string(path).module_path == path  # the path the table stores


@pytest.mark.django_db
def test_a_stamp_left_running_past_the_limit_is_enqueued_again_once_and_marked(settings, caplog):
    settings.TASKS = DATABASE_QUEUE
    settings.TASK_STALE_SECONDS = 600
    now = timezone.now()
    lost = left_running(stamp_red_flag_elsewhere, 41, started=now - dt.timedelta(minutes=11))
    busy = left_running(stamp_red_flag_elsewhere, 42, started=now - dt.timedelta(minutes=9))
    # A task that is not safe to run twice (a mail) is left as it is, however old.
    mail = left_running(notify_queue_staff, 7, started=now - dt.timedelta(days=1))
    waiting = str(stamp_red_flag_elsewhere.enqueue(43).id)
    DBTaskResult.objects.filter(id=waiting).update(enqueued_at=now - dt.timedelta(days=1))

    with caplog.at_level(logging.WARNING, logger="clinic.tasks"):
        assert lost_tasks_requeue(now=now) == 1
    rows = {str(row.id): row for row in DBTaskResult.objects.all()}
    assert rows[lost].status == "FAILED"
    assert rows[lost].finished_at == now
    assert rows[lost].exception_class_path == "clinic.tasks.TaskLost"
    assert {rows[busy].status, rows[mail].status} == {"RUNNING"}
    assert rows[waiting].status == "READY"
    (again,) = set(rows) - {lost, busy, mail, waiting}
    assert rows[again].task_path == STAMP
    assert rows[again].status == "READY"
    assert rows[again].args_kwargs == {"args": [41], "kwargs": {}}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "clinic.tasks"]
    assert f"id={lost} path={STAMP} was lost" in line
    assert line.endswith(f"enqueued again as id={again}")

    # Swept once: later sweeps find it no more (the other stamp is swept in its turn).
    assert lost_tasks_requeue(now=now) == 0
    assert lost_tasks_requeue(now=now + dt.timedelta(minutes=2)) == 1
    assert DBTaskResult.objects.filter(task_path=STAMP, args_kwargs__args__0=41).count() == 2


@pytest.mark.django_db(transaction=True)  # the worker's run closes its connection
def test_the_stamp_enqueued_again_is_run_by_the_worker_and_stamps_the_referrals(settings):
    settings.TASKS = DATABASE_QUEUE
    settings.TASK_STALE_SECONDS = 600
    patient_id = submit("V22", patient=details(phone="07700 900341")).intake.patient_id
    run_worker()  # its announcement
    before = specialty_stamps(patient_id)
    lost = left_running(
        stamp_red_flag_elsewhere, patient_id, started=timezone.now() - dt.timedelta(minutes=11)
    )
    run_worker()  # django-tasks-db does not run it again
    assert specialty_stamps(patient_id) == before

    requeue_lost_tasks.enqueue()  # as the scheduler does every minute
    run_worker()  # the sweep, then the stamp it enqueued
    after = specialty_stamps(patient_id)
    assert all(after[queue] > before[queue] for queue in before)
    statuses = {
        str(pk): status
        for pk, status in DBTaskResult.objects.filter(task_path=STAMP).values_list("id", "status")
    }
    assert statuses.pop(lost) == "FAILED"
    assert list(statuses.values()) == ["SUCCESSFUL"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_enqueue_a_lost_stamp_once(settings, monkeypatch):
    """The first sweep holds the lost row while it enqueues; the second, on a connection of
    its own meanwhile, skips it rather than enqueue it too (or wait for the first)."""
    assert connection.vendor == "postgresql"
    settings.TASKS = DATABASE_QUEUE
    settings.TASK_STALE_SECONDS = 600
    now = timezone.now()
    left_running(stamp_red_flag_elsewhere, 41, started=now - dt.timedelta(minutes=11))
    holding, release = threading.Event(), threading.Event()

    def held_import(path: str) -> object:
        holding.set()
        assert release.wait(timeout=30)
        return import_string(path)

    monkeypatch.setattr("clinic.tasks.import_string", held_import)
    outcomes: dict[str, object] = {}

    def sweep(name: str) -> None:
        try:
            outcomes[name] = lost_tasks_requeue(now=now)
        except Exception as error:  # reported by the assertion below
            outcomes[name] = error
        finally:
            connection.close()

    first = threading.Thread(target=sweep, args=("first",))
    first.start()
    assert holding.wait(timeout=30)
    second = threading.Thread(target=sweep, args=("second",))
    second.start()
    second.join(timeout=10)
    finished_while_held = not second.is_alive()
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert outcomes == {"first": 1, "second": 0}
    assert finished_while_held  # it skipped the locked row rather than wait for it
    assert DBTaskResult.objects.filter(task_path=STAMP, status="READY").count() == 1


@pytest.mark.django_db
def test_the_sweep_reads_the_running_rows_by_their_index():
    """django-tasks-db's status index holds waiting rows only: without one of the running rows
    the sweep read all of its table, every task's row for TASK_RESULT_RETENTION_DAYS, every
    minute (145 ms at 400,000 rows on PostgreSQL; 0.1 ms by the index)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # On an empty table a scan is as cheap; asked not to, it takes the index if the
                # query can use it.
                cursor.execute("SET LOCAL enable_seqscan = off")
        plan = (
            lost_tasks(stale=timezone.now())
            .select_for_update(skip_locked=True)
            .order_by("started_at")[:200]
            .explain()
        )
    assert "tasks_db_running_idx" in plan, plan


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASK_STALE_SECONDS": "30"}, "TASK_STALE_SECONDS=30 is below the minimum of 60"),
        (
            {"TASK_STALE_SECONDS": "86400", "TASK_RESULT_RETENTION_DAYS": "1"},
            "TASK_STALE_SECONDS must be shorter than TASK_RESULT_RETENTION_DAYS",
        ),
    ],
)
def test_a_stale_limit_too_short_or_outlasting_the_task_results_is_refused(env, message):
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_running_index_is_unapplied_even_when_a_rebuild_of_the_table_dropped_it():
    """A django-tasks-db migration that rebuilds its table on SQLite drops an index it does not
    know: unapplying intake 0013 then failed on "no such index" (a review). Applied again, the
    index is back."""
    from django.db.migrations.executor import MigrationExecutor

    def indexed() -> bool:
        with connection.cursor() as cursor:
            table = "django_tasks_database_dbtaskresult"
            found = connection.introspection.get_constraints(cursor, table)
        return "tasks_db_running_idx" in found

    assert indexed()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX tasks_db_running_idx")  # as a rebuild of the table would
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([("intake", "0012_patient_phone_trigram_index")])
    MigrationExecutor(connection).migrate(latest)
    assert indexed()
