"""``manage.py generate_cases --count N``: realistic cases through the bulk submission service."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections.abc import Callable, Iterator
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from django.utils import timezone

from intake.bulk import (
    DEFAULT_BATCH,
    BulkSubmission,
    intake_submit_bulk,
    intake_write_bulk,
    prepare_one,
    prepared_or_raise,
)
from intake.generator import CaseGenerator
from intake.models import IntakeSource
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
        "over the last years, through intake_submit_bulk. No notifications are sent. "
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
            default=0,
            help="processes running validation, triage and routing (intake_prepare) while this "
            "one writes; 0 (the default) does everything in this process",
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
        if options["workers"] < 0:
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
        began = time.perf_counter()
        done = 0
        if options["workers"]:
            # Forked workers must not share this process's database connection.
            connections.close_all()
            with multiprocessing.get_context("fork").Pool(options["workers"]) as pool:
                for prepared in _prepared_ahead(pool, generator.batches(batch)):
                    done += intake_write_bulk(
                        prepared=prepared,
                        source=IntakeSource.GENERATOR,
                        history=generator.history,
                        batch_size=batch,
                        now=now,
                    )
                    progress.update(done)
        else:
            for submissions in generator.batches(batch):
                done += intake_submit_bulk(
                    submissions=submissions,
                    source=IntakeSource.GENERATOR,
                    history=generator.history,
                    batch_size=batch,
                    now=now,
                )
                progress.update(done)
        progress.close()
        elapsed = time.perf_counter() - began
        self.stdout.write(
            f"Generated {done:,} cases in {elapsed:.1f} s: {done / elapsed:,.0f} cases/s."
        )


def _prepared_ahead(pool: Pool, batches: Iterator[list[BulkSubmission]]) -> Iterator[list[Any]]:
    """Each batch through ``prepare_one`` in the pool, the next batch sent before this one is
    written: the workers validate and triage while the caller writes."""
    pending: AsyncResult[list[Any]] | None = None
    for submissions in batches:
        sent = pool.map_async(prepare_one, submissions, chunksize=250)
        if pending is not None:
            yield prepared_or_raise(pending.get())
        pending = sent
    if pending is not None:
        yield prepared_or_raise(pending.get())
