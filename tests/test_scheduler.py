"""run_scheduler puts the registered periodic tasks on the database queue."""

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult

from tests.helpers import ROOT, child_env, run_manage, run_python

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def database_queue(settings):
    settings.TASKS = DATABASE_QUEUE


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
def test_once_enqueues_every_registered_task_on_the_database_queue(settings, capsys):
    settings.PERIODIC_TASKS = ["clinic.tasks.prune_task_results"]
    call_command("run_scheduler", "--once")
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "clinic.tasks.prune_task_results"
    assert queued.status == "READY"
    assert "Enqueued 1 of 1 periodic task(s)" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
def test_an_empty_registry_enqueues_nothing(settings):
    settings.PERIODIC_TASKS = []
    call_command("run_scheduler", "--once")
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("clinic.tasks.no_such_task", "cannot import 'clinic.tasks.no_such_task'"),
        ("clinic.settings.DRAFT_TTL_DAYS", "is not a task"),
    ],
)
def test_a_wrong_registry_entry_stops_the_scheduler(settings, path, message):
    settings.PERIODIC_TASKS = [path]
    with pytest.raises(CommandError, match=message):
        call_command("run_scheduler", "--once")


@pytest.mark.django_db
def test_prune_task_results_deletes_only_old_finished_results(settings):
    from datetime import timedelta

    from django.utils import timezone

    from clinic.tasks import prune_task_results

    settings.TASKS = DATABASE_QUEUE
    old = prune_task_results.enqueue().db_result  # type: ignore[attr-defined]
    fresh = prune_task_results.enqueue().db_result  # type: ignore[attr-defined]
    waiting = prune_task_results.enqueue().db_result  # type: ignore[attr-defined]
    now = timezone.now()
    DBTaskResult.objects.filter(pk=old.pk).update(
        status="SUCCESSFUL",
        finished_at=now - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS + 1),
    )
    DBTaskResult.objects.filter(pk=fresh.pk).update(status="SUCCESSFUL", finished_at=now)
    assert prune_task_results.call() == 1
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {fresh.pk, waiting.pk}


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once."""
    path = tmp_path_factory.mktemp("scheduler") / "migrated.sqlite3"
    migrated = run_manage("migrate", "--noinput", env={"DATABASE_URL": f"sqlite:///{path}"})
    assert migrated.returncode == 0, migrated.stderr
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_scheduler_loop_enqueues_then_exits_cleanly_on_a_signal(
    tmp_path: Path, migrated_sqlite: Path, signum: int
) -> None:
    database = tmp_path / "queue.sqlite3"
    shutil.copy(migrated_sqlite, database)
    env = {"DATABASE_URL": f"sqlite:///{database}", "TASKS_BACKEND": "database"}
    scheduler = subprocess.Popen(
        [sys.executable, "-u", "manage.py", "run_scheduler", "--verbosity", "2"],
        cwd=ROOT,
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert scheduler.stdout is not None
        assert "Scheduler started" in scheduler.stdout.readline()
        # The first round runs at once.
        expected = f"Enqueued {len(django_settings.PERIODIC_TASKS)} periodic task(s)."
        assert scheduler.stdout.readline().strip() == expected
        scheduler.send_signal(signum)
        out, err = scheduler.communicate(timeout=10)
    finally:
        scheduler.kill()
    assert scheduler.returncode == 0, err
    assert "Scheduler stopped." in out
    with sqlite3.connect(database) as db:
        (queued,) = db.execute(
            f"SELECT count(*) FROM {DBTaskResult._meta.db_table} WHERE task_path = ?",  # noqa: S608
            ["referrals.tasks.escalate_overdue"],
        ).fetchone()
    assert queued == 1


ROUND_THEN_SIGNALS = """
import os, signal, sys
import django
django.setup()
from django.core.management import call_command
from referrals.management.commands import run_scheduler

real = run_scheduler.enqueue_all
before = {{s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}}

def enqueue_all_after_signals(tasks):
    for name in {names!r}:
        os.kill(os.getpid(), getattr(signal, name))
    return real(tasks)

run_scheduler.enqueue_all = enqueue_all_after_signals
call_command("run_scheduler", "--interval", "3600", "--verbosity", "2")
after = {{s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}}
print("handlers restored" if before == after else f"handlers {{before}} -> {{after}}")
"""


@pytest.mark.parametrize(
    "names", [["SIGTERM"], ["SIGINT"], ["SIGINT", "SIGTERM"]], ids=["term", "int", "both"]
)
def test_signals_during_a_round_stop_the_scheduler_once_the_round_is_done(
    tmp_path: Path, migrated_sqlite: Path, names: list[str]
) -> None:
    """The signals arrive while the round enqueues; the round finishes, then the loop stops,
    however many arrived. With an hour between rounds, a signal lost would hang the child, and
    a second one left pending past the loop would kill it (exit 143)."""
    database = tmp_path / "queue.sqlite3"
    shutil.copy(migrated_sqlite, database)
    env = {"DATABASE_URL": f"sqlite:///{database}", "TASKS_BACKEND": "database"}
    finished = run_python(ROUND_THEN_SIGNALS.format(names=names), env=env, timeout=30)
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[1:] == [
        f"Enqueued {len(django_settings.PERIODIC_TASKS)} periodic task(s).",
        "Scheduler stopped.",
        "handlers restored",
    ]
    with sqlite3.connect(database) as db:
        (queued,) = db.execute(
            f"SELECT count(*) FROM {DBTaskResult._meta.db_table}",  # noqa: S608
        ).fetchone()
    assert queued == len(django_settings.PERIODIC_TASKS)


def test_a_signal_just_before_the_wait_ends_it_at_once() -> None:
    """The wake-up pipe holds the signal's byte: a wait begun after it returns at once."""
    from referrals.management.commands.run_scheduler import StopSignals

    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        signal.raise_signal(signal.SIGTERM)
        began = time.monotonic()
        stop.wait(30)
        assert stop.requested
        assert time.monotonic() - began < 5
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_database_that_does_not_answer_is_one_line_a_round_not_a_traceback_a_task():
    result = run_manage(
        "run_scheduler",
        "--once",
        env={
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres",
            "TASKS_BACKEND": "database",
        },
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 2, output
    assert "ERROR" in lines[0]
    count = len(django_settings.PERIODIC_TASKS)
    assert f"the database did not answer; {count} of {count} task(s) not enqueued" in lines[0]
    assert "connection" in lines[0].lower()
    assert lines[1].startswith(f"Enqueued 0 of {count} periodic task(s)")
