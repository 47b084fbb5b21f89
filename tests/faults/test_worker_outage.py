"""The database stops under a task worker and comes back, twice (docs/RELIABILITY.md): once
while a task runs, once while the worker waits for work.

`manage.py run_worker` stays up through the outage with one log line an attempt, and runs
tasks again once the database is back, without a restart. The task it was running when the
database went away stays "running": django-tasks-db could not record its end and never runs
it again (the sweepers in PERIODIC_TASKS cover the webhooks and announcements).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping

import pytest

from tests.helpers import ROOT, child_env, run_python, wait_for
from tests.live import PYTHON, Cluster, cluster, migrate, service_env

pytestmark = pytest.mark.fault

AWAY = "the database did not answer"
MAX_WAIT = 2
PAUSE_SECONDS = 3


def enqueue(env: Mapping[str, str], call: str) -> str:
    done = run_python(
        "import django; django.setup()\n"
        "from clinic.tasks import prune_task_results\n"
        "from tests.faults.tasks import pause\n"
        f"print({call}.id)",
        env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def status(db: Cluster, task_id: str) -> str:
    return db.query(f"SELECT status FROM django_tasks_database_dbtaskresult WHERE id = '{task_id}'")  # noqa: S608


def test_the_worker_waits_through_a_database_outage_and_carries_on():
    with cluster("worker_outage") as db:
        env = service_env(db)
        migrate(env)
        log_path = ROOT / "test-artifacts" / f"worker-outage-{db.port}.log"
        before = enqueue(env, "prune_task_results.enqueue()")
        with log_path.open("w") as log:
            worker = subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
                [PYTHON, "-u", "manage.py", "run_worker", "--queue-name", "*",
                 "--no-startup-delay", "--interval", "0.5", "--max-db-wait", str(MAX_WAIT)],
                cwd=ROOT,
                env=child_env(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for(lambda: status(db, before) == "SUCCESSFUL", 60, "a task before the outage")
            busy = enqueue(env, f"pause.enqueue({PAUSE_SECONDS})")
            wait_for(lambda: status(db, busy) == "RUNNING", 30, "the pause task to start")

            db.stop()
            stopped = time.monotonic()
            wait_for(lambda: log_path.read_text().count(AWAY) >= 3, 60, "three failed attempts")
            time.sleep(MAX_WAIT * 2)
            assert worker.poll() is None, log_path.read_text()
            away = time.monotonic() - stopped

            db.start()
            restarted = time.monotonic()
            after = enqueue(env, "prune_task_results.enqueue()")
            wait_for(lambda: status(db, after) == "SUCCESSFUL", 60, "a task after the outage")
            recovered = time.monotonic() - restarted
            # Its end could not be recorded, and django-tasks-db does not run it again.
            assert status(db, busy) == "RUNNING"

            # A second outage while the worker waits for work on its open connection.
            seen = log_path.read_text().count(AWAY)
            db.stop()
            stopped = time.monotonic()
            wait_for(lambda: log_path.read_text().count(AWAY) >= seen + 2, 60, "an idle outage")
            assert worker.poll() is None, log_path.read_text()
            db.start()
            away += time.monotonic() - stopped
            idle = enqueue(env, "prune_task_results.enqueue()")
            wait_for(lambda: status(db, idle) == "SUCCESSFUL", 60, "a task after the 2nd outage")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()

    output = log_path.read_text()
    assert worker.returncode == 0, output
    assert "Traceback" not in output
    attempts = [line for line in output.splitlines() if AWAY in line]
    # Waits of 1, 2, 2, ... s: one line a wait, not one a poll every 0.5 s.
    assert 5 <= len(attempts) <= 2 * 2 + away / MAX_WAIT + 2, output
    assert all(" ERROR " in line for line in attempts)
    assert "Connection refused" in output
    assert output.count("the database answers again after") == 2
    cut = f"Task id={busy} path=tests.faults.tasks.pause: the database went away while it ran"
    assert cut in output
    print(f"\nworker: {len(attempts)} log lines in {away:.1f} s without the database (two "
          "outages); a task "
          f"queued after the restart ran {recovered:.1f} s after it; the task cut by the "
          "outage stays running")  # fmt: skip
