"""Run the task worker: django-tasks-db's `db_worker`, waiting for the database when it is away.

django-tasks-db's loop ends with the database's error when the database does not answer, so a
restart of PostgreSQL took the worker down (and under `make run`, everything with it). This
worker is `db_worker` with the same options and one more, `--max-db-wait`: while the database
is away it logs one line per attempt, waits 1, 2, 4, ... seconds (at most `--max-db-wait`)
and carries on once the database answers, without a restart (docs/RELIABILITY.md).
"""

from __future__ import annotations

import logging
import os
import time
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0

# The errors of a database that does not answer (refused, cut, shutting down, a connection
# closed under the worker). Others, such as a missing table, are not waited out.
UNAVAILABLE = (OperationalError, InterfaceError)


def retry_wait(attempt: int, *, longest: float = MAX_WAIT_SECONDS) -> float:
    """Seconds to wait after the `attempt`-th failure in a row (1, 2, 4, ..., at most `longest`)."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    # The exponent is bounded: 2.0 ** 1100 overflows a float, and a long outage counts on.
    return min(longest, FIRST_WAIT_SECONDS * 2.0 ** min(attempt - 1, 60))


def first_line(error: BaseException) -> str:
    """The gist of a database error; psycopg's run to several lines with hints."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def positive_seconds(value: str) -> float:
    seconds = db_worker.valid_interval(value)
    if seconds <= 0:
        raise ArgumentTypeError("Must be greater than zero")
    return seconds


class Worker(db_worker.Worker):
    """django-tasks-db's worker, whose loop is entered again once the database answers.

    A task that was running when the database went away cannot be marked finished: its row
    stays "running" (django-tasks-db's own `set_successful`/`set_failed` give up after three
    tries) and django-tasks-db never runs it again, as after a worker killed mid-task. The
    sweepers in PERIODIC_TASKS send such webhooks and announcements again, and enqueue again
    such a task that is safe to run twice (RERUNNABLE_TASKS; RELIABILITY.md).
    """

    def __init__(self, *, max_db_wait: float, **options: Any) -> None:
        super().__init__(**options)
        self.max_db_wait = max_db_wait

    def run(self) -> None:
        while True:
            try:
                super().run()
            except UNAVAILABLE as error:
                if not self.running:
                    # Asked to stop while a task ran: the task's end could not be recorded.
                    logger.error(
                        "Task worker %s stopping; the database did not answer: %s",
                        self.worker_id,
                        first_line(error),
                    )
                    return
                self.wait_for_database(error)
                # The herd has scattered already: each worker's outage began at its own time.
                self.startup_delay = False
            else:
                return

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        except UNAVAILABLE:
            # The one trace of it in the log: its own "failed" line could not be written.
            logger.error(
                "Task id=%s path=%s: the database went away while it ran, so its end is not "
                "recorded; it stays running and is not run again.",
                db_task_result.id,
                db_task_result.task_path,
            )
            raise

    def wait_for_database(self, error: BaseException) -> None:
        """Return once the task table can be read; one log line per failed attempt.

        SIGTERM and SIGINT still stop the worker at once: django-tasks-db's handler exits
        when no task is running, which is the case here, even in the middle of the wait.
        """
        alias = DBTaskResult.objects.db
        began = time.monotonic()
        attempt = 1
        while True:
            wait = retry_wait(attempt, longest=self.max_db_wait)
            logger.error(
                "Task worker %s: the database did not answer (attempt %d, %.0f s without it);"
                " trying again in %.0f s: %s",
                self.worker_id,
                attempt,
                time.monotonic() - began,
                wait,
                first_line(error),
            )
            # Whatever is left of the old connection goes; the next query opens a new one.
            connections[alias].close()
            time.sleep(wait)
            try:
                # The query the loop needs, not just a connection: a server that accepts
                # connections while it starts up still refuses queries.
                DBTaskResult.objects.using(alias).exists()
            except UNAVAILABLE as again:
                error = again
                attempt += 1
                continue
            logger.warning(
                "Task worker %s: the database answers again after %.0f s; carrying on.",
                self.worker_id,
                time.monotonic() - began,
            )
            return


class Command(db_worker.Command):
    help = (
        "Run a database task worker (django-tasks-db's db_worker) that waits for the database "
        "through an outage instead of exiting."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--max-db-wait",
            type=positive_seconds,
            default=MAX_WAIT_SECONDS,
            help="Longest wait in seconds between attempts to reach a database that does not "
            "answer; the waits double from 1 s up to it (default: %(default)r)",
        )

    # django-tasks-db's handle() with our Worker in place of its own: it names the class
    # directly, so this is its body (django-tasks-db 0.13.0), the worker's construction apart.
    def handle(  # type: ignore[override]
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str,
        exclude_queues: str,
        max_db_wait: float,
        **options: Any,
    ) -> None:
        self.configure_logging(verbosity)

        if reload and batch:
            db_worker.logger.warning(
                "Warning: --reload and --batch cannot be specified together. Disabling autoreload."
            )
            reload = False

        queue_names = queue_name.split(",")
        excluded_queue_names = exclude_queues.split(",") if exclude_queues else []
        if excluded_queue_names and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")

        worker = Worker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded_queue_names,
            max_db_wait=max_db_wait,
        )

        if reload:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                # Only the child process should configure its signals
                worker.configure_signals()
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
