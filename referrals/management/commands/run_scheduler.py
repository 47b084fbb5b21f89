"""Enqueue the periodic tasks named in settings.PERIODIC_TASKS once a minute.

Run exactly one scheduler beside the `db_worker`s: the scheduler only puts
jobs on the queue, the workers run them.
"""

import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.tasks import Task
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def periodic_tasks(paths: list[str]) -> list[Task[Any, Any]]:
    """Import each dotted path; each must name a function decorated with @task."""
    tasks = []
    for path in paths:
        try:
            candidate = import_string(path)
        except ImportError as error:
            raise CommandError(f"PERIODIC_TASKS: cannot import {path!r}: {error}") from error
        if not isinstance(candidate, Task):
            raise CommandError(f"PERIODIC_TASKS: {path!r} is not a task (decorate it with @task).")
        tasks.append(candidate)
    return tasks


def enqueue_all(tasks: list[Task[Any, Any]]) -> int:
    """Enqueue every task; a failure is logged and the others still go. Returns the count."""
    enqueued = 0
    for task in tasks:
        try:
            result = task.enqueue()
        except DatabaseError:
            logger.exception("Scheduler: could not enqueue %s", task.module_path)
            continue
        logger.debug("Scheduler: enqueued %s as %s", task.module_path, result.id)
        enqueued += 1
    return enqueued


class Command(BaseCommand):
    help = "Enqueue settings.PERIODIC_TASKS every minute until SIGTERM or SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Enqueue the periodic tasks once and exit."
        )
        parser.add_argument(
            "--interval",
            type=int,
            default=60,
            help="Seconds between rounds, aligned to the clock (default: 60).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tasks = periodic_tasks(settings.PERIODIC_TASKS)
        interval: int = options["interval"]
        if interval < 1:
            raise CommandError("--interval must be at least 1 second.")
        names = ", ".join(task.module_path for task in tasks) or "none"

        if options["once"]:
            count = enqueue_all(tasks)
            self.stdout.write(f"Enqueued {count} of {len(tasks)} periodic task(s): {names}.")
            return

        # No Python signal handler: one that set a threading.Event could
        # deadlock, arriving while the loop's own Event.wait held the event's
        # lock. SIGTERM and SIGINT are blocked instead and taken with
        # sigtimedwait, so one that arrives during a round waits, pending,
        # until the round is done.
        stopping = {signal.SIGTERM, signal.SIGINT}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
        try:
            self.stdout.write(
                f"Scheduler started: every {interval} s enqueues {len(tasks)} task(s): {names}."
            )
            self.stdout.flush()
            while True:
                # A long-running process must drop connections the server has closed.
                close_old_connections()
                count = enqueue_all(tasks)
                if options["verbosity"] >= 2:
                    self.stdout.write(f"Enqueued {count} periodic task(s).")
                    self.stdout.flush()
                if signal.sigtimedwait(stopping, interval - time.time() % interval):
                    break
            close_old_connections()
            self.stdout.write("Scheduler stopped.")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
