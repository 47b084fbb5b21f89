"""Housekeeping tasks that `manage.py run_scheduler` enqueues (see PERIODIC_TASKS)."""

from datetime import timedelta

from django.conf import settings
from django.tasks import task
from django.utils import timezone


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
