"""The hot statements of the staff pages and the API, prepared by PostgreSQL once per connection.

PostgreSQL plans a statement every time it receives one. With Django's default client-side
binding (psycopg's ``ClientCursor``) nothing is ever prepared, so the statements every staff
page runs (the session, the signed-in user with its permissions, the queue's capped count and
its page) were planned again on every request: about a third of the server's time for the
admin queue page. Inside ``preparing()`` the connection's cursors are Django's own
``ServerBindingCursor`` (psycopg binds the parameters on the server), and psycopg prepares each
statement the first time it runs on the connection (``prepare_threshold`` 0, from the
settings), then executes it by name. Everything else runs as before: the other cursors are
client-side and never prepare.

The statements are still the ORM's, run through Django's cursor wrapper (execute wrappers and
query counts see them; Django logs them in its "QUERY = ... - PARAMS = ..." form).
Only statements shaped the same on every request are run this way: the session, the user,
the API token, the API's rate count, per queue set the default queue page's count and page and
the API's first page, and a submission's write (intake.services.intake_submit: its inserts, the
locking read of the patient's open referrals, and the read of the referrals the API answers
with), where parsing and planning the statements, the answers written in as literals, had cost
the server more than running them. So a connection keeps a few dozen (psycopg keeps at most
100, closing the least recently used); psycopg forgets them all on a rollback (and prepares
them again on their next run), and keeps its count of the other, client-side statements it
sees (at most 100, values included, in the process's memory).

After five runs PostgreSQL may keep one generic plan, made without the parameters' values:
bench/explain.py checks that the prepared list statements' generic plans use the indexes as
their custom ones do. (A status given as a parameter could not use the partial indexes; the
default queue page's open-work filter writes its codes into the SQL: referrals/lookups.py.)

Prepared statements need a session-level connection to PostgreSQL, or a pooler that keeps
protocol-level prepared statements and understands psycopg's ``DEALLOCATE ALL`` (PgBouncer
1.22 or later with max_prepared_statements; psycopg's bundled libpq 17 or later for closing
one statement); ``DATABASE_PREPARED_STATEMENTS=false`` turns them off (docs/SCALING.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import NotSupportedError, connections

# "cached plan must not change result type": a column a prepared statement selects changed
# type (a migration) since the connection prepared it.
_STALE_PLAN = "0A000"


def enabled(using: str) -> bool:
    """Whether statements run inside ``preparing(using)`` are prepared on that database."""
    connection = connections[using]
    return (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
    )


@contextmanager
def preparing(using: str, when: bool = True) -> Iterator[None]:
    """Statements run on ``using`` inside the block are prepared (PostgreSQL, when enabled,
    and ``when`` the caller's statements are ones to prepare)."""
    if not (when and enabled(using)):
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
    except NotSupportedError as error:
        # psycopg would keep running the stale statement by name, failing every request on
        # this connection until it closed: close it now, so the next request starts afresh.
        # (In a transaction, its rollback makes psycopg forget every prepared statement.)
        stale = getattr(error.__cause__, "sqlstate", None) == _STALE_PLAN
        if stale and not connection.in_atomic_block:
            connection.close()
        raise
    finally:
        raw.cursor_factory = before


@contextmanager
def unprepared(using: str) -> Iterator[None]:
    """Statements run on ``using`` inside the block are bound client-side and never prepared,
    even inside ``preparing()``: for a statement whose generic plan, made without its
    parameters' values, could read far more than the plan made for them."""
    if not enabled(using):
        yield
        return
    from django.db.backends.postgresql.base import Cursor

    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    before = raw.cursor_factory
    raw.cursor_factory = Cursor
    try:
        yield
    finally:
        raw.cursor_factory = before
