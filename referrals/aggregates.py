"""Aggregates the dashboard asks the database for, on both databases."""

from __future__ import annotations

import math
from typing import Any, Final

from django.db.models import Aggregate, DurationField

# SQLite has no median: the aggregate of that name, registered on each SQLite connection.
SQLITE_MEDIAN: Final = "clinic_median"


class Median(Aggregate):
    """The median of a duration: the middle value, or the mean of the two middle values of an
    even count (as ``statistics.median``); None for no rows. PostgreSQL's ``percentile_cont``,
    SQLite's ``clinic_median`` (``SqliteMedian``)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    name = "Median"
    output_field = DurationField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, function=SQLITE_MEDIAN, template="%(function)s(%(expressions)s)"
        )


class SqliteMedian:
    """``clinic_median(x)`` for SQLite (Python's sqlite3 aggregate protocol): the median of the
    non-null values; a duration is an integer of microseconds there."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        values = sorted(self.values)
        if not values:
            return None
        middle = len(values) // 2
        if len(values) % 2:
            return values[middle]
        # Whole microseconds, as SQLite keeps a duration.
        return math.floor((values[middle - 1] + values[middle]) / 2)


def register_sqlite_median(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created: SQLite connections get ``clinic_median``."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_MEDIAN, 1, SqliteMedian)
