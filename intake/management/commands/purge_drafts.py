from typing import Any

from django.core.management.base import BaseCommand

from intake.drafts import drafts_purge


class Command(BaseCommand):
    help = "Delete unsubmitted intake drafts past their expiry (settings.DRAFT_TTL_DAYS)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = drafts_purge()
        self.stdout.write(f"Deleted {deleted} expired draft(s).")
