"""Django's SQLite backend, waiting for the write lock in steps of a millisecond.

SQLite lets one connection write at a time. A connection that finds the lock taken calls its
busy handler, and the one ``busy_timeout`` installs sleeps 1, 2, 5, 10, 15, 20, 25 ms ... between
tries: after a few misses a writer sleeps 10-25 ms for a lock its holder gives up within a few
milliseconds. With two gunicorn workers taking API submissions (each holds the lock for about
3.5 ms of a 6 ms request) about two fifths of both cores sat idle in those sleeps, and the
slowest submission in a hundred took 0.2-0.7 s (bench/load.py on SQLite, docs/BENCHMARKS.md).

Python's sqlite3 has no way to install another busy handler, so the statements that take the
write lock when they start (``BEGIN IMMEDIATE``, which ``transaction.atomic()`` sends, and one
``INSERT``, ``UPDATE``, ``DELETE`` or ``REPLACE`` outside a transaction) run with the busy
timeout off and are tried again every millisecond until the connection's own busy timeout has
passed, then fail as before ("database is locked"). SQLite takes every lock a statement needs
before it changes anything, so a statement refused with SQLITE_BUSY did nothing and may be sent
again. Rails' SQLite adapter waits the same way (a fixed short interval instead of the
backoff) for the same reason.

Left to SQLite's own handler, as in Django's backend: everything inside a transaction, every
other statement, and ``executemany`` (outside a transaction each of its rows commits on its
own, so sending it again after a refusal half-way would write the first rows twice).
SQLITE_BUSY_SNAPSHOT is raised at once, as SQLite's handler does: the connection still reads
an older snapshot (a SELECT of its own still open), and no wait makes it newer.

The tries are below Django's cursor wrapper: a statement is logged and counted once however
many times it had to wait.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any, Final

from django.db.backends.sqlite3 import base

# How long a writer sleeps between tries for the lock (seconds).
POLL_SECONDS: Final[float] = 0.001
# The refusals SQLite's own handler waits on: the lock taken, or another connection
# recovering the WAL index.
_WAIT_ON: Final[frozenset[int]] = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY})
_TAKES_WRITE_LOCK: Final[tuple[str, ...]] = (
    "BEGIN IMMEDIATE",
    "BEGIN EXCLUSIVE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
)
_PREFIX: Final[int] = max(len(word) for word in _TAKES_WRITE_LOCK)


class Connection(sqlite3.Connection):
    """A connection that remembers its busy timeout (milliseconds) while it is switched off."""

    busy_timeout_ms: int = 0


def takes_write_lock(sql: str) -> bool:
    """Whether ``sql``, run outside a transaction, asks for the write lock before anything else."""
    return sql.lstrip()[:_PREFIX].upper().startswith(_TAKES_WRITE_LOCK)


def pause() -> None:
    """The wait between two tries (a function of its own for the tests to count)."""
    time.sleep(POLL_SECONDS)


class CursorWrapper(base.SQLiteCursorWrapper):
    # The signature is Django's (its stubs' SQLiteCursorWrapper already differs from
    # sqlite3.Cursor's, hence the ignore).
    def execute(self, query: str, params: Iterable[Any] | None = None) -> Any:  # type: ignore[override]
        conn = self.connection
        if not isinstance(conn, Connection) or conn.in_transaction or not takes_write_lock(query):
            return super().execute(query, params)
        timeout_ms = conn.busy_timeout_ms
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + timeout_ms / 1000
            while True:
                try:
                    return super().execute(query, params)
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode not in _WAIT_ON or time.monotonic() >= deadline:
                        raise
                pause()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params["factory"] = Connection
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection:
        conn: Connection = super().get_new_connection(conn_params)
        # After the settings' init_command, which may set its own busy timeout.
        conn.busy_timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
        return conn

    def create_cursor(self, name: str | None = None) -> CursorWrapper:
        return self.connection.cursor(factory=CursorWrapper)
