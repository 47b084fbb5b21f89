"""clinic.sqlite: writers wait for SQLite's write lock in short steps, on a real file.

Each test opens the backend on a file of its own (not the test database, which on SQLite is in
memory and has no file lock) and takes the write lock from a second, plain sqlite3 connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError
from django.db.utils import ConnectionHandler

from clinic import settings as clinic_settings
from clinic.sqlite import base

# SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 ms ...: 6 sleeps in the first 53 ms.
HELD_SECONDS = 0.08


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
def writer(path: Path) -> Iterator[Any]:
    wrapper = backend(path)
    yield wrapper
    wrapper.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep between tries (the backend's; SQLite's own handler sleeps in C)."""
    seen: list[float] = []
    real = time.sleep

    def counted(seconds: float) -> None:
        seen.append(seconds)
        real(seconds)

    monkeypatch.setattr(base.time, "sleep", counted)
    return seen


def hold_write_lock(
    path: Path, seconds: float | None
) -> tuple[sqlite3.Connection, threading.Thread | None]:
    """Another connection takes the write lock now and gives it up after ``seconds`` (None:
    the caller releases it)."""
    other = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    if seconds is None:
        return other, None

    def release() -> None:
        threading.Event().wait(seconds)  # not time.sleep, which the tests count
        other.execute("COMMIT")

    thread = threading.Thread(target=release)
    thread.start()
    return other, thread


def busy_timeout(wrapper: Any) -> int:
    return int(wrapper.connection.execute("PRAGMA busy_timeout").fetchone()[0])


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
    ],
)
def test_takes_write_lock_knows_the_statements_that_start_by_taking_the_lock(sql, takes):
    assert base.takes_write_lock(sql) is takes


def test_a_transaction_waits_for_the_lock_in_steps_of_a_millisecond(writer, path, sleeps):
    _other, thread = hold_write_lock(path, HELD_SECONDS)
    with writer.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["after the wait"])
        cursor.execute("COMMIT")
    assert thread is not None
    thread.join()
    # SQLite's own handler would have slept 6 or 7 times, the last 15-20 ms.
    assert len(sleeps) > 15
    assert set(sleeps) == {base.POLL_SECONDS}
    assert busy_timeout(writer) == 5000  # the settings' timeout, back on for everything else


def test_a_write_outside_a_transaction_waits_too(writer, path, sleeps):
    _other, thread = hold_write_lock(path, HELD_SECONDS)
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["autocommit"])
        cursor.execute("SELECT name FROM item")
        assert cursor.fetchall() == [("autocommit",)]
    assert thread is not None
    thread.join()
    assert len(sleeps) > 15
    assert busy_timeout(writer) == 5000


def test_a_writer_gives_up_after_the_connections_busy_timeout(path, sleeps):
    wrapper = backend(path, init_command="PRAGMA journal_mode=WAL; PRAGMA busy_timeout=50;")
    other, _ = hold_write_lock(path, None)
    try:
        began = time.monotonic()
        with (
            pytest.raises(OperationalError, match="database is locked"),
            wrapper.cursor() as cursor,
        ):
            cursor.execute("UPDATE item SET name = 'x'")
        assert time.monotonic() - began >= 0.05
        assert busy_timeout(wrapper) == 50
        assert not wrapper.connection.in_transaction
    finally:
        other.execute("ROLLBACK")
        wrapper.close()


def test_reads_and_statements_inside_a_transaction_never_wait_here(writer, path, sleeps):
    other, _ = hold_write_lock(path, None)
    try:
        with writer.cursor() as cursor:  # WAL: readers do not need the write lock
            cursor.execute("SELECT count(*) FROM item")
            assert cursor.fetchone() == (0,)
    finally:
        other.execute("ROLLBACK")
    with writer.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["inside"])
        cursor.execute("COMMIT")
    assert sleeps == []


def test_executemany_from_a_generator_writes_every_row_after_waiting(writer, path, sleeps):
    _other, thread = hold_write_lock(path, HELD_SECONDS)
    with writer.cursor() as cursor:
        cursor.executemany("INSERT INTO item (name) VALUES (%s)", ([name] for name in "abc"))
        cursor.execute("SELECT name FROM item ORDER BY name")
        assert cursor.fetchall() == [("a",), ("b",), ("c",)]
    assert thread is not None
    thread.join()
    assert sleeps


def test_a_statement_that_waited_is_logged_and_counted_once(writer, path, sleeps):
    sent: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    _other, thread = hold_write_lock(path, HELD_SECONDS)
    with writer.execute_wrapper(count), writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["once"])
    assert thread is not None
    thread.join()
    assert sleeps
    assert sent == ["INSERT INTO item (name) VALUES (%s)"]


def test_other_errors_are_raised_at_once(writer, sleeps):
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO item (name) VALUES (%s)", ["taken"])
        with pytest.raises(IntegrityError):
            cursor.execute("INSERT INTO item (name) VALUES (%s)", ["taken"])
    assert sleeps == []
    assert busy_timeout(writer) == 5000
