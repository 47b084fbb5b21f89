"""``manage.py generate_cases --count N``: realistic cases through the bulk submission service."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, transaction
from django.utils import timezone

from intake import deferred_indexes
from intake.bulk import (
    DEFAULT_BATCH,
    WRITTEN_MODELS,
    BatchPlan,
    intake_write_plan,
    plan_submissions,
    prepare_one,
    prepared_or_raise,
)
from intake.generator import CaseGenerator
from intake.models import Intake, IntakeSource
from intake.services import PreparedSubmission
from referrals.access import QUEUE_GROUPS

STAFF_PER_QUEUE = 3


def generator_staff() -> dict[str, list[int]]:
    """Three clinicians per queue who claim and close the generated referrals (no password)."""
    staff: dict[str, list[int]] = {}
    with transaction.atomic():
        for queue, group_name in QUEUE_GROUPS.items():
            group = Group.objects.get(name=group_name)
            ids = []
            for n in range(1, STAFF_PER_QUEUE + 1):
                user, created = User.objects.get_or_create(
                    username=f"gen-{queue.replace('_', '-')}-{n}",
                    defaults={"is_staff": True, "email": ""},
                )
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                    user.groups.add(group)
                ids.append(user.pk)
            staff[queue] = ids
    return staff


class Progress:
    """One line, rewritten in place: done/total, percentage, rate and time left."""

    def __init__(self, total: int, write: Callable[[str], None], *, enabled: bool) -> None:
        self.total, self.write, self.enabled = total, write, enabled
        self.started = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed else 0.0
        left = (self.total - done) / rate if rate else 0.0
        width = 30
        filled = width * done // self.total if self.total else width
        bar = "#" * filled + "." * (width - filled)
        self.write(
            f"\r[{bar}] {done:,}/{self.total:,} {done / max(self.total, 1):4.0%} "
            f"{rate:,.0f} cases/s, {left:,.0f} s left "
        )

    def close(self) -> None:
        if self.enabled:
            self.write("\n")


class Command(BaseCommand):
    help = (
        "Generate N realistic cases (random valid answers, repeat patients, histories) spread "
        "over the last years, through the bulk submission service (intake.bulk: the same "
        "validation, triage and routing, one transaction per batch). No notifications are sent. "
        "Refuses in production unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="number of cases")
        parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
        parser.add_argument(
            "--batch",
            type=int,
            default=DEFAULT_BATCH,
            help=f"cases per transaction ({DEFAULT_BATCH})",
        )
        parser.add_argument(
            "--years", type=float, default=2.0, help="spread over the last N years (2)"
        )
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="leave every referral new (no claims or closes)",
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="show a progress bar (the default on a terminal)",
        )
        parser.add_argument("--no-progress", dest="progress", action="store_false")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes that make, validate, triage, route and turn batches into rows while "
            "this one matches against the database and writes; 0 does everything in this "
            f"process (default: the number of CPUs, here {default_workers()})",
        )
        parser.add_argument(
            "--force", action="store_true", help="run even when DJANGO_ENV=production"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError("Refusing to generate cases in production (use --force).")
        count: int = options["count"]
        batch: int = options["batch"]
        if count < 1 or batch < 1:
            raise CommandError("--count and --batch must be at least 1.")
        workers: int = default_workers() if options["workers"] is None else options["workers"]
        if workers < 0:
            raise CommandError("--workers must be 0 or more.")
        if options["years"] <= 0:
            raise CommandError("--years must be more than 0.")
        now = timezone.now()
        start = now - dt.timedelta(days=365.25 * options["years"])
        generator = CaseGenerator(
            seed=options["seed"],
            count=count,
            start=start,
            end=now,
            staff=generator_staff(),
            now=now,
            history_share=0.0 if options["no_history"] else 1.0,
        )
        show = options["progress"]
        if show is None:
            show = self.stderr.isatty()
        progress = Progress(count, lambda text: self.stderr.write(text, ending=""), enabled=show)
        # Into empty tables the secondary indexes are built once at the end (within the timed
        # run), not kept up to date through every insert: see intake.deferred_indexes.
        state = deferred_indexes.migrated_apps(connection)
        if state is None:
            raise CommandError("The database has migrations to apply: run manage.py migrate.")
        rebuilt = deferred_indexes.build_missing(state, connection)
        if rebuilt:
            self.stdout.write(
                f"Built {len(rebuilt)} indexes a stopped run had left missing: "
                f"{', '.join(rebuilt)}."
            )
        defer = not Intake.objects.exists()
        began = time.perf_counter()
        cpu = time.process_time()
        done = 0
        try:
            with (
                deferred_indexes.deferred(
                    state, connection, enabled=defer, announce=self.stderr.write
                ) as index_build,
                _collect_per_batch(),
            ):
                for written, (plan, load) in enumerate(
                    _plans(generator, batch, workers=workers, now=now), start=1
                ):
                    _large_page_cache()
                    done += intake_write_plan(
                        plan,
                        load=load,
                        source=IntakeSource.GENERATOR,
                        history=generator.history,
                        now=now,
                    )
                    if written % WRITER_COLLECT_EVERY == 0:
                        gc.collect()
                    progress.update(done)
        except BrokenProcessPool as broken:
            raise CommandError(
                f"A worker process stopped unexpectedly: {broken} The {done:,} cases "
                "written before it are kept."
            ) from broken
        finally:
            progress.close()
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.stdout.write(
            f"Generated {done:,} cases in {elapsed:.1f} s: {done / elapsed:,.0f} cases/s."
        )
        if index_build:
            self.stdout.write(
                f"The tables were empty: {len(deferred_indexes.deferrable(state, connection))} "
                f"secondary indexes were built after loading, in {index_build[0]:.1f} s "
                "(counted above)."
            )
        self.stdout.write(
            f"CPU per case: {cpu / done * 1e6:,.0f} µs in this process, "
            f"{(children.ru_utime + children.ru_stime) / done * 1e6:,.0f} µs in {workers} "
            "worker(s)."
        )
        vacuum = not connection.in_atomic_block
        analysed = analyse_written_tables()
        if analysed is not None:
            refreshed = (
                "were vacuumed and their statistics refreshed"
                if vacuum
                else "had their statistics refreshed"
            )
            self.stdout.write(f"The written tables {refreshed} in {analysed:.1f} s.")


# SQLite's page cache for this command's connection, in KiB: the indexes of a data set of a
# million cases (about 8 GB) no longer fit the default 2 MB, and inserts slow as the file grows.
# Memory only: durability (WAL, synchronous=NORMAL) is the application's.
BULK_CACHE_KIB = 65536


def analyse_written_tables() -> float | None:
    """On PostgreSQL, ``VACUUM (ANALYZE)`` the tables the command filled (``ANALYZE`` alone
    inside a caller's transaction, where VACUUM cannot run); the seconds it took.

    PostgreSQL plans from statistics, and autovacuum may be off or not yet round: on a freshly
    loaded 1,000,000-case database with none, a keyset page half-way down the API's list read
    644,826 rows by a bitmap scan and sorted them (0.8 s; 1 ms with statistics). A bulk
    loader refreshes them itself, as pg_restore's documentation advises. The vacuum sets the
    visibility map, which index-only scans need (the admin queue's capped count read every
    counted row from the table without it: p95 82.7 ms at 1,000,000 cases, 47.6 with it;
    about 11 s for the whole 1,000,000-case database). SQLite is left as
    it is: without ``sqlite_stat1`` its planner follows fixed rules, which the queue queries
    are written for (referrals/lookups.py), and its ``ANALYZE`` reads every index in full.
    """
    if connection.vendor != "postgresql":
        return None
    began = time.perf_counter()
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in WRITTEN_MODELS)
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {tables}")
    return time.perf_counter() - began


def _large_page_cache() -> None:
    """Per connection, and the connection may be new (it is closed before forking workers)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")


# The writer collects every this many batches (and plans them too with --workers 0), the
# workers every batch. A collection walks every tracked object alive, and the writer holds the
# plans received ahead of it (up to two per worker): 16-60 ms a batch, about 8 µs a case
# (bench/generate.py 50000 on SQLite), where a worker's takes 3-5 ms. None of them found
# anything after the first: the rows are plain tuples, the model instances hold no cycles. The
# collection stays as the bound on memory should something in a batch make cycles.
WRITER_COLLECT_EVERY = 10


@contextlib.contextmanager
def _collect_per_batch() -> Iterator[None]:
    """The collector off while generating, and collections between batches instead (here and
    in the forked workers, which inherit this).

    A batch makes some million objects that live until it is written; the automatic collector
    would walk them (and everything loaded before, unless frozen) many times per batch. Frozen
    first: Django's and the app's objects are never garbage, and a forked worker does not copy
    their pages just to mark them during a collection.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# The workers yield to the writer: it is the one serial step, and while all three are busy on
# two cores an equal share kept it at two thirds of a core and left it behind with a
# backlog to write alone at the end (bench/generate.py 50000 on SQLite, alternately: 4,254-4,432
# cases/s at niceness 0-2, 4,446-4,739 at 5 or 10). 5, not more: on a machine busy with other
# work, the workers still get about a quarter of a core against each other busy process.
WORKER_NICENESS = 5

# Linux's prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _start_worker(writer: int) -> None:
    """In a new worker: yield to the writer, and die with it.

    A writer killed outright (``kill -9``, the kernel's out-of-memory killer) left its workers
    for ever, blocked writing a plan to a pipe nobody reads (each forked worker holds the
    pipe's reading end too, so the write never fails). On Linux the kernel now kills them
    when the writer goes; elsewhere they still wait. The kernel watches the thread that forked
    the worker: with the fork context the executor forks them all from the caller's thread, at
    the first submit, and this command calls from its main thread.
    """
    os.nice(WORKER_NICENESS)
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL)) != 0:
        return  # refused: they wait, as before
    if os.getppid() != writer:  # the writer died before the request took effect
        os._exit(1)


Loader = Callable[[Sequence[int]], Mapping[int, PreparedSubmission]]
# What a forked worker needs: set before the pool starts, inherited by fork (never pickled).
_WORKER: tuple[CaseGenerator, int, dt.datetime] | None = None


def _plan_batch(index: int) -> BatchPlan:
    """In a worker: batch ``index`` made, prepared and planned (no database)."""
    assert _WORKER is not None  # noqa: S101 - set before the pool forks
    generator, batch, now = _WORKER
    gc.collect()  # the collector is off here too (inherited): the previous batch's cycles
    return _plan_here(generator, index, batch, now)


def _loader(generator: CaseGenerator, index: int, batch: int) -> Loader:
    """Items of batch ``index`` to redo in the writer: the batch is made again (the same seed
    gives the same batch) and only those items are prepared. Rare: see intake_write_plan."""

    def load(items: Sequence[int]) -> dict[int, PreparedSubmission]:
        submissions = generator.batch(index, batch)
        return dict(
            zip(items, prepared_or_raise(prepare_one(submissions[i]) for i in items), strict=True)
        )

    return load


def _plans(
    generator: CaseGenerator, batch: int, *, workers: int, now: dt.datetime
) -> Iterator[tuple[BatchPlan, Loader]]:
    """The batches' plans in order, made here or by ``workers`` forked processes, at most two
    batches ahead of the writer per worker (memory stays bounded whatever the count).

    concurrent.futures rather than multiprocessing.Pool: the Pool's worker-handler thread
    spins while a result is in its pipe (it waits on that pipe but leaves the reading to
    another thread), which took about 10 µs of the writer's CPU per case with plans of
    megabytes; and a worker that dies breaks the executor instead of hanging the Pool.
    """
    count = generator.batch_count(batch)
    if not workers:
        for index in range(count):
            yield _plan_here(generator, index, batch, now), _loader(generator, index, batch)
        return
    global _WORKER  # the fork pool's inherited state
    _WORKER = (generator, batch, now)
    # Forked workers never use the database, but a connection shared across fork is unsafe to
    # use from two processes: close it, unless a caller's transaction holds it (a test, or a
    # caller generating inside its own atomic block), which the workers leave alone: they
    # only plan, and a forked pool worker leaves with os._exit, never closing it.
    if not connection.in_atomic_block:
        connections.close_all()
    pending: deque[tuple[int, Future[BatchPlan]]] = deque()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        sent = 0
        while sent < count or pending:
            while sent < count and len(pending) < 2 * workers:
                pending.append((sent, pool.submit(_plan_batch, sent)))
                sent += 1
            index, result = pending.popleft()
            yield result.result(), _loader(generator, index, batch)
    finally:
        # After a failure, batches not yet begun are dropped rather than planned for nothing
        # (those begun still finish: a worker cannot be stopped mid-task).
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER = None


def _plan_here(generator: CaseGenerator, index: int, batch: int, now: dt.datetime) -> BatchPlan:
    return plan_submissions(
        generator.batch(index, batch),
        source=IntakeSource.GENERATOR,
        history=generator.history,
        now=now,
    )
