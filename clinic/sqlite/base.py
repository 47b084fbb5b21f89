"""Django's SQLite backend, waiting for the write lock in steps of a millisecond.

SQLite lets one connection write at a time. A connection that finds the lock taken calls its
busy handler, and the one ``busy_timeout`` installs sleeps 1, 2, 5, 10, 15, 20, 25 ms ... between
tries: after a few misses a writer sleeps 10-25 ms for a lock its holder gives up within a few
milliseconds. With two gunicorn workers taking API submissions (each holds the lock for about
3.5 ms of a 6 ms request) about two fifths of both cores sat idle in those sleeps, and the
slowest submission in a hundred took 0.2-0.7 s (bench/load.py on SQLite, docs/BENCHMARKS.md).

Python's sqlite3 has no way to install another busy handler, so the statements that take the
write lock when they start (``BEGIN IMMEDIATE``, which ``transaction.atomic()`` sends, and
``INSERT``, ``UPDATE``, ``DELETE`` or ``REPLACE`` outside a transaction) run with the busy
timeout off and are tried again every millisecond until the connection's own busy timeout has
passed, then fail as before ("database is locked"). A statement that finds the lock taken has
done nothing, so trying it again is safe. Everything else, and every statement inside a
transaction, runs as in Django's backend. Rails' SQLite adapter waits the same way (a fixed
short interval instead of the backoff) for the same reason.

The tries are below Django's cursor wrapper: a statement is logged and counted once however
many times it had to wait.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from django.db.backends.sqlite3 import base

# How long a writer sleeps between tries for the lock (seconds).
POLL_SECONDS: Final = 0.001
_TAKES_WRITE_LOCK: Final = (
    "BEGIN IMMEDIATE",
    "BEGIN EXCLUSIVE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
)
_PREFIX: Final = max(len(word) for word in _TAKES_WRITE_LOCK)


class Connection(sqlite3.Connection):
    """A connection that remembers its busy timeout (milliseconds) while it is switched off."""

    busy_timeout_ms: int = 0


def takes_write_lock(sql: str) -> bool:
    """Whether ``sql``, run outside a transaction, asks for the write lock before anything else."""
    return sql.lstrip()[:_PREFIX].upper().startswith(_TAKES_WRITE_LOCK)


class CursorWrapper(base.SQLiteCursorWrapper):
    # The signatures are Django's (its stubs' SQLiteCursorWrapper already differs from
    # sqlite3.Cursor's, hence the ignores).
    def execute(self, query: str, params: Iterable[Any] | None = None) -> Any:  # type: ignore[override]
        run = super().execute
        if not self._waits(query):
            return run(query, params)
        return self._waiting(lambda: run(query, params))

    def executemany(self, query: str, param_list: Iterable[Iterable[Any]]) -> Any:  # type: ignore[override]
        run = super().executemany
        if not self._waits(query):
            return run(query, param_list)
        rows = list(param_list)  # a generator would be spent by a try that found the lock taken
        return self._waiting(lambda: run(query, rows))

    def _waits(self, query: str) -> bool:
        conn = self.connection
        return isinstance(conn, Connection) and not conn.in_transaction and takes_write_lock(query)

    def _waiting(self, run: Callable[[], Any]) -> Any:
        conn = self.connection
        assert isinstance(conn, Connection)  # noqa: S101 - _waits checked it
        timeout_ms = conn.busy_timeout_ms
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + timeout_ms / 1000
            while True:
                try:
                    return run()
                except sqlite3.OperationalError as error:
                    # Any SQLITE_BUSY (the extended codes keep it in the low byte): the
                    # statement did not start, and a try afresh reads the latest snapshot.
                    if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(POLL_SECONDS)
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
