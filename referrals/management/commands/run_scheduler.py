"""Enqueue the periodic tasks named in settings.PERIODIC_TASKS once a minute.

Run exactly one scheduler beside the `run_worker`s: the scheduler only puts
jobs on the queue, the workers run them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
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
    """Enqueue every task; a failure is logged and the others still go. Returns the count.

    A database that does not answer ends the round with one line: each task would fail the
    same way, and a traceback for each, every minute of an outage, buried the log (850 lines
    a round). The next round connects again.
    """
    enqueued = 0
    for task in tasks:
        try:
            result = task.enqueue()
        except (OperationalError, InterfaceError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            logger.error(
                "Scheduler: the database did not answer; %d of %d task(s) not enqueued this "
                "round: %s",
                len(tasks) - enqueued,
                len(tasks),
                reason,
            )
            break
        except DatabaseError:
            logger.exception("Scheduler: could not enqueue %s", task.module_path)
            continue
        logger.debug("Scheduler: enqueued %s as %s", task.module_path, result.id)
        enqueued += 1
    return enqueued


class StopSignals:
    """SIGTERM and SIGINT as a flag, and a wait that either ends at once.

    The handler only sets a boolean: a handler that set a ``threading.Event`` deadlocked the
    scheduler when the signal arrived while the loop's own ``Event.wait`` held the event's
    lock. The wait is a ``select`` on the signal wake-up pipe (``signal.set_wakeup_fd``), to
    which the interpreter writes a byte as the signal arrives, before any Python runs: a
    signal just before the wait still ends it. A signal during a round stops the loop once
    the round is done. Portable (no ``sigtimedwait``), and nothing is left blocked for threads
    or child processes. The main thread only, as any Python signal handling.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._handlers: dict[int, Any] = {}
        self._wakeup = -1

    def __enter__(self) -> StopSignals:
        self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.SIGNALS:
            self._handlers[signum] = signal.signal(signum, self._request)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._wakeup)
        os.close(self._read)
        os.close(self._write)

    def _request(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def wait(self, seconds: float) -> None:
        if not self.requested:
            select.select([self._read], [], [], seconds)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass


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

        with StopSignals() as stop:
            self.stdout.write(
                f"Scheduler started: every {interval} s enqueues {len(tasks)} task(s): {names}."
            )
            self.stdout.flush()
            while not stop.requested:
                # A long-running process must drop connections the server has closed.
                close_old_connections()
                count = enqueue_all(tasks)
                if options["verbosity"] >= 2:
                    self.stdout.write(f"Enqueued {count} periodic task(s).")
                    self.stdout.flush()
                stop.wait(interval - time.time() % interval)
            close_old_connections()
            self.stdout.write("Scheduler stopped.")
