"""generate_cases killed with SIGKILL while loading into empty tables, whose secondary indexes it
builds only at the end (intake.deferred_indexes): the next ``migrate`` builds them, the rows
written before the kill are whole, and its worker processes die with it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from intake import deferred_indexes
from intake.bulk import WRITTEN_MODELS
from tests.helpers import ROOT, child_env, run_manage, wait_for

pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(sys.platform != "linux", reason="workers die with the writer on Linux"),
]


def index_names(path: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def intakes(path: str) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM intake_intake").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def group_alive(group: int) -> bool:
    """Whether a process of ``group`` still runs: a zombie does not (this container's first
    process need not reap the orphans it inherits)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state != "Z":
            return True
    return False


def test_a_killed_generation_leaves_indexes_migrate_builds_again(tmp_path):
    path = str(tmp_path / "killed.sqlite3")
    env = {"DATABASE_URL": f"sqlite:///{path}", "DEBUG": "false", "DJANGO_ENV": "development"}
    assert run_manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    named = {index.name for model in WRITTEN_MODELS for index in model._meta.indexes}
    deferred = named - deferred_indexes.KEPT
    assert deferred <= index_names(path)

    child = subprocess.Popen(
        [sys.executable, "manage.py", "generate_cases", "--count", "200000", "--no-progress"],
        cwd=ROOT,
        env=child_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers share its process group, and nothing else
    )
    try:
        wait_for(lambda: intakes(path) > 0, timeout=120, what="the first batch written")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    try:
        # They were blocked for ever on a full pipe (each holds its reading end too).
        wait_for(lambda: not group_alive(child.pid), timeout=10, what="the workers to die")
    finally:
        if group_alive(child.pid):
            os.killpg(child.pid, signal.SIGKILL)
    written = intakes(path)
    assert 0 < written < 200_000
    assert not deferred & index_names(path)  # killed before building them

    done = run_manage("migrate", "--noinput", "-v0", env=env)
    assert done.returncode == 0, done.stderr
    assert deferred <= index_names(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Whole batches: every intake has its referrals' link rows.
        assert db.execute(
            "SELECT count(*) FROM intake_intake i WHERE NOT EXISTS "
            "(SELECT 1 FROM referrals_referralintake l WHERE l.intake_id = i.id)"
        ).fetchone() == (0,)
    assert intakes(path) == written
