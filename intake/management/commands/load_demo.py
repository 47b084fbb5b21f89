"""Load demonstration data for `make run`. Safe to run again: it never duplicates.

Each loader in LOADERS creates what is missing through the real services and returns
one line saying what it did.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.module_loading import import_string

LOADERS: list[str] = ["intake.demo.load_staff", "intake.demo.load_cases"]


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
            lines = [import_string(path)() for path in LOADERS]
        for line in lines:
            self.stdout.write(f"Demo data: {line}")
