"""Timestamps read from PostgreSQL for less work: what Django's loader gives, found faster.

A page of the referral list reads 250 ``timestamptz`` values. Django's loader hands each to
psycopg's, which parses the text and converts it to the session's zone, then replaces the zone
with Django's own: about 15,000 instructions a value, most of the page's reading. The server
sends them in the session's zone, which Django sets to the connection's (UTC unless
``DATABASES["TIME_ZONE"]`` says otherwise), as ISO text (``2026-02-15 00:01:59.31+00``):
``datetime.fromisoformat`` reads that as the same aware datetime, in UTC, for a fraction of the
work. Anything else (another zone's offset, ``infinity``, a year past 9999 or BC, another
``DateStyle``) goes to Django's loader, which answers or refuses as before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import BaseTzLoader


class UTCTimestamptzLoader(BaseTzLoader):
    """Django's timestamptz loader for a connection in UTC, reading ISO text itself."""

    # Django's cursors compare this with the connection's zone before using the loader.
    timezone = dt.UTC

    def load(self, data: Any) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(bytes(data).decode())
        except ValueError:
            return super().load(data)
        if value.tzinfo is not dt.UTC:
            return super().load(data)
        return value


def use_fast_timestamps(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created``: a new PostgreSQL connection in UTC reads its timestamps with
    ``UTCTimestamptzLoader``; any other connection keeps Django's loaders."""
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    connection.connection.adapters.register_loader("timestamptz", UTCTimestamptzLoader)
