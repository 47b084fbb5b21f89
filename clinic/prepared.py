"""The hot statements of the staff pages, prepared by PostgreSQL once per connection.

PostgreSQL plans a statement every time it receives one. With Django's default client-side
binding (psycopg's ``ClientCursor``) nothing is ever prepared, so the statements every staff
page runs (the session, the signed-in user with its permissions, the queue's capped count and
its page) were planned again on every request: about a third of the server's time for the
admin queue page. Inside ``preparing()`` the connection's cursors are Django's own
``ServerBindingCursor`` (psycopg binds the parameters on the server), and psycopg prepares each
statement the first time it runs on the connection (``prepare_threshold`` 0, from the
settings), then executes it by name. Everything else runs as before: the other cursors are
client-side and never prepare.

The statements are still the ORM's, run through Django's cursor wrapper (execute wrappers,
query logging and counting see them). Only a few statements are run this way, each shaped
the same on every request, so each connection keeps a handful of prepared statements (psycopg
forgets them all on a rollback, and prepares them again on their next run). After five runs
PostgreSQL may keep one generic plan, made without the parameters' values: bench/explain.py
checks that the queue page's generic plans use the indexes as its custom ones do (a status
given as a parameter could not use the partial indexes, so the queue's status filters write
their codes into the SQL: referrals/lookups.py).
Prepared statements need a session-level connection to PostgreSQL, or a pooler that keeps
protocol-level prepared statements (PgBouncer 1.21 or later with max_prepared_statements);
``DATABASE_PREPARED_STATEMENTS=false`` turns them off (docs/SCALING.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections


def enabled(using: str) -> bool:
    """Whether statements run inside ``preparing(using)`` are prepared on that database."""
    connection = connections[using]
    return (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
    )


@contextmanager
def preparing(using: str) -> Iterator[None]:
    """Statements run on ``using`` inside the block are prepared (PostgreSQL, when enabled)."""
    if not enabled(using):
        yield
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection = connections[using]
    # As connection.cursor() would: a connection that failed its health check is replaced
    # before the block, so the factory is set on the one the block's statements use.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    before = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        yield
    finally:
        raw.cursor_factory = before
