"""Rate limits kept in the database, so every web process and worker sees the same counts."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.prepared import preparing
from intake.models import RateCounter


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the window resets


def rate_limit_hit(
    *, scope: str, ident: str, limit: int, window_seconds: int, now: dt.datetime | None = None
) -> Verdict:
    """Count one request for (scope, ident) in the current fixed window and judge it.

    The increment is a single UPDATE (or an INSERT racing another INSERT, retried as an
    UPDATE), so concurrent requests are counted exactly by the database.
    """
    now = now or timezone.now()
    index = math.floor(now.timestamp() / window_seconds)
    ends = dt.datetime.fromtimestamp((index + 1) * window_seconds, tz=dt.UTC)
    key = f"{scope}:{ident}:{index}"[:200]
    # The common case is one statement (UPDATE ... RETURNING, autocommit); the first request
    # of a window inserts, and an INSERT racing another INSERT is retried as an UPDATE.
    count = _increment(key)
    if count is None:
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=key, window_ends_at=ends, count=1)
            count = 1
        except IntegrityError:
            count = _increment(key)
            if count is None:  # pragma: no cover - the conflicting row exists by now
                raise
    retry_after = max(1, math.ceil((ends - now).total_seconds()))
    return Verdict(allowed=count <= limit, count=count, limit=limit, retry_after=retry_after)


def _increment(key: str) -> int | None:
    """Add one to the counter and return the new count; None when there is no such row."""
    quote = connection.ops.quote_name
    table, column = quote(RateCounter._meta.db_table), quote("count")
    # Prepared by PostgreSQL (clinic.prepared): the same statement on every API request.
    with preparing(connection.alias), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + 1 WHERE {quote('key')} = %s "  # noqa: S608 - quoted identifiers
            f"RETURNING {column}",
            [key],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def rate_counters_purge(*, now: dt.datetime | None = None) -> int:
    deleted, _ = RateCounter.objects.filter(window_ends_at__lt=now or timezone.now()).delete()
    return deleted
