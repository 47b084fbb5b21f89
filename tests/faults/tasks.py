"""A task for the fault tests alone: the worker imports it by its dotted path."""

import time

from django.tasks import task


@task
def pause(seconds: float) -> None:
    """Keep the worker busy, so that the database can go away while a task runs."""
    time.sleep(seconds)
