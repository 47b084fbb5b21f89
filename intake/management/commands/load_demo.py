"""Load demonstration data for `make run`. Safe to run again: it never duplicates.

Later features add a loader to LOADERS: a function that creates what is missing
(get_or_create) and returns one line saying what it did.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

LOADERS: list[Callable[[], str]] = []


class Command(BaseCommand):
    help = "Create the demonstration data (idempotent). Refuses in production unless --force."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Load even when DJANGO_ENV=production."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError("Refusing to load demo data in production (use --force).")
        if not LOADERS:
            self.stdout.write("Demo data: nothing to load yet.")
            return
        with transaction.atomic():
            lines = [loader() for loader in LOADERS]
        for line in lines:
            self.stdout.write(f"Demo data: {line}")
