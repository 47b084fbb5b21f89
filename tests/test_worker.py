"""run_worker: django-tasks-db's worker, waiting for the database through an outage.

The outage here is SQLite's: the worker opens the database file again on every round
(CONN_MAX_AGE 0), so moving the file's directory away makes each query fail as a lost server
does, with Django's OperationalError. The same on PostgreSQL, stopped for real:
tests/faults/test_worker_outage.py.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult
from hypothesis import given
from hypothesis import strategies as st

from referrals.management.commands.run_worker import retry_wait
from tests.helpers import ROOT, child_env, run_manage, run_python, wait_for

TABLE = DBTaskResult._meta.db_table
AWAY = "the database did not answer"


@pytest.mark.parametrize(
    ("longest", "waits"),
    [
        (30.0, [1, 2, 4, 8, 16, 30, 30, 30]),
        (5.0, [1, 2, 4, 5, 5]),
        (0.5, [0.5, 0.5]),
    ],
)
def test_waits_double_from_one_second_up_to_the_longest(longest, waits):
    assert [retry_wait(n, longest=longest) for n in range(1, len(waits) + 1)] == waits


def test_a_long_outage_keeps_the_longest_wait():
    """An outage of days counts thousands of attempts; 2.0 ** 1100 would overflow."""
    assert retry_wait(100_000) == 30


def test_attempts_are_counted_from_one():
    with pytest.raises(ValueError, match="from 1"):
        retry_wait(0)


@given(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.01, max_value=3600),
)
def test_waits_never_shrink_and_never_pass_the_longest(attempt, later, longest):
    first = retry_wait(attempt, longest=longest)
    assert 0 < first <= retry_wait(attempt + later, longest=longest) <= longest


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("worker") / "migrated.sqlite3"
    migrated = run_manage("migrate", "--noinput", env={"DATABASE_URL": f"sqlite:///{path}"})
    assert migrated.returncode == 0, migrated.stderr
    return path


ENQUEUE = """
import django; django.setup()
from clinic.tasks import prune_task_results
print(prune_task_results.enqueue().id)
"""


def enqueue(env: dict[str, str]) -> str:
    done = run_python(ENQUEUE, env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].replace("-", "")


def status(database: Path, task_id: str) -> str | None:
    with sqlite3.connect(database) as db:
        row = db.execute(
            f"SELECT status FROM {TABLE} WHERE replace(id, '-', '') = ?",  # noqa: S608
            [task_id],
        ).fetchone()
    return row[0] if row else None


def start_worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "-u", "manage.py", "run_worker", "--queue-name", "*",
         "--no-startup-delay", "--interval", "0.2", *extra],
        cwd=ROOT,
        env=child_env(env),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_the_worker_waits_through_an_outage_and_runs_tasks_once_the_database_is_back(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    database = folder / "queue.sqlite3"
    shutil.copy(migrated_sqlite, database)
    env = {"DATABASE_URL": f"sqlite:///{database}", "TASKS_BACKEND": "database", "DEBUG": "0"}
    log = tmp_path / "worker.log"
    before = enqueue(env)
    worker = start_worker(env, log, "--max-db-wait", "1")
    try:
        wait_for(lambda: status(database, before) == "SUCCESSFUL", 30, "the first task to run")

        folder.rename(tmp_path / "away")
        wait_for(lambda: log.read_text().count(AWAY) >= 3, 30, "three failed attempts")
        away_for = 2.0
        time.sleep(away_for)
        assert worker.poll() is None, log.read_text()
        (tmp_path / "away").rename(folder)

        after = enqueue(env)
        wait_for(lambda: status(database, after) == "SUCCESSFUL", 30, "the task after the outage")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        finally:
            worker.kill()
    output = log.read_text()
    assert worker.returncode == 0, output
    assert "Traceback" not in output
    attempts = [line for line in output.splitlines() if AWAY in line]
    assert attempts[0].split(" ", 3)[2:3] == ["ERROR"]
    first = "(attempt 1, 0 s without it); trying again in 1 s: unable to open database file"
    assert first in attempts[0]
    # One line a wait of at most 1 s, not one a poll every 0.2 s.
    assert len(attempts) <= 3 + away_for + 2, output
    assert "the database answers again after" in output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_worker_at_once_while_it_waits_for_the_database(
    tmp_path: Path, signum: int
) -> None:
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres",
        "TASKS_BACKEND": "database",
        "DEBUG": "0",
    }
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, "--max-db-wait", "600")
    try:
        # The second attempt is followed by a wait of 2 s; the signal comes in its middle.
        wait_for(lambda: "(attempt 2," in log.read_text(), 30, "a second failed attempt")
        time.sleep(0.5)
        asked = time.monotonic()
        worker.send_signal(signum)
        worker.wait(timeout=10)
        stopped_after = time.monotonic() - asked
    finally:
        worker.kill()
    output = log.read_text()
    assert worker.returncode == 0, output
    assert stopped_after < 1.0, output
    assert "Traceback" not in output
    assert "Connection refused" in output


def test_the_worker_takes_every_option_of_django_tasks_db_and_handles_each():
    """handle() is a copy of django-tasks-db's (it names its Worker class): an upgrade that
    adds an option must not go unnoticed."""
    import inspect

    from django_tasks_db.management.commands import db_worker

    from referrals.management.commands import run_worker

    def options(command: type) -> set[str]:
        return {action.dest for action in command().create_parser("manage.py", "w")._actions}

    assert options(db_worker.Command) | {"max_db_wait"} == options(run_worker.Command)
    upstream = inspect.signature(db_worker.Command.handle).parameters
    ours = inspect.signature(run_worker.Command.handle).parameters
    assert set(upstream) | {"max_db_wait"} == set(ours)
