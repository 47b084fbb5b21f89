"""clinic.sqlite: writers wait for SQLite's write lock in short steps, on a real file.

Each test opens the backend on a file of its own (not the test database, which on SQLite is in
memory and has no file lock) and takes the write lock from a second, plain sqlite3 connection.
The backend's pause between tries is replaced by one that counts, and gives the lock up after a
set number of tries, so no test depends on how fast the machine is.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.db.utils import ConnectionHandler

from clinic import settings as clinic_settings
from clinic.sqlite import base


@pytest.fixture(autouse=True)
def _files_of_their_own(django_db_blocker: Any) -> Iterator[None]:
    # Not the test database: connections of these tests' own, to files of their own.
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "lock.sqlite3"


def backend(path: Path, init_command: str | None = None) -> Any:
    options = dict(clinic_settings.SQLITE_OPTIONS)
    if init_command is not None:
        options["init_command"] = init_command
    handler = ConnectionHandler(
        {"default": {"ENGINE": "clinic.sqlite", "NAME": str(path), "OPTIONS": options}}
    )
    wrapper = handler["default"]
    wrapper.ensure_connection()
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
    return wrapper


@pytest.fixture
def writer(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    wrapper = backend(path)
    # transaction.atomic() on this connection, as the application's code runs it.
    monkeypatch.setattr(transaction, "get_connection", lambda using=None: wrapper)
    yield wrapper
    wrapper.close()


@pytest.fixture
def other(path: Path, writer: Any) -> Iterator[sqlite3.Connection]:
    """Another process's connection, in autocommit mode."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """``pauses(release=n, conn)``: the backend's pauses are counted, not slept, and ``conn``
    commits (gives the lock up) at the n-th; without ``release`` a pause fails the test."""

    def install(release: int | None = None, conn: sqlite3.Connection | None = None) -> list[int]:
        seen: list[int] = []

        def pause() -> None:
            seen.append(len(seen) + 1)
            if release is None:
                pytest.fail(
                    "the backend waited for a statement SQLite's own handler should wait on"
                )
            if len(seen) == release and conn is not None:
                conn.execute("COMMIT")

        monkeypatch.setattr(base, "pause", pause)
        return seen

    return install


def busy_timeout(wrapper: Any) -> int:
    return int(wrapper.connection.execute("PRAGMA busy_timeout").fetchone()[0])


def names(wrapper: Any) -> list[str]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT name FROM item ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(
    ("sql", "takes"),
    [
        ("BEGIN IMMEDIATE", True),
        ("begin exclusive", True),
        ("INSERT INTO item (name) VALUES (?)", True),
        ("  update item SET name = 'x'", True),
        ("DELETE FROM item", True),
        ("REPLACE INTO item (name) VALUES ('x')", True),
        ("BEGIN", False),  # deferred: takes no lock until it writes
        ("SELECT 1", False),
        ("PRAGMA busy_timeout", False),
        ("SAVEPOINT s1", False),
        ("WITH n AS (SELECT 1) INSERT INTO item (name) SELECT 'x' FROM n", False),
    ],
)
def test_takes_write_lock_knows_the_statements_that_start_by_taking_the_lock(sql, takes):
    assert base.takes_write_lock(sql) is takes


def test_atomic_waits_for_the_lock_a_try_a_pause_until_it_is_free(writer, other, pauses):
    other.execute("BEGIN IMMEDIATE")
    seen = pauses(release=20, conn=other)
    with transaction.atomic(), writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["after the wait"])
    assert len(seen) == 20  # refused 20 times, in the transaction at the 21st try
    assert names(writer) == ["after the wait"]
    assert busy_timeout(writer) == 5000  # the settings' timeout, back on for everything else


def test_a_write_outside_a_transaction_waits_too(writer, other, pauses):
    other.execute("BEGIN IMMEDIATE")
    seen = pauses(release=5, conn=other)
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["autocommit"])
    assert len(seen) == 5
    assert names(writer) == ["autocommit"]
    assert busy_timeout(writer) == 5000


def _begin_through_atomic(writer: Any) -> None:
    with transaction.atomic():
        pass


def _update_outside_a_transaction(writer: Any) -> None:
    with writer.cursor() as cursor:
        cursor.execute("UPDATE item SET name = 'x'")


@pytest.mark.parametrize("write", [_begin_through_atomic, _update_outside_a_transaction])
def test_a_writer_gives_up_after_the_connections_busy_timeout(path, monkeypatch, write):
    writer = backend(path, init_command="PRAGMA journal_mode=WAL; PRAGMA busy_timeout=50;")
    monkeypatch.setattr(transaction, "get_connection", lambda using=None: writer)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            write(writer)
        assert time.monotonic() - began >= 0.05
        assert busy_timeout(writer) == 50
        assert not writer.connection.in_transaction
    finally:
        other.execute("ROLLBACK")
        other.close()
        writer.close()


def test_reads_and_statements_inside_a_transaction_never_wait_here(writer, other, pauses):
    pauses()
    other.execute("BEGIN IMMEDIATE")
    assert names(writer) == []  # WAL: a reader does not need the write lock
    other.execute("ROLLBACK")
    with transaction.atomic(), writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["inside"])
        cursor.execute("UPDATE item SET name = %s", ["still inside"])
    assert names(writer) == ["still inside"]


def test_executemany_is_left_to_sqlites_own_handler_and_writes_each_row_once(writer, other, pauses):
    # Outside a transaction each row commits on its own: sent again after a refusal half-way,
    # the first rows would be written twice.
    pauses()
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.05, other.execute, ["COMMIT"])
    release.start()
    with writer.cursor() as cursor:
        cursor.executemany("INSERT INTO item (name) VALUES (%s)", ([name] for name in "abc"))
    release.join()
    assert names(writer) == ["a", "b", "c"]


def test_a_write_behind_an_open_select_of_an_older_snapshot_fails_at_once(writer, other, pauses):
    # SQLite's own handler does not wait here either: no wait makes the snapshot newer.
    pauses()
    with writer.cursor() as cursor:
        cursor.executemany("INSERT INTO item (name) VALUES (%s)", [["a"], ["b"]])
    reading = writer.cursor()
    reading.execute("SELECT name FROM item ORDER BY id")
    assert reading.fetchone() == ("a",)  # the SELECT is still open
    other.execute("INSERT INTO item (name) VALUES ('c')")
    with pytest.raises(OperationalError), writer.cursor() as cursor:
        cursor.execute("UPDATE item SET name = name || '!' WHERE name = %s", ["a"])
    reading.close()
    assert busy_timeout(writer) == 5000
    assert names(writer) == ["a", "b", "c"]


def test_a_statement_that_waited_is_logged_and_counted_once(writer, other, pauses):
    sent: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    other.execute("BEGIN IMMEDIATE")
    seen = pauses(release=3, conn=other)
    with writer.execute_wrapper(count), writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["once"])
    assert len(seen) == 3
    assert sent == ["INSERT INTO item (name) VALUES (%s)"]


def test_other_errors_are_raised_at_once(writer, pauses):
    pauses()
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["taken"])
        with pytest.raises(IntegrityError):
            cursor.execute("INSERT INTO item (name) VALUES (%s)", ["taken"])
    assert busy_timeout(writer) == 5000
