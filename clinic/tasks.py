"""Housekeeping tasks that `manage.py run_scheduler` enqueues (see PERIODIC_TASKS)."""

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.tasks import Task, TaskResultStatus, task
from django.utils import timezone
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_tasks_db.models import DBTaskResult

log = logging.getLogger(__name__)


@task
def prune_task_results() -> int:
    """Delete finished task results older than TASK_RESULT_RETENTION_DAYS; return how many.

    The scheduler enqueues jobs every minute, so without this the queue table only grows. A
    task still "running" after as long was left by a worker that died (django-tasks-db never
    runs it again nor finishes it): it goes too, with the arguments it held (a resume email's
    address and link, which forget_personal_arguments empties only when a task finishes).
    """
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
    finished = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff)
    abandoned = DBTaskResult.objects.running().filter(started_at__lt=cutoff)
    deleted, _ = (finished | abandoned).delete()
    return deleted


@task
def purge_rate_counters() -> int:
    """Windows that have ended count for nothing; drop them."""
    from intake.ratelimit import rate_counters_purge

    return rate_counters_purge()


@task
def purge_expired_sessions() -> int:
    """Delete sessions past their expiry (Django's clearsessions), by the expiry's index: a
    patient's session holds the resume link of their form in progress until it expires."""
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


LOST_BATCH = 200


class TaskLost(Exception):
    """The class a lost task's row is marked failed with (its ``exception_class_path``): its
    worker died while it ran, and it was enqueued again."""


@task
def requeue_lost_tasks() -> int:
    """Periodic: enqueue again each task of RERUNNABLE_TASKS left running for longer than
    TASK_STALE_SECONDS; the number enqueued."""
    return lost_tasks_requeue(now=timezone.now())


def lost_tasks(*, stale: datetime) -> "QuerySet[DBTaskResult]":
    """The rows of the tasks of RERUNNABLE_TASKS running since before ``stale``, by the index
    of running rows (intake migration 0013: django-tasks-db's own holds waiting rows only)."""
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING,
        task_path__in=settings.RERUNNABLE_TASKS,
        started_at__lt=stale,
    )


def lost_tasks_requeue(*, now: datetime) -> int:
    """Enqueue again, with the same arguments, each task safe to run twice (RERUNNABLE_TASKS)
    that has been running since before TASK_STALE_SECONDS ago, and mark its row failed.

    django-tasks-db never runs again a task whose worker died while it ran (killed, or the
    database away when its end was to be written): its row stays running. Such a task is
    lost, not slow: a red-flag stamp takes milliseconds. The mark and the new task commit
    together, and the mark is made only on a row still running and not locked by another
    sweep, so two sweeps at once enqueue it once and a later sweep finds it no more."""
    from django_tasks_db.models import DBTaskResult

    if not settings.RERUNNABLE_TASKS:
        return 0
    stale = now - timedelta(seconds=settings.TASK_STALE_SECONDS)
    requeued: list[tuple[DBTaskResult, str]] = []
    with transaction.atomic():
        lost = list(
            lost_tasks(stale=stale)
            .select_for_update(skip_locked=True)
            .only("id", "task_path", "args_kwargs", "priority", "queue_name", "started_at")
            .order_by("started_at")[:LOST_BATCH]
        )
        for row in lost:
            marked = DBTaskResult.objects.filter(pk=row.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{TaskLost.__module__}.{TaskLost.__qualname__}",
                traceback=(
                    f"Lost: running since {row.started_at} and its worker gone; enqueued "
                    f"again at {now} by clinic.tasks.requeue_lost_tasks."
                ),
            )
            if not marked:
                continue  # finished, or marked by another sweep, since it was read (SQLite)
            lost_task = import_string(row.task_path)
            if not isinstance(lost_task, Task):
                raise TypeError(f"RERUNNABLE_TASKS: {row.task_path!r} is not a task")
            again = lost_task.using(priority=row.priority, queue_name=row.queue_name).enqueue(
                *row.args_kwargs["args"], **row.args_kwargs["kwargs"]
            )
            requeued.append((row, again.id))
    for row, new_id in requeued:
        # One line a task, its arguments left out: another task of the list could carry
        # personal data.
        log.warning(
            "Task id=%s path=%s was lost (running since %s): enqueued again as id=%s",
            row.pk,
            row.task_path,
            row.started_at,
            new_id,
        )
    return len(requeued)
