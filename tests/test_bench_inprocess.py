"""bench/inprocess.py: the clock of the database's CPU beside the in-process timings, and the
instruction counts under callgrind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.helpers import ROOT, load_bench_script


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_database_clock_counts_the_cpu_the_connections_backend_used(monkeypatch):
    clock = load_bench_script("inprocess", monkeypatch).database_cpu()
    assert clock is not None  # the shared PostgreSQL runs on this machine
    before = clock()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM generate_series(1, 5000000)")
        assert cursor.fetchone() == (5_000_000,)
    assert clock() - before >= 0.05


@pytest.mark.django_db
def test_sqlite_has_no_database_clock(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert load_bench_script("inprocess", monkeypatch).database_cpu() is None


@pytest.mark.django_db
def test_timed_leaves_the_warm_up_out_and_has_no_database_clock_on_sqlite(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    sent = []

    took = load_bench_script("inprocess", monkeypatch).timed(lambda: sent.append(1), 4, 2)

    assert len(sent) == 6
    assert took.wall >= 0
    assert took.cpu >= 0
    assert took.database is None
    assert took.database_ms() == "     -"


def test_instructions_are_counted_under_callgrind_per_send(tmp_path):
    # The real mechanism: a script re-run by under_callgrind, counting a send whose work
    # doubles; the counts must be steady and scale with the work.
    script = tmp_path / "count.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "import inprocess\n"
        "inprocess.under_callgrind()\n"
        "def work(n):\n"
        "    return lambda: sum(i * i for i in range(n))\n"
        "for n in (20_000, 20_000, 40_000):\n"
        "    print(inprocess.instructions(work(n), 5, 1))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and a script of the test
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BENCH_CALLGRIND_DIR": str(tmp_path)},  # not the checkout's var/
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("callgrind.out.*"))  # callgrind's profile, written there
    first, again, double = (int(line) for line in done.stdout.split())
    assert first > 1_000_000  # about 100 instructions per item in CPython
    assert abs(again - first) <= first * 0.01
    assert 1.9 <= double / first <= 2.1
